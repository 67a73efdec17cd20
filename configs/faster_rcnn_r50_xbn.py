# Faster R-CNN, XBN-ResNet-50 (P2, GN 64) + FPN, 1x schedule on COCO 2017 at
# data/coco/, box AP. The paper's setting (a): the standard 2fc box head.
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    './_base_/xbn_r50_p2_gn64.py',
]
model = dict(backbone={{_base_.xbn_r50_backbone}})
