from .xbn_mobilenet_v2 import XBNMobileNetV2
from .xbn_resnet import XBNBasicBlock, XBNBottleneck, XBNResNet
from .xbn_resnext import XBNBottleneckX, XBNResNeXt
from .xbn_shufflenet_v2 import ShuffleV2Block, XBNShuffleNetV2

__all__ = [
    'XBNResNet', 'XBNResNeXt', 'XBNBasicBlock', 'XBNBottleneck',
    'XBNBottleneckX', 'XBNMobileNetV2', 'XBNShuffleNetV2', 'ShuffleV2Block'
]
