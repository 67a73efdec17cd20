"""The shipped configs parse, build, and train for one step on a tiny input."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

import xbn_mmdet  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
register_all_modules()


def load(name):
    return Config.fromfile(str(REPO / 'configs' / name))


def one_training_step(model, num_classes, with_mask):
    model.train()
    torch.manual_seed(0)
    packed = demo_mm_inputs(2, [[3, 128, 160]] * 2, num_items=[2, 3],
                            num_classes=num_classes, with_mask=with_mask)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    return losses


@pytest.mark.parametrize('name,with_mask', [
    ('mask_rcnn_r50_xbn.py', True),
    ('faster_rcnn_r50_xbn.py', False),
])
def test_coco_configs_build_and_train_a_step(name, with_mask):
    cfg = load(name)
    assert cfg.custom_imports == dict(imports=['xbn_mmdet'],
                                      allow_failed_imports=False)
    backbone = cfg.model.backbone
    assert backbone.type == 'XBNResNet' and backbone.depth == 50
    assert backbone.bfn_cfg == dict(type='GN', num_groups=64,
                                    requires_grad=True)
    assert backbone.bfn_position == 'P2' and backbone.stem_bfn
    assert backbone.norm_eval and backbone.frozen_stages == 1
    assert backbone.init_cfg.type == 'Pretrained'
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
    assert cfg.auto_scale_lr.base_batch_size == 16
    metrics = cfg.val_evaluator.metric
    assert metrics == (['bbox', 'segm'] if with_mask else 'bbox')

    model = MODELS.build(cfg.model)  # no init_weights: no file needed
    body = model.backbone
    assert isinstance(body.norm1, nn.GroupNorm)
    assert isinstance(body.layer3[0].norm2, nn.GroupNorm)
    assert not body.layer2[0].norm1.weight.requires_grad  # frozen BN
    losses = one_training_step(model, 80, with_mask)
    assert ('loss_mask' in losses) == with_mask
    grad = body.layer3[0].norm2.weight.grad
    assert grad is not None and torch.count_nonzero(grad) > 0
    assert body.layer1[0].norm2.weight.grad is None  # frozen stage


def test_demo_config_matches_generator_and_trains_a_step():
    from xbn_mmdet.datasets import synthetic_class_names

    cfg = load('demo/mask_rcnn_r18_xbn_synthetic.py')
    classes = tuple(cfg.classes)
    assert classes == tuple(synthetic_class_names(len(classes)))
    assert cfg.model.roi_head.bbox_head.num_classes == len(classes)
    assert cfg.model.backbone.init_cfg is None
    model = MODELS.build(cfg.model)
    model.init_weights()
    one_training_step(model, len(classes), True)
