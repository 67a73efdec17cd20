"""Pretrained weights in and out (xbn_mmdet.checkpoint, tools/
convert_checkpoint.py): official XBNBlock files in both forms, BatchNorm
warm starts, recorded BFN settings, loud loading, weights-only safety.

Checkpoints are written to a temp dir in the official layout listed in
tests/data/official_xbn_layouts.json, with deterministic weights, and the
outputs are compared with an independent functional forward of the official
(torchvision-style) architecture."""
import argparse
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS

import xbn_mmdet  # noqa: F401
from xbn_mmdet.checkpoint import (CheckpointMismatchError,
                                  UnsafeCheckpointError, convert_checkpoint,
                                  load_backbone_checkpoint,
                                  load_checkpoint_file)
from xbn_mmdet.checkpoint import loader as loader_module

from test_tools import _RunsShell  # noqa: E402
from tool_import import import_tool  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LAYOUTS = json.loads(
    (Path(__file__).parent / 'data' / 'official_xbn_layouts.json').read_text())
RESNET_LAYOUTS = [k for k in LAYOUTS if k.startswith(('resnet_', 'resnext_'))]
CONVERTER = REPO / 'tools' / 'convert_checkpoint.py'


def official_weights(layout, seed=0):
    """A state dict in the official layout with well-scaled deterministic
    values (unit-ish activations even 100 layers deep)."""
    gen = torch.Generator().manual_seed(seed)
    weights = {}
    for key, shape in layout['state_dict']:
        if key.endswith('num_batches_tracked'):
            weights[key] = torch.tensor(1000)
        elif key.endswith('running_var'):
            weights[key] = torch.rand(shape, generator=gen) + 0.5
        elif key.endswith(('running_mean', 'bias')):
            weights[key] = 0.1 * torch.randn(shape, generator=gen)
        elif len(shape) == 1:  # norm weight
            weights[key] = 1 + 0.1 * torch.randn(shape, generator=gen)
        else:
            fan_in = torch.Size(shape[1:]).numel()
            weights[key] = torch.randn(shape, generator=gen) / fan_in**0.5
    return weights


def official_stage_outputs(sd, layout, x):
    """The official XBNBlock ResNet/ResNeXt forward (torchvision's, with the
    norm types of the layout), written with functional ops only."""
    norms = layout['norms']

    def norm(x, name):
        spec = norms[name]
        if spec['type'] == 'GroupNorm':
            return F.group_norm(x, spec['num_groups'], sd[f'{name}.weight'],
                                sd[f'{name}.bias'], spec['eps'])
        return F.batch_norm(x, sd[f'{name}.running_mean'],
                            sd[f'{name}.running_var'], sd[f'{name}.weight'],
                            sd[f'{name}.bias'], False, 0., spec['eps'])

    def conv(x, name, stride=1):
        w = sd[f'{name}.weight']
        return F.conv2d(x, w, None, stride, w.shape[-1] // 2, 1,
                        x.shape[1] // w.shape[1])

    x = F.relu(norm(conv(x, 'conv1', 2), 'bn1'))
    x = F.max_pool2d(x, 3, 2, 1)
    outs = []
    for stage in range(1, 5):
        i = 0
        while f'layer{stage}.{i}.conv1.weight' in sd:
            p = f'layer{stage}.{i}'
            stride = 2 if stage > 1 and i == 0 else 1
            if f'{p}.conv3.weight' in sd:  # bottleneck: stride on the 3x3
                out = F.relu(norm(conv(x, f'{p}.conv1'), f'{p}.bn1'))
                out = F.relu(norm(conv(out, f'{p}.conv2', stride),
                                  f'{p}.bn2'))
                out = norm(conv(out, f'{p}.conv3'), f'{p}.bn3')
            else:
                out = F.relu(norm(conv(x, f'{p}.conv1', stride), f'{p}.bn1'))
                out = norm(conv(out, f'{p}.conv2'), f'{p}.bn2')
            if f'{p}.downsample.0.weight' in sd:
                x = norm(conv(x, f'{p}.downsample.0', stride),
                         f'{p}.downsample.1')
            x = F.relu(out + x)
            i += 1
        outs.append(x)
    return outs


def backbone_cfg(official):
    """Our backbone config for an official model name."""
    depth = int(re.search(r'_P\d_(\d+)', official).group(1))
    position = re.search(r'_(P\d)_', official).group(1)
    cfg = dict(type='XBNResNet', depth=depth, bfn_position=position)
    if official.startswith('resnext'):
        groups, width = map(int, re.search(r'(\d+)x(\d+)d', official).groups())
        cfg.update(type='XBNResNeXt', groups=groups, base_width=width)
    return cfg


def save_official(path, weights, form):
    """``best.pth``: the plain state dict. ``checkpoint.pth``: the training
    checkpoint of the official ImageNet script (module.-prefixed weights,
    an argparse Namespace, optimizer and scheduler state)."""
    if form == 'best':
        torch.save(weights, path)
        return path
    param = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.SGD([param], lr=0.1, momentum=0.9)
    param.grad = torch.ones(3)
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [30, 60])
    torch.save({
        'model': {f'module.{k}': v for k, v in weights.items()},
        'cfg': argparse.Namespace(arch='resnet_XBNBlock_P2_50', lr=0.1,
                                  norm='GN', norm_cfg=['num_groups=64'],
                                  epochs=100),
        'optimizer': optimizer.state_dict(),
        'scheduler': scheduler.state_dict(),
        'epoch': 100,
        'best_prec1': 77.5,
    }, path)
    return path


def build(cfg, checkpoint=None, **options):
    if checkpoint is not None:
        cfg = dict(cfg, init_cfg=dict(type='Pretrained',
                                      checkpoint=str(checkpoint), **options))
    model = MODELS.build(cfg)
    model.init_weights()
    model.eval()  # mmdet's ResNet.train() does not return the module
    return model


@pytest.fixture
def log_lines(monkeypatch):
    """What the loader logs, as (level, message) pairs."""
    lines = []
    monkeypatch.setattr(loader_module, 'print_log',
                        lambda msg, logger=None, level=20:
                        lines.append((level, msg)))
    return lines


def assert_matches_official(model, weights, layout):
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ours = model(x)
        theirs = official_stage_outputs(weights, layout, x)
    assert len(ours) == 4
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-5


@pytest.mark.parametrize('official', [
    pytest.param(name, marks=pytest.mark.slow) if '101' in name else name
    for name in RESNET_LAYOUTS
])
def test_official_checkpoints_load_and_compute_like_the_official_model(
        official, tmp_path, log_lines):
    """checkpoint.pth through init_cfg and through the converter: no missing
    or unexpected key, fc dropped and reported, stage outputs equal."""
    layout = LAYOUTS[official]
    weights = official_weights(layout)
    src = save_official(tmp_path / 'checkpoint.pth', weights, 'checkpoint')
    cfg = backbone_cfg(official)

    report = load_backbone_checkpoint(build(cfg), str(src))
    assert report.missing == [] and report.unexpected == []
    assert report.dropped['classifier'] == ['fc.bias', 'fc.weight']
    assert report.loaded_fraction == 1.0
    assert any('dropped 2 keys (classifier)' in m for _, m in log_lines)
    assert_matches_official(build(cfg, src), weights, layout)

    dst = tmp_path / 'converted.pth'
    meta = convert_checkpoint(str(src), str(dst))
    assert meta['backbone'] == dict(
        type=cfg['type'], depth=cfg['depth'], groups=cfg.get('groups', 1),
        base_width=cfg.get('base_width', 64), bfn_type='GN', num_groups=64,
        bfn_position=cfg['bfn_position'], stem_bfn=True)
    assert_matches_official(build(cfg, dst), weights, layout)


@pytest.mark.parametrize('official', ['resnet_XBNBlock_P2_50',
                                      'resnet_XBNBlock_P2_18'])
def test_official_best_pth_loads_through_plain_init_cfg(official, tmp_path):
    layout = LAYOUTS[official]
    weights = official_weights(layout)
    src = save_official(tmp_path / 'best.pth', weights, 'best')
    model = build(backbone_cfg(official), src)
    for key, value in model.state_dict().items():
        assert torch.equal(value, weights[key]), key
    assert_matches_official(model, weights, layout)


@pytest.fixture(scope='module')
def r50_p2(tmp_path_factory):
    """Official R-50 P2 weights as best.pth, and the converted file."""
    root = tmp_path_factory.mktemp('r50')
    weights = official_weights(LAYOUTS['resnet_XBNBlock_P2_50'])
    best = save_official(root / 'best.pth', weights, 'best')
    converted = root / 'xbn_r50_gn64.pth'
    convert_checkpoint(str(best), str(converted))
    return best, converted, weights


R50 = dict(type='XBNResNet', depth=50)


def test_converted_file_records_settings_and_source_hash(r50_p2):
    best, converted, _ = r50_p2
    saved = torch.load(converted, weights_only=True)
    meta = saved['meta']['xbn_mmdet']
    assert meta['source_file'] == 'best.pth'
    assert meta['source_sha256'] == hashlib.sha256(
        best.read_bytes()).hexdigest()
    assert meta['backbone_cfg'] == dict(
        type='XBNResNet', depth=50, bfn_cfg=dict(type='GN', num_groups=64),
        bfn_position='P2', stem_bfn=True)
    assert meta['from_bn'] is False
    assert 'fc.weight' not in saved['state_dict']


@pytest.mark.parametrize('override,words', [
    (dict(bfn_cfg=dict(type='GN', num_groups=32)),
     'num_groups: checkpoint 64, backbone 32'),
    (dict(bfn_position='P3'), "bfn_position: checkpoint 'P2', backbone 'P3'"),
    (dict(stem_bfn=False), 'stem_bfn: checkpoint True, backbone False'),
    (dict(bfn_cfg=dict(type='LN')), "bfn_type: checkpoint 'GN', backbone "
     "'LN'"),
])
def test_converted_file_refuses_other_bfn_settings(r50_p2, override, words):
    _, converted, _ = r50_p2
    with pytest.raises(CheckpointMismatchError) as err:
        build(dict(R50, **override), converted)
    assert words in str(err.value)
    assert 'allow_bfn_mismatch=True' in str(err.value)


def test_allow_bfn_mismatch_loads_with_a_warning(r50_p2, log_lines):
    _, converted, weights = r50_p2
    model = build(dict(R50, bfn_cfg=dict(type='GN', num_groups=32)),
                  converted, allow_bfn_mismatch=True)
    assert torch.equal(model.layer1[0].bn2.weight, weights['layer1.0.bn2.weight'])
    assert model.layer1[0].bn2.num_groups == 32
    warnings = [m for level, m in log_lines if level == 30]
    assert any('num_groups: checkpoint 64, backbone 32' in m
               for m in warnings)


def test_raw_official_file_refuses_another_position(r50_p2):
    best, _, _ = r50_p2
    with pytest.raises(CheckpointMismatchError) as err:
        build(dict(R50, bfn_position='P1'), best)
    assert "checkpoint has batch-free norms bfn_position='P2', " \
        'stem_bfn=True' in str(err.value)
    assert "the backbone bfn_position='P1'" in str(err.value)


def test_raw_official_file_warns_when_group_count_differs(r50_p2, log_lines):
    best, _, _ = r50_p2
    build(dict(R50, bfn_cfg=dict(type='GN', num_groups=32)), best)
    assert any(level == 30 and 'use 64 groups, this backbone 32' in m
               for level, m in log_lines)


def test_converter_cli_checks_position_and_reports(r50_p2, tmp_path):
    best, _, _ = r50_p2
    proc = subprocess.run(
        [sys.executable, str(CONVERTER), str(best), str(tmp_path / 'o.pth'),
         '--bfn-position', 'P3'], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0
    assert "not at the requested bfn_position='P3'" in proc.stderr
    proc = subprocess.run(
        [sys.executable, str(CONVERTER), str(best), str(tmp_path / 'o.pth'),
         '--num-groups', '64'], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert '"num_groups": 64' in proc.stdout
    assert "type='XBNResNet', depth=50" in proc.stdout


@pytest.mark.parametrize('argv,words', [
    (['missing.pth', 'out.pth'], 'source checkpoint not found: missing.pth'),
    (['SRC', 'out.pth', '--num-groups', '0'], "'0' is not a positive"),
    (['SRC', 'out.pth', '--bfn-type', 'BN'], "invalid choice: 'BN'"),
    (['SRC', 'out.pth', '--prefix', 'neck'],
     "no key of the checkpoint starts with prefix='neck.'"),
    (['SRC', 'SRC'], 'dst must differ from src'),
])
def test_converter_cli_bad_input(r50_p2, argv, words, capsys):
    convert = import_tool('convert_checkpoint')
    best, _, _ = r50_p2
    argv = [str(best) if a == 'SRC' else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        convert.main(argv)
    assert words in capsys.readouterr().err + str(exc.value.code)


def bn_resnet50_weights(seed=3):
    """A BatchNorm ResNet-50 (torchvision layout, fc included)."""
    model = MODELS.build(dict(type='ResNet', depth=50))
    gen = torch.Generator().manual_seed(seed)
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    for key, value in weights.items():
        if value.is_floating_point():
            weights[key] = (torch.rand(value.shape, generator=gen) + 0.5
                            if key.endswith('running_var') else
                            0.1 * torch.randn(value.shape, generator=gen))
    weights['fc.weight'] = torch.randn(1000, 2048, generator=gen)
    weights['fc.bias'] = torch.randn(1000, generator=gen)
    return weights


@pytest.mark.parametrize(
    'form', ['torchvision', 'mmdet-backbone', 'mmpretrain', 'detector'])
def test_bn_checkpoint_warm_start(form, tmp_path, log_lines):
    weights = bn_resnet50_weights()
    path = tmp_path / f'{form}.pth'
    if form == 'torchvision':
        torch.save(weights, path)
    elif form == 'mmdet-backbone':  # open-mmlab:// ResNet files
        torch.save({'state_dict': {k: v for k, v in weights.items()
                                   if not k.startswith('fc.')}}, path)
    elif form == 'mmpretrain':
        torch.save({'meta': {'epoch': 100}, 'state_dict': {
            ('head.' if k.startswith('fc.') else 'backbone.') + k: v
            for k, v in weights.items()}}, path)
    else:
        state = {f'backbone.{k}': v for k, v in weights.items()
                 if not k.startswith('fc.')}
        state['neck.lateral_convs.0.conv.weight'] = torch.zeros(256, 256, 1, 1)
        torch.save({'meta': {'epoch': 12}, 'state_dict': state,
                    'message_hub': {'log_scalars': {}}}, path)

    with pytest.raises(CheckpointMismatchError, match='from_bn=True'):
        build(R50, path)
    model = build(R50, path, from_bn=True)
    ours = model.state_dict()
    bfn = {n for n, m in model.named_modules()
           if isinstance(m, torch.nn.GroupNorm)}
    assert len(bfn) == 17  # stem + one per block
    for key, value in ours.items():
        assert torch.equal(value, weights[key]), key  # BN as is, BFN affine
    stats = [k for k in weights if k.rsplit('.', 1)[0] in bfn
             and 'running' in k]
    assert len(stats) == 34 and not set(stats) & set(ours)
    summary = ' '.join(m for _, m in log_lines)
    assert '17 batch-free norms took the affine weight and bias' in summary
    assert 'not XBN ImageNet pretraining' in summary
    assert 'dropped 51 keys (BatchNorm statistics of the replaced' in summary

    dst = tmp_path / 'warm.pth'
    meta = convert_checkpoint(str(path), str(dst), from_bn=True)
    assert meta['from_bn'] is True
    assert meta['backbone_cfg']['bfn_position'] == 'P2'
    again = build(R50, dst)
    for key, value in again.state_dict().items():
        assert torch.equal(value, ours[key]), key


def test_from_bn_refuses_an_xbn_checkpoint(r50_p2):
    best, _, _ = r50_p2
    with pytest.raises(CheckpointMismatchError,
                       match='not a BatchNorm network'):
        build(R50, best, from_bn=True)


def test_missing_and_unexpected_keys_are_loud(r50_p2, tmp_path, log_lines):
    _, _, weights = r50_p2
    renamed = dict(weights)
    renamed['layer4.2.conv_3.weight'] = renamed.pop('layer4.2.conv3.weight')
    path = tmp_path / 'renamed.pth'
    torch.save(renamed, path)
    build(R50, path)
    warnings = [m for level, m in log_lines if level == 30]
    assert len(warnings) == 1
    assert '1 backbone keys missing from the checkpoint' in warnings[0]
    assert 'layer4.2.conv3.weight' in warnings[0]
    assert 'layer4.2.conv_3.weight' in warnings[0]
    fraction = [m for _, m in log_lines if "of the backbone's parameters" in m]
    assert re.search(r'(\d+\.\d)% of the backbone', fraction[0]).group(1) \
        == f'{100 * (1 - 2048 * 512 / 23_508_032):.1f}'
    with pytest.raises(CheckpointMismatchError, match=r'strict=True'):
        build(R50, path, strict=True)


def test_shape_mismatch_is_an_error(r50_p2):
    best, _, _ = r50_p2
    with pytest.raises(CheckpointMismatchError, match='another shape'):
        build(dict(type='XBNResNeXt', depth=50, groups=32, base_width=4),
              best)


def test_unknown_pretrained_option_names_the_valid_ones(r50_p2):
    best, _, _ = r50_p2
    with pytest.raises(ValueError, match='unknown key.*from_bm.*valid:.*'
                       'from_bn'):
        build(R50, best, from_bm=True)


def test_code_running_checkpoint_is_refused_everywhere(tmp_path, r50_p2):
    _, _, weights = r50_p2
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': weights, 'payload': _RunsShell(marker)}, path)

    with pytest.raises(UnsafeCheckpointError) as err:
        load_checkpoint_file(path)
    message = str(err.value)
    assert 'system' in message and 'add_safe_globals' in message
    assert '--trust-source' in message
    with pytest.raises(UnsafeCheckpointError):
        build(R50, path)
    proc = subprocess.run(
        [sys.executable, str(CONVERTER), str(path), str(tmp_path / 'o.pth')],
        capture_output=True, text=True, cwd=REPO)
    assert proc.returncode != 0 and 'refusing to load' in proc.stderr
    assert not marker.exists()


def test_official_checkpoint_pth_loads_weights_only(tmp_path):
    """The Namespace under 'cfg' is allow-listed; nothing else is needed."""
    weights = official_weights(LAYOUTS['resnet_XBNBlock_P2_18'])
    path = save_official(tmp_path / 'checkpoint.pth', weights, 'checkpoint')
    loaded = torch.load(path, weights_only=True)
    assert loaded['cfg'].norm == 'GN'
