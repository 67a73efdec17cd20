# BatchNorm twin of ssdlite_xbn-mobilenetv2-scratch_8xb24-600e_coco.py (the
# network of mmdet's own SSDLite config).
_base_ = './ssdlite_xbn-mobilenetv2-scratch_8xb24-600e_coco.py'
model = dict(backbone=dict(bfn_cfg=None))
