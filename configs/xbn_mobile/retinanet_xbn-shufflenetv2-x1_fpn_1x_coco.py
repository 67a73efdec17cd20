# RetinaNet, XBN-ShuffleNetV2 1.0x (GN 29 after each depthwise conv) + FPN,
# 1x COCO. The three stages (strides 8-32) feed P3-P5; P6-P7 are extra convs
# on the last input, so RetinaNet's anchors (strides 8-128) are unchanged.
_base_ = [
    'mmdet::retinanet/retinanet_r50_fpn_1x_coco.py',
    './_base_/shufflenetv2.py',
]
model = dict(
    backbone={{_base_.shufflev2_xbn}},
    neck=dict(in_channels={{_base_.shufflev2_fpn_in_channels}},
              start_level=0))
auto_scale_lr = dict(enable=False, base_batch_size=16)
