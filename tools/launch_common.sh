# Sourced by tools/dist_launch.sh and tools/slurm_launch.sh: argument checks
# that fail with one line naming the bad value, and the python to run.

die() {
    echo "$(basename "$0"): $*" >&2
    exit 2
}

# require_int NAME VALUE MIN [MAX]: VALUE is an integer in [MIN, MAX].
require_int() {
    local name=$1 value=$2 min=$3 max=${4:-}
    local range=">= $min"
    [ -n "$max" ] && range="from $min to $max"
    case "$value" in
        ''|*[!0-9]*) die "$name must be an integer $range, got '$value'" ;;
    esac
    if [ "$((10#$value))" -lt "$min" ] || { [ -n "$max" ] && [ "$((10#$value))" -gt "$max" ]; }; then
        die "$name must be an integer $range, got '$value'"
    fi
}

require_file() {
    [ -f "$2" ] || die "$1 file not found: $2"
}

# find_python: set PY to $PYTHON if set; otherwise `python`/`python3` from
# PATH if it has torch (the activated venv/conda env); otherwise the
# repository's .venv/bin/python (as `make env` creates it).
find_python() {
    PY=${PYTHON:-}
    if [ -z "$PY" ]; then
        local cand
        for cand in python python3; do
            if command -v "$cand" >/dev/null 2>&1 && "$cand" -c \
                'import importlib.util as u, sys; sys.exit(u.find_spec("torch") is None)' \
                2>/dev/null; then
                PY=$cand
                break
            fi
        done
    fi
    if [ -z "$PY" ] && [ -x "$REPO_ROOT/.venv/bin/python" ]; then
        PY=$REPO_ROOT/.venv/bin/python
    fi
    if [ -z "$PY" ]; then
        echo "$(basename "$0"): no python with torch found; activate the" \
            "environment, run 'make env' or set PYTHON" >&2
        exit 1
    fi
}
