# Mask R-CNN FPN | ResNeXt-101-64x4d, BN twin | 1x (12 epochs)
# mmdet's mask_rcnn/mask-rcnn_x101-64x4d_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# XBN twin: ./mask-rcnn_xbn-x101-64x4d_fpn_1x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_x101-64x4d_fpn_1x_coco.py',
    '../_base_/backbones/x101-64x4d.py',
]
model = dict(backbone={{_base_.bn_backbone}})
