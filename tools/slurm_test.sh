#!/usr/bin/env bash
# Testing on a Slurm cluster (mmdet's interface); see tools/slurm_launch.sh
# for the environment (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON).
#
#   tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]
set -euo pipefail
if [ "$#" -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG CHECKPOINT [test.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
shift 4
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
require_file config "$CONFIG"
case "$CHECKPOINT" in
    *://*) ;;  # remote, fetched by mmengine
    *) require_file checkpoint "$CHECKPOINT" ;;
esac
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh" test.py \
    "$PARTITION" "$JOB_NAME" "$CONFIG" "$CHECKPOINT" "$@"
