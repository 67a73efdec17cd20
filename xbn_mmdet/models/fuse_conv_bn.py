"""Fold BatchNorms into the convolutions before them, for inference.

mmcv's ``fuse_conv_bn`` pairs a BatchNorm with the *last convolution seen*
among its siblings. In an XBN block that is not always the conv right before
it: with P1 the first norm is a GroupNorm, so in a block whose 3x3 conv is
not an ``nn.Conv2d`` (DCN) mmcv would fold ``bn2`` into ``conv1``, which is
silently wrong. Here a BatchNorm is folded only into a conv that is its
immediate predecessor among the siblings (mmdet's blocks and ``ConvModule``
register each conv directly before its norm), and a ``ConvModule`` whose
norm comes before its conv is left alone. The folding arithmetic is mmcv's.

Batch-free norms (GN, LN, IN) depend on each sample's statistics and are
never folded.
"""
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmcv.cnn.bricks.wrappers import Conv2d as MMCVConv2d
from mmcv.cnn.utils.fuse_conv_bn import _fuse_conv_bn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = ['fuse_conv_bn']

# Plain convolutions only: subclasses such as weight-standardised convs
# (ConvWS2d) transform their weight in forward, so a folded weight would be
# transformed again.
_PLAIN_CONVS = (nn.Conv2d, MMCVConv2d)


def _norm_before_conv(module: nn.Module) -> bool:
    order = getattr(module, 'order', None)
    return isinstance(module, ConvModule) and getattr(
        module, 'with_norm', False) and order.index('norm') < order.index(
            'conv')


def fuse_conv_bn(model: nn.Module) -> int:
    """Fold, in place, every BatchNorm (with running statistics) that
    directly follows a plain ``Conv2d`` into it and replace the BatchNorm by
    ``nn.Identity``. The result computes what the model computes in eval
    mode; use it for inference only. Returns the number of folded norms."""
    folded = 0
    for parent in list(model.modules()):
        if _norm_before_conv(parent):
            continue
        previous_name, previous = None, None
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm) and child.track_running_stats \
                    and type(previous) in _PLAIN_CONVS:
                parent._modules[previous_name] = _fuse_conv_bn(previous, child)
                parent._modules[name] = nn.Identity()
                folded += 1
                child = parent._modules[name]
            previous_name, previous = name, child
    return folded
