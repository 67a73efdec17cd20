# The headline recipe: Mask R-CNN, XBN-ResNet-50 (P2, GN 64) + FPN, 1x schedule
# (12 epochs) on COCO 2017 at data/coco/, box and mask AP; 8 GPUs x 2 images,
# lr 0.02 (`--auto-scale-lr` rescales it for another total batch size).
# The same as ./mask_rcnn/mask-rcnn_xbn-r50_fpn_1x_coco.py, whose BN twin is
# ./mask_rcnn/mask-rcnn_bn-r50_fpn_1x_coco.py; README "Recipe zoo" lists all.
_base_ = './mask_rcnn/mask-rcnn_xbn-r50_fpn_1x_coco.py'
