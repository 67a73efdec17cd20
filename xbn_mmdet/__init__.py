"""xbn-mmdet: XBNBlock backbones (batch-free normalization in every residual
block) for MMDetection 3.x.

``import xbn_mmdet`` (or ``custom_imports = dict(imports=['xbn_mmdet'])`` in a
config) registers the backbones in ``mmdet.registry.MODELS``, the
``EstimationShiftHook`` and ``FuseConvBNHook`` in ``mmdet.registry.HOOKS``
and ``FastCocoMetric`` in ``mmdet.registry.METRICS``.
"""
from . import analysis  # noqa: F401  (registers EstimationShiftHook)
from . import models  # noqa: F401  (registers XBNResNet, XBNResNeXt)
from . import checkpoint, engine, evaluation  # noqa: F401  (registries)
from . import utils
# registers SeededCorrupt (tools/test_robustness.py)
from . import robustness
from .version import __version__

# torch >= 2.6 loads checkpoints with weights_only=True, which refuses the few
# mmengine/numpy classes that training checkpoints hold (--resume, load_from,
# init_detector). Allow-list exactly those; never weights_only=False.
utils.register_checkpoint_safe_globals()

__all__ = [
    '__version__', 'analysis', 'models', 'checkpoint', 'engine', 'evaluation',
    'robustness', 'utils'
]
