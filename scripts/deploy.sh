#!/usr/bin/env bash
# Deploy one environment with the Dagger module: `dagger call deploy`.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "${BASH_SOURCE[0]%/*}/_common.sh"

usage() {
  printf '%s\n' \
    "usage: scripts/deploy.sh [--approve] ENV [VERSION]" \
    "" \
    "Deploy ENV ($(known_environments)) with 'dagger call deploy'. VERSION (X.Y.Z or vX.Y.Z," \
    "normally the tag 'make release' created) labels the new revision, and" \
    "'scripts/rollback.sh ENV VERSION' returns to it. --approve passes the approval an" \
    "environment with require_approval (prod) needs." \
    "" \
    "Google credentials: the file in GOOGLE_APPLICATION_CREDENTIALS, else the gcloud" \
    "application-default credentials; dagger receives it as a file:// secret." \
    "" \
    "Exit codes: 0 deployed, 2 bad arguments, 3 dagger or credentials missing, other: dagger's."
}

approve=()
positional=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    --approve) approve=(--approve) ;;
    -*) usage_error "unknown option '$arg'" ;;
    *) positional+=("$arg") ;;
  esac
done
if (( ${#positional[@]} < 1 || ${#positional[@]} > 2 )); then
  usage_error "expected ENV and an optional VERSION, got ${#positional[@]} argument(s)"
fi

env="${positional[0]}"
require_environment "$env"
version_args=()
if (( ${#positional[@]} == 2 )); then
  version="$(normalise_version "${positional[1]}")"
  version_args=(--version "$version")
fi
require_tool dagger "$DAGGER_HINT"
credentials="$(credentials_file)"
commit_args=()
if command -v git >/dev/null 2>&1 && commit="$(git -C "$REPO_ROOT" rev-parse --verify --quiet HEAD)"; then
  commit_args=(--commit "$commit")
fi

cd "$REPO_ROOT"
exec dagger call deploy --env "$env" "${version_args[@]}" "${commit_args[@]}" "${approve[@]}" \
  --credentials "file://$credentials"
