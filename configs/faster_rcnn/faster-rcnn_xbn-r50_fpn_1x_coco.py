# Faster R-CNN FPN | XBN-ResNet-50 (P2, GN 64) | 1x (12 epochs)
# The paper's setting (a): the standard 2fc box head.
# mmdet's faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./faster-rcnn_bn-r50_fpn_1x_coco.py
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/backbones/r50.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
