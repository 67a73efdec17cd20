# ./mask-rcnn_xbn-r50_fpn_1x_coco.py with automatic mixed precision
# (mmengine's AmpOptimWrapper, dynamic loss scale; what tools/train.py --amp
# sets). BN twin: ./mask-rcnn_bn-r50_fpn_amp-1x_coco.py
_base_ = './mask-rcnn_xbn-r50_fpn_1x_coco.py'
optim_wrapper = dict(type='AmpOptimWrapper', loss_scale='dynamic')
