# Faster R-CNN FPN | XBN-ResNet-50 (P2, GN 64) | 1x (12 epochs)
# The paper's setting (b): GroupNorm in the FPN and a 4conv1fc box head with
# GroupNorm (../_base_/faster-rcnn_r50_fpn-gn_4conv1fc-gn-head_1x_coco.py).
# BN twin: ./faster-rcnn_bn-r50_fpn-gn_4conv1fc-gn-head_1x_coco.py
_base_ = [
    '../_base_/faster-rcnn_r50_fpn-gn_4conv1fc-gn-head_1x_coco.py',
    '../_base_/backbones/r50.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
