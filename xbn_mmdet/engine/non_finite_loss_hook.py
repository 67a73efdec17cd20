"""Stop (or skip the step) when the training loss is NaN or infinite.

Where the check sits. mmengine's ``train_step`` (``BaseModel`` and
``MMDistributedDataParallel`` alike) runs the forward, ``parse_losses`` and
then ``optim_wrapper.update_params(loss)``, which does backward, the
optimizer step and zero_grad in one call. ``after_train_iter`` comes after
the update, too late to keep NaN out of the weights. So at ``before_train``
the hook wraps two bound methods of this run's objects (instance attributes,
removed again at ``after_train``):

* the model's ``parse_losses``, to remember this step's loss terms;
* the optimizer wrapper's ``update_params``: if the summed loss is not
  finite, the update does not happen at all (no backward, no optimizer
  step, no scheduler or momentum change), and with ``action='stop'`` the
  run ends with :class:`NonFiniteLossError`.

This works for every ``OptimWrapper`` type (``AmpOptimWrapper`` included:
the check sees the unscaled loss, before the loss scaler) without a config
change. In distributed training the finiteness flag is all-reduced, so all
ranks skip or stop together (one rank skipping backward alone would hang
DDP). With gradient accumulation a skipped step does not count towards the
accumulation.
"""
import logging

import torch
from mmengine.dist import all_reduce
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import find_latest_checkpoint

from mmdet.registry import HOOKS

ACTIONS = ('stop', 'skip')


class NonFiniteLossError(RuntimeError):
    """Raised to stop training at a non-finite loss (``tools/train.py``
    prints it as one ``error:`` line)."""


def non_finite_terms(log_vars) -> list:
    """``name=value`` of the entries of ``parse_losses``' ``log_vars`` that
    are NaN or infinite; the total ``loss`` only when no term is."""
    bad = []
    for name, value in (log_vars or {}).items():
        value = value.detach() if torch.is_tensor(value) else \
            torch.tensor(float(value))
        if not bool(torch.isfinite(value).all()):
            bad.append(f'{name}={value.float().mean().item()}')
    terms = [b for b in bad if not b.startswith('loss=')]
    return terms or bad


@HOOKS.register_module()
class NonFiniteLossHook(Hook):
    """Check every training loss before the parameters are updated.

    Args:
        action (str): ``'stop'`` (default) ends training with an error naming
            the iteration, the non-finite loss terms and the last checkpoint
            saved in the work dir; ``'skip'`` drops that step's update
            (weights and optimizer state stay as they were) and goes on.
        max_consecutive_skips (int): with ``'skip'``, stop anyway after this
            many non-finite steps in a row (the weights themselves are then
            probably broken). Default 10.
    """

    priority = 'VERY_HIGH'

    def __init__(self, action: str = 'stop', max_consecutive_skips: int = 10):
        if action not in ACTIONS:
            raise ValueError(f'NonFiniteLossHook: action={action!r} is not '
                             f'one of {", ".join(map(repr, ACTIONS))}')
        if not isinstance(max_consecutive_skips, int) or \
                max_consecutive_skips < 1:
            raise ValueError('NonFiniteLossHook: max_consecutive_skips='
                             f'{max_consecutive_skips!r} must be an integer '
                             '>= 1')
        self.action = action
        self.max_consecutive_skips = max_consecutive_skips
        self.skipped = 0
        self._consecutive = 0
        self._log_vars = None
        self._patched = []

    # -- patching ---------------------------------------------------------
    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        optim_wrapper = runner.optim_wrapper
        parse_losses = model.parse_losses
        update_params = optim_wrapper.update_params

        def recording_parse_losses(losses):
            loss, log_vars = parse_losses(losses)
            self._log_vars = log_vars
            return loss, log_vars

        def checked_update_params(loss, *args, **kwargs):
            if self._finite_everywhere(loss):
                self._consecutive = 0
                return update_params(loss, *args, **kwargs)
            self._on_non_finite(runner)
            optim_wrapper.zero_grad()

        model.parse_losses = recording_parse_losses
        optim_wrapper.update_params = checked_update_params
        self._patched = [(model, 'parse_losses'),
                         (optim_wrapper, 'update_params')]

    def after_train(self, runner) -> None:
        for obj, name in self._patched:
            obj.__dict__.pop(name, None)
        self._patched = []

    # -- the check --------------------------------------------------------
    @staticmethod
    def _finite_everywhere(loss) -> bool:
        loss = loss.detach() if torch.is_tensor(loss) else torch.tensor(loss)
        bad = torch.tensor(0. if bool(torch.isfinite(loss).all()) else 1.,
                           device=loss.device)
        all_reduce(bad, op='sum')  # no-op outside distributed training
        return bad.item() == 0

    def _on_non_finite(self, runner) -> None:
        iteration = runner.iter + 1  # as mmengine's log counts
        terms = non_finite_terms(self._log_vars) or [
            'the summed loss (on another rank)'
        ]
        where = f'iteration {iteration} (epoch {runner.epoch + 1})'
        self._consecutive += 1
        if self.action == 'skip' and \
                self._consecutive <= self.max_consecutive_skips:
            self.skipped += 1
            runner.message_hub.update_info('non_finite_skipped', self.skipped)
            print_log(
                f'non-finite loss at {where}: {", ".join(terms)}; skipped '
                f'this update ({self.skipped} skipped so far)',
                logger='current',
                level=logging.WARNING)
            return None
        last = find_latest_checkpoint(runner.work_dir)
        last = f'last checkpoint: {last}' if last else \
            'no checkpoint saved yet'
        extra = '' if self.action == 'stop' else (
            f' after {self._consecutive} non-finite steps in a row '
            f'(max_consecutive_skips={self.max_consecutive_skips})')
        message = (f'non-finite loss at {where}: {", ".join(terms)}; '
                   f'training stopped{extra} before updating the weights; '
                   f'{last}. Lower the lr or clip gradients '
                   '(optim_wrapper.clip_grad), or set '
                   "NonFiniteLossHook(action='skip')")
        print_log(message, logger='current', level=logging.ERROR)
        raise NonFiniteLossError(message)


__all__ = ['NonFiniteLossHook', 'NonFiniteLossError', 'non_finite_terms']
