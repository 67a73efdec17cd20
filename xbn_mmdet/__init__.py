"""xbn-mmdet: XBNBlock backbones (batch-free normalization in every residual
block) for MMDetection 3.x.

``import xbn_mmdet`` (or ``custom_imports = dict(imports=['xbn_mmdet'])`` in a
config) registers the backbones in ``mmdet.registry.MODELS``.
"""
from . import models  # noqa: F401  (registers XBNResNet, XBNResNeXt)
from .version import __version__

__all__ = ['__version__', 'models']
