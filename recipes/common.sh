# Sourced by every recipe's run.sh: option parsing and stage selection, Kaldi/ESPnet style.
#   run.sh [--stage N] [--stop-stage M] [--name value ...]
# Any --name value pair sets the shell variable of that name (dashes become underscores) if the
# recipe declared it before sourcing this file, so typos are errors instead of silent no-ops.
set -euo pipefail
stage=${stage:-0}
stop_stage=${stop_stage:-100}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help)
      sed -n '2,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'
      exit 0 ;;
    --*)
      name=$(echo "${1#--}" | tr '-' '_')
      if [ -z "${!name+set}" ]; then echo "$0: unknown option $1" >&2; exit 2; fi
      [ $# -ge 2 ] || { echo "$0: $1 needs a value" >&2; exit 2; }
      printf -v "$name" '%s' "$2"
      shift 2 ;;
    *) echo "$0: unexpected argument $1" >&2; exit 2 ;;
  esac
done

# True when stage $1 lies inside [stage, stop_stage].
run_stage() { [ "$1" -ge "$stage" ] && [ "$1" -le "$stop_stage" ]; }
log() { echo "[$(date +%H:%M:%S)] $*"; }
if ! command -v asr >/dev/null 2>&1; then
  echo "$0: the 'asr' command is not on PATH: run 'make setup' and 'source .venv/bin/activate'" >&2
  exit 2
fi
