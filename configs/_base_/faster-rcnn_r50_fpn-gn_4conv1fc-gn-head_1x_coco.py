# The XBNBlock paper's detection setting (b): Faster R-CNN R-50-FPN 1x with
# GroupNorm in the FPN and a box head of 4 convs + 1 fc with GroupNorm
# (mmdet's Shared4Conv1FCBBoxHead; maskrcnn-benchmark's FPN USE_GN and
# FPNXconv1fcFeatureExtractor with 4 convs of 256 channels, 32 groups).
# mmdet's gn+ws configs do the same with weight standardization added.
# Recipes put their backbone on top (../faster_rcnn/*4conv1fc-gn-head*).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

gn_head_norm_cfg = dict(type='GN', num_groups=32, requires_grad=True)
model = dict(
    neck=dict(norm_cfg=gn_head_norm_cfg),
    roi_head=dict(
        bbox_head=dict(
            type='Shared4Conv1FCBBoxHead',
            conv_out_channels=256,
            norm_cfg=gn_head_norm_cfg)))
