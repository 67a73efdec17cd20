# Mask R-CNN, XBN-ResNet-50 (P2, GN 64) + FPN, 1x schedule (12 epochs) on COCO
# 2017 at data/coco/, box and mask AP. mmdet's recipe with the backbone
# swapped; 8 GPUs x 2 images, lr 0.02 (`--auto-scale-lr` rescales it for
# another total batch size).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    './_base_/xbn_r50_p2_gn64.py',
]
model = dict(backbone={{_base_.xbn_r50_backbone}})
