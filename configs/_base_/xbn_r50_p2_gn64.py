# XBN-ResNet-50 backbone as the official XBNBlock detection recipe uses it:
# P2 placement (GroupNorm after each 3x3 conv), GN with 64 groups in the stem
# too, every remaining BatchNorm frozen (fixed statistics and affine), stem and
# first stage frozen, the BFN layers trainable outside the frozen stages.
# Detector configs take it with `backbone={{_base_.xbn_r50_backbone}}`.
# Every recipe of the zoo inherits this file (through ./backbones/), so the
# runtime hooks all our configs train with are switched on here.
_base_ = './reliability.py'
custom_imports = dict(imports=['xbn_mmdet'], allow_failed_imports=False)

# Official ImageNet weights of XBN-ResNet-50 P2 (GN 64 groups); README section
# "Pretrained weights" says where to get them. Training stops before it starts
# when this file is missing; to train from scratch pass
# --cfg-options model.backbone.init_cfg=None
xbn_r50_pretrained = 'checkpoints/xbn_resnet50_p2_gn64_imagenet.pth'

xbn_r50_backbone = dict(
    _delete_=True,
    type='XBNResNet',
    depth=50,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    frozen_stages=1,
    norm_cfg=dict(type='BN', requires_grad=False),
    norm_eval=True,
    bfn_cfg=dict(type='GN', num_groups=64, requires_grad=True),
    bfn_position='P2',
    stem_bfn=True,
    style='pytorch',
    init_cfg=dict(type='Pretrained', checkpoint=xbn_r50_pretrained))
