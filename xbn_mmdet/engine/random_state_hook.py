"""Save the random number generators with every checkpoint and restore them
on resume, so a resumed run continues exactly as the uninterrupted one.

mmengine 0.10.7 saves weights, optimizer, schedulers and the message hub,
but not the state of python's ``random``, numpy's and torch's generators.
After ``--resume`` the run continues from the seed's initial state instead,
so every random choice from then on (RoI sampling, augmentation in the main
process, dropout) differs from the run that was interrupted.

When the states are restored matters. ``IterBasedTrainLoop`` resumes by
drawing ``runner.iter`` batches from the data loader and throwing them away
(that replays the data order and the augmentation of worker processes); a
restore before that skip would be consumed by it. So for an iteration-based
loop the hook restores the states right before the first batch after the
skip, the point at which the interrupted run saved them. For an epoch-based
loop it restores them at ``before_train_epoch``; mmengine's
``EpochBasedTrainLoop`` restarts an interrupted epoch from its first batch,
so only a checkpoint written at the end of an epoch resumes exactly.

Validation inside training also draws random numbers (a data loader iterator
draws its base seed from torch's generator). The hook keeps training's
stream independent of it: the states are saved at ``before_val`` and put
back at ``after_val``, in the uninterrupted and the resumed run alike.

The states are stored under ``checkpoint['rng_state']`` as plain ints and
tensors, which the weights-only loader accepts.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmdet.registry import HOOKS

KEY = 'rng_state'


def get_rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = dict(
        python=random.getstate(),
        numpy=dict(kind=kind, keys=torch.from_numpy(keys.astype(np.int64)),
                   pos=int(pos), has_gauss=int(has_gauss),
                   cached=float(cached)),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    n = state['numpy']
    np.random.set_state((n['kind'], n['keys'].numpy().astype(np.uint32),
                         n['pos'], n['has_gauss'], n['cached']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class _RestoreAfterSkip:
    """Wraps the train loop's data iterator: after ``skip`` batches, restore
    the random states and step out of the way."""

    def __init__(self, loop, skip, state):
        self._loop, self._inner = loop, loop.dataloader_iterator
        self._left, self._state = skip, state

    def __next__(self):
        if self._left == 0:
            set_rng_state(self._state)
            self._loop.dataloader_iterator = self._inner
            return next(self._inner)
        self._left -= 1
        return next(self._inner)

    def __iter__(self):
        return self

    def __getattr__(self, name):
        return getattr(self._inner, name)


@HOOKS.register_module()
class RandomStateHook(Hook):
    """Random states in checkpoints, restored on resume (module docstring).
    """

    priority = 'VERY_HIGH'

    def __init__(self):
        self._loaded = None
        self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint[KEY] = get_rng_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get(KEY)
        if self._loaded is None:
            print_log('the checkpoint has no random states (saved without '
                      'RandomStateHook): the resumed run will draw other '
                      'random numbers than the interrupted one',
                      logger='current')

    def before_train_epoch(self, runner) -> None:
        if self._loaded is None:
            return
        state, self._loaded = self._loaded, None
        loop = runner.train_loop
        if hasattr(loop, 'dataloader_iterator') and loop.iter > 0:
            loop.dataloader_iterator = _RestoreAfterSkip(loop, loop.iter, state)
        else:
            set_rng_state(state)

    def before_val(self, runner) -> None:
        self._before_val = get_rng_state()

    def after_val(self, runner) -> None:
        if self._before_val is not None:
            set_rng_state(self._before_val)
            self._before_val = None
