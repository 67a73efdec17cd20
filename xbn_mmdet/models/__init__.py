from .backbones import *  # noqa: F401,F403  (registers the backbones)
from .bfn import BFN_TYPES, LayerNorm2d, build_bfn, is_bfn
from .fuse_conv_bn import fuse_conv_bn

__all__ = ['BFN_TYPES', 'LayerNorm2d', 'build_bfn', 'is_bfn', 'fuse_conv_bn']
