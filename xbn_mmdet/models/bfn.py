"""Batch-free normalization (BFN) layers: the one place that maps a
``bfn_cfg`` to a layer.

XBN replaces one BatchNorm per residual block with a norm that computes its
statistics per sample, so it has no running estimate that can drift between
training and test (the "estimation shift" of the XBNBlock paper). Every
backbone in this package builds its BFN through :func:`build_bfn`, so the
accepted types, the group-count rules and their error messages are the same
everywhere.
"""
import copy
from typing import Optional, Tuple

import torch.nn as nn
from mmcv.cnn import build_norm_layer
from mmengine.logging import print_log

# Batch-free norm types accepted in ``bfn_cfg['type']``.
BFN_TYPES: Tuple[str, ...] = ('GN', 'LN', 'IN')
DEFAULT_BFN_CFG = dict(type='GN', num_groups=64)

# mmcv registers these norm names; all of them use batch statistics, which is
# exactly what a BFN must not do, so they get a dedicated message.
_BATCH_NORM_TYPES = ('BN', 'BN1d', 'BN2d', 'BN3d', 'SyncBN', 'MMSyncBN',
                     'naiveSyncBN', 'NaiveSyncBN')


class LayerNorm2d(nn.GroupNorm):
    """Layer norm for NCHW feature maps: one group over (C, H, W) per sample,
    with a per-channel affine transform.

    ``torch.nn.LayerNorm`` (what mmcv's ``'LN'`` builds) normalizes over the
    trailing dimension only, which for a conv feature map is the image width,
    not the channels. The XBNBlock paper's LN normalizes each sample over all
    of (C, H, W); ``GroupNorm`` with a single group computes exactly that.
    """

    _abbr_ = 'ln'

    def __init__(self, num_features: int, eps: float = 1e-5,
                 affine: bool = True) -> None:
        super().__init__(1, num_features, eps=eps, affine=affine)


_capped_once = set()


def validate_bfn_cfg(bfn_cfg: Optional[dict]) -> None:
    """Fail early, with a one-line message, on a ``bfn_cfg`` we cannot
    build. ``None`` is valid (it turns XBN off)."""
    if bfn_cfg is None:
        return
    if not isinstance(bfn_cfg, dict):
        raise TypeError(f'bfn_cfg must be a dict such as '
                        f'{DEFAULT_BFN_CFG} or None, got {bfn_cfg!r}')
    norm_type = bfn_cfg.get('type')
    if norm_type in _BATCH_NORM_TYPES:
        raise ValueError(
            f"bfn_cfg type={norm_type!r} is a batch norm; XBN needs a "
            f"batch-free norm: one of {', '.join(BFN_TYPES)} "
            f"(the remaining BatchNorms are set by norm_cfg)")
    if norm_type not in BFN_TYPES:
        raise ValueError(f'bfn_cfg type={norm_type!r} is not supported; '
                         f"valid types: {', '.join(BFN_TYPES)}")
    if norm_type == 'GN':
        groups = bfn_cfg.get('num_groups', DEFAULT_BFN_CFG['num_groups'])
        if not isinstance(groups, int) or isinstance(groups, bool) \
                or groups < 1:
            raise ValueError(f'bfn_cfg num_groups={groups!r} is not valid; '
                             f'use a positive int (official XBN: 64)')
    elif 'num_groups' in bfn_cfg:
        raise ValueError(f"bfn_cfg num_groups={bfn_cfg['num_groups']!r} "
                         f'only applies to GN, not to type={norm_type!r}')


def resolve_num_groups(num_groups: int, num_channels: int,
                       layer_name: str) -> int:
    """The group count a GN layer really gets.

    Groups above the channel count are capped at it, as the official XBN
    code does (a 64-group GN on 32 channels becomes 32 groups, i.e. per-channel
    normalization). A count that does not divide the channels is an error:
    silently changing it would make the layer disagree with checkpoints.
    """
    if num_groups > num_channels:
        key = (num_groups, num_channels)
        if key not in _capped_once:
            _capped_once.add(key)
            print_log(
                f'XBN: GroupNorm num_groups={num_groups} exceeds the '
                f'{num_channels} channels of {layer_name} (and of any other '
                f'{num_channels}-channel BFN); capped at {num_channels}.',
                logger='current')
        return num_channels
    if num_channels % num_groups:
        divisors = [d for d in range(1, num_channels + 1)
                    if num_channels % d == 0 and d <= 128]
        raise ValueError(
            f'{layer_name}: GroupNorm num_groups={num_groups} does not '
            f'divide its {num_channels} channels; choose a divisor of '
            f'{num_channels} such as {divisors[-4:]}')
    return num_groups


def build_bfn(bfn_cfg: dict, num_channels: int,
              layer_name: str = 'BFN') -> nn.Module:
    """Build the batch-free norm described by ``bfn_cfg`` for
    ``num_channels`` channels.

    Args:
        bfn_cfg: ``dict(type='GN', num_groups=G)``, ``dict(type='LN')`` or
            ``dict(type='IN')``, plus the usual mmcv keys (``eps``,
            ``affine``, ``requires_grad``).
        num_channels: channels of the feature map it normalizes.
        layer_name: used in log and error messages only.
    """
    validate_bfn_cfg(bfn_cfg)
    cfg = dict(bfn_cfg)
    norm_type = cfg['type']
    if norm_type == 'GN':
        cfg['num_groups'] = resolve_num_groups(
            cfg.get('num_groups', DEFAULT_BFN_CFG['num_groups']),
            num_channels, layer_name)
    elif norm_type == 'LN':
        cfg['type'] = LayerNorm2d
    _, layer = build_norm_layer(cfg, num_channels)
    return layer


def is_bfn(module: nn.Module) -> bool:
    """Whether ``module`` is one of the batch-free norms we build."""
    return isinstance(module, (nn.GroupNorm, nn.InstanceNorm2d))


def bfn_into_conv_module(conv_module: nn.Module, bfn_cfg: dict,
                         layer_name: str) -> nn.Module:
    """Make the norm of an mmcv ``ConvModule`` the batch-free norm.

    The BFN takes the replaced norm's module name (``bn``), as in the
    official XBNBlock code, so state-dict keys stay those of the plain
    network and a BatchNorm checkpoint can warm-start it (``from_bn``).
    """
    norm = conv_module.norm
    channels = getattr(norm, 'num_features', None) or norm.num_channels
    conv_module.add_module(conv_module.norm_name,
                           build_bfn(bfn_cfg, channels, layer_name))
    return conv_module


def with_default_groups(bfn_cfg: Optional[dict],
                        num_groups: int) -> Optional[dict]:
    """``bfn_cfg`` with ``num_groups`` filled in where a GN config leaves
    it out (a backbone's official count instead of the global 64)."""
    if bfn_cfg is None or bfn_cfg.get('type') != 'GN' or \
            'num_groups' in bfn_cfg:
        return copy.deepcopy(bfn_cfg)
    return dict(copy.deepcopy(bfn_cfg), num_groups=num_groups)
