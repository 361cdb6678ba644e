#!/usr/bin/env bash
# Roll one environment back with the Dagger module: `dagger call rollback`.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "${BASH_SOURCE[0]%/*}/_common.sh"

usage() {
  printf '%s\n' \
    "usage: scripts/rollback.sh ENV VERSION|previous" \
    "" \
    "Send all traffic of ENV ($(known_environments)) back to the revision labelled VERSION" \
    "(X.Y.Z or vX.Y.Z) or to the previous serving revision, with 'dagger call rollback'." \
    "" \
    "Google credentials: the file in GOOGLE_APPLICATION_CREDENTIALS, else the gcloud" \
    "application-default credentials; dagger receives it as a file:// secret." \
    "" \
    "Exit codes: 0 rolled back, 2 bad arguments, 3 dagger or credentials missing, other: dagger's."
}

expect_positionals 2 "ENV and VERSION|previous" "$@"

env="$1"
require_environment "$env"
if [[ "$2" == "previous" ]]; then
  target="previous"
else
  target="$(normalise_version "$2")"
fi
require_tool dagger "$DAGGER_HINT"
credentials="$(credentials_file)"

cd "$REPO_ROOT"
exec dagger call rollback --env "$env" --to "$target" --credentials "file://$credentials"
