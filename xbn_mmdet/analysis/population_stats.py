"""Exact per-channel population statistics of the inputs of a model's
BatchNorm layers, gathered with forward pre-hooks.

A BN layer is any :class:`torch.nn.modules.batchnorm._BatchNorm` (``BatchNorm1d/2d/3d``,
``SyncBatchNorm`` and mmcv's subclasses). GroupNorm, LayerNorm (also our
``LayerNorm2d``) and InstanceNorm normalize each sample with its own
statistics, keep no running estimate, and are never treated as BN; their
forward order is still recorded, so that a BN network and its XBN twin can be
put on one depth axis.

Statistics are merged exactly: each batch contributes its count, mean and sum
of squared deviations computed in float64, and batches (and processes) are
combined with Chan et al.'s parallel update, so the result is the mean and
variance of the input over every sample and spatial position of the data set,
not an average of per-batch values.
"""
from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

# Normalization layers that compute statistics per sample (batch-free).
BATCH_FREE_NORMS = (nn.GroupNorm, nn.LayerNorm,
                    nn.modules.instancenorm._InstanceNorm)


def is_batch_norm(module: nn.Module) -> bool:
    """True for BatchNorm layers (SyncBatchNorm included), False for every
    batch-free norm (GN, LN, IN) and everything else."""
    return isinstance(module, _BatchNorm)


def is_norm_layer(module: nn.Module) -> bool:
    return is_batch_norm(module) or isinstance(module, BATCH_FREE_NORMS)


class RunningMoments:
    """Count, mean and sum of squared deviations (M2) per channel, float64.

    ``update`` adds a tensor whose dimension 1 is the channel (``N, C, *``);
    ``merge`` combines two sets of moments with Chan's parallel formula::

        n = na + nb;  d = mean_b - mean_a
        mean = mean_a + d * nb / n
        M2 = M2_a + M2_b + d**2 * na * nb / n
    """

    def __init__(self, num_channels: int) -> None:
        self.count = 0
        self.mean = torch.zeros(num_channels, dtype=torch.float64)
        self.m2 = torch.zeros(num_channels, dtype=torch.float64)

    def update(self, x: torch.Tensor) -> None:
        x = x.detach().to(torch.float64)
        dims = [d for d in range(x.dim()) if d != 1]  # all but channels
        n = x.numel() // x.shape[1]
        if n == 0:
            return
        mean = x.mean(dim=dims, keepdim=True)
        m2 = (x - mean).pow(2).sum(dim=dims)
        self.merge(n, mean.flatten().cpu(), m2.cpu())

    def merge(self, count: int, mean: torch.Tensor, m2: torch.Tensor) -> None:
        if count == 0:
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta.pow(2) * (self.count * count / total)
        self.count = total

    @property
    def var(self) -> torch.Tensor:
        """Population variance (divided by the count, not count - 1)."""
        if self.count == 0:
            raise ValueError('no values were accumulated')
        return self.m2 / self.count


class BNInputStats:
    """Forward pre-hooks on every norm layer of ``model``: the forward order
    of all of them, and :class:`RunningMoments` of each BN layer's input.

    Use as a context manager; the hooks are removed on exit::

        with BNInputStats(model) as stats:
            for batch in loader:
                model(batch)
        stats.order, stats.moments

    A BN layer called several times in one forward (a shared head) gets all
    its inputs, which is what its running statistics estimate.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.bn_names = [
            name for name, m in model.named_modules() if is_batch_norm(m)
        ]
        if not self.bn_names:
            raise ValueError(
                f'{type(model).__name__} has no BatchNorm layer (no '
                f'torch.nn.modules.batchnorm._BatchNorm instance); the '
                f'estimation shift is defined for BN layers only, GroupNorm/'
                f'LayerNorm/InstanceNorm keep no running statistics')
        self.order: List[str] = []  # every norm layer, first call order
        self.moments: Dict[str, RunningMoments] = {}
        self._handles = []

    def _hook(self, name: str, bn: bool):

        def hook(module, args):
            if name not in self._seen:
                self._seen.add(name)
                self.order.append(name)
            if bn:
                if name not in self.moments:
                    self.moments[name] = RunningMoments(module.num_features)
                self.moments[name].update(args[0])

        return hook

    def __enter__(self) -> 'BNInputStats':
        self._seen = set()
        for name, module in self.model.named_modules():
            if is_norm_layer(module):
                self._handles.append(
                    module.register_forward_pre_hook(
                        self._hook(name, is_batch_norm(module))))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def all_reduce(self) -> None:
        """Merge the moments of every process of an initialized process
        group (each saw its own shard of the data), exactly."""
        from mmengine.dist import all_gather_object, get_world_size
        if get_world_size() == 1:
            return
        local = {
            name: (m.count, m.mean, m.m2)
            for name, m in self.moments.items()
        }
        gathered: List[Dict[str, Tuple[int, torch.Tensor,
                                       torch.Tensor]]] = all_gather_object(
                                           local)
        merged: Dict[str, RunningMoments] = {}
        for part in gathered:
            for name, (count, mean, m2) in part.items():
                if name not in merged:
                    merged[name] = RunningMoments(mean.numel())
                merged[name].merge(count, mean, m2)
        self.moments = merged
        order: Optional[List[str]] = None
        for part_order in all_gather_object(self.order):
            if order is None or len(part_order) > len(order):
                order = part_order
        self.order = order or []
