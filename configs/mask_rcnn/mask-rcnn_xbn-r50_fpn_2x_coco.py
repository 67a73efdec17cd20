# Mask R-CNN FPN | XBN-ResNet-50 (P2, GN 64) | 2x (24 epochs)
# mmdet's mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./mask-rcnn_bn-r50_fpn_2x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_2x_coco.py',
    '../_base_/backbones/r50.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
