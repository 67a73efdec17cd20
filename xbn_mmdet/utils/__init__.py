"""Runtime helpers for the tools (and library users).

* :func:`register_checkpoint_safe_globals` - let torch>=2.6's weights-only
  ``torch.load`` read mmengine/mmdet checkpoints (resume, load_from, test).
* :func:`prepare_cpu_distributed` - ``--launcher pytorch`` on CPU (gloo).
* :func:`check_pretrained_checkpoints` - clear error for a missing local
  pretrained checkpoint named in the model config.
"""
from .dist import (DistributedLaunchError, is_cpu_only,
                   prepare_cpu_distributed)
from .pretrained import (MissingPretrainedError, check_pretrained_checkpoints,
                         drop_missing_pretrained, find_missing_pretrained)
from ..checkpoint.safe_load import (checkpoint_safe_globals,
                                    register_checkpoint_safe_globals)

__all__ = [
    'register_checkpoint_safe_globals', 'checkpoint_safe_globals',
    'prepare_cpu_distributed', 'is_cpu_only', 'DistributedLaunchError',
    'check_pretrained_checkpoints', 'find_missing_pretrained',
    'drop_missing_pretrained', 'MissingPretrainedError'
]
