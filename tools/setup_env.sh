#!/usr/bin/env bash
# Installs the pinned stack into a project-local virtualenv (.venv), once.
#
# Idempotent: a finished install writes a stamp holding a hash of this script
# and setup.py; while both are unchanged a later run returns at once. Delete
# .venv/.xbn-mmdet-env to force the checks again.
#
#   VENV=.venv PYTHON=python3 bash tools/setup_env.sh
#
# torch: an interpreter that can already import torch (say a CUDA build) makes
# the venv with --system-site-packages and keeps that torch; otherwise
# torch==2.13.0 is installed. mmcv 2.1.0 exists on PyPI only as source and is
# built here with its compiled ops (about 8 minutes on 2 cores; pip caches the
# wheel, so later venvs on the same machine take seconds).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
STAMP="$VENV/.xbn-mmdet-env"
WANT=$(cat tools/setup_env.sh setup.py | sha256sum | cut -c1-16)

if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
    exit 0
fi

say() { echo "[setup_env] $*"; }
die() { echo "[setup_env] ERROR: $*" >&2; exit 1; }

if [[ ! -x "$VENV/bin/python" ]]; then
    if "$PYTHON" -c 'import torch' 2>/dev/null; then
        say "creating $VENV, keeping the torch of $PYTHON"
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        say "creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check)

if ! "$PY" -c 'import torch' 2>/dev/null; then
    say "installing torch==2.13.0"
    "${PIP[@]}" torch==2.13.0
fi

# mmcv's setup.py and mmengine import pkg_resources (gone from setuptools 81);
# torch 2.13's extension builder needs setuptools >= 77.0.3.
"${PIP[@]}" -q 'setuptools>=77.0.3,<81' ninja wheel 'mmengine==0.10.7'

use_cuda=0
if command -v nvcc >/dev/null && command -v nvidia-smi >/dev/null \
        && nvidia-smi -L >/dev/null 2>&1 \
        && "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    use_cuda=1
fi

mmcv_ok() {
    "$PY" - "$use_cuda" <<'EOF'
import sys
import mmcv
import mmcv._ext  # noqa: F401  (absent when mmcv was built without ops)
from mmcv.ops import get_compiling_cuda_version
assert mmcv.__version__ == '2.1.0', mmcv.__version__
if sys.argv[1] == '1':
    assert get_compiling_cuda_version() != 'not available', 'no CUDA ops'
EOF
}

if ! mmcv_ok 2>/dev/null; then
    build_env=(MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)")
    # pip's wheel cache is keyed by the sdist, not by how it was built: a
    # cached CPU-only (or ops-less) wheel must not be reused here.
    extra=()
    if [[ $use_cuda == 1 ]]; then
        build_env+=(FORCE_CUDA=1)
        extra+=(--no-cache-dir)
    fi
    if "$PY" -c 'import mmcv' 2>/dev/null; then
        extra+=(--force-reinstall --no-deps --no-cache-dir)
    fi
    say "building mmcv 2.1.0 with ops (cuda=$use_cuda); this takes ~8 min on 2 cores"
    # Without --no-build-isolation the build cannot see torch and silently
    # produces an mmcv without ops.
    env "${build_env[@]}" "${PIP[@]}" --no-build-isolation "${extra[@]}" mmcv==2.1.0
fi
if ! mmcv_ok; then
    die "mmcv 2.1.0 in $VENV has no compiled ops (import mmcv._ext failed).
Rebuild it: MMCV_WITH_OPS=1 $PY -m pip install --no-build-isolation --no-cache-dir --force-reinstall --no-deps mmcv==2.1.0"
fi

# imagecorruptions-imaug provides the `imagecorruptions` module that mmdet's
# Corrupt transform imports (tools/test_robustness.py); the original
# imagecorruptions 1.1.2 breaks under numpy 2 / scikit-image >= 0.19. Both
# ship the same module, so the original goes first where it is installed.
if "$PY" -m pip show -q imagecorruptions >/dev/null 2>&1; then
    "$PY" -m pip uninstall -y -q imagecorruptions
fi
"${PIP[@]}" -q 'mmdet==3.3.0' 'pycocotools>=2.0.8' 'faster-coco-eval==1.8.0' \
    'scikit-learn==1.9.1' 'imagecorruptions-imaug==1.1.5' pytest
"${PIP[@]}" -q --no-build-isolation -e .

"$PY" -c 'import mmcv._ext, mmdet, xbn_mmdet, imagecorruptions' \
    || die "the installed stack does not import; see the messages above"
echo "$WANT" > "$STAMP"
say "ready: $("$PY" -c 'import torch, mmcv, mmengine, mmdet; print(f"torch {torch.__version__}, mmcv {mmcv.__version__}, mmengine {mmengine.__version__}, mmdet {mmdet.__version__}")')"
