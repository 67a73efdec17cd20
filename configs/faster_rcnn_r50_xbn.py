# Faster R-CNN, XBN-ResNet-50 (P2, GN 64) + FPN, 1x schedule on COCO 2017 at
# data/coco/, box AP. The paper's setting (a): the standard 2fc box head.
# The same as ./faster_rcnn/faster-rcnn_xbn-r50_fpn_1x_coco.py (BN twin:
# ./faster_rcnn/faster-rcnn_bn-r50_fpn_1x_coco.py).
_base_ = './faster_rcnn/faster-rcnn_xbn-r50_fpn_1x_coco.py'
