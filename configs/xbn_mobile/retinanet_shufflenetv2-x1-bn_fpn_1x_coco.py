# BatchNorm twin of retinanet_shufflenetv2-x1-xbn_fpn_1x_coco.py.
_base_ = './retinanet_shufflenetv2-x1-xbn_fpn_1x_coco.py'
model = dict(backbone={{_base_.shufflev2_bn}})
