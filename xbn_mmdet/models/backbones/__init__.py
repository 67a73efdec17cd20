from .xbn_resnet import XBNBasicBlock, XBNBottleneck, XBNResNet
from .xbn_resnext import XBNBottleneckX, XBNResNeXt

__all__ = [
    'XBNResNet', 'XBNResNeXt', 'XBNBasicBlock', 'XBNBottleneck',
    'XBNBottleneckX'
]
