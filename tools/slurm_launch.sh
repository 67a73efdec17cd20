#!/usr/bin/env bash
# The Slurm launcher behind slurm_train.sh and slurm_test.sh (mmdet's
# scripts, with checks):
#
#   tools/slurm_launch.sh SCRIPT PARTITION JOB_NAME [SCRIPT args...]
#
# runs tools/SCRIPT with --launcher slurm in GPUS tasks, one per GPU,
# GPUS_PER_NODE to a node, through srun. Environment: GPUS (default 8),
# GPUS_PER_NODE (8, or GPUS when fewer), CPUS_PER_TASK (5), SRUN_ARGS
# (extra srun options, split on spaces, e.g. "--quotatype=auto"), PYTHON
# (as for dist_launch.sh; it must exist on the compute nodes too).
# mmengine's slurm launcher takes the master address from the node list and
# the port from MASTER_PORT (default 29500).
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=tools/launch_common.sh
source "$REPO_ROOT/tools/launch_common.sh"

SCRIPT=$1
PARTITION=$2
JOB_NAME=$3
shift 3
GPUS=${GPUS:-8}
require_int GPUS "$GPUS" 1
GPUS_PER_NODE=${GPUS_PER_NODE:-$((GPUS < 8 ? GPUS : 8))}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-}
require_int GPUS_PER_NODE "$GPUS_PER_NODE" 1
require_int CPUS_PER_TASK "$CPUS_PER_TASK" 1
if [ "$GPUS" -lt "$GPUS_PER_NODE" ]; then
    GPUS_PER_NODE=$GPUS
elif [ "$((GPUS % GPUS_PER_NODE))" -ne 0 ]; then
    die "GPUS ($GPUS) must be a multiple of GPUS_PER_NODE ($GPUS_PER_NODE)," \
        "or smaller than it"
fi
[ -n "$PARTITION" ] || die "PARTITION must name a Slurm partition, got ''"
[ -n "$JOB_NAME" ] || die "JOB_NAME must not be empty"
command -v srun >/dev/null 2>&1 ||
    { echo "$(basename "$0"): srun not found: run this on a Slurm login node" >&2; exit 1; }

find_python
export PYTHONPATH="$REPO_ROOT${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086  # SRUN_ARGS is a list of options
exec srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PY" -u "$REPO_ROOT/tools/$SCRIPT" "$@" --launcher slurm
