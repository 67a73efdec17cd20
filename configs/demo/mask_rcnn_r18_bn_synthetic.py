# The BN twin of the CPU demo (mask_rcnn_r18_xbn_synthetic.py): the same
# detector, data and schedule with XBN turned off (bfn_cfg=None: every norm
# of the backbone is BatchNorm, plain mmdet ResNet), for comparing the two
# under distribution shift:
#   python tools/train.py configs/demo/mask_rcnn_r18_bn_synthetic.py
#   python tools/test_robustness.py configs/demo/mask_rcnn_r18_xbn_synthetic.py \
#       XBN.pth --compare configs/demo/mask_rcnn_r18_bn_synthetic.py BN.pth
_base_ = './mask_rcnn_r18_xbn_synthetic.py'

model = dict(backbone=dict(bfn_cfg=None, stem_bfn=False))
