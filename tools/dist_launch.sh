#!/usr/bin/env bash
# The torchrun launcher behind dist_train.sh and dist_test.sh:
#
#   tools/dist_launch.sh SCRIPT NPROC [SCRIPT args...]
#
# runs tools/SCRIPT in NPROC processes on this node with --launcher pytorch:
# one per GPU, or any number on a CPU-only machine (gloo, set up by
# xbn_mmdet.utils.dist). Environment: NNODES (default 1), NODE_RANK (0,
# this node's index, 0 .. NNODES-1), MASTER_ADDR (127.0.0.1; node 0's
# address), PORT (29500; free on node 0, the same on every node; pick
# another for concurrent runs).
#
# Python: $PYTHON if set; otherwise `python`/`python3` from PATH if it has
# torch (the activated venv/conda env); otherwise the repository's
# .venv/bin/python (as `make env` creates it). The repository root goes on
# PYTHONPATH, so xbn_mmdet need not be installed.
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/launch_common.sh
source "$REPO_ROOT/tools/launch_common.sh"

SCRIPT=$1
NPROC=$2
shift 2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
PORT=${PORT:-29500}
require_int NPROC "$NPROC" 1
require_int NNODES "$NNODES" 1
require_int NODE_RANK "$NODE_RANK" 0 "$((NNODES - 1))"
require_int PORT "$PORT" 1 65535
[ -n "$MASTER_ADDR" ] || die "MASTER_ADDR must be node 0's address, got ''"

find_python
PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}" \
exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$NPROC" \
    "$REPO_ROOT/tools/$SCRIPT" "$@" --launcher pytorch
