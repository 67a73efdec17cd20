#!/usr/bin/env bash
# Multi-process training with torchrun (python -m torch.distributed.run).
#
#   tools/dist_train.sh CONFIG NPROC [tools/train.py args...]
#
# NPROC is the number of processes on this node: one per GPU, or any number
# on a CPU-only machine (gloo backend, set up by xbn_mmdet.utils.dist).
# Environment: NNODES (default 1), NODE_RANK (0), MASTER_ADDR (127.0.0.1),
# PORT (29500; pick another one for concurrent runs).
#
# Python: $PYTHON if set; otherwise `python`/`python3` from PATH if it has torch
# (i.e. the activated venv/conda env); otherwise the repository's
# .venv/bin/python (as created by `make env`).
# The repository root is put on PYTHONPATH, so xbn_mmdet need not be
# installed.
set -euo pipefail

if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
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

NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}

PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$REPO_ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
