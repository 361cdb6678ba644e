# shellcheck shell=bash
# Shared by deploy.sh, rollback.sh and health-check.sh (sourced, not run).
# Exit codes of the scripts: 0 done, 2 bad arguments, 3 a needed tool or file is missing,
# anything else is the exit code of dagger or clarity-deploy.

readonly EXIT_USAGE=2
readonly EXIT_MISSING=3

# The repository root: the parent of the directory this file is in.
REPO_ROOT="$(cd "${BASH_SOURCE[0]%/*}/.." && pwd)"
readonly REPO_ROOT

die() {
  local code="$1"
  shift
  printf '%s: error: %s\n' "${0##*/}" "$*" >&2
  exit "$code"
}

usage_error() {
  printf '%s: error: %s\n\n' "${0##*/}" "$*" >&2
  usage >&2
  exit "$EXIT_USAGE"
}

# For scripts that take only positional arguments: --help prints the usage, any other option
# is refused, and the count must be EXPECTED (described as WHAT in the error).
expect_positionals() {
  local expected="$1" what="$2" arg
  shift 2
  for arg in "$@"; do
    case "$arg" in
      -h | --help) usage; exit 0 ;;
      -*) usage_error "unknown option '$arg'" ;;
      *) ;;
    esac
  done
  if (( $# != expected )); then
    usage_error "expected $what, got $# argument(s)"
  fi
}

# The environments are the directories of terraform/environments with a settings.json.
known_environments() {
  local settings names=()
  for settings in "$REPO_ROOT"/terraform/environments/*/settings.json; do
    [[ -f "$settings" ]] || continue
    settings="${settings%/settings.json}"
    names+=("${settings##*/}")
  done
  printf '%s\n' "${names[*]}"
}

require_environment() {
  local env="$1"
  if [[ ! "$env" =~ ^[a-z][a-z0-9-]*$ ]] \
    || [[ ! -f "$REPO_ROOT/terraform/environments/$env/settings.json" ]]; then
    usage_error "unknown environment '$env' (known: $(known_environments))"
  fi
}

# Prints X.Y.Z for X.Y.Z or vX.Y.Z; fails with usage for anything else.
normalise_version() {
  local version="$1"
  if [[ ! "$version" =~ ^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
    usage_error "malformed version '$version' (expected X.Y.Z or vX.Y.Z, e.g. 1.4.0)"
  fi
  printf '%s\n' "${version#v}"
}

require_tool() {
  local tool="$1" hint="$2"
  command -v "$tool" >/dev/null 2>&1 || die "$EXIT_MISSING" "'$tool' is not installed or not on PATH; $hint"
}

# The Google credentials file dagger receives as a file:// secret (its path, never its content).
credentials_file() {
  local file="${GOOGLE_APPLICATION_CREDENTIALS:-${CLOUDSDK_CONFIG:-$HOME/.config/gcloud}/application_default_credentials.json}"
  [[ -r "$file" ]] || die "$EXIT_MISSING" "no readable Google credentials file at '$file'; run" \
    "'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
  printf '%s\n' "$file"
}

# shellcheck disable=SC2034 # used by the scripts that source this file
readonly DAGGER_HINT="install the Dagger CLI v0.21.11 (https://docs.dagger.io/install)"
