"""XBN MobileNetV2: mmdet's MobileNetV2 with a batch-free norm after every
depthwise 3x3 conv.

Everything else is :class:`mmdet.models.backbones.MobileNetV2`: layers,
``widen_factor``, ``out_indices``, ``frozen_stages``, ``norm_eval``,
``with_cp``, ``init_cfg``. The placement is one line in :meth:`make_layer`:
the norm of each inverted residual's ``depthwise_conv`` becomes the BFN; the
expand and linear 1x1 convs, the stem and the last 1x1 conv (``conv2``) keep
BatchNorm, as in the official MobileNetV2-XBNBlock (GroupNorm, 16 groups).
"""
from typing import Optional

from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS

from ..bfn import (bfn_into_conv_module, validate_bfn_cfg,
                   with_default_groups)
from .pretrained import OfficialLayoutMixin, XBNPretrainedMixin


@MODELS.register_module()
class XBNMobileNetV2(OfficialLayoutMixin, XBNPretrainedMixin,
                     MobileNetV2):
    """MobileNetV2 with XBNBlocks (Huang et al., CVPR 2022).

    Accepts every argument of :class:`mmdet.models.backbones.MobileNetV2`
    plus:

    Args:
        bfn_cfg (dict | None): the batch-free norm after each depthwise conv
            (default ``dict(type='GN', num_groups=16)``, the official value,
            also used when a GN config leaves ``num_groups`` out;
            groups above a layer's channels are capped, a count that does
            not divide them is an error naming the layer). ``'LN'`` and
            ``'IN'`` work too. ``None``: mmdet's MobileNetV2, same keys and
            outputs.

    One difference from mmdet: ``frozen_stages >= 0`` also puts the stem's
    BatchNorm in eval mode. mmdet's MobileNetV2 freezes the stem's
    parameters but leaves its BN in train mode, so its running statistics
    keep changing in a "frozen" stem (mmdet's ResNet does put its frozen
    stem in eval mode). This applies with ``bfn_cfg=None`` too; outputs in
    eval mode are mmdet's.

    Module and state-dict names are mmdet's; the BFN keeps the name ``bn``
    of the norm it replaces. Official MobileNetV2-XBNBlock checkpoints
    (torchvision names, ``features.N.conv.M``) are renamed on load
    (:meth:`convert_official_keys`).
    """

    official_num_groups = 16
    official_key = 'features.0.0.weight'

    def __init__(self,
                 *args,
                 bfn_cfg: Optional[dict] = dict(type='GN', num_groups=16),
                 **kwargs) -> None:
        validate_bfn_cfg(bfn_cfg)
        widen_factor = kwargs.get('widen_factor', args[0] if args else 1.)
        if not isinstance(widen_factor, (int, float)) or widen_factor <= 0:
            raise ValueError(f'widen_factor={widen_factor!r} is not valid; '
                             'use a positive number (1.0 is the official '
                             'XBN model)')
        # read by make_layer, which MobileNetV2.__init__ calls
        self.bfn_cfg = with_default_groups(bfn_cfg, self.official_num_groups)
        self._layers_built = 0
        super().__init__(*args, **kwargs)

    def make_layer(self, **kwargs):
        layer = super().make_layer(**kwargs)
        self._layers_built += 1
        if self.bfn_cfg is not None:
            for i, block in enumerate(layer):
                bfn_into_conv_module(
                    block.depthwise_conv, self.bfn_cfg,
                    f'layer{self._layers_built}.{i}.depthwise_conv')
        return layer

    def _freeze_stages(self):
        super()._freeze_stages()
        if self.frozen_stages >= 0:
            self.conv1.eval()

    def train(self, mode: bool = True):
        """mmdet's ``train`` (norm_eval, frozen stages), returning the
        module like ``nn.Module.train`` (mmdet's returns None, so
        ``model.eval()`` did too)."""
        super().train(mode)
        return self

    def _official_conv_modules(self):
        """torchvision's MobileNetV2 names (:meth:`convert_official_keys`):
        ``features.0`` is the stem, ``features.1``-``17`` the inverted
        residuals in order (``conv.0/1``, ``conv.3/4``, ``conv.6/7``: conv
        and norm of the expand, depthwise and linear convs; without the
        expand conv the first two), the last ``features.N`` the final 1x1
        conv."""
        yield 'features.0.0', 'features.0.1', 'conv1'
        index = 1
        for layer_name in self.layers[:-1]:
            for j, block in enumerate(getattr(self, layer_name)):
                roles = ['depthwise_conv', 'linear_conv']
                if block.with_expand_conv:
                    roles.insert(0, 'expand_conv')
                for r, role in enumerate(roles):
                    prefix = f'features.{index}.conv'
                    yield (f'{prefix}.{3 * r}', f'{prefix}.{3 * r + 1}',
                           f'{layer_name}.{j}.{role}')
                index += 1
        yield f'features.{index}.0', f'features.{index}.1', 'conv2'
