# ./mask-rcnn_xbn-r50_fpn_1x_coco.py with trainable SyncBN: the backbone's
# BNs synchronise their batch statistics across all GPUs and learn their
# statistics and affine parameters (norm_eval=False), for training from
# scratch (--cfg-options model.backbone.init_cfg=None) or with a large batch
# per GPU. Stem and stage 1 stay frozen. Needs GPUs (SyncBN does not run on
# the CPU). BN twin: ./mask-rcnn_bn-r50-syncbn_fpn_1x_coco.py
_base_ = './mask-rcnn_xbn-r50_fpn_1x_coco.py'
model = dict(
    backbone=dict(
        norm_cfg=dict(type='SyncBN', requires_grad=True), norm_eval=False))
