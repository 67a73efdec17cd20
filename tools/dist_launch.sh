#!/usr/bin/env bash
# The torchrun launcher behind dist_train.sh and dist_test.sh:
#
#   tools/dist_launch.sh SCRIPT NPROC [SCRIPT args...]
#
# runs tools/SCRIPT in NPROC processes on this node with --launcher pytorch:
# one per GPU, or any number on a CPU-only machine (gloo, set up by
# xbn_mmdet.utils.dist). Environment: NNODES (default 1), NODE_RANK (0),
# MASTER_ADDR (127.0.0.1), PORT (29500; pick another for concurrent runs).
#
# Python: $PYTHON if set; otherwise `python`/`python3` from PATH if it has
# torch (the activated venv/conda env); otherwise the repository's
# .venv/bin/python (as `make env` creates it). The repository root goes on
# PYTHONPATH, so xbn_mmdet need not be installed.
set -euo pipefail

SCRIPT=$1
NPROC=$2
shift 2
case "$NPROC" in
    ''|*[!0-9]*|0) echo "$0: NPROC must be a positive integer, got '$NPROC'" >&2; exit 2 ;;
esac

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-}
if [ -z "$PY" ]; then
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
    echo "$0: no python with torch found; activate the environment," \
        "run 'make env' or set PYTHON" >&2
    exit 1
fi

PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" \
    "$REPO_ROOT/tools/$SCRIPT" "$@" --launcher pytorch
