"""XBN ResNeXt: mmdet's ResNeXt with one batch-free norm per residual block.

The grouped bottleneck is mmdet's; only the BFN placement is added, by the
same mixins as :mod:`.xbn_resnet`, so P1/P2/P3 mean the same thing here.
"""
from mmdet.models.backbones.resnext import Bottleneck as ResNeXtBottleneck
from mmdet.models.backbones.resnext import ResNeXt
from mmdet.registry import MODELS

from .xbn_resnet import XBNBlockMixin, XBNResNetMixin


class XBNBottleneckX(XBNBlockMixin, ResNeXtBottleneck):
    """Grouped bottleneck: P1 after conv1, P2 (default) after the grouped 3x3
    conv, P3 after conv3."""

    bfn_roles = {'P1': 'norm1', 'P2': 'norm2', 'P3': 'norm3'}


@MODELS.register_module()
class XBNResNeXt(XBNResNetMixin, ResNeXt):
    """ResNeXt with XBNBlocks, depths 50, 101 and 152.

    Accepts every argument of :class:`mmdet.models.backbones.ResNeXt`
    (``groups``, ``base_width``: 32x4d is ``groups=32, base_width=4``) plus
    ``bfn_cfg``, ``bfn_position`` and ``stem_bfn``.

    Unlike mmdet's ResNeXt, ``zero_init_residual=True`` (the default) really
    zero-initialises each block's last norm when no ``init_cfg`` is given:
    mmdet's identity check on the block class skips it for ResNeXt.
    """

    arch_settings = {
        50: (XBNBottleneckX, (3, 4, 6, 3)),
        101: (XBNBottleneckX, (3, 4, 23, 3)),
        152: (XBNBottleneckX, (3, 8, 36, 3)),
    }
