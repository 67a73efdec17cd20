# BatchNorm twin of retinanet_mobilenetv2-xbn_fpn_1x_coco.py.
_base_ = './retinanet_mobilenetv2-xbn_fpn_1x_coco.py'
model = dict(backbone={{_base_.mbv2_bn}})
