# XBN-ResNet-50 (official ImageNet weights: README "Pretrained weights") and
# its BN twin; see ./xbn_p2_gn64.py for what the two names hold.
_base_ = './xbn_p2_gn64.py'

xbn_backbone = _base_.xbn_r50_backbone
bn_backbone = _base_.bn_r50_backbone
