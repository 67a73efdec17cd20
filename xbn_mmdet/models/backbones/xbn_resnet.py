"""XBN ResNet: mmdet's ResNet with one batch-free norm per residual block.

Everything except the placement of the batch-free norm (BFN) is mmdet's:
stages, ``frozen_stages``, ``norm_eval``, DCN, plugins, ``with_cp`` and
``init_cfg`` come from :class:`mmdet.models.backbones.ResNet` unchanged. The
placement lives in two places only: :class:`XBNBlockMixin` (which norm of a
block becomes the BFN, per ``bfn_position``) and
:class:`XBNResNetMixin` (the stem norm, and handing ``bfn_cfg`` to every
block).

Module names: the BFN keeps the name of the BatchNorm it replaces
(``bn1``/``bn2``/``bn3``, stem ``bn1``), like the official XBNBlock code does.
State-dict keys are therefore the torchvision/mmdet ones
(``layer1.0.bn2.weight``), official XBNBlock ImageNet checkpoints load
without renaming, and ``bfn_cfg=None`` gives exactly mmdet's keys.
"""
import copy
from typing import Dict, Optional

import torch.nn as nn
from mmdet.models.backbones.resnet import BasicBlock, Bottleneck, ResNet
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..bfn import DEFAULT_BFN_CFG, build_bfn, is_bfn, validate_bfn_cfg
from .pretrained import XBNPretrainedMixin

BFN_POSITIONS = ('P1', 'P2', 'P3')


def _num_channels(norm: nn.Module) -> int:
    """Channels of a norm layer, whatever its type."""
    for attr in ('num_features', 'num_channels'):
        if hasattr(norm, attr):
            return getattr(norm, attr)
    return norm.normalized_shape[0]


def validate_bfn_position(bfn_position: str) -> None:
    if bfn_position not in BFN_POSITIONS:
        raise ValueError(f'bfn_position={bfn_position!r} is not valid; '
                         f"choose one of {', '.join(BFN_POSITIONS)}")


def validate_stage_args(name: str, kwargs: dict) -> None:
    """mmdet's ResNet checks ``num_stages`` and ``out_indices`` with bare
    asserts and not ``frozen_stages`` at all (a missing ``layer5`` later);
    name the value and the valid range instead."""
    num_stages = kwargs.get('num_stages', 4)
    if num_stages not in (1, 2, 3, 4):
        raise ValueError(f'{name}: num_stages={num_stages!r} is not valid; '
                         'choose 1, 2, 3 or 4')
    out_indices = kwargs.get('out_indices', (0, 1, 2, 3))
    bad = [i for i in out_indices if i not in range(num_stages)]
    if bad or not out_indices:
        raise ValueError(
            f'{name}: out_indices={tuple(out_indices)!r} is not valid; with '
            f'num_stages={num_stages} the stage indices are '
            f'{list(range(num_stages))}')
    frozen = kwargs.get('frozen_stages', -1)
    if frozen not in range(-1, num_stages + 1):
        raise ValueError(
            f'{name}: frozen_stages={frozen!r} is not valid; choose -1 '
            f'(nothing frozen) to {num_stages} (stem and all stages)')


class XBNBlockMixin:
    """Turns one norm of a residual block into the batch-free norm.

    ``bfn_roles`` maps ``bfn_position`` to the role (``norm1``/``norm2``/
    ``norm3``) of the norm that becomes the BFN; the block classes below set
    it as the official XBNBlock code places it. The replaced layer keeps its
    module name, so the ``normN`` role properties mmdet relies on
    (``zero_init_residual``, init overrides, user code) return it.
    """

    bfn_roles: Dict[str, str] = {}

    def __init__(self,
                 *args,
                 bfn_cfg: Optional[dict] = None,
                 bfn_position: str = 'P2',
                 bfn_scope: str = 'block',
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        validate_bfn_position(bfn_position)
        self.bfn_role = None if bfn_cfg is None else \
            self.bfn_roles[bfn_position]
        if self.bfn_role is not None:
            slot = getattr(self, f'{self.bfn_role}_name')
            channels = _num_channels(getattr(self, slot))
            # add_module on an existing name replaces the layer in place, so
            # the state-dict key order stays mmdet's.
            self.add_module(
                slot, build_bfn(bfn_cfg, channels, f'{bfn_scope} {slot}'))


class XBNBasicBlock(XBNBlockMixin, BasicBlock):
    """BasicBlock (ResNet-18/34): the official code puts the BFN after the
    first 3x3 conv for P1 and P2, and after the second for P3."""

    bfn_roles = {'P1': 'norm1', 'P2': 'norm1', 'P3': 'norm2'}


class XBNBottleneck(XBNBlockMixin, Bottleneck):
    """Bottleneck: P1 after the first 1x1 conv, P2 (default) after the 3x3
    conv, P3 after the last 1x1 conv, before the residual add."""

    bfn_roles = {'P1': 'norm1', 'P2': 'norm2', 'P3': 'norm3'}


class XBNResNetMixin(XBNPretrainedMixin):
    """What an XBN backbone adds to mmdet's ResNet/ResNeXt.

    Args:
        bfn_cfg (dict | None): the batch-free norm, an mmcv norm config of
            type ``'GN'`` (default ``dict(type='GN', num_groups=64)``), ``'LN'``
            (layer norm over C, H, W) or ``'IN'``. ``num_groups`` above a
            layer's channel count is capped at it; one that does not divide
            the channels is an error. ``None`` turns XBN off: the backbone is
            then mmdet's plain network with identical keys and outputs.
        bfn_position (str): which norm of each block is the BFN: ``'P1'``,
            ``'P2'`` (default) or ``'P3'``. The shortcut (downsample) norm
            always stays BatchNorm.
        stem_bfn (bool): whether the stem norm (after the 7x7 conv) is the
            BFN too, as in the official XBN models. With ``deep_stem`` it is
            the last norm of the stem.

    The remaining BatchNorms follow ``norm_cfg`` and ``norm_eval`` exactly as
    in mmdet: ``norm_eval=True`` puts only ``_BatchNorm`` layers in eval
    mode, so the BFN keeps training outside frozen stages. A ``Pretrained``
    init_cfg loads through :class:`XBNPretrainedMixin`.
    """

    def __init__(self,
                 depth: int,
                 bfn_cfg: Optional[dict] = DEFAULT_BFN_CFG,
                 bfn_position: str = 'P2',
                 stem_bfn: bool = True,
                 **kwargs) -> None:
        if depth not in self.arch_settings:
            raise ValueError(
                f'{type(self).__name__}: depth={depth!r} is not supported; '
                f'choose one of {sorted(self.arch_settings)}')
        validate_bfn_cfg(bfn_cfg)
        validate_bfn_position(bfn_position)
        style = kwargs.get('style', 'pytorch')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"style={style!r} is not valid; choose 'pytorch' "
                             f"or 'caffe'")
        if not isinstance(stem_bfn, bool):
            raise TypeError(f'stem_bfn={stem_bfn!r} is not valid; use True '
                            'or False')
        validate_stage_args(type(self).__name__, kwargs)
        # Read by _make_stem_layer and make_res_layer, which mmdet's
        # ResNet.__init__ calls, so they must exist before it runs.
        self.bfn_cfg = copy.deepcopy(bfn_cfg)
        self.bfn_position = bfn_position
        self.stem_bfn = stem_bfn
        self._stages_built = 0
        super().__init__(depth=depth, **kwargs)
        self._restore_zero_init_residual(kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        super()._make_stem_layer(in_channels, stem_channels)
        if self.bfn_cfg is None or not self.stem_bfn:
            return
        if self.deep_stem:
            idx = max(i for i, m in enumerate(self.stem)
                      if isinstance(m, _BatchNorm))
            self.stem[idx] = build_bfn(self.bfn_cfg,
                                       _num_channels(self.stem[idx]),
                                       f'stem.{idx}')
        else:
            self.add_module(
                self.norm1_name,
                build_bfn(self.bfn_cfg, _num_channels(self.norm1),
                          f'stem {self.norm1_name}'))

    def make_res_layer(self, **kwargs) -> nn.Module:
        self._stages_built += 1
        return super().make_res_layer(
            bfn_cfg=self.bfn_cfg,
            bfn_position=self.bfn_position,
            bfn_scope=f'layer{self._stages_built}',
            **kwargs)

    def bfn_names_for(self, position: str, stem_bfn: bool) -> set:
        """Module names the BFNs would have with these settings (this
        depth and stem)."""
        names = set()
        if stem_bfn:
            if self.deep_stem:
                names.add('stem.' + str(max(
                    i for i, m in enumerate(self.stem)
                    if isinstance(m, _BatchNorm) or is_bfn(m))))
            else:
                names.add(self.norm1_name)
        for layer_name in self.res_layers:
            for i, block in enumerate(getattr(self, layer_name)):
                role = type(block).bfn_roles[position]
                names.add(f'{layer_name}.{i}.{getattr(block, role + "_name")}')
        return names

    def infer_bfn_settings(self, names: set):
        """``(bfn_position, stem_bfn)`` that put BFNs at exactly ``names``
        in this architecture, or ``None``. BasicBlock P1 and P2 coincide;
        P2 is reported."""
        for position in ('P2', 'P1', 'P3'):
            for stem_bfn in (True, False):
                if self.bfn_names_for(position, stem_bfn) == set(names):
                    return position, stem_bfn
        return None

    def _restore_zero_init_residual(self, kwargs: dict) -> None:
        """mmdet picks the zero-init override with ``block is Bottleneck``,
        which is false for any subclass (ours, and even mmdet's own ResNeXt
        block), so ``zero_init_residual`` would silently do nothing. Attach
        the same override mmdet uses to every block."""
        if not self.zero_init_residual or kwargs.get('init_cfg') is not None \
                or kwargs.get('pretrained') is not None:
            return
        last_norm = 'norm2' if issubclass(self.block, BasicBlock) else 'norm3'
        for layer_name in self.res_layers:
            for block in getattr(self, layer_name):
                block.init_cfg = dict(
                    type='Constant', val=0, override=dict(name=last_norm))


@MODELS.register_module()
class XBNResNet(XBNResNetMixin, ResNet):
    """ResNet with XBNBlocks (Huang et al., CVPR 2022), depths 18 to 152.

    Accepts every argument of :class:`mmdet.models.backbones.ResNet` plus
    ``bfn_cfg``, ``bfn_position`` and ``stem_bfn`` (see
    :class:`XBNResNetMixin`).

    Example:
        >>> import torch, xbn_mmdet
        >>> from mmdet.registry import MODELS
        >>> net = MODELS.build(dict(type='XBNResNet', depth=18))
        >>> [o.shape[1] for o in net(torch.rand(1, 3, 64, 64))]
        [64, 128, 256, 512]
    """

    arch_settings = {
        18: (XBNBasicBlock, (2, 2, 2, 2)),
        34: (XBNBasicBlock, (3, 4, 6, 3)),
        50: (XBNBottleneck, (3, 4, 6, 3)),
        101: (XBNBottleneck, (3, 4, 23, 3)),
        152: (XBNBottleneck, (3, 8, 36, 3)),
    }
