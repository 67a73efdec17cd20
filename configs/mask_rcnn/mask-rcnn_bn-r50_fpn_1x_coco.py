# Mask R-CNN FPN | ResNet-50, BN twin | 1x (12 epochs)
# mmdet's mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py
# with the backbone swapped; COCO 2017.
# XBN twin: ./mask-rcnn_xbn-r50_fpn_1x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/backbones/r50.py',
]
model = dict(backbone={{_base_.bn_backbone}})
