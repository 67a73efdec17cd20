#!/usr/bin/env bash
# Multi-process training with torchrun; see tools/dist_launch.sh for the
# environment (NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON).
#
#   tools/dist_train.sh CONFIG NPROC [tools/train.py args...]
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG NPROC [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
NPROC=$2
shift 2
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" train.py "$NPROC" "$CONFIG" "$@"
