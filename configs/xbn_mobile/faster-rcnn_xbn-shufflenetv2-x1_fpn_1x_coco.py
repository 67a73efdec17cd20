# Faster R-CNN, XBN-ShuffleNetV2 1.0x (GN 29 after each depthwise conv) + FPN,
# 1x COCO. ShuffleNetV2 has no stride-4 stage: the FPN levels are strides 8 to
# 128 (two max-pooled extra levels), the RPN anchors follow them with half the
# scale (the same anchor sizes, 32-512 px, as the ResNet recipe) and the RoI
# extractor pools from strides 8-64.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/shufflenetv2.py',
]
model = dict(
    backbone={{_base_.shufflev2_xbn}},
    neck=dict(in_channels={{_base_.shufflev2_fpn_in_channels}}),
    rpn_head=dict(
        anchor_generator=dict(scales=[4], strides=[8, 16, 32, 64, 128])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[8, 16, 32, 64])))
auto_scale_lr = dict(enable=False, base_batch_size=16)
