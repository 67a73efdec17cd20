#!/usr/bin/env bash
# Multi-process training with torchrun; see tools/dist_launch.sh for the
# environment (NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON).
#
#   tools/dist_train.sh CONFIG GPUS [tools/train.py args...]
#
# GPUS: processes on this node (one per GPU; on a CPU-only machine, any
# number of gloo processes).
set -euo pipefail
if [ "$#" -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py args...]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
shift 2
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
require_file config "$CONFIG"
require_int GPUS "$GPUS" 1
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" train.py "$GPUS" "$CONFIG" "$@"
