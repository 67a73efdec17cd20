# XBN-ResNeXt-101-32x4d and its BN twin; see ./xbn_p2_gn64.py for the names.
#
# No official XBN-ResNeXt-101 ImageNet weights are published (the official
# XBNBlock repository releases ResNet-50 and ResNeXt-50-32x4d models; its
# ResNeXt-101 script is 32x8d). Put weights of your own at the path below,
# make a warm start from BN ImageNet weights (tools/convert_checkpoint.py
# SRC DST --from-bn, README "Pretrained weights"), or train from scratch with
# --cfg-options model.backbone.init_cfg=None.
_base_ = './xbn_p2_gn64.py'

bn_backbone = dict(
    _base_.bn_r50_backbone,
    type='ResNeXt',
    depth=101,
    groups=32,
    base_width=4,
    init_cfg=dict(
        type='Pretrained', checkpoint='open-mmlab://resnext101_32x4d'))
xbn_backbone = dict(
    bn_backbone,
    type='XBNResNeXt',
    **_base_.xbn_p2_gn64,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/xbn_resnext101_32x4d_p2_gn64_imagenet.pth'))
