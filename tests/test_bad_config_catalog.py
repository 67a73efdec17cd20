"""A catalog of bad inputs across our components: backbone arguments, the
hooks' arguments, the checkpoint converter and the tools' command-line
flags. Each must fail with one message that names the bad value and what is
valid (never a bare traceback). The launcher scripts' catalog is in
tests/test_tools.py (test_launcher_bad_input_is_one_clear_line)."""
import pytest
import torch

import xbn_mmdet  # noqa: F401  (registers the backbones and hooks)
from tool_import import import_tool

HEADLINE = 'configs/mask_rcnn_r50_xbn.py'

# backbone type, kwargs, exception, message
BACKBONE_CASES = [
    ('XBNResNet', dict(bfn_position='P4'), ValueError,
     "bfn_position='P4' is not valid; choose one of P1, P2, P3"),
    ('XBNResNet', dict(bfn_cfg=dict(type='BN')), ValueError,
     "bfn_cfg type='BN' is a batch norm; XBN needs a batch-free norm: one "
     'of GN, LN, IN'),
    ('XBNResNet', dict(bfn_cfg=dict(type='SyncBN')), ValueError,
     "bfn_cfg type='SyncBN'"),
    ('XBNResNet', dict(bfn_cfg=dict(type='GN', num_groups=0)), ValueError,
     'bfn_cfg num_groups=0 is not valid; use a positive int'),
    ('XBNResNet', dict(bfn_cfg=dict(type='GN', num_groups=48)), ValueError,
     'GroupNorm num_groups=48 does not divide its 64 channels; choose a '
     'divisor of 64 such as [8, 16, 32, 64]'),
    ('XBNResNet', dict(bfn_cfg='GN'), TypeError,
     "bfn_cfg must be a dict such as {'type': 'GN', 'num_groups': 64} or "
     "None, got 'GN'"),
    ('XBNResNet', dict(depth=42), ValueError,
     'XBNResNet: depth=42 is not supported; choose one of [18, 34, 50, 101, '
     '152]'),
    ('XBNResNeXt', dict(depth=18), ValueError,
     'XBNResNeXt: depth=18 is not supported; choose one of [50, 101, 152]'),
    ('XBNResNet', dict(style='caffe2'), ValueError,
     "style='caffe2' is not valid; choose 'pytorch' or 'caffe'"),
    ('XBNResNet', dict(stem_bfn='yes'), TypeError,
     "stem_bfn='yes' is not valid; use True or False"),
    ('XBNResNet', dict(out_indices=(4, )), ValueError,
     'out_indices=(4,) is not valid; with num_stages=4 the stage indices '
     'are [0, 1, 2, 3]'),
    ('XBNResNet', dict(num_stages=5), ValueError,
     'num_stages=5 is not valid; choose 1, 2, 3 or 4'),
    ('XBNResNet', dict(frozen_stages=9), ValueError,
     'frozen_stages=9 is not valid; choose -1 (nothing frozen) to 4'),
]


@pytest.mark.parametrize('backbone,kwargs,exc,message', BACKBONE_CASES,
                         ids=[f'{c[0]}-{list(c[1])[0]}'
                              for c in BACKBONE_CASES])
def test_bad_backbone_argument(backbone, kwargs, exc, message):
    from mmengine.registry import DefaultScope

    from mmdet.registry import MODELS
    cfg = dict(type=backbone, depth=18 if backbone == 'XBNResNet' else 50)
    if backbone == 'XBNResNeXt':
        cfg.update(groups=32, base_width=4)
    cfg.update(kwargs)
    with pytest.raises(exc) as err, \
            DefaultScope.overwrite_default_scope('mmdet'):
        MODELS.build(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize('hook,kwargs,message', [
    ('NonFiniteLossHook', dict(action='ignore'),
     "action='ignore' is not one of 'stop', 'skip'"),
    ('NonFiniteLossHook', dict(max_consecutive_skips=-1),
     'max_consecutive_skips=-1 must be an integer >= 1'),
])
def test_bad_hook_argument(hook, kwargs, message):
    from mmengine.registry import DefaultScope

    from mmdet.registry import HOOKS
    with pytest.raises(ValueError, match=message), \
            DefaultScope.overwrite_default_scope('mmdet'):
        HOOKS.build(dict(type=hook, **kwargs))


# tool, argv, message (argparse/SystemExit text)
CLI_CASES = [
    ('convert_checkpoint', ['missing.pth', 'out.pth'],
     'source checkpoint not found: missing.pth'),
    ('convert_checkpoint', ['README.md', 'README.md'],
     'dst must differ from src (README.md)'),
    ('convert_checkpoint', ['README.md', 'o.pth', '--num-groups', '0'],
     "argument --num-groups: '0' is not a positive integer"),
    ('convert_checkpoint', ['README.md', 'o.pth', '--bfn-position', 'P5'],
     "argument --bfn-position: invalid choice: 'P5' (choose from 'P1', "
     "'P2', 'P3')"),
    ('convert_checkpoint', ['README.md', 'o.pth', '--bfn-type', 'BN'],
     "argument --bfn-type: invalid choice: 'BN' (choose from 'GN', 'LN', "
     "'IN')"),
    ('train', ['nope.py'], 'config file not found: nope.py'),
    ('train', [HEADLINE, '--launcher', 'foo'],
     "argument --launcher: invalid choice: 'foo' (choose from 'none', "
     "'pytorch', 'slurm', 'mpi')"),
    ('train', [HEADLINE, '--cfg-options', 'train_cfg.max_epochs'],
     "--cfg-options: 'train_cfg.max_epochs' is not key=value, e.g. "
     'train_cfg.max_epochs=2'),
    ('train', [HEADLINE, '--resume', 'nope.pth'],
     'checkpoint file not found: nope.pth'),
    ('train', [HEADLINE, '--resume', 'README.md'],
     'checkpoint README.md cannot be loaded: it is not a torch checkpoint'),
    ('train', [HEADLINE, '--check-images', 'some'],
     '--check-images must be "all" or an integer >= 0, got \'some\''),
    ('test', [HEADLINE, 'nope.pth'], 'checkpoint file not found: nope.pth'),
    ('test', [HEADLINE, 'CKPT', '--out', 'r.json'],
     '--out must be a .pkl or .pickle file: r.json'),
    ('test', [HEADLINE, 'CKPT', '--check-images', '-1'],
     '--check-images must be "all" or an integer >= 0, got \'-1\''),
    ('benchmark', [HEADLINE, '--input', '0x5'],
     "argument --input: '0x5' is not HxW with both at least 32, e.g. "
     '512x512'),
    ('benchmark', [HEADLINE, '--batch', '0'],
     "argument --batch: '0' is not a positive integer"),
    ('benchmark', [HEADLINE, '--device', 'tpu'],
     "argument --device: invalid choice: 'tpu' (choose from 'cpu', "
     "'cuda')"),
    ('benchmark', [HEADLINE, '--warmup', '-3'],
     'argument --warmup: -3 is not an integer >= 0'),
    ('benchmark', [HEADLINE, '--cfg-options', '=3'],
     "--cfg-options: '=3' is not key=value"),
    ('demo', ['--epochs', '0'], "argument --epochs: '0' is not a positive "
     'integer'),
    ('demo', ['--num-vis', '-2'],
     'argument --num-vis: -2 is not an integer >= 0'),
    ('generate_synthetic_coco', ['--out', 'x', '--num-classes', '99'],
     'argument --num-classes: 99 is out of range; valid range is [1, 8]'),
    ('generate_synthetic_coco', ['--out', 'x', '--size', '10', '10'],
     'argument --size: 10 is out of range; valid range is'),
    ('generate_synthetic_coco', ['--out', 'x', '--seed', '-1'],
     'argument --seed: -1 is out of range; valid range is [0, '),
    ('generate_synthetic_coco', ['--out', 'x', '--num-train', 'x'],
     "argument --num-train: 'x' is not an integer (valid range"),
]


@pytest.mark.parametrize('tool,argv,message', CLI_CASES,
                         ids=[f'{c[0]}:{" ".join(c[1])}' for c in CLI_CASES])
def test_bad_cli_flag(tool, argv, message, capsys, tmp_path):
    module = import_tool(tool)
    if 'CKPT' in argv:  # a good checkpoint where the case needs one
        torch.save({'state_dict': {}}, tmp_path / 'ok.pth')
        argv = [str(tmp_path / 'ok.pth') if a == 'CKPT' else a for a in argv]
    with pytest.raises(SystemExit) as err:
        getattr(module, 'parse_args', module.main)(argv)
    assert err.value.code == 2
    text = capsys.readouterr().err
    assert message in text, text
    assert 'Traceback' not in text
    assert len(text.strip().splitlines()[-1]) and \
        message in text.strip().splitlines()[-1]


def test_demo_bad_object_size_is_one_line(tmp_path, capsys):
    demo = import_tool('demo')
    with pytest.raises(SystemExit) as err:
        demo.main(['--data-root', str(tmp_path / 'd'), '--object-size',
                   '80', '20'])
    assert str(err.value.code).startswith('error: object_size[1] (max)=20 '
                                          'is out of range; valid range is '
                                          '[80, ')
    assert not (tmp_path / 'd').exists()


def test_catalog_has_at_least_25_bad_inputs():
    assert len(BACKBONE_CASES) + 2 + len(CLI_CASES) + 1 >= 25
