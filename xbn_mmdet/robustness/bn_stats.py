"""``--bn-stats adapt``: evaluate with BatchNorm statistics re-estimated on
the test images themselves (AdaBN, Li et al. 2016), the cheap axis of shift
the XBNBlock paper discusses: how much of a model's loss under shift is the
estimation shift of its BatchNorms.

Precisely, for each evaluated cell (the clean or the corrupted test set):

1. every ``torch.nn.modules.batchnorm._BatchNorm`` in the model (BN1d/2d/3d,
   torch's SyncBatchNorm) has its running statistics reset and is put in
   train mode with ``momentum=None`` (a cumulative average), whatever the
   config's ``norm_eval``/``requires_grad``; every other module stays in
   eval mode; GroupNorm/LayerNorm (XBN's batch-free norms) hold no
   statistics and are untouched;
2. one pass of the model's ``test_step`` over that cell's test loader
   under ``torch.no_grad()``: no gradient, no optimizer, no parameter
   changes; each BN's running mean/variance become the mean over test
   batches of the batch mean / unbiased batch variance (the distributed
   ranks' averages are merged, weighted by their batch counts);
3. the BNs go back to eval mode with their own momentum, and the cell is
   evaluated as usual with the new statistics;
4. after the cell, the checkpoint's statistics are put back, so cells do
   not leak into each other.

The statistics therefore depend on the test batch composition (batch size,
padding of the batch to a common size), as test-time BN statistics do.
"""
import sys
from typing import Dict, List

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['BN_STATS_MODES', 'batch_norms', 'estimate_bn_stats',
           'AdaptBNStatsHook']

BN_STATS_MODES = ('running', 'adapt')
_BUFFERS = ('running_mean', 'running_var', 'num_batches_tracked')


def batch_norms(model: torch.nn.Module) -> List[_BatchNorm]:
    """The BatchNorm layers that keep running statistics."""
    return [
        m for m in model.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
    ]


def _snapshot(norms) -> List[Dict[str, torch.Tensor]]:
    return [{k: getattr(m, k).detach().clone() for k in _BUFFERS}
            for m in norms]


def _restore(norms, snapshot) -> None:
    for m, saved in zip(norms, snapshot):
        for key, value in saved.items():
            getattr(m, key).copy_(value)


@torch.no_grad()
def estimate_bn_stats(model: torch.nn.Module, dataloader,
                      show_progress: bool = True) -> int:
    """Steps 1-3 of the module docstring; returns the number of BN layers
    (0: nothing to adapt)."""
    norms = batch_norms(model)
    if not norms:
        return 0
    modes = [(m.training, m.momentum) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
        m.train()
    bar = None
    if show_progress and is_main_process():
        from mmengine.utils import ProgressBar
        print(f'[robustness] re-estimating the statistics of {len(norms)} '
              'BatchNorm layers on the test images')
        bar = ProgressBar(len(dataloader), file=sys.stdout)
    try:
        for data in dataloader:
            model.test_step(data)
            if bar is not None:
                bar.update()
    finally:
        for m, (training, momentum) in zip(norms, modes):
            m.train(training)
            m.momentum = momentum
    if bar is not None:
        print()
    if get_world_size() > 1:
        _merge_across_ranks(norms)
    return len(norms)


def _merge_across_ranks(norms) -> None:
    """Each rank saw its shard: average the ranks' statistics weighted by
    how many batches each saw."""
    for m in norms:
        count = m.num_batches_tracked.to(torch.float64)
        total = count.clone()
        all_reduce(total)
        for key in ('running_mean', 'running_var'):
            buffer = getattr(m, key)
            weighted = buffer.to(torch.float64) * count
            all_reduce(weighted)
            buffer.copy_((weighted / total.clamp(min=1)).to(buffer.dtype))
        m.num_batches_tracked.copy_(total.to(m.num_batches_tracked.dtype))


class AdaptBNStatsHook(Hook):
    """Re-estimate BN statistics on the test loader before each test epoch
    and restore the checkpoint's afterwards (see the module docstring)."""

    priority = 'VERY_LOW'

    def __init__(self):
        self._saved = None

    def before_test_epoch(self, runner) -> None:
        norms = batch_norms(runner.model)
        self._saved = (norms, _snapshot(norms))
        if not estimate_bn_stats(runner.model, runner.test_loop.dataloader):
            runner.logger.warning(
                '--bn-stats adapt: the model has no BatchNorm layer with '
                'running statistics; nothing to adapt')

    def after_test_epoch(self, runner, metrics=None) -> None:
        if self._saved is not None:
            _restore(*self._saved)
            self._saved = None
