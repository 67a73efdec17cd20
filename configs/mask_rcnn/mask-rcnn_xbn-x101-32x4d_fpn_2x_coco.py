# Mask R-CNN FPN | XBN-ResNeXt-101-32x4d (P2, GN 64) | 2x (24 epochs)
# mmdet's mask_rcnn/mask-rcnn_x101-32x4d_fpn_2x_coco.py
# with the backbone swapped; COCO 2017.
# BN twin: ./mask-rcnn_bn-x101-32x4d_fpn_2x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_x101-32x4d_fpn_2x_coco.py',
    '../_base_/backbones/x101-32x4d.py',
]
model = dict(backbone={{_base_.xbn_backbone}})
