# XBN-ResNeXt-101-64x4d and its BN twin: ./x101-32x4d.py with 64 groups (no
# official XBN weights either; the options are listed there).
_base_ = './x101-32x4d.py'

bn_backbone = dict(
    groups=64,
    init_cfg=dict(checkpoint='open-mmlab://resnext101_64x4d'))
xbn_backbone = dict(
    groups=64,
    init_cfg=dict(
        checkpoint='checkpoints/xbn_resnext101_64x4d_p2_gn64_imagenet.pth'))
