#!/usr/bin/env bash
# Check the health endpoints of one environment (/health, /ml/health, /health/database and the
# others its settings.json lists) with the delivery CLI. Needs no Dagger, so it works when the
# pipeline does not.
set -euo pipefail
# shellcheck source=scripts/_common.sh
source "${BASH_SOURCE[0]%/*}/_common.sh"

usage() {
  printf '%s\n' \
    "usage: scripts/health-check.sh ENV" \
    "" \
    "Check the health endpoints of ENV ($(known_environments)) listed in" \
    "terraform/environments/ENV/settings.json with 'clarity-deploy health-check'; without" \
    "clarity-deploy on PATH, with 'uv run python -m clarity_delivery health-check'." \
    "" \
    "Exit codes: 0 healthy, 2 bad arguments, 3 neither clarity-deploy nor uv installed," \
    "other: the health check failed (clarity-deploy's exit code)."
}

expect_positionals 1 "ENV" "$@"
env="$1"
require_environment "$env"

if command -v clarity-deploy >/dev/null 2>&1; then
  exec clarity-deploy health-check --env "$env"
fi
require_tool uv "install clarity-deploy (pip install ./ci) or uv (pip install uv)"
cd "$REPO_ROOT"
export PYTHONPATH="$REPO_ROOT/ci/src${PYTHONPATH:+:$PYTHONPATH}"
exec uv run --project "$REPO_ROOT" python -m clarity_delivery health-check --env "$env"
