# Faster R-CNN FPN | XBN-ResNet-101 (P2, GN 64) | 2x (24 epochs)
# The paper's setting (a): the standard 2fc box head.
# mmdet's faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./faster-rcnn_bn-r101_fpn_2x_coco.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r101_fpn_2x_coco.py',
    '../_base_/backbones/r101.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
