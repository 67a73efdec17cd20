#!/usr/bin/env bash
# Multi-process testing with torchrun; see tools/dist_launch.sh for the
# environment (NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON).
#
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [tools/test.py args...]
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
require_file config "$CONFIG"
require_int GPUS "$GPUS" 1
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" test.py "$GPUS" "$CONFIG" "$CHECKPOINT" "$@"
