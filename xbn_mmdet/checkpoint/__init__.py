"""Checkpoints in and out: safe (weights-only) loading, the forms official
XBNBlock / BatchNorm / mmdet checkpoints come in, loud loading into our
backbones, and conversion to an mmdet-ready file with metadata."""
from .convert import convert_checkpoint
from .integrity import (ATOMIC_BACKEND, AtomicLocalBackend,
                        checkpoint_problem, find_resumable_checkpoint)
from .loader import (CheckpointMismatchError, LoadReport,
                     load_backbone_checkpoint, load_backbone_state,
                     warm_start_from_bn)
from .metadata import META_KEY, backbone_meta, infer_resnet_arch
from .safe_load import (UnsafeCheckpointError, check_checkpoint_is_safe,
                        checkpoint_safe_globals, load_checkpoint_file,
                        register_checkpoint_safe_globals, unsafe_globals_in)
from .state_dict import extract_backbone_state_dict

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'checkpoint_problem',
    'find_resumable_checkpoint', 'convert_checkpoint', 'CheckpointMismatchError', 'LoadReport',
    'load_backbone_checkpoint', 'load_backbone_state', 'warm_start_from_bn',
    'META_KEY', 'backbone_meta', 'infer_resnet_arch',
    'UnsafeCheckpointError', 'check_checkpoint_is_safe',
    'checkpoint_safe_globals', 'load_checkpoint_file',
    'register_checkpoint_safe_globals', 'unsafe_globals_in',
    'extract_backbone_state_dict'
]
