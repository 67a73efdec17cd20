# SSDLite, XBN-MobileNetV2 (GN 16 after each depthwise conv), from scratch,
# mmdet's SSDLite recipe otherwise unchanged (320x320, 8 GPUs x 24 images,
# 600 epochs as 120 x 5 repeats). Its BatchNorms keep mmdet's eps/momentum.
_base_ = 'mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py'
custom_imports = dict(imports=['xbn_mmdet'], allow_failed_imports=False)
model = dict(
    backbone=dict(
        type='XBNMobileNetV2', bfn_cfg=dict(type='GN', num_groups=16)))
auto_scale_lr = dict(enable=False, base_batch_size=192)
# mmdet's two SSDLite hooks and the three of configs/_base_/reliability.py
# (a second base file may not redefine custom_hooks, so they are listed).
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='CheckInvalidLossHook', interval=50, priority='VERY_LOW'),
    dict(type='NonFiniteLossHook', action='stop'),
    dict(type='AtomicCheckpointWritesHook'),
    dict(type='RandomStateHook'),
]
