# BatchNorm twin of retinanet_xbn-shufflenetv2-x1_fpn_1x_coco.py.
_base_ = './retinanet_xbn-shufflenetv2-x1_fpn_1x_coco.py'
model = dict(backbone={{_base_.shufflev2_bn}})
