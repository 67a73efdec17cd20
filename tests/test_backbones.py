"""XBNResNet / XBNResNeXt: where the batch-free norm goes, and that every
mmdet ResNet argument keeps its meaning."""
import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmdet.models.backbones import ResNet, ResNeXt
from mmdet.registry import MODELS
from torch.nn.modules.batchnorm import _BatchNorm

import xbn_mmdet  # noqa: F401  (registers the backbones)
from xbn_mmdet.models import LayerNorm2d
from xbn_mmdet.models.backbones import XBNResNet, XBNResNeXt

LAYOUTS = json.loads(
    (Path(__file__).parent / 'data' / 'official_xbn_layouts.json').read_text())

# Which norm of a block is the BFN, written out from the official XBNBlock
# code (DESIGN.md), independently of the implementation's tables.
EXPECTED_BFN = {
    ('basic', 'P1'): 'bn1', ('basic', 'P2'): 'bn1', ('basic', 'P3'): 'bn2',
    ('bottle', 'P1'): 'bn1', ('bottle', 'P2'): 'bn2', ('bottle', 'P3'): 'bn3',
}
BLOCK_NORM = re.compile(r'^layer\d+\.\d+\.(bn\d)$')


def norms_by_name(model):
    return {n: m for n, m in model.named_modules()
            if isinstance(m, (_BatchNorm, nn.GroupNorm, nn.InstanceNorm2d))}


@pytest.mark.parametrize('depth,kind', [(18, 'basic'), (34, 'basic'),
                                        (50, 'bottle')])
@pytest.mark.parametrize('position', ['P1', 'P2', 'P3'])
def test_bfn_placement_by_position_and_block(depth, kind, position):
    model = XBNResNet(depth=depth, bfn_position=position)
    expected_slot = EXPECTED_BFN[(kind, position)]
    norms = norms_by_name(model)
    assert isinstance(norms['bn1'], nn.GroupNorm)  # stem
    n_blocks = 0
    for name, norm in norms.items():
        match = BLOCK_NORM.match(name)
        if 'downsample' in name:
            assert isinstance(norm, nn.BatchNorm2d), name
        elif match:
            is_bfn = match.group(1) == expected_slot
            n_blocks += is_bfn
            if is_bfn:
                assert type(norm) is nn.GroupNorm, name
                assert norm.num_groups == min(64, norm.num_channels)
            else:
                assert isinstance(norm, nn.BatchNorm2d), name
    assert n_blocks == sum(model.stage_blocks)


@pytest.mark.parametrize('official', [
    'resnet_XBNBlock_P1_50', 'resnet_XBNBlock_P2_50', 'resnet_XBNBlock_P3_50',
    'resnet_XBNBlock_P2_18', 'resnet_XBNBlock_P2_101',
    'resnext_XBNBlock_P2_50_32x4d', 'resnext_XBNBlock_P2_101_32x8d'
])
def test_matches_official_layout(official):
    """Same keys, shapes and GroupNorm placement/groups as the official
    ImageNet models (classifier aside), so their weights load unedited."""
    layout = LAYOUTS[official]
    depth = int(re.search(r'_P\d_(\d+)', official).group(1))
    position = re.search(r'_(P\d)_', official).group(1)
    if official.startswith('resnext'):
        groups, width = map(int, re.search(r'(\d+)x(\d+)d', official).groups())
        model = XBNResNeXt(depth=depth, groups=groups, base_width=width,
                           bfn_position=position)
    else:
        model = XBNResNet(depth=depth, bfn_position=position)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: s for k, s in layout['state_dict'] if not k.startswith('fc.')}
    assert ours == theirs
    official_gn = {k: v['num_groups'] for k, v in layout['norms'].items()
                   if v['type'] == 'GroupNorm'}
    our_gn = {k: m.num_groups for k, m in norms_by_name(model).items()
              if isinstance(m, nn.GroupNorm)}
    assert our_gn == official_gn


def test_stem_bfn_off_keeps_stem_batchnorm():
    model = XBNResNet(depth=18, stem_bfn=False)
    assert isinstance(model.norm1, nn.BatchNorm2d)
    assert isinstance(model.layer1[0].norm1, nn.GroupNorm)


def test_deep_stem_puts_bfn_on_last_stem_norm():
    model = XBNResNet(depth=18, deep_stem=True, avg_down=True)
    kinds = [type(m) for m in model.stem
             if isinstance(m, (_BatchNorm, nn.GroupNorm))]
    assert kinds == [nn.BatchNorm2d, nn.BatchNorm2d, nn.GroupNorm]
    model(torch.rand(1, 3, 64, 64))


def test_role_properties_return_the_layer_in_the_slot():
    block = XBNResNet(depth=50, bfn_position='P2').layer2[0]
    assert block.norm2 is block.bn2 and isinstance(block.norm2, nn.GroupNorm)
    assert isinstance(block.norm1, nn.BatchNorm2d)
    assert isinstance(block.norm3, nn.BatchNorm2d)
    basic = XBNResNet(depth=18, bfn_position='P3').layer1[1]
    assert basic.norm2 is basic.bn2 and isinstance(basic.norm2, nn.GroupNorm)


def test_frozen_stages_and_norm_eval():
    model = XBNResNet(
        depth=50, frozen_stages=1, norm_eval=True,
        norm_cfg=dict(type='BN', requires_grad=False))
    model.train()
    # Stem and layer1: every parameter frozen, every norm in eval mode.
    for module in (model.conv1, model.norm1, model.layer1):
        assert all(not p.requires_grad for p in module.parameters())
    assert not model.norm1.training and not model.layer1.training
    for name, norm in norms_by_name(model).items():
        if isinstance(norm, _BatchNorm):
            assert not norm.training, name
            assert all(not p.requires_grad for p in norm.parameters()), name
        elif not name.startswith(('bn1', 'layer1.')):
            # The BFN outside frozen stages keeps training.
            assert norm.training, name
            assert all(p.requires_grad for p in norm.parameters()), name
    assert model.layer2[0].conv2.weight.requires_grad

    # The frozen part really does not change in a training step.
    before = model.layer1[0].bn2.weight.clone()
    stats = model.layer2[0].bn1.running_mean.clone()
    out = model(torch.rand(2, 3, 64, 64))
    sum(o.mean() for o in out).backward()
    assert model.layer1[0].bn2.weight.grad is None
    assert model.layer2[0].bn2.weight.grad is not None
    assert torch.equal(before, model.layer1[0].bn2.weight)
    assert torch.equal(stats, model.layer2[0].bn1.running_mean)


def test_norm_eval_false_trains_batchnorm():
    model = XBNResNet(depth=18, norm_eval=False, frozen_stages=-1)
    model.train()
    assert all(m.training for m in norms_by_name(model).values())


def _copy_and_compare(ours, theirs, size=64):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    torch.manual_seed(0)
    theirs.init_weights()
    # Random BN statistics, so eval mode exercises them.
    for m in theirs.modules():
        if isinstance(m, _BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(2, 3, size, size)
    for mode in (False, True):
        ours.train(mode)
        theirs.train(mode)
        for a, b in zip(ours(x), theirs(x)):
            assert torch.equal(a, b)


@pytest.mark.parametrize('depth', [18, 50])
def test_bfn_none_is_exactly_mmdet_resnet(depth):
    kwargs = dict(depth=depth, frozen_stages=1, norm_eval=False)
    _copy_and_compare(XBNResNet(bfn_cfg=None, **kwargs), ResNet(**kwargs))


def test_bfn_none_is_exactly_mmdet_resnext():
    kwargs = dict(depth=50, groups=32, base_width=4)
    _copy_and_compare(XBNResNeXt(bfn_cfg=None, **kwargs), ResNeXt(**kwargs))


@pytest.mark.parametrize('bfn_cfg,expected', [
    (dict(type='GN', num_groups=32), nn.GroupNorm),
    (dict(type='LN'), LayerNorm2d),
    (dict(type='IN', affine=True), nn.InstanceNorm2d),
])
def test_gn_ln_in_build_train_and_run(bfn_cfg, expected):
    model = XBNResNet(depth=18, bfn_cfg=bfn_cfg, norm_eval=False)
    assert type(model.layer2[1].norm1) is expected
    assert type(model.norm1) is expected
    out = model(torch.rand(2, 3, 64, 64))
    assert [o.shape[1] for o in out] == [64, 128, 256, 512]
    sum(o.mean() for o in out).backward()
    assert model.layer2[1].norm1.weight.grad is not None


def test_layer_norm_normalizes_over_channels_and_space():
    ln = LayerNorm2d(8)
    y = ln(torch.randn(3, 8, 5, 7) * 4 + 2)
    assert torch.allclose(y.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-5)
    assert torch.allclose(y.var(dim=(1, 2, 3), unbiased=False),
                          torch.ones(3), atol=1e-3)


def test_group_count_capped_at_channels():
    model = XBNResNet(depth=18, base_channels=16,
                      bfn_cfg=dict(type='GN', num_groups=64))
    assert model.norm1.num_groups == 16  # 16-channel stem
    assert model.layer2[0].norm1.num_groups == 32
    assert model.layer3[0].norm1.num_groups == 64


def test_non_divisible_group_count_names_the_layer():
    with pytest.raises(ValueError) as err:
        XBNResNet(depth=18, bfn_cfg=dict(type='GN', num_groups=48))
    msg = str(err.value)
    assert 'stem bn1' in msg and '48' in msg and '64 channels' in msg
    with pytest.raises(ValueError, match=r'layer2 bn2.*num_groups=48.*64 channels'):
        XBNResNet(depth=50, stem_bfn=False,
                  bfn_cfg=dict(type='GN', num_groups=48), base_channels=32)


@pytest.mark.parametrize('kwargs,words', [
    (dict(depth=18, bfn_position='P4'), ["'P4'", 'P1, P2, P3']),
    (dict(depth=18, bfn_cfg=dict(type='XYZ')), ["'XYZ'", 'GN, LN, IN']),
    (dict(depth=18, bfn_cfg=dict(type='BN')), ["'BN'", 'batch-free']),
    (dict(depth=42), ['depth=42', '[18, 34, 50, 101, 152]']),
    (dict(depth=18, bfn_cfg=dict(type='GN', num_groups=0)),
     ['num_groups=0']),
    (dict(depth=18, style='tf'), ["'tf'", 'pytorch']),
])
def test_bad_values_fail_with_clear_messages(kwargs, words):
    with pytest.raises((ValueError, TypeError)) as err:
        MODELS.build(dict(type='XBNResNet', **kwargs))
    for word in words:
        assert word in str(err.value)


def test_resnext_depth_check():
    with pytest.raises(ValueError, match=r'depth=18.*\[50, 101, 152\]'):
        XBNResNeXt(depth=18, groups=32, base_width=4)


def test_resnext_grouped_conv_and_bfn():
    model = XBNResNeXt(depth=50, groups=32, base_width=4)
    block = model.layer1[0]
    assert block.conv2.groups == 32
    assert isinstance(block.norm2, nn.GroupNorm)
    assert block.norm2.num_channels == 128  # 32 groups x 4 channels
    out = model(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in out] == [256, 512, 1024, 2048]


@pytest.mark.parametrize('cls,kwargs,last', [
    (XBNResNet, dict(depth=18), 'norm2'),
    (XBNResNet, dict(depth=50, bfn_position='P3'), 'norm3'),
    (XBNResNeXt, dict(depth=50, groups=32, base_width=4), 'norm3'),
])
def test_zero_init_residual_zeroes_last_norm(cls, kwargs, last):
    model = cls(zero_init_residual=True, **kwargs)
    model.init_weights()
    for layer in (model.layer1, model.layer4):
        for block in layer:
            assert torch.count_nonzero(getattr(block, last).weight) == 0
    assert torch.all(model.layer1[0].norm1.weight == 1)


def test_out_indices_strides_and_registry_build():
    model = MODELS.build(
        dict(type='XBNResNet', depth=18, out_indices=(1, 3)))
    out = model(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in out] == [(1, 128, 8, 12), (1, 512, 2, 3)]


def test_with_cp_and_plugins_and_dcn():
    model = XBNResNet(
        depth=50, with_cp=True, stage_with_dcn=(False, True, False, False),
        dcn=dict(type='DCNv2', deform_groups=1, fallback_on_stride=False),
        plugins=[dict(cfg=dict(type='ContextBlock', ratio=1. / 4),
                      stages=(False, False, True, False),
                      position='after_conv3')],
        norm_eval=False)
    assert type(model.layer2[0].conv2).__name__ == 'ModulatedDeformConv2dPack'
    assert isinstance(model.layer2[0].norm2, nn.GroupNorm)
    assert model.layer3[0].after_conv3_plugin_names
    model.train()
    out = model(torch.rand(1, 3, 64, 64, requires_grad=True))
    sum(o.mean() for o in out).backward()
    assert model.layer2[0].norm2.weight.grad is not None
