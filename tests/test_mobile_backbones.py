"""XBNMobileNetV2 / XBNShuffleNetV2: where the batch-free norm goes, mmdet
semantics (frozen stages, norm_eval, out_indices), ``bfn_cfg=None`` as the
plain network, official checkpoints, argument errors.

Official checkpoints are written in the layouts of
tests/data/official_xbn_layouts.json with deterministic weights and compared
with functional forwards of the official architectures (torchvision's
MobileNetV2, Megvii's ShuffleNetV2) written here from those layouts."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmdet.models.backbones import MobileNetV2
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import xbn_mmdet  # noqa: F401
from xbn_mmdet.checkpoint import (CheckpointMismatchError,
                                  load_backbone_checkpoint)
from xbn_mmdet.models import LayerNorm2d
from xbn_mmdet.models.backbones import XBNMobileNetV2, XBNShuffleNetV2

from test_checkpoint import LAYOUTS, build, official_weights, save_official

MBV2 = 'mobilenet_v2_XBNBlock'
SHUFFLE = 'shuffleV2_XBNBlock_1D0x'
# torchvision's MobileNetV2 (t, c, n, s) and Megvii's ShuffleNetV2 stage
# widths, written out independently of the implementation's tables.
MBV2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
SHUFFLE_WIDTHS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024),
                  1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}


def norms(model):
    return {n: m for n, m in model.named_modules()
            if isinstance(m, (_BatchNorm, nn.GroupNorm, nn.InstanceNorm2d))}


def is_depthwise(model, norm_name):
    conv = model.get_submodule(norm_name.rsplit('.', 1)[0]).conv
    return conv.groups > 1 and conv.groups == conv.in_channels


# --------------------------------------------------------------- placement
def test_mobilenet_v2_bfn_after_every_depthwise_conv_only():
    model = XBNMobileNetV2()
    found = 0
    for name, norm in norms(model).items():
        if is_depthwise(model, name):
            found += 1
            assert type(norm) is nn.GroupNorm, name
            assert norm.num_groups == 16, name
            assert name.endswith('depthwise_conv.bn'), name
        else:
            assert isinstance(norm, nn.BatchNorm2d), name
    assert found == sum(n for _, _, n, _ in MBV2_SETTINGS) == 17
    assert isinstance(model.conv1.bn, nn.BatchNorm2d)
    assert isinstance(model.conv2.bn, nn.BatchNorm2d)


@pytest.mark.parametrize('widen,groups', [(0.5, 8), (1.0, 29), (1.5, 8),
                                          (2.0, 61)])
def test_shufflenet_v2_bfn_after_depthwise_in_both_branches(widen, groups):
    model = XBNShuffleNetV2(widen_factor=widen)
    bfns = {n: m for n, m in norms(model).items() if is_depthwise(model, n)}
    for name, norm in norms(model).items():
        if name not in bfns:
            assert isinstance(norm, nn.BatchNorm2d), name
    # 16 blocks with a main branch, 3 stride-2 blocks with a projection
    assert len(bfns) == 19
    assert sum('branch_proj' in n for n in bfns) == 3
    for name, norm in bfns.items():
        assert type(norm) is nn.GroupNorm, name
        assert norm.num_groups == min(groups, norm.num_channels), name
    first_proj = bfns['layer1.0.branch_proj.0.bn']
    assert first_proj.num_channels == 24
    assert first_proj.num_groups == min(groups, 24)  # 1.0x: capped, as
    # the official layout has it
    assert model.bfn_cfg == dict(type='GN', num_groups=groups)


@pytest.mark.parametrize('bfn_cfg,cls', [(dict(type='LN'), LayerNorm2d),
                                         (dict(type='IN'), nn.InstanceNorm2d)])
def test_other_bfn_types(bfn_cfg, cls):
    for model in (XBNMobileNetV2(bfn_cfg=bfn_cfg),
                  XBNShuffleNetV2(widen_factor=0.5, bfn_cfg=bfn_cfg)):
        bfns = [m for n, m in norms(model).items() if is_depthwise(model, n)]
        assert bfns and all(type(m) is cls for m in bfns)


def test_explicit_group_count_is_honoured_or_refused_clearly():
    model = XBNShuffleNetV2(widen_factor=0.5,
                            bfn_cfg=dict(type='GN', num_groups=4))
    assert model.layer2[1].branch_main[1].bn.num_groups == 4
    # GN without num_groups: the official count, not the global 64
    model = XBNMobileNetV2(bfn_cfg=dict(type='GN', requires_grad=False))
    assert model.bfn_cfg == dict(type='GN', requires_grad=False,
                                 num_groups=16)
    assert model.layer7[0].depthwise_conv.bn.num_groups == 16
    assert not model.layer7[0].depthwise_conv.bn.weight.requires_grad
    with pytest.raises(ValueError, match=r'layer1\.0\.branch_main\.1: '
                       r'GroupNorm num_groups=8 does not divide its 58'):
        XBNShuffleNetV2(widen_factor=1.0,
                        bfn_cfg=dict(type='GN', num_groups=8))
    with pytest.raises(ValueError, match=r'layer1\.0\.depthwise_conv: '
                       r'GroupNorm num_groups=16 does not divide its 24'):
        XBNMobileNetV2(widen_factor=0.75)


@pytest.mark.parametrize('build,words', [
    (lambda: XBNShuffleNetV2(widen_factor=0.75), 'widen_factor=0.75'),
    (lambda: XBNShuffleNetV2(out_indices=(4, )), 'out_indices'),
    (lambda: XBNShuffleNetV2(out_indices=()), 'out_indices'),
    (lambda: XBNShuffleNetV2(frozen_stages=4), 'frozen_stages'),
    (lambda: XBNShuffleNetV2(bfn_cfg=dict(type='BN')), 'is a batch norm'),
    (lambda: XBNShuffleNetV2(bfn_cfg=dict(type='GN', num_groups=0)),
     'num_groups=0'),
    (lambda: XBNMobileNetV2(bfn_cfg=dict(type='SyncBN')), 'is a batch norm'),
    (lambda: XBNMobileNetV2(bfn_cfg=dict(type='Foo')), 'not supported'),
    (lambda: XBNMobileNetV2(widen_factor=0), 'widen_factor=0'),
    (lambda: XBNMobileNetV2(out_indices=(8, )), 'out_indices'),
    (lambda: XBNMobileNetV2(frozen_stages=8), 'frozen_stages'),
])
def test_bad_arguments_are_clear_errors(build, words):
    with pytest.raises(ValueError, match=words):
        build()


def test_registered_and_buildable_from_config():
    assert MODELS.get('XBNMobileNetV2') is XBNMobileNetV2
    assert MODELS.get('XBNShuffleNetV2') is XBNShuffleNetV2
    model = MODELS.build(dict(type='XBNShuffleNetV2', widen_factor=0.5))
    assert isinstance(model, XBNShuffleNetV2)


# ------------------------------------------------------------ out_indices
def test_output_shapes_per_out_indices():
    x = torch.rand(1, 3, 64, 96)
    model = XBNMobileNetV2(out_indices=(0, 1, 2, 3, 4, 5, 6, 7)).eval()
    with torch.no_grad():
        outs = model(x)
    assert [o.shape[1] for o in outs] == \
        [c for _, c, _, _ in MBV2_SETTINGS] + [1280]
    assert [o.shape[2] for o in outs] == [32, 16, 8, 4, 4, 2, 2, 2]

    for widen, widths in SHUFFLE_WIDTHS.items():
        model = XBNShuffleNetV2(widen_factor=widen,
                                out_indices=(0, 1, 2, 3)).eval()
        with torch.no_grad():
            outs = model(x)
        assert [tuple(o.shape[1:]) for o in outs] == [
            (widths[0], 8, 12), (widths[1], 4, 6), (widths[2], 2, 3),
            (widths[3], 2, 3)]
    model = XBNShuffleNetV2(widen_factor=0.5, out_indices=(1, 2)).eval()
    assert not hasattr(model, 'conv2')  # not an output: not built
    with torch.no_grad():
        assert [o.shape[1] for o in model(x)] == [96, 192]


# ------------------------------------------- frozen stages and norm_eval
@pytest.mark.parametrize('cls,kwargs', [
    (XBNMobileNetV2, dict()),
    (XBNMobileNetV2, dict(bfn_cfg=None)),
    (XBNShuffleNetV2, dict(widen_factor=0.5)),
])
def test_frozen_stages_and_norm_eval(cls, kwargs):
    model = cls(frozen_stages=1, **kwargs)
    model.init_weights()
    assert model.train() is model
    # the stem: parameters fixed and its BN in eval mode (mmdet's own
    # MobileNetV2 leaves that BN training)
    assert not any(p.requires_grad for p in model.conv1.parameters())
    assert not model.conv1.bn.training
    assert not any(p.requires_grad for p in model.layer1.parameters())
    assert not any(m.training for m in model.layer1.modules())
    assert all(p.requires_grad for p in model.layer2.parameters())
    assert all(m.training for m in model.layer2.modules())
    stem_mean = model.conv1.bn.running_mean.clone()
    model(torch.rand(2, 3, 32, 32))
    assert torch.equal(model.conv1.bn.running_mean, stem_mean)

    model = cls(norm_eval=True, **kwargs).train()
    for name, m in norms(model).items():
        # norm_eval stops the BatchNorms only; the BFNs keep training
        assert m.training == (not isinstance(m, _BatchNorm)), name
    assert all(p.requires_grad for p in model.parameters())


def test_plain_mmdet_mobilenet_v2_leaves_the_frozen_stem_bn_training():
    """The quirk XBNMobileNetV2 fixes (fails once mmdet fixes it)."""
    model = MobileNetV2(frozen_stages=1)
    model.train()
    assert model.conv1.bn.training


def test_with_cp_gives_the_same_gradients():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    grads = []
    for with_cp in (False, True):
        torch.manual_seed(0)
        model = XBNShuffleNetV2(widen_factor=0.5, with_cp=with_cp)
        model.init_weights()
        model.eval()  # no BN statistics update between the two runs
        sum(o.sum() for o in model(x)).backward()
        grads.append(model.layer1[0].branch_main[1].bn.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


# ---------------------------------------------------- bfn_cfg=None = plain
def test_mobilenet_v2_without_bfn_is_mmdets_network():
    torch.manual_seed(0)
    plain = MobileNetV2(out_indices=(0, 2, 4, 7), frozen_stages=-1)
    plain.init_weights()
    ours = XBNMobileNetV2(bfn_cfg=None, out_indices=(0, 2, 4, 7))
    assert list(ours.state_dict()) == list(plain.state_dict())
    ours.load_state_dict(plain.state_dict())
    x = torch.rand(2, 3, 64, 64)
    for mode in (True, False):  # batch statistics, then running ones
        plain.train(mode)
        ours.train(mode)
        with torch.no_grad():
            for a, b in zip(plain(x), ours(x)):
                assert torch.equal(a, b)
    # XBN keeps mmdet's keys, minus the replaced BNs' running statistics
    xbn_keys = set(XBNMobileNetV2().state_dict())
    dropped = set(plain.state_dict()) - xbn_keys
    assert xbn_keys < set(plain.state_dict()) and len(dropped) == 17 * 3
    assert all('depthwise_conv.bn.' in k for k in dropped)


def test_shufflenet_v2_without_bfn_is_all_batchnorm_same_keys():
    plain = XBNShuffleNetV2(bfn_cfg=None)
    assert all(isinstance(m, nn.BatchNorm2d) for m in norms(plain).values())
    xbn_keys = set(XBNShuffleNetV2().state_dict())
    assert xbn_keys < set(plain.state_dict())
    assert all(k.endswith(('running_mean', 'running_var',
                           'num_batches_tracked'))
               for k in set(plain.state_dict()) - xbn_keys)


# ------------------------------------------------- official checkpoints
def _norm(sd, spec, name, x):
    if spec[name]['type'] == 'GroupNorm':
        return F.group_norm(x, spec[name]['num_groups'], sd[name + '.weight'],
                            sd[name + '.bias'], spec[name]['eps'])
    return F.batch_norm(x, sd[name + '.running_mean'],
                        sd[name + '.running_var'], sd[name + '.weight'],
                        sd[name + '.bias'], False, 0., spec[name]['eps'])


def _conv_norm(sd, spec, x, conv, norm, stride=1):
    w = sd[conv + '.weight']
    groups = x.shape[1] // w.shape[1]
    x = F.conv2d(x, w, None, stride, w.shape[-1] // 2, 1, groups)
    return _norm(sd, spec, norm, x)


def official_mobilenet_v2(sd, layout, x):
    """torchvision's MobileNetV2 forward; the outputs of mmdet's layers
    1-7 and of the last 1x1 conv."""
    spec = layout['norms']
    x = F.relu6(_conv_norm(sd, spec, x, 'features.0.0', 'features.0.1', 2))
    outs, index = [], 1
    for t, _, n, s in MBV2_SETTINGS:
        for i in range(n):
            p = f'features.{index}.conv'
            out, k = x, 0
            if t != 1:
                out = F.relu6(_conv_norm(sd, spec, out, f'{p}.0', f'{p}.1'))
                k = 3
            out = F.relu6(_conv_norm(sd, spec, out, f'{p}.{k}',
                                     f'{p}.{k + 1}', s if i == 0 else 1))
            out = _conv_norm(sd, spec, out, f'{p}.{k + 3}', f'{p}.{k + 4}')
            x = x + out if out.shape == x.shape else out
            index += 1
        outs.append(x)
    outs.append(F.relu6(_conv_norm(sd, spec, x, f'features.{index}.0',
                                   f'features.{index}.1')))
    return outs


def official_shufflenet_v2(sd, layout, x):
    """Megvii's ShuffleNetV2 forward (channel shuffle by reshape/permute);
    the outputs of the three stages and of conv_last."""
    spec = layout['norms']
    x = F.relu(_conv_norm(sd, spec, x, 'first_conv.0', 'first_conv.1', 2))
    x = F.max_pool2d(x, 3, 2, 1)
    outs, index = [], 0
    for repeats in (4, 8, 4):
        for i in range(repeats):
            p, stride = f'features.{index}', 2 if i == 0 else 1
            if stride == 1:
                b, c, h, w = x.shape
                pair = x.reshape(b * c // 2, 2, h * w).permute(1, 0, 2)
                pair = pair.reshape(2, -1, c // 2, h, w)
                proj, main = pair[0], pair[1]
            else:
                proj = main = x
                proj = _conv_norm(sd, spec, proj, f'{p}.branch_proj.0',
                                  f'{p}.branch_proj.1', 2)
                proj = F.relu(_conv_norm(sd, spec, proj, f'{p}.branch_proj.2',
                                         f'{p}.branch_proj.3'))
            m = f'{p}.branch_main'
            main = F.relu(_conv_norm(sd, spec, main, f'{m}.0', f'{m}.1'))
            main = _conv_norm(sd, spec, main, f'{m}.3', f'{m}.4', stride)
            main = F.relu(_conv_norm(sd, spec, main, f'{m}.5', f'{m}.6'))
            x = torch.cat((proj, main), 1)
            index += 1
        outs.append(x)
    outs.append(F.relu(_conv_norm(sd, spec, x, 'conv_last.0', 'conv_last.1')))
    return outs


OFFICIAL_CASES = {
    MBV2: (dict(type='XBNMobileNetV2', out_indices=tuple(range(8))),
           official_mobilenet_v2),
    SHUFFLE: (dict(type='XBNShuffleNetV2', out_indices=(0, 1, 2, 3)),
              official_shufflenet_v2),
}


@pytest.mark.parametrize('official', [MBV2, SHUFFLE])
@pytest.mark.parametrize('form', ['best', 'checkpoint'])
def test_official_checkpoint_loads_and_computes_like_the_official_model(
        official, form, tmp_path):
    layout = LAYOUTS[official]
    weights = official_weights(layout)
    src = save_official(tmp_path / f'{form}.pth', weights, form)
    cfg, reference = OFFICIAL_CASES[official]
    groups = {m['num_groups'] for m in layout['norms'].values()} - {None}

    report = load_backbone_checkpoint(build(cfg), str(src))
    assert report.missing == [] and report.unexpected == []
    assert report.dropped['classifier'] == sorted(
        k for k, _ in layout['state_dict'] if k.startswith('classifier'))
    assert report.loaded_fraction == 1.0
    model = build(cfg, src)
    assert model.bfn_cfg['num_groups'] == max(groups)  # 16 / 29 (and 24)

    torch.manual_seed(1)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        ours, theirs = model(x), reference(weights, layout, x)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert a.shape == b.shape
        assert (a - b).abs().max().item() <= 1e-5


def test_shufflenet_without_conv2_drops_conv_last_with_the_classifier(
        tmp_path):
    layout = LAYOUTS[SHUFFLE]
    weights = official_weights(layout)
    src = save_official(tmp_path / 'best.pth', weights, 'best')
    model = build(dict(type='XBNShuffleNetV2'))
    report = load_backbone_checkpoint(model, str(src), strict=True)
    assert report.missing == [] and report.unexpected == []
    assert 'conv_last.0.weight' in report.dropped['classifier']
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        for a, b in zip(model(x), official_shufflenet_v2(weights, layout, x)):
            assert (a - b).abs().max().item() <= 1e-5


def test_official_file_into_another_width_or_bn_network_is_refused(tmp_path):
    layout = LAYOUTS[SHUFFLE]
    src = save_official(tmp_path / 'best.pth', official_weights(layout),
                        'best')
    with pytest.raises(CheckpointMismatchError, match='another shape'):
        build(dict(type='XBNShuffleNetV2', widen_factor=0.5), src)
    with pytest.raises(CheckpointMismatchError, match='batch-free norms'):
        build(dict(type='XBNShuffleNetV2', bfn_cfg=None), src)


def test_bn_mobilenet_v2_checkpoint_warm_starts_xbn(tmp_path):
    """mmdet's BN MobileNetV2 (e.g. open-mmlab://mmdet/mobilenet_v2) is a
    warm start with from_bn=True, and refused without it."""
    torch.manual_seed(0)
    plain = MobileNetV2()
    plain.init_weights()
    for m in plain.modules():
        if isinstance(m, _BatchNorm):
            nn.init.normal_(m.weight)
    path = tmp_path / 'bn.pth'
    torch.save({'state_dict': plain.state_dict()}, path)
    with pytest.raises(CheckpointMismatchError, match='from_bn=True'):
        build(dict(type='XBNMobileNetV2'), path)
    model = build(dict(type='XBNMobileNetV2'), path, from_bn=True)
    assert torch.equal(model.layer3[1].depthwise_conv.bn.weight,
                       plain.layer3[1].depthwise_conv.bn.weight)
    assert torch.equal(model.conv1.bn.running_var, plain.conv1.bn.running_var)


# ---------------------------------------------------------------- configs
CONFIG_DIR = Path(__file__).resolve().parents[1] / 'configs' / 'xbn_mobile'
RECIPES = sorted(p.name for p in CONFIG_DIR.glob('*_xbn-*.py'))


def test_every_xbn_recipe_has_a_bn_twin():
    assert len(RECIPES) == 5
    for name in RECIPES:
        assert (CONFIG_DIR / name.replace('_xbn-', '_bn-')).is_file(), name


@pytest.mark.parametrize('name', RECIPES)
def test_config_pairs_parse_build_and_run_a_forward(name):
    from mmdet.testing import demo_mm_inputs
    from mmdet.utils import register_all_modules
    from mmengine.config import Config
    register_all_modules()
    xbn, bn = (Config.fromfile(str(CONFIG_DIR / n))
               for n in (name, name.replace('_xbn-', '_bn-')))
    for cfg, with_bfn in ((xbn, True), (bn, False)):
        assert cfg.custom_imports == dict(imports=['xbn_mmdet'],
                                          allow_failed_imports=False)
        assert cfg.auto_scale_lr.enable is False
        assert cfg.auto_scale_lr.base_batch_size == \
            (192 if 'ssdlite' in name else 16)
        backbone = cfg.model.backbone
        assert backbone.type in ('XBNMobileNetV2', 'XBNShuffleNetV2')
        assert (backbone.bfn_cfg is not None) == with_bfn
        model = MODELS.build(cfg.model)  # no init_weights: no download
        has_gn = any(isinstance(m, nn.GroupNorm)
                     for m in model.backbone.modules())
        assert has_gn == with_bfn
        model.train()
        torch.manual_seed(0)
        packed = demo_mm_inputs(2, [[3, 96, 128]] * 2, num_items=[2, 1],
                                num_classes=80)
        data = model.data_preprocessor(packed, True)
        losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        assert torch.isfinite(loss)
    # the twins differ in the backbone's batch-free norm and weights only
    for key in ('bfn_cfg', 'init_cfg'):
        xbn.model.backbone.pop(key)
        bn.model.backbone.pop(key)
    assert xbn.model.to_dict() == bn.model.to_dict()


@pytest.mark.parametrize('official,groups', [(MBV2, 16), (SHUFFLE, 29)])
def test_converter_recognises_the_mobile_layouts(official, groups, tmp_path):
    from xbn_mmdet.checkpoint import convert_checkpoint
    layout = LAYOUTS[official]
    weights = official_weights(layout)
    src = save_official(tmp_path / 'checkpoint.pth', weights, 'checkpoint')
    dst = tmp_path / 'converted.pth'
    meta = convert_checkpoint(str(src), str(dst))  # official group count
    cfg, reference = OFFICIAL_CASES[official]
    assert meta['backbone']['type'] == cfg['type']
    assert meta['backbone']['widen_factor'] == 1.0
    assert meta['backbone']['num_groups'] == groups
    assert meta['backbone_cfg'] == dict(
        type=cfg['type'], widen_factor=1.0,
        bfn_cfg=dict(type='GN', num_groups=groups))
    model = build(dict(type=cfg['type']), dst, strict=True)
    with torch.no_grad():
        x = torch.randn(1, 3, 64, 64)
        ours = model(x)
        theirs = reference(weights, layout, x)
    index = {MBV2: (1, 2, 4, 7), SHUFFLE: (0, 1, 2)}[official]
    for a, i in zip(ours, index):
        assert (a - theirs[i]).abs().max().item() <= 1e-5
    other = 8 if official == MBV2 else 58
    with pytest.raises(CheckpointMismatchError,
                       match=f'num_groups: checkpoint {groups}, backbone '
                       f'{other}'):
        build(dict(type=cfg['type'],
                    bfn_cfg=dict(type='GN', num_groups=other)), dst)
