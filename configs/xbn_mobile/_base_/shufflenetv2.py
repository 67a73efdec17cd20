# ShuffleNetV2 1.0x backbones for the detectors in configs/xbn_mobile/: the XBN
# one (GroupNorm after every depthwise conv, 29 groups as the official 1.0x
# script) and its BatchNorm twin (bfn_cfg=None). Recipes take them with
# `backbone={{_base_.shufflev2_xbn}}`. Detection recipe as for XBN-ResNet:
# every BatchNorm frozen, stem and first stage frozen.
# NaN stop, atomic checkpoints, exact resume (README "Reliability").
_base_ = '../../_base_/reliability.py'
custom_imports = dict(imports=['xbn_mmdet'], allow_failed_imports=False)

# ImageNet weights in the official (Megvii) layout load as they are; the
# classifier and conv_last are dropped. No XBN ShuffleNetV2 weights are
# published: train them with the official experiments/shuffleV2_XBNBlock_1D0.sh
# (its best.pth or checkpoint.pth). The BN twin takes Megvii's ShuffleNetV2
# 1.0x ImageNet weights. tools/train.py stops early, naming the key, when a
# file is missing; `--cfg-options model.backbone.init_cfg=None` trains from
# scratch.
shufflev2_xbn_imagenet = 'checkpoints/xbn_shufflenetv2_x1_gn29_imagenet.pth'
shufflev2_bn_imagenet = 'checkpoints/shufflenetv2_x1_imagenet.pth'

# the three stages: strides 8, 16, 32
shufflev2_fpn_in_channels = [116, 232, 464]

shufflev2_xbn = dict(
    _delete_=True,
    type='XBNShuffleNetV2',
    widen_factor=1.0,
    out_indices=(0, 1, 2),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    bfn_cfg=dict(type='GN', num_groups=29, requires_grad=True),
    init_cfg=dict(type='Pretrained', checkpoint=shufflev2_xbn_imagenet))

shufflev2_bn = dict(
    shufflev2_xbn,
    bfn_cfg=None,
    init_cfg=dict(type='Pretrained', checkpoint=shufflev2_bn_imagenet))
