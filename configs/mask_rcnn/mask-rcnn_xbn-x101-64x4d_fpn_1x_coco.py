# Mask R-CNN FPN | XBN-ResNeXt-101-64x4d (P2, GN 64) | 1x (12 epochs)
# mmdet's mask_rcnn/mask-rcnn_x101-64x4d_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./mask-rcnn_bn-x101-64x4d_fpn_1x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_x101-64x4d_fpn_1x_coco.py',
    '../_base_/backbones/x101-64x4d.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
