# XBN-ResNet-101 and its BN twin; see ./xbn_p2_gn64.py for the two names.
#
# No official XBN-ResNet-101 ImageNet weights are published (the official
# XBNBlock repository releases ResNet-50 and ResNeXt-50 models; its
# experiments/ResNet101_XBNBlock_P2.sh trains one). Put weights of your own
# at the path below, make a warm start from BN ImageNet weights
# (tools/convert_checkpoint.py SRC DST --from-bn, README "Pretrained
# weights"), or train from scratch with
# --cfg-options model.backbone.init_cfg=None. tools/train.py stops with a
# clear message while the file is missing.
_base_ = './xbn_p2_gn64.py'

bn_backbone = dict(
    _base_.bn_r50_backbone,
    depth=101,
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101'))
xbn_backbone = dict(
    bn_backbone,
    type='XBNResNet',
    **_base_.xbn_p2_gn64,
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/xbn_resnet101_p2_gn64_imagenet.pth'))
