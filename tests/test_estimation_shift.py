"""xbn_mmdet.analysis: exact ESM, forward order, BN-only reporting, the
EstimationShiftHook in a real (tiny) training run, and
tools/analysis/estimation_shift.py on its checkpoint, with bad inputs."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from demo_config import demo_config_on
from xbn_mmdet.analysis import (BNInputStats, ESMRecord, RunningMoments,
                                compute_estimation_shift, is_batch_norm)
from xbn_mmdet.datasets import generate_synthetic_coco
from xbn_mmdet.models.bfn import LayerNorm2d

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / 'tools' / 'analysis' / 'estimation_shift.py'


# ---------------------------------------------------------------------------
# the library on tiny networks
# ---------------------------------------------------------------------------
class Tiny(nn.Module):
    """conv -> BN -> GN -> LN -> IN -> conv -> BN; ``late_bn`` is
    registered first but runs last (forward order is not module order)."""

    def __init__(self):
        super().__init__()
        self.late_bn = nn.BatchNorm2d(5)
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.gn = nn.GroupNorm(2, 4)
        self.ln = LayerNorm2d(4)
        self.inorm = nn.InstanceNorm2d(4, affine=True,
                                       track_running_stats=True)
        self.conv2 = nn.Conv2d(4, 5, 1)

    def forward(self, x):
        x = self.bn(self.conv1(x))
        x = self.inorm(self.ln(self.gn(torch.relu(x))))
        return self.late_bn(self.conv2(x))


def _tiny_setup():
    torch.manual_seed(0)
    model = Tiny().double()
    for bn in (model.bn, model.late_bn):  # hand-set running statistics
        bn.running_mean.copy_(torch.linspace(-1, 2, bn.num_features))
        bn.running_var.copy_(torch.linspace(0.5, 3, bn.num_features))
    # 11 images in batches of 4, 4, 3: exactness must not depend on batching
    data = torch.randn(11, 3, 7, 7, dtype=torch.float64) * 3 + 2
    batches = [(data[i:i + 4], torch.zeros(len(data[i:i + 4])))
               for i in range(0, 11, 4)]
    return model, data, batches


def test_esm_equals_direct_computation():
    model, data, batches = _tiny_setup()
    records = compute_estimation_shift(model, batches)

    with torch.no_grad():
        model.eval()
        x_bn = model.conv1(data)
        h = model.inorm(model.ln(model.gn(torch.relu(model.bn(x_bn)))))
        x_late = model.conv2(h)
    for rec, bn, x in ((records[0], model.bn, x_bn),
                       (records[1], model.late_bn, x_late)):
        mu = x.mean(dim=(0, 2, 3))
        var = ((x - mu[None, :, None, None])**2).mean(dim=(0, 2, 3))
        esm_mean = torch.sqrt(((bn.running_mean - mu)**2).sum()).item()
        esm_var = torch.sqrt(((bn.running_var - var)**2).sum()).item()
        assert rec.esm_mean == pytest.approx(esm_mean, abs=1e-6)
        assert rec.esm_var == pytest.approx(esm_var, abs=1e-6)
        assert rec.channels == bn.num_features
        assert rec.esm_mean_per_channel == pytest.approx(
            esm_mean / bn.num_features, abs=1e-6)
        assert rec.esm_var_per_channel == pytest.approx(
            esm_var / bn.num_features, abs=1e-6)
    # the model's modes are restored, its running statistics untouched
    model.train()
    assert model.bn.running_mean[0].item() == -1.0


def test_forward_order_and_only_batch_norms_reported():
    model, _, batches = _tiny_setup()
    records = compute_estimation_shift(model, batches)
    assert [r.name for r in records] == ['bn', 'late_bn']
    assert [r.depth for r in records] == [0, 1]
    # bn, gn, ln, inorm, late_bn: the BFNs count for the shared depth axis
    assert [r.norm_depth for r in records] == [0, 4]
    assert not is_batch_norm(model.gn) and not is_batch_norm(model.ln)
    assert not is_batch_norm(model.inorm)  # even with running stats
    assert is_batch_norm(nn.SyncBatchNorm(4))


def test_running_moments_merge_is_exact():
    torch.manual_seed(1)
    x = torch.randn(37, 6, 3, 2, dtype=torch.float64) * 100 + 1e4
    whole = RunningMoments(6)
    whole.update(x)
    parts = [RunningMoments(6) for _ in range(3)]
    for part, chunk in zip(parts, (x[:1], x[1:20], x[20:])):
        part.update(chunk)
    merged = RunningMoments(6)
    for part in parts:  # what BNInputStats.all_reduce does across ranks
        merged.merge(part.count, part.mean, part.m2)
    ref_mean = x.mean(dim=(0, 2, 3))
    ref_var = x.var(dim=(0, 2, 3), unbiased=False)
    for m in (whole, merged):
        assert m.count == 37 * 3 * 2
        torch.testing.assert_close(m.mean, ref_mean, rtol=0, atol=1e-9)
        torch.testing.assert_close(m.var, ref_var, rtol=1e-12, atol=1e-9)
    flat = torch.randn(9, 6, dtype=torch.float64)  # BatchNorm1d input (N, C)
    m = RunningMoments(6)
    m.update(flat)
    torch.testing.assert_close(m.var, flat.var(dim=0, unbiased=False))


def test_frozen_flags_follow_requires_grad_and_norm_eval():
    from mmdet.models.backbones import ResNet
    net = ResNet(depth=18, norm_eval=True, frozen_stages=-1,
                 norm_cfg=dict(type='BN', requires_grad=True))
    net.train()  # applies norm_eval
    records = compute_estimation_shift(net, [torch.randn(2, 3, 32, 32)])
    assert all(r.frozen for r in records)  # norm_eval keeps BNs in eval
    # modes restored: the model trains, its BNs stay in eval
    assert net.training and net.layer1.training
    assert all(not m.training for m in net.modules() if is_batch_norm(m))
    net = ResNet(depth=18, norm_eval=False, frozen_stages=1,
                 norm_cfg=dict(type='BN', requires_grad=True))
    records = compute_estimation_shift(net, [torch.randn(2, 3, 32, 32)])
    frozen = {r.name: r.frozen for r in records}
    assert frozen['bn1'] and frozen['layer1.0.bn1']  # frozen stem, stage 1
    assert not frozen['layer2.0.bn1']
    assert records[0].name == 'bn1' and records[-1].name == 'layer4.1.bn2'


def test_model_without_batch_norm_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GroupNorm(2, 4),
                          LayerNorm2d(4), nn.InstanceNorm2d(4))
    with pytest.raises(ValueError, match='Sequential has no BatchNorm'):
        compute_estimation_shift(model, [torch.randn(1, 3, 5, 5)])
    with pytest.raises(ValueError, match='no BatchNorm'):
        BNInputStats(model)


def test_empty_loader_is_refused():
    model, _, _ = _tiny_setup()
    with pytest.raises(ValueError, match='yielded no sample'):
        compute_estimation_shift(model, [])


def test_record_round_trip(tmp_path):
    from xbn_mmdet.analysis import (plot_esm_vs_depth, read_records_json,
                                    write_records_json)
    recs = [ESMRecord('a', 0, 0, 4, True, 1.0, 2.0, 0.25, 0.5)]
    write_records_json(str(tmp_path / 'r.json'), {'m': recs})
    assert read_records_json(str(tmp_path / 'r.json')) == {'m': recs}
    plot_esm_vs_depth({'m': recs}, str(tmp_path / 'p.png'))
    assert (tmp_path / 'p.png').stat().st_size > 0


# ---------------------------------------------------------------------------
# hook and tool on the synthetic demo set with a small XBN detector
# ---------------------------------------------------------------------------
# The demo config (half-width XBN-ResNet-18 Mask R-CNN) on 4 train and 3 val
# images: one epoch of 2 iterations, no validation, the hook every iteration
# on the first 2 val images.
OVERRIDES = """
train_cfg = dict(max_epochs=1, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=0.1, by_epoch=False)]
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
custom_hooks = [dict(type='EstimationShiftHook', interval=1, by_epoch=False,
                     num_images=2)]
"""


def run(args, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """Train with the hook; returns (config, work_dir)."""
    tmp = tmp_path_factory.mktemp('esm')
    root = tmp / 'data'
    generate_synthetic_coco(root, num_train=4, num_val=3)
    config = tmp / 'tiny_xbn.py'
    config.write_text(demo_config_on(root, OVERRIDES))
    work = tmp / 'work'
    proc = run(['tools/train.py', config, '--work-dir', work])
    assert proc.returncode == 0, proc.stdout[-5000:]
    return config, work


@pytest.mark.slow
def test_hook_writes_curves_through_visualizer(tiny_run):
    _, work = tiny_run
    (log_dir, ) = [p for p in work.iterdir() if p.is_dir()]
    history = json.loads((log_dir / 'esm' / 'esm_history.json').read_text())
    assert [h['step'] for h in history] == [0, 1, 2]
    names = [r['name'] for r in history[-1]['records']]
    assert names[0] == 'backbone.layer1.0.bn2'  # stem bn1, bn1s are GN
    assert all('downsample' in n or n.endswith('.bn2') for n in names)
    scalars = [
        json.loads(line)
        for line in (log_dir / 'vis_data' / 'scalars.json').read_text()
        .splitlines()
    ]
    esm = [s for s in scalars if 'esm_mean/backbone.layer1.0.bn2' in s]
    assert [s['step'] for s in esm] == [0, 1, 2]
    assert all(f'esm_var/{n}' in esm[-1] for n in names)
    for png in ('esm_over_training.png', 'esm_vs_depth.png'):
        assert (log_dir / 'esm' / png).stat().st_size > 0


@pytest.fixture(scope='module')
def bn_twin(tiny_run, tmp_path_factory):
    """The plain-BN twin of the tiny detector (bfn_cfg=None) and a
    checkpoint of it (as built, no training)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet.registry import MODELS
    config, _ = tiny_run
    tmp = tmp_path_factory.mktemp('twin')
    twin = tmp / 'tiny_bn.py'
    twin.write_text(f"_base_ = {str(config)!r}\n"
                    "model = dict(backbone=dict(bfn_cfg=None))\n")
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(twin)).model)
    ckpt = tmp / 'bn.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    return twin, ckpt


@pytest.mark.slow
def test_tool_compares_xbn_with_bn_twin(tiny_run, bn_twin, tmp_path):
    config, work = tiny_run
    twin, twin_ckpt = bn_twin
    out = tmp_path / 'out'
    proc = run([TOOL, config, work / 'epoch_1.pth', '--max-images', '2',
                '--out', out, '--compare', twin, twin_ckpt])
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert '2/2' in proc.stdout  # mmengine's progress bar
    with open(out / 'esm.csv') as f:
        rows = list(csv.DictReader(f))
    by_model = {}
    for row in rows:
        by_model.setdefault(row['model'], []).append(row)
    assert set(by_model) == {'tiny_xbn', 'tiny_bn'}
    # ResNet-18: 20 BNs (stem, 16 in blocks, 3 shortcuts); XBN keeps 11
    assert len(by_model['tiny_bn']) == 20
    assert len(by_model['tiny_xbn']) == 11
    assert [int(r['depth']) for r in by_model['tiny_xbn']] == list(range(11))
    assert all(r['frozen'] == 'False' for r in rows)  # demo: trainable BN
    models = json.loads((out / 'esm.json').read_text())['models']
    assert [m['label'] for m in models] == ['tiny_xbn', 'tiny_bn']
    assert models[0]['split'] == 'val' and models[0]['max_images'] == 2
    assert (out / 'esm.png').stat().st_size > 0


@pytest.mark.slow
def test_tool_bad_inputs_fail_with_one_line(tiny_run, bn_twin, tmp_path,
                                            capsys):
    config, work = tiny_run
    twin, twin_ckpt = bn_twin

    # the BN twin's checkpoint for the XBN config
    proc = run([TOOL, config, twin_ckpt, '--out', tmp_path / 'a'])
    assert proc.returncode == 1 and 'Traceback' not in proc.stdout
    msg = proc.stdout.strip().splitlines()[-1]
    assert msg.startswith(f'error: checkpoint {twin_ckpt} does not match')
    assert 'backbone.bn1.running_mean' in msg  # the stem is GN in XBN

    # an empty split
    empty = tmp_path / 'empty.py'
    empty.write_text(
        f"_base_ = {str(config)!r}\n"
        "val_dataloader = dict(dataset=dict(ann_file='annotations/"
        "empty.json'))\n")
    root = _data_root(config)
    data = json.loads((root / 'annotations' / 'instances_val.json')
                      .read_text())
    data.update(images=[], annotations=[])
    (root / 'annotations' / 'empty.json').write_text(json.dumps(data))
    proc = run([TOOL, empty, work / 'epoch_1.pth', '--out', tmp_path / 'b'])
    assert proc.returncode == 1 and 'Traceback' not in proc.stdout
    assert "error: split 'val' has no images" in proc.stdout
    assert 'empty.json' in proc.stdout

    # a model without BN layers
    no_bn = tmp_path / 'no_bn.py'
    no_bn.write_text(
        f"_base_ = {str(config)!r}\n"
        "model = dict(backbone=dict(norm_cfg=dict(type='GN', num_groups=8,"
        " requires_grad=True)))\n")
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    model = MODELS.build(Config.fromfile(str(no_bn)).model)
    ckpt = tmp_path / 'gn.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    proc = run([TOOL, no_bn, ckpt, '--out', tmp_path / 'c'])
    assert proc.returncode == 1 and 'Traceback' not in proc.stdout
    assert 'MaskRCNN has no BatchNorm layer' in proc.stdout

    # bad option values are parser errors naming them (in process)
    tool = load_tool(TOOL)
    for argv, message in (
        ([config, work / 'epoch_1.pth', '--max-images', '0'],
         "'0' is not a positive integer"),
        ([config, work / 'epoch_1.pth', '--split', 'test'],
         "invalid choice: 'test'"),
        ([config, tmp_path / 'none.pth'],
         f"checkpoint file not found: {tmp_path / 'none.pth'}"),
        ([config, work / 'epoch_1.pth', '--compare', tmp_path / 'x.py',
          twin_ckpt], f"config file not found: {tmp_path / 'x.py'}"),
    ):
        with pytest.raises(SystemExit) as exc:
            tool.parse_args([str(a) for a in argv])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def load_tool(path):
    """A tool script as a module (its parser, without a subprocess)."""
    from tool_import import TOOLS, import_tool
    return import_tool(Path(path).resolve().relative_to(TOOLS).with_suffix(
        '').as_posix())


def _data_root(config):
    from mmengine.config import Config
    return Path(Config.fromfile(str(config)).data_root)


# ---------------------------------------------------------------------------
# tools/analysis/esm_experiment.py, tiny
# ---------------------------------------------------------------------------
def test_esm_experiment_smoke(tmp_path):
    pytest.importorskip('sklearn')
    out = tmp_path / 'exp'
    proc = run(['tools/analysis/esm_experiment.py', '--iters', '3',
                '--width', '4', '--blocks', '1', '--groups', '2',
                '--subset-sizes', '40', '--threads', '1', '--out', out],
               timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((out / 'results.json').read_text())
    runs = {r['setting']: r for r in results['runs']}
    assert set(runs) == {'full', 'subset-40'}
    assert runs['subset-40']['train_images'] == 40
    assert runs['full']['eval_images'] == 1797
    # ResNet with 3 stages of 1 block: stem, 2 per block, 2 shortcuts = 9
    # BNs; the XBN twin keeps each block's second norm and the shortcuts
    assert len(runs['full']['records']['BN']) == 9
    assert len(runs['full']['records']['XBN']) == 5
    assert 0 <= runs['full']['error']['XBN'] <= 1
    for png in ('esm_full.png', 'esm_subset-40.png'):
        assert (out / png).stat().st_size > 0


def test_esm_experiment_rejects_bad_arguments(capsys):
    tool = load_tool(REPO / 'tools' / 'analysis' / 'esm_experiment.py')
    for argv, message in ((['--subset-sizes', '5'],
                           '--subset-sizes 5 is not valid; use 10..1797'),
                          (['--subset-sizes', '20'], 'smaller than '
                           '--batch-size 32'),
                          (['--iters', '0'], "'0' is not a positive integer")):
        with pytest.raises(SystemExit) as exc:
            tool.parse_args(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_dataloader_cfg_of_a_split():
    from mmengine.config import Config

    from demo_config import DEMO_CONFIG
    from xbn_mmdet.analysis import esm_dataloader_cfg
    cfg = Config.fromfile(str(DEMO_CONFIG))
    loader = esm_dataloader_cfg(cfg, 'train', max_images=5)
    # train images, read in order with the val pipeline (no random flip)
    assert loader.dataset.ann_file == 'annotations/instances_train.json'
    assert loader.dataset.pipeline == cfg.val_dataloader.dataset.pipeline
    assert loader.dataset.indices == 5
    assert loader.sampler == dict(type='DefaultSampler', shuffle=False,
                                  round_up=False)
    assert cfg.train_dataloader.dataset.get('indices') is None  # a copy
    val = esm_dataloader_cfg(cfg, 'val')
    assert 'indices' not in val.dataset
    with pytest.raises(ValueError, match="split 'test' is not valid; use "
                       'one of val, train'):
        esm_dataloader_cfg(cfg, 'test')
    with pytest.raises(ValueError, match='max_images must be a positive '
                       'integer, got 0'):
        esm_dataloader_cfg(cfg, 'val', max_images=0)


def test_hook_rejects_bad_arguments():
    from mmdet.registry import HOOKS
    for kwargs, message in ((dict(interval=0), 'interval must be a positive '
                             'integer, got 0'),
                            (dict(split='test'), "split 'test' is not valid"),
                            (dict(num_images=0), 'num_images must be a '
                             'positive integer or None, got 0')):
        with pytest.raises(ValueError, match=message):
            HOOKS.build(dict(type='EstimationShiftHook', **kwargs))
