# MobileNetV2 backbones for the detectors in configs/xbn_mobile/: the XBN one
# (GroupNorm with 16 groups after every depthwise conv, as the official
# MobileNetV2-XBNBlock) and its BatchNorm twin (bfn_cfg=None: mmdet's
# MobileNetV2). Recipes take them with `backbone={{_base_.mbv2_xbn}}`.
# Detection recipe as for XBN-ResNet (README "Configs"): every BatchNorm
# frozen, stem and first layer frozen, the GroupNorms trainable after them.
# NaN stop, atomic checkpoints, exact resume (README "Reliability").
_base_ = '../../_base_/reliability.py'
custom_imports = dict(imports=['xbn_mmdet'], allow_failed_imports=False)

# No XBN MobileNetV2 ImageNet weights are published. Both backbones start from
# mmdet's BatchNorm MobileNetV2 ImageNet weights, the XBN one as a warm start
# (from_bn=True: each GroupNorm takes the affine of the BN it replaces; README
# "Pretrained weights"). With weights trained by the official
# experiments/mobilenetV2_XBNBlock.sh, point `checkpoint` at that file
# (best.pth or checkpoint.pth load as they are) and drop from_bn.
mbv2_imagenet = 'open-mmlab://mmdet/mobilenet_v2'

# outputs of layer2, layer3, layer5 and the last 1x1 conv: strides 4 to 32
mbv2_fpn_in_channels = [24, 32, 96, 1280]

mbv2_xbn = dict(
    _delete_=True,
    type='XBNMobileNetV2',
    widen_factor=1.0,
    out_indices=(1, 2, 4, 7),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    bfn_cfg=dict(type='GN', num_groups=16, requires_grad=True),
    init_cfg=dict(type='Pretrained', checkpoint=mbv2_imagenet, from_bn=True))

mbv2_bn = dict(
    mbv2_xbn,
    bfn_cfg=None,
    init_cfg=dict(type='Pretrained', checkpoint=mbv2_imagenet))
