"""Folding BatchNorms into convolutions for inference (``fuse_conv_bn``,
``tools/test.py --fuse-conv-bn``): same outputs, batch-free norms kept."""
import copy
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import fuse_conv_bn as mmcv_fuse_conv_bn
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules
from torch.nn.modules.batchnorm import _BatchNorm

import xbn_mmdet  # noqa: F401
from xbn_mmdet.models import fuse_conv_bn, is_bfn

REPO = Path(__file__).resolve().parents[1]
register_all_modules()


def randomize_norms(model, seed=0):
    """Running statistics and affines far from the identity, as after
    training, so that a wrong fold shows."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (_BatchNorm, nn.GroupNorm)):
            n = m.weight.numel()
            m.weight.data = 1 + 0.3 * torch.randn(n, generator=gen)
            m.bias.data = 0.3 * torch.randn(n, generator=gen)
        if isinstance(m, _BatchNorm):
            m.running_mean = 0.3 * torch.randn(n, generator=gen)
            m.running_var = 0.5 + torch.rand(n, generator=gen)
    return model


def count(model, kind):
    return sum(1 for m in model.modules() if kind(m))


@pytest.mark.parametrize('position', ['P1', 'P2', 'P3'])
@pytest.mark.parametrize('depth', [18, 50])
def test_backbone_outputs_unchanged_and_only_batchnorms_folded(depth,
                                                               position):
    model = MODELS.build(dict(type='XBNResNet', depth=depth,
                              bfn_position=position, base_channels=16,
                              bfn_cfg=dict(type='GN', num_groups=8)))
    randomize_norms(model).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model(x)
    bns = count(model, lambda m: isinstance(m, _BatchNorm))
    bfns = count(model, is_bfn)
    assert fuse_conv_bn(model) == bns
    assert count(model, lambda m: isinstance(m, _BatchNorm)) == 0
    assert count(model, is_bfn) == bfns
    with torch.no_grad():
        after = model(x)
    for a, b in zip(before, after):
        assert (a - b).abs().max().item() <= 1e-4


def test_dcn_block_with_p1_is_folded_correctly_where_mmcv_is_not():
    """P1 puts the GroupNorm first; with a DCN 3x3 conv, bn2's preceding
    plain conv among its siblings is conv1. mmcv's fuse_conv_bn folds bn2
    into conv1 (wrong); ours leaves bn2 as it is."""
    cfg = dict(type='XBNResNet', depth=50, bfn_position='P1',
               base_channels=16, bfn_cfg=dict(type='GN', num_groups=8),
               dcn=dict(type='DCNv2', deform_groups=1),
               stage_with_dcn=(False, False, False, True))
    model = randomize_norms(MODELS.build(cfg))
    model.eval()  # mmdet's ResNet.train() does not return the module
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        before = model(x)[-1]
        mmcv_fused = mmcv_fuse_conv_bn(copy.deepcopy(model))
        ours = copy.deepcopy(model)
        fuse_conv_bn(ours)
        assert (mmcv_fused(x)[-1] - before).abs().max() > 1e-2
        assert (ours(x)[-1] - before).abs().max() <= 1e-4
    assert isinstance(ours.layer4[0].bn2, _BatchNorm)  # after the DCN
    assert isinstance(ours.layer4[0].bn3, nn.Identity)


def test_whole_detector_predictions_unchanged():
    cfg = Config.fromfile(
        str(REPO / 'configs' / 'demo' / 'mask_rcnn_r18_xbn_synthetic.py'))
    cfg.model.test_cfg.rcnn.score_thr = 0.0  # many boxes to compare
    model = randomize_norms(MODELS.build(cfg.model)).eval()
    torch.manual_seed(0)
    packed = demo_mm_inputs(1, [[3, 96, 128]], num_classes=4,
                            with_mask=True)

    def predict():
        data = model.data_preprocessor(copy.deepcopy(packed), False)
        return model.predict(data['inputs'],
                             data['data_samples'])[0].pred_instances

    with torch.no_grad():
        before = predict()
        assert fuse_conv_bn(model) > 0
        after = predict()
    assert len(before) > 0 and len(before) == len(after)
    assert (before.bboxes - after.bboxes).abs().max() <= 1e-3
    assert (before.scores - after.scores).abs().max() <= 1e-4
    assert torch.equal(before.labels, after.labels)
