"""Hooks for mmengine's Runner (registered in mmdet's HOOKS on import)."""
from .atomic_checkpoint_hook import AtomicCheckpointWritesHook
from .fuse_conv_bn_hook import FuseConvBNHook
from .random_state_hook import RandomStateHook
from .non_finite_loss_hook import (NonFiniteLossError, NonFiniteLossHook,
                                   non_finite_terms)

__all__ = [
    'AtomicCheckpointWritesHook', 'FuseConvBNHook', 'NonFiniteLossHook',
    'NonFiniteLossError', 'non_finite_terms', 'RandomStateHook'
]
