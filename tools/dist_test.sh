#!/usr/bin/env bash
# Multi-process testing with torchrun; see tools/dist_launch.sh for the
# environment (NNODES, NODE_RANK, MASTER_ADDR, PORT, PYTHON).
#
#   tools/dist_test.sh CONFIG CHECKPOINT NPROC [tools/test.py args...]
set -euo pipefail
if [ "$#" -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT NPROC [test.py args...]" >&2
    exit 2
fi
CONFIG=$1
CHECKPOINT=$2
NPROC=$3
shift 3
exec bash "$(dirname "${BASH_SOURCE[0]}")/dist_launch.sh" test.py "$NPROC" "$CONFIG" "$CHECKPOINT" "$@"
