"""The recipe zoo: every config under configs/ parses, builds its model and
runs a forward pass; every XBN recipe has a BN twin that differs only in the
backbone; configs/metafile.yml and the README table list exactly the
configs there are.

Builds skip ``init_weights`` and set ``model.backbone.init_cfg=None``, so no
pretrained file is needed. Configs whose models are equal (the schedules,
the AMP variants and the headline aliases share a model) share one build and
one forward. SyncBN needs GPUs and a process group, so the SyncBN recipes are
built with their ``SyncBN`` norms turned into ``BN`` (same parameters; the
recipe itself is checked to ask for SyncBN with norm_eval=False).
"""
import importlib
import json
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config, ConfigDict

from mmdet.registry import MODELS
from mmdet.testing import demo_mm_inputs
from mmdet.utils import register_all_modules

REPO = Path(__file__).resolve().parents[1]
ALL_CONFIGS = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / 'configs').rglob('*.py')
    if '_base_' not in p.relative_to(REPO / 'configs').parts[:-1])
# The R-CNN zoo; configs/xbn_mobile/ (RetinaNet, SSDLite, mobile backbones)
# is built and run in tests/test_mobile_backbones.py.
CONFIGS = [c for c in ALL_CONFIGS if not c.startswith('configs/xbn_mobile/')]
COCO_RECIPES = [c for c in CONFIGS if not c.startswith('configs/demo/')]
XBN_RECIPES = [c for c in COCO_RECIPES if '_xbn-' in c]
XBN_ONLY_KEYS = {'bfn_cfg', 'bfn_position', 'stem_bfn'}
register_all_modules()
importlib.import_module('xbn_mmdet')  # registers the XBN backbones


@lru_cache(maxsize=None)
def load(path):
    return Config.fromfile(str(REPO / path))


def _sync_bn_to_bn(node):
    if isinstance(node, dict):
        if node.get('type') == 'SyncBN':
            node['type'] = 'BN'
        for value in node.values():
            _sync_bn_to_bn(value)
    elif isinstance(node, list):
        for value in node:
            _sync_bn_to_bn(value)


@lru_cache(maxsize=None)
def _forward(model_json):
    """Build the model and run one loss forward on one 64x64 image; returns
    the summed loss and the model's type."""
    model_cfg = json.loads(model_json)
    model = MODELS.build(ConfigDict(model_cfg))
    model.train()
    torch.manual_seed(0)
    packed = demo_mm_inputs(
        1, [[3, 64, 64]],
        num_items=[2],
        num_classes=model_cfg['roi_head']['bbox_head']['num_classes'],
        with_mask='mask_head' in model_cfg['roi_head'])
    with torch.no_grad():
        data = model.data_preprocessor(packed, True)
        losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    return float(loss), sorted(losses)


@pytest.mark.parametrize('path', CONFIGS)
def test_config_builds_and_runs_a_forward(path):
    cfg = load(path)
    assert cfg.custom_imports == dict(
        imports=['xbn_mmdet'], allow_failed_imports=False)
    assert cfg.auto_scale_lr.enable is False
    if path in COCO_RECIPES:
        assert cfg.auto_scale_lr.base_batch_size == 16
        assert cfg.train_dataloader.batch_size == 2  # x 8 GPUs = 16
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['init_cfg'] = None
    _sync_bn_to_bn(model_cfg)
    loss, names = _forward(json.dumps(model_cfg, sort_keys=True))
    assert torch.isfinite(torch.tensor(loss))
    assert 'loss_cls' in names and 'loss_rpn_cls' in names
    assert ('loss_mask' in names) == (cfg.model.type == 'MaskRCNN')


def _without_backbone(cfg):
    """The config less its backbone and the helper variables the backbone
    bases define (xbn_backbone, bn_backbone, ...)."""
    helpers = set(load('configs/_base_/backbones/r50.py')) - {'custom_imports'}
    d = {k: v for k, v in cfg.to_dict().items() if k not in helpers}
    d['model'].pop('backbone')
    return d


@pytest.mark.parametrize('xbn_path', XBN_RECIPES)
def test_bn_twin_differs_only_in_the_backbone(xbn_path):
    bn_path = xbn_path.replace('_xbn-', '_bn-')
    xbn, bn = load(xbn_path), load(bn_path)
    assert _without_backbone(xbn) == _without_backbone(bn)

    xbn_bb, bn_bb = xbn.model.backbone, bn.model.backbone
    assert xbn_bb.type == 'XBN' + bn_bb.type
    assert xbn_bb.bfn_cfg == dict(type='GN', num_groups=64,
                                  requires_grad=True)
    assert xbn_bb.bfn_position == 'P2' and xbn_bb.stem_bfn is True
    same = set(xbn_bb) - XBN_ONLY_KEYS - {'type', 'init_cfg'}
    assert same == set(bn_bb) - {'type', 'init_cfg'}
    assert {k: xbn_bb[k] for k in same} == {k: bn_bb[k] for k in same}
    # the official recipe: stem and stage 1 frozen; BNs frozen, or trainable
    # SyncBN in the SyncBN variants
    assert xbn_bb.frozen_stages == 1
    if '-syncbn' in xbn_path:
        assert xbn_bb.norm_cfg == dict(type='SyncBN', requires_grad=True)
        assert xbn_bb.norm_eval is False
    else:
        assert xbn_bb.norm_cfg == dict(type='BN', requires_grad=False)
        assert xbn_bb.norm_eval is True
    # XBN weights are ours to provide; the twin uses mmdet's usual ones
    assert xbn_bb.init_cfg.checkpoint.startswith('checkpoints/xbn_')
    assert bn_bb.init_cfg.checkpoint.split('://')[0] in ('torchvision',
                                                          'open-mmlab')


def test_zoo_covers_the_issue():
    names = {Path(p).stem for p in XBN_RECIPES}
    for bb in ('r50', 'r101', 'x101-32x4d', 'x101-64x4d'):
        for sched in ('1x', '2x', 'ms-poly-3x'):
            assert f'mask-rcnn_xbn-{bb}_fpn_{sched}_coco' in names
    for bb in ('r50', 'r101'):
        for sched in ('1x', '2x'):
            assert f'faster-rcnn_xbn-{bb}_fpn_{sched}_coco' in names
    assert 'faster-rcnn_xbn-r50_fpn-gn_4conv1fc-gn-head_1x_coco' in names
    assert {n for n in names if 'amp' in n or 'syncbn' in n} == {
        'mask-rcnn_xbn-r50_fpn_amp-1x_coco',
        'faster-rcnn_xbn-r50_fpn_amp-1x_coco',
        'mask-rcnn_xbn-r50-syncbn_fpn_1x_coco',
        'faster-rcnn_xbn-r50-syncbn_fpn_1x_coco',
    }
    assert len(COCO_RECIPES) == 2 * len(XBN_RECIPES) + 2  # + the 2 aliases
    gn = load('configs/faster_rcnn/'
              'faster-rcnn_xbn-r50_fpn-gn_4conv1fc-gn-head_1x_coco.py')
    assert gn.model.neck.norm_cfg.type == 'GN'
    assert gn.model.roi_head.bbox_head.type == 'Shared4Conv1FCBBoxHead'
    assert gn.model.roi_head.bbox_head.norm_cfg.type == 'GN'
    amp = load('configs/mask_rcnn/mask-rcnn_xbn-r50_fpn_amp-1x_coco.py')
    assert amp.optim_wrapper.type == 'AmpOptimWrapper'
    ms = load('configs/mask_rcnn/mask-rcnn_xbn-r101_fpn_ms-poly-3x_coco.py')
    assert ms.train_dataloader.dataset.times * ms.train_cfg.max_epochs == 36


def test_metafile_lists_exactly_the_configs():
    meta = yaml.safe_load((REPO / 'configs' / 'metafile.yml').read_text())
    listed = [m['Config'] for m in meta['Models']]
    assert sorted(listed) == [c for c in ALL_CONFIGS
                              if not c.startswith('configs/demo/')]
    assert len({m['Name'] for m in meta['Models']}) == len(listed)
    collections = {c['Name'] for c in meta['Collections']}
    for model in meta['Models']:
        assert model['In Collection'] in collections
        assert model['Name'] == Path(model['Config']).stem
        assert {'Training Data', 'Training Resources', 'Epochs',
                'Architecture', 'Backbone'} <= set(model['Metadata'])
    index = yaml.safe_load((REPO / 'model-index.yml').read_text())
    assert index == {'Import': ['configs/metafile.yml']}


def test_metafile_and_readme_table_are_up_to_date():
    """tools/model_zoo.py --check: what the configs say equals what
    configs/metafile.yml and the README table say."""
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'model_zoo.py'), '--check'],
        cwd=str(REPO),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-4000:]
