# Mask R-CNN FPN | ResNeXt-101-32x4d, BN twin | 3x multi-scale (36 epochs)
# mmdet's mask_rcnn/mask-rcnn_x101-32x4d_fpn_ms-poly-3x_coco.py
# with the backbone swapped; COCO 2017.
# XBN twin: ./mask-rcnn_xbn-x101-32x4d_fpn_ms-poly-3x_coco.py
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_x101-32x4d_fpn_ms-poly-3x_coco.py',
    '../_base_/backbones/x101-32x4d.py',
]
model = dict(backbone={{_base_.bn_backbone}})
