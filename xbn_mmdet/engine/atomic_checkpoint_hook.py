"""Make the run's ``CheckpointHook`` write its files atomically.

A custom hook rather than ``default_hooks.checkpoint.backend_args`` in our
configs: our recipes get their runtime from mmdet's base configs, and
mmengine refuses a key (``default_hooks``) defined by two sibling bases, so
a shared base file can add ``custom_hooks`` but not change
``default_hooks``. See :mod:`xbn_mmdet.checkpoint.integrity` for what
mmengine does and why.
"""
from mmengine.hooks import CheckpointHook, Hook
from mmengine.logging import print_log

from mmdet.registry import HOOKS

from ..checkpoint.integrity import ATOMIC_BACKEND


@HOOKS.register_module()
class AtomicCheckpointWritesHook(Hook):
    """At ``before_train`` (before ``CheckpointHook`` sets up its file
    backend), give every ``CheckpointHook`` that writes to the local file
    system with the default backend the ``'atomic_local'`` backend: each
    checkpoint is written to a temporary file and renamed into place, so a
    kill while saving never leaves a truncated ``iter_N.pth``/``epoch_N.pth``.
    Hooks with their own ``backend_args``/``file_client_args`` or a remote
    ``out_dir`` are left alone."""

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        for hook in runner.hooks:
            if not isinstance(hook, CheckpointHook):
                continue
            out_dir = hook.out_dir or runner.work_dir
            if (hook.backend_args is None and hook.file_client_args is None
                    and '://' not in str(out_dir)):
                hook.backend_args = dict(backend=ATOMIC_BACKEND)
                print_log('checkpoints are written atomically (temporary '
                          'file, then rename)', logger='current')
