"""XBN ShuffleNetV2: ShuffleNetV2 (Ma et al., ECCV 2018) in mmdet's backbone
style, with a batch-free norm after every depthwise conv.

mmdet has no ShuffleNetV2. The network here is the one the official
XBNBlock code trains (Megvii's ShuffleNetV2: a stride-1 block splits its
input into even and odd channels, keeps the even ones and transforms the
odd ones; a stride-2 block concatenates a projection branch and the main
branch), so official weights load by renaming only and compute the same
features. The BFN placement is :meth:`ShuffleV2Block._bfn_into_depthwise`.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

from ..bfn import (bfn_into_conv_module, validate_bfn_cfg,
                   with_default_groups)
from .pretrained import OfficialLayoutMixin, XBNPretrainedMixin


class ShuffleV2Block(BaseModule):
    """A ShuffleNetV2 unit.

    ``branch_main``: 1x1 conv (BN, act), depthwise 3x3 conv with the stride
    (norm, no act), 1x1 conv (BN, act). ``branch_proj`` (stride 2 only):
    depthwise 3x3 conv (norm, no act), 1x1 conv (BN, act). The norm after
    each depthwise conv is the BFN when ``bfn_cfg`` is given.

    Args:
        in_channels (int): input channels of the branch(es): the whole input
            for stride 2, half of it for stride 1.
        out_channels (int): channels of the block's output.
        stride (int): 1 or 2.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 bfn_cfg: Optional[dict] = None,
                 with_cp: bool = False,
                 name: str = 'block',
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.stride = stride
        self.with_cp = with_cp
        mid = out_channels // 2
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg)

        def depthwise(channels):
            return ConvModule(channels, channels, 3, stride, 1,
                              groups=channels, act_cfg=None, **conv)

        self.branch_main = nn.Sequential(
            ConvModule(in_channels, mid, 1, act_cfg=act_cfg, **conv),
            depthwise(mid),
            ConvModule(mid, out_channels - in_channels, 1, act_cfg=act_cfg,
                       **conv))
        if stride == 2:
            self.branch_proj = nn.Sequential(
                depthwise(in_channels),
                ConvModule(in_channels, in_channels, 1, act_cfg=act_cfg,
                           **conv))
        if bfn_cfg is not None:
            self._bfn_into_depthwise(bfn_cfg, name)

    def _bfn_into_depthwise(self, bfn_cfg: dict, name: str) -> None:
        """XBN: the norm after each depthwise conv, in both branches."""
        bfn_into_conv_module(self.branch_main[1], bfn_cfg,
                             f'{name}.branch_main.1')
        if self.stride == 2:
            bfn_into_conv_module(self.branch_proj[0], bfn_cfg,
                                 f'{name}.branch_proj.0')

    def forward(self, x: torch.Tensor) -> torch.Tensor:

        def _inner_forward(x):
            if self.stride == 1:
                # channel shuffle + split: even channels pass, odd ones go
                # through the main branch (Megvii's reshape/permute)
                return torch.cat((x[:, 0::2], self.branch_main(x[:, 1::2])),
                                 1)
            return torch.cat((self.branch_proj(x), self.branch_main(x)), 1)

        if self.with_cp and x.requires_grad:
            return cp.checkpoint(_inner_forward, x, use_reentrant=False)
        return _inner_forward(x)


@MODELS.register_module()
class XBNShuffleNetV2(OfficialLayoutMixin, XBNPretrainedMixin,
                      BaseModule):
    """ShuffleNetV2 with XBN (Huang et al., CVPR 2022).

    Layers: ``conv1`` (3x3 stride-2 stem, BN) and a 3x3 stride-2 max pool
    (stride 4), ``layer1``-``layer3`` (strides 8, 16, 32; 4, 8, 4 blocks),
    ``conv2`` (the final 1x1 conv, stride 32; built only when 3 is in
    ``out_indices``, as detectors rarely use it). ``out_indices`` index
    ``(layer1, layer2, layer3, conv2)``.

    Args:
        widen_factor (float): 0.5, 1.0, 1.5 or 2.0 (stage widths
            48/96/192, 116/232/464, 176/352/704, 244/488/976; ``conv2``
            1024, or 2048 for 2.0).
        out_indices (Sequence[int]): outputs to return, from 0-3. Default
            ``(0, 1, 2)``: the three stages, for an FPN.
        frozen_stages (int): -1 (default) freezes nothing, 0 the stem, ``i``
            the stem and ``layer1``-``layer{i}`` (parameters fixed, norms in
            eval mode).
        conv_cfg, norm_cfg, act_cfg: of the convs and of the remaining
            BatchNorms; default plain conv, BN, ReLU.
        bfn_cfg (dict | None): the batch-free norm after each depthwise
            conv. Default ``dict(type='GN')`` takes the group count of the
            official scripts for the width: 8 for 0.5x and 1.5x, 29 for 1.0x
            (8 does not divide its 58/116/232 channels); 61 for 2.0x, which
            has no official XBN script (122/244/488 channels; 61 keeps 1.0x's
            two channels per group in the first stage). Groups above a
            layer's channels are capped (the 24-channel projection of the
            first block); an explicit ``num_groups`` that does not divide a
            layer's channels is an error naming the layer. ``None``: the
            plain BatchNorm ShuffleNetV2.
        norm_eval (bool): put the BatchNorms (only) in eval mode in
            training. Default False.
        with_cp (bool): gradient checkpointing of each block.
        init_cfg: mmengine init config; ``Pretrained`` loads through
            :class:`XBNPretrainedMixin` (official Megvii-layout files are
            renamed, :meth:`convert_official_keys`). Default: Kaiming for
            convs, 1 for norm weights.
    """

    arch_settings = {
        0.5: (48, 96, 192, 1024),
        1.0: (116, 232, 464, 1024),
        1.5: (176, 352, 704, 1024),
        2.0: (244, 488, 976, 2048),
    }
    stage_blocks = (4, 8, 4)
    stem_channels = 24
    official_groups = {0.5: 8, 1.0: 29, 1.5: 8, 2.0: 61}
    official_key = 'first_conv.0.weight'

    def __init__(self,
                 widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (0, 1, 2),
                 frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='ReLU'),
                 bfn_cfg: Optional[dict] = dict(type='GN'),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 init_cfg=None) -> None:
        if init_cfg is None:
            init_cfg = [dict(type='Kaiming', layer='Conv2d'),
                        dict(type='Constant', val=1,
                             layer=['_BatchNorm', 'GroupNorm'])]
        super().__init__(init_cfg)
        if widen_factor not in self.arch_settings:
            raise ValueError(
                f'widen_factor={widen_factor!r} is not supported; choose one '
                f'of {sorted(self.arch_settings)}')
        if not set(out_indices) <= set(range(4)) or not out_indices:
            raise ValueError('out_indices must be a non-empty subset of '
                             f'range(0, 4), got {tuple(out_indices)}')
        if frozen_stages not in range(-1, 4):
            raise ValueError('frozen_stages must be in range(-1, 4), got '
                             f'{frozen_stages!r}')
        validate_bfn_cfg(bfn_cfg)
        self.official_num_groups = self.official_groups[widen_factor]
        bfn_cfg = with_default_groups(bfn_cfg, self.official_num_groups)
        self.widen_factor = widen_factor
        self.out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.bfn_cfg = bfn_cfg
        self.norm_eval = norm_eval
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

        self.conv1 = ConvModule(3, self.stem_channels, 3, 2, 1, **conv)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        channels = self.arch_settings[widen_factor]
        in_channels = self.stem_channels
        self.layers = []
        for i, (out_channels, num_blocks) in enumerate(
                zip(channels, self.stage_blocks)):
            layer_name = f'layer{i + 1}'
            blocks = [
                ShuffleV2Block(
                    in_channels if j == 0 else out_channels // 2,
                    out_channels,
                    stride=2 if j == 0 else 1,
                    bfn_cfg=bfn_cfg,
                    with_cp=with_cp,
                    name=f'{layer_name}.{j}',
                    **conv) for j in range(num_blocks)
            ]
            self.add_module(layer_name, nn.Sequential(*blocks))
            self.layers.append(layer_name)
            in_channels = out_channels
        if 3 in self.out_indices:
            # built only when it is an output: otherwise its parameters
            # would get no gradient (DDP error) and it would cost compute
            self.conv2 = ConvModule(in_channels, channels[-1], 1, **conv)
            self.layers.append('conv2')

    def forward(self, x: torch.Tensor):
        x = self.maxpool(self.conv1(x))
        outs = []
        for i, layer_name in enumerate(self.layers):
            x = getattr(self, layer_name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _freeze_stages(self) -> None:
        frozen = [self.conv1] if self.frozen_stages >= 0 else []
        frozen += [getattr(self, f'layer{i}')
                   for i in range(1, self.frozen_stages + 1)]
        for module in frozen:
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, _BatchNorm):
                    m.eval()
        return self

    def _official_conv_modules(self):
        """Megvii's ShuffleNetV2 names (:meth:`convert_official_keys`):
        ``first_conv.0/1`` is the stem, ``features.N`` the blocks in order
        (``branch_main.0/1``, ``.3/4``, ``.5/6`` and ``branch_proj.0/1``,
        ``.2/3``: conv and norm of each ConvModule), ``conv_last.0/1`` the
        final 1x1 conv (without ``conv2`` the loader drops it with the
        ``classifier``)."""
        yield 'first_conv.0', 'first_conv.1', 'conv1'
        if 'conv2' in self.layers:
            yield 'conv_last.0', 'conv_last.1', 'conv2'
        index = 0
        for stage in range(len(self.stage_blocks)):
            layer_name = f'layer{stage + 1}'
            for j, block in enumerate(getattr(self, layer_name)):
                official, ours = f'features.{index}', f'{layer_name}.{j}'
                for k, (conv, norm) in enumerate(((0, 1), (3, 4), (5, 6))):
                    yield (f'{official}.branch_main.{conv}',
                           f'{official}.branch_main.{norm}',
                           f'{ours}.branch_main.{k}')
                if block.stride == 2:
                    for k, (conv, norm) in enumerate(((0, 1), (2, 3))):
                        yield (f'{official}.branch_proj.{conv}',
                               f'{official}.branch_proj.{norm}',
                               f'{ours}.branch_proj.{k}')
                index += 1
