# The pieces the backbone bases of this folder are made of: the XBN settings
# of the headline backbone (xbn_r50_backbone in ../xbn_r50_p2_gn64.py) and
# its BN twin. Recipes do not use this file directly; they take one of
# r50.py, r101.py, x101-32x4d.py, x101-64x4d.py, which all define
#   xbn_backbone  XBN (P2: GroupNorm with 64 groups after each 3x3 conv and
#                 in the stem), every other BN frozen, stem + stage 1 frozen
#   bn_backbone   its twin: the same backbone with mmdet's plain
#                 ResNet/ResNeXt blocks (no batch-free norm), every BN frozen
#                 the same way, from mmdet's usual ImageNet weights
# so a recipe and its twin differ only in `{{_base_.xbn_backbone}}` versus
# `{{_base_.bn_backbone}}`. The official XBNBlock detection code freezes the
# BNs of its XBN and BN models alike; mmdet's own configs train the BN
# affine parameters (requires_grad=True), so mmdet's published numbers are
# references, not our twins' results.
_base_ = '../xbn_r50_p2_gn64.py'

# What makes a backbone XBN; added to a twin to give the XBN backbone.
xbn_p2_gn64 = {
    k: _base_.xbn_r50_backbone[k]
    for k in ('bfn_cfg', 'bfn_position', 'stem_bfn')
}
bn_r50_backbone = dict(
    {
        k: v
        for k, v in _base_.xbn_r50_backbone.items() if k not in xbn_p2_gn64
    },
    type='ResNet',
    init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'))
