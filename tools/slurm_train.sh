#!/usr/bin/env bash
# Training on a Slurm cluster (mmdet's interface); see tools/slurm_launch.sh
# for the environment (GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SRUN_ARGS, PYTHON).
#
#   GPUS=16 tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
set -euo pipefail
if [ "$#" -lt 4 ]; then
    echo "usage: $0 PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]" >&2
    exit 2
fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
shift 4
source "$(dirname "${BASH_SOURCE[0]}")/launch_common.sh"
require_file config "$CONFIG"
exec bash "$(dirname "${BASH_SOURCE[0]}")/slurm_launch.sh" train.py \
    "$PARTITION" "$JOB_NAME" "$CONFIG" --work-dir "$WORK_DIR" "$@"
