# Faster R-CNN, XBN-MobileNetV2 (GN 16 after each depthwise conv) + FPN,
# 1x COCO, the standard 2fc box head.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/mobilenetv2.py',
]
model = dict(
    backbone={{_base_.mbv2_xbn}},
    neck=dict(in_channels={{_base_.mbv2_fpn_in_channels}}))
auto_scale_lr = dict(enable=False, base_batch_size=16)
