# Mask R-CNN FPN | ResNet-101, BN twin | 2x (24 epochs)
# mmdet's mask_rcnn/mask-rcnn_r101_fpn_2x_coco.py
# with the backbone swapped; COCO 2017.
# XBN twin: ./mask-rcnn_xbn-r101_fpn_2x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r101_fpn_2x_coco.py',
    '../_base_/backbones/r101.py',
]
model = dict(backbone={{_base_.bn_backbone}})
