# Faster R-CNN FPN | ResNet-101, BN twin | 1x (12 epochs)
# The paper's setting (a): the standard 2fc box head.
# mmdet's faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# XBN twin: ./faster-rcnn_xbn-r101_fpn_1x_coco.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py',
    '../_base_/backbones/r101.py',
]
model = dict(backbone={{_base_.bn_backbone}})
