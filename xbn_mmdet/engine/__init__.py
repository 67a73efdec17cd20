"""Hooks for mmengine's Runner (registered in mmdet's HOOKS on import)."""
from .fuse_conv_bn_hook import FuseConvBNHook

__all__ = ['FuseConvBNHook']
