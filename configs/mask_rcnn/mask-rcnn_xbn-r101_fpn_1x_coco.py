# Mask R-CNN FPN | XBN-ResNet-101 (P2, GN 64) | 1x (12 epochs)
# mmdet's mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./mask-rcnn_bn-r101_fpn_1x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r101_fpn_1x_coco.py',
    '../_base_/backbones/r101.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
