# BatchNorm twin of faster-rcnn_xbn-mobilenetv2_fpn_1x_coco.py.
_base_ = './faster-rcnn_xbn-mobilenetv2_fpn_1x_coco.py'
model = dict(backbone={{_base_.mbv2_bn}})
