# SSDLite, XBN-MobileNetV2 (GN 16 after each depthwise conv), from scratch,
# mmdet's SSDLite recipe otherwise unchanged (320x320, 8 GPUs x 24 images,
# 600 epochs as 120 x 5 repeats). Its BatchNorms keep mmdet's eps/momentum.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['xbn_mmdet'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='XBNMobileNetV2', bfn_cfg=dict(type='GN', num_groups=16)))
auto_scale_lr = dict(enable=False, base_batch_size=192)
