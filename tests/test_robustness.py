"""Tests for tools/test_robustness.py and xbn_mmdet.robustness: corrupted
test sets, mPC/rPC, resuming, test-time BatchNorm statistics.

The end-to-end tests use the tiny Mask R-CNN and four-image COCO set of
tests/test_tools.py, trained for six epochs (12 iterations) so that its AP
is not zero.
"""
import csv
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from test_tools import (REPO_ROOT, TEST, TRAIN, check_ok, free_port,
                        make_synthetic_coco, run_tool, write_config)
from tool_import import import_tool

ROBUSTNESS = str(REPO_ROOT / 'tools' / 'test_robustness.py')
DIST_LAUNCH = str(REPO_ROOT / 'tools' / 'dist_launch.sh')
EPOCHS = 6


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def config_file(tmp_path_factory):
    root = make_synthetic_coco(tmp_path_factory.mktemp('coco'))
    return write_config(
        tmp_path_factory.mktemp('cfg') / 'tiny_mask_rcnn.py', root)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, config_file):
    """The work dir of a six-epoch run (epoch_5.pth and epoch_6.pth); seeded,
    since unseeded runs this short sometimes end with AP 0."""
    work_dir = tmp_path_factory.mktemp('train')
    check_ok(
        run_tool([
            sys.executable, TRAIN,
            str(config_file), '--work-dir',
            str(work_dir), '--cfg-options', f'train_cfg.max_epochs={EPOCHS}',
            f'param_scheduler.0.end={EPOCHS}',
            f'param_scheduler.0.milestones=[{EPOCHS - 1}]',
            'optim_wrapper.optimizer.lr=0.02', 'randomness.seed=0'
        ]))
    return work_dir


@pytest.fixture(scope='module')
def sweep(tmp_path_factory, trained, config_file):
    """A 2 corruptions x 2 severities sweep (plus the clean cell), run in
    two goes: first one corruption at one severity, then the whole sweep
    on the same --out, which must resume."""
    out = tmp_path_factory.mktemp('sweep')
    ckpt = str(trained / f'epoch_{EPOCHS}.pth')
    base = [sys.executable, ROBUSTNESS, str(config_file), ckpt, '--out',
            str(out)]
    first = check_ok(
        run_tool(base +
                 ['--corruptions', 'gaussian_noise', '--severities', '0',
                  '1']))
    second = check_ok(
        run_tool(base + [
            '--corruptions', 'gaussian_noise', 'fog', '--severities', '0',
            '1', '3'
        ]))
    return dict(out=out, ckpt=ckpt, first=first.output, second=second.output)


def _read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def _cell_lines(output, what):
    return re.findall(rf'^\[robustness\] .* cell \d+/\d+ (\S+): {what}',
                      output, re.M)


# --------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_sweep_runs_and_resumes_without_recomputing(sweep):
    assert _cell_lines(sweep['first'], 'evaluating') == [
        'clean/0', 'gaussian_noise/1'
    ]
    # the second run skips the two finished cells, evaluates the rest
    assert _cell_lines(sweep['second'], r'already in') == [
        'clean/0', 'gaussian_noise/1'
    ]
    assert _cell_lines(sweep['second'], 'evaluating') == [
        'gaussian_noise/3', 'fog/1', 'fog/3'
    ]
    cells = json.loads((sweep['out'] / 'cells.json').read_text())
    model = cells['models']['tiny_mask_rcnn']
    assert sorted(model['cells']) == [
        'clean/0', 'fog/1', 'fog/3', 'gaussian_noise/1', 'gaussian_noise/3'
    ]
    for cell in model['cells'].values():
        assert {'coco/bbox_mAP', 'coco/segm_mAP'} <= set(cell['metrics'])
    for name in ('results.json', 'results.csv', 'summary.csv',
                 'robustness_bbox.png', 'robustness_segm.png'):
        assert (sweep['out'] / name).stat().st_size > 0
    assert not list(sweep['out'].glob('.cells-*'))  # no temporary left


@pytest.mark.slow
def test_clean_cell_equals_test_py(sweep, config_file, tmp_path):
    proc = check_ok(
        run_tool([
            sys.executable, TEST,
            str(config_file), sweep['ckpt'], '--work-dir',
            str(tmp_path)
        ]))
    cells = json.loads((sweep['out'] / 'cells.json').read_text())
    clean = cells['models']['tiny_mask_rcnn']['cells']['clean/0']['metrics']
    for key in ('coco/bbox_mAP', 'coco/segm_mAP', 'coco/bbox_mAP_50'):
        logged = float(re.search(rf'{key}: ([-0-9.]+)', proc.output)[1])
        assert clean[key] == logged, key
    assert clean['coco/bbox_mAP'] > 0  # a real check, not 0 == 0


@pytest.mark.slow
def test_mpc_rpc_follow_their_definitions(sweep):
    rows = _read_csv(sweep['out'] / 'results.csv')
    summary = {r['task']: r for r in _read_csv(sweep['out'] / 'summary.csv')}
    assert set(summary) == {'bbox', 'segm'}
    for task in ('bbox', 'segm'):
        table = {(r['corruption'], int(r['severity'])): float(r['AP'])
                 for r in rows if r['task'] == task}
        assert sorted(table) == [('clean', 0), ('fog', 1), ('fog', 3),
                                 ('gaussian_noise', 1),
                                 ('gaussian_noise', 3)]
        corrupted = [v for (c, s), v in table.items() if s > 0]
        mpc = sum(corrupted) / 4
        clean = table[('clean', 0)]
        assert float(summary[task]['P_clean']) == clean
        assert float(summary[task]['mPC']) == pytest.approx(mpc, abs=1e-12)
        assert float(summary[task]['rPC']) == pytest.approx(
            mpc / clean, abs=1e-12)
        assert int(summary[task]['cells']) == 4
    results = json.loads((sweep['out'] / 'results.json').read_text())
    bbox = results['models']['tiny_mask_rcnn']['tasks']['bbox']
    assert bbox['mPC'] == pytest.approx(float(summary['bbox']['mPC']))
    # the heat-map table: severity 0 is the clean AP in every row
    assert bbox['table']['fog']['0'] == bbox['clean']


@pytest.mark.slow
def test_resume_refuses_another_checkpoint(sweep, trained, config_file):
    proc = run_tool([
        sys.executable, ROBUSTNESS,
        str(config_file),
        str(trained / f'epoch_{EPOCHS - 1}.pth'), '--out',
        str(sweep['out']), '--corruptions', 'fog', '--severities', '1'
    ])
    assert proc.returncode != 0
    assert 'Traceback' not in proc.output
    line = [x for x in proc.output.splitlines() if x.startswith('error:')]
    assert len(line) == 1 and 'checkpoint_sha256' in line[0]
    assert 'use another --out' in line[0]


@pytest.mark.slow
def test_compare_with_adapted_bn_stats(trained, config_file, tmp_path):
    """--compare draws two models; --bn-stats adapt re-estimates the BN
    statistics on the test images (the configs freeze BN: norm_eval)."""
    out = tmp_path / 'cmp'
    proc = check_ok(
        run_tool([
            sys.executable, ROBUSTNESS,
            str(config_file),
            str(trained / f'epoch_{EPOCHS}.pth'), '--compare',
            str(config_file),
            str(trained / f'epoch_{EPOCHS - 1}.pth'), '--corruptions',
            'fog', '--severities', '0', '2', '--bn-stats', 'adapt', '--out',
            str(out)
        ]))
    assert 're-estimating the statistics of' in proc.output
    summary = _read_csv(out / 'summary.csv')
    assert {r['model'] for r in summary} == {
        f'tiny_mask_rcnn@epoch_{EPOCHS}', f'tiny_mask_rcnn@epoch_{EPOCHS - 1}'
    }
    assert {r['bn_stats'] for r in summary} == {'adapt'}
    assert (out / 'robustness_bbox.png').stat().st_size > 0


@pytest.mark.slow
def test_two_processes_give_the_single_process_numbers(sweep, config_file,
                                                       tmp_path):
    """--launcher pytorch on CPU (gloo): the per-image corruption seeds make
    the cells independent of the number of processes; every rank skips the
    finished cells; rank 0 writes."""
    out = tmp_path / 'dist'
    out.mkdir()
    text = (sweep['out'] / 'cells.json').read_text()
    single, started = json.loads(text), json.loads(text)
    cells = started['models']['tiny_mask_rcnn']['cells']
    for key in list(cells):
        if key != 'clean/0':
            del cells[key]
    (out / 'cells.json').write_text(json.dumps(started))
    proc = check_ok(
        run_tool(
            ['bash', DIST_LAUNCH, 'test_robustness.py', '2',
             str(config_file), sweep['ckpt'], '--corruptions',
             'gaussian_noise', '--severities', '0', '3', '--out',
             str(out)],
            env=dict(PYTHON=sys.executable, PORT=str(free_port()),
                     OMP_NUM_THREADS='1')))
    assert _cell_lines(proc.output, 'already in') == ['clean/0']
    assert _cell_lines(proc.output, 'evaluating') == ['gaussian_noise/3']
    dist = json.loads((out / 'cells.json').read_text())
    for key in ('clean/0', 'gaussian_noise/3'):
        assert (dist['models']['tiny_mask_rcnn']['cells'][key]['metrics'] ==
                single['models']['tiny_mask_rcnn']['cells'][key]['metrics'])


# --------------------------------------------------------------------------
# command-line errors (in process, nothing built)
# --------------------------------------------------------------------------
@pytest.mark.parametrize('args, message', [
    (['--corruptions', 'fog', 'fogg'],
     "error: unknown corruption 'fogg'; valid groups: benchmark, all, "),
    (['--severities', '0', '6'],
     "error: argument --severities: invalid severity '6'; valid: integers "
     '0..5 (0 = clean)'),
    (['--severities', 'x'], "invalid severity 'x'"),
    (['--bn-stats', 'batch'], "invalid choice: 'batch'"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path, capsys):
    config = write_config(tmp_path / 'c.py', tmp_path)
    ckpt = tmp_path / 'c.pth'
    torch.save({'state_dict': {}}, ckpt)
    tool = import_tool('test_robustness')
    with pytest.raises(SystemExit) as exc:
        tool.parse_args([str(config), str(ckpt)] + args)
    assert exc.value.code == 2
    errors = [x for x in capsys.readouterr().err.splitlines()
              if 'error:' in x]
    assert len(errors) == 1 and message in errors[0], errors
    if 'fogg' in message:
        assert 'gaussian_noise' in errors[0] and 'saturate' in errors[0]


# --------------------------------------------------------------------------
# xbn_mmdet.robustness (in process)
# --------------------------------------------------------------------------
def test_resolve_corruptions_groups_and_order():
    from xbn_mmdet.robustness import (ALL_CORRUPTIONS, BENCHMARK_CORRUPTIONS,
                                      resolve_corruptions)
    assert len(BENCHMARK_CORRUPTIONS) == 15 and len(ALL_CORRUPTIONS) == 19
    assert resolve_corruptions(['benchmark']) == list(BENCHMARK_CORRUPTIONS)
    assert resolve_corruptions(['fog', 'weather', 'noise']) == [
        'fog', 'snow', 'frost', 'brightness', 'gaussian_noise', 'shot_noise',
        'impulse_noise'
    ]
    assert resolve_corruptions(['extra']) == [
        'speckle_noise', 'gaussian_blur', 'spatter', 'saturate'
    ]


def test_every_corruption_runs_on_the_pinned_stack():
    from xbn_mmdet.robustness import ALL_CORRUPTIONS, probe_corruptions
    usable, broken = probe_corruptions(ALL_CORRUPTIONS)
    assert broken == {}
    assert usable == list(ALL_CORRUPTIONS)


def test_broken_corruption_is_reported_not_raised(monkeypatch):
    """As imagecorruptions 1.1.2's fog does under numpy 2."""
    import imagecorruptions

    from xbn_mmdet.robustness import probe_corruptions

    def fog(x, severity=1):
        raise AttributeError('`np.float_` was removed in the NumPy 2.0 '
                             'release')

    monkeypatch.setitem(imagecorruptions.corruption_dict, 'fog', fog)
    usable, broken = probe_corruptions(['fog', 'snow'])
    assert usable == ['snow']
    assert broken == {
        'fog': 'AttributeError: `np.float_` was removed in the NumPy 2.0 '
        'release'
    }


@pytest.mark.parametrize('name', ['gaussian_noise', 'impulse_noise',
                                  'glass_blur', 'frost'])
def test_seeded_corrupt_is_reproducible_per_image(name):
    from xbn_mmdet.robustness import SeededCorrupt
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3),
                                              dtype=np.uint8)

    def run(path, seed=0):
        results = dict(img=image.copy(), img_path=path)
        return SeededCorrupt(name, severity=2, seed=seed)(results)['img']

    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = run('/data/a.jpg')
    assert np.array_equal(np.random.get_state()[1], before)  # restored
    assert np.array_equal(a, run('/elsewhere/a.jpg'))  # by file name
    assert not np.array_equal(a, image)
    if name != 'frost':  # frost may pick the same frost picture
        assert not np.array_equal(a, run('/data/b.jpg'))
        assert not np.array_equal(a, run('/data/a.jpg', seed=1))


def test_corruption_goes_right_after_image_loading():
    from xbn_mmdet.robustness import PipelineError, corrupted_dataloader_cfg
    pipeline = [dict(type='mmdet.LoadAnnotations'),
                dict(type='LoadImageFromFile'),
                dict(type='Resize', scale=(64, 64))]
    loader = dict(dataset=dict(type='ClassBalancedDataset',
                               dataset=dict(pipeline=pipeline)))
    out = corrupted_dataloader_cfg(loader, 'fog', 2, seed=5)
    types = [s['type'] for s in out['dataset']['dataset']['pipeline']]
    assert types == ['mmdet.LoadAnnotations', 'LoadImageFromFile',
                     'SeededCorrupt', 'Resize']
    assert out['dataset']['dataset']['pipeline'][2] == dict(
        type='SeededCorrupt', corruption='fog', severity=2, seed=5)
    assert len(pipeline) == 3  # the input is not changed
    assert corrupted_dataloader_cfg(loader, 'fog', 0) == loader
    with pytest.raises(PipelineError, match='no image loading step'):
        corrupted_dataloader_cfg(
            dict(dataset=dict(pipeline=pipeline[2:])), 'fog', 1)


def test_summary_by_hand():
    from xbn_mmdet.robustness import summarize_model

    def cell(c, s, box, mask=None):
        metrics = {'coco/bbox_mAP': box}
        if mask is not None:
            metrics['coco/segm_mAP'] = mask
        return dict(corruption=c, severity=s, metrics=metrics)

    cells = {
        'clean/0': cell('clean', 0, 0.5, 0.4),
        'fog/1': cell('fog', 1, 0.4, 0.3),
        'fog/5': cell('fog', 5, 0.2, 0.1),
        'snow/1': cell('snow', 1, 0.3, 0.2),
        # snow/5 not evaluated (yet): left out of mPC
        # nothing detected: mmdet's CocoMetric returns no metrics -> AP 0
        'snow/3': dict(corruption='snow', severity=3, metrics={}),
    }
    s = summarize_model(cells, ['fog', 'snow'], [0, 1, 5])
    assert s['bbox']['clean'] == 0.5
    assert s['bbox']['mPC'] == pytest.approx((0.4 + 0.2 + 0.3) / 3)
    assert s['bbox']['rPC'] == pytest.approx(0.3 / 0.5)
    assert s['bbox']['per_corruption'] == pytest.approx(
        dict(fog=0.3, snow=0.3))
    assert s['bbox']['table']['snow'] == {0: 0.5, 1: 0.3}
    assert s['segm']['mPC'] == pytest.approx(0.2)
    assert s['bbox']['cells_used'] == 3
    s = summarize_model(cells, ['fog', 'snow'], [0, 1, 3, 5])
    assert s['bbox']['table']['snow'] == {0: 0.5, 1: 0.3, 3: 0.0}
    assert s['bbox']['mPC'] == pytest.approx((0.4 + 0.2 + 0.3 + 0) / 4)
    assert s['segm']['per_corruption']['snow'] == pytest.approx(0.1)
    # a box-only model does not grow a mask task from an empty cell
    boxes = {k: dict(c, metrics={m: v for m, v in c['metrics'].items()
                                 if 'bbox' in m}) for k, c in cells.items()}
    assert set(summarize_model(boxes, ['snow'], [0, 3])) == {'bbox'}
    # without the clean cell rPC is undefined, not a guess
    no_clean = summarize_model(cells, ['fog'], [1, 5])
    assert no_clean['bbox']['clean'] is None
    assert no_clean['bbox']['rPC'] is None
    assert no_clean['bbox']['mPC'] == pytest.approx(0.3)


def test_results_store_resume_and_mismatch(tmp_path):
    from xbn_mmdet.robustness import ResultsStore, ResumeMismatchError
    ident = dict(config='a.py', checkpoint='a.pth',
                 fingerprint=dict(config_sha256='c', checkpoint_sha256='k',
                                  bn_stats='running', corruption_seed=0))
    store = ResultsStore(str(tmp_path))
    assert store.begin_model('a', ident) == {}
    store.record('a', 'fog', 2, {'coco/bbox_mAP': 0.25}, 1.0)
    store.record('a', 'fog', 0, {'coco/bbox_mAP': 0.5}, 1.0)
    again = ResultsStore(str(tmp_path))
    assert sorted(again.begin_model('a', ident)) == ['clean/0', 'fog/2']
    other = dict(ident, fingerprint=dict(ident['fingerprint'],
                                         bn_stats='adapt'))
    with pytest.raises(ResumeMismatchError) as exc:
        ResultsStore(str(tmp_path)).begin_model('a', other)
    assert "bn_stats: 'running' in the file, 'adapt' now" in str(exc.value)
    assert [p.name for p in Path(tmp_path).iterdir()] == ['cells.json']


class _TinyDetector(torch.nn.Module):
    """conv -> BN -> GN, frozen like our detector configs' backbones
    (BN in eval mode, no grad), with a ``test_step``."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 1, bias=False)
        self.bn = torch.nn.BatchNorm2d(4)
        self.gn = torch.nn.GroupNorm(2, 4)
        for p in self.bn.parameters():
            p.requires_grad = False

    def test_step(self, data):
        return self.gn(self.bn(self.conv(data)))


def test_adapted_bn_stats_are_the_test_set_statistics():
    from xbn_mmdet.robustness import estimate_bn_stats
    from xbn_mmdet.robustness.bn_stats import AdaptBNStatsHook
    torch.manual_seed(0)
    model = _TinyDetector().eval()
    model.bn.running_mean.fill_(3.0)
    params = {k: v.clone() for k, v in model.state_dict().items()
              if 'running' not in k and 'num_batches' not in k}
    batches = [torch.randn(2, 3, 5, 5) * 2 + 1 for _ in range(3)]

    class Runner:
        pass

    runner = Runner()
    runner.model = model
    runner.test_loop = Runner()
    runner.test_loop.dataloader = batches
    hook = AdaptBNStatsHook()
    hook.before_test_epoch(runner)
    with torch.no_grad():
        feats = [model.conv(b) for b in batches]
    expect_mean = torch.stack([f.mean((0, 2, 3)) for f in feats]).mean(0)
    expect_var = torch.stack([f.var((0, 2, 3), unbiased=True)
                              for f in feats]).mean(0)
    assert torch.allclose(model.bn.running_mean, expect_mean, atol=1e-5)
    assert torch.allclose(model.bn.running_var, expect_var, atol=1e-5)
    assert not model.bn.training and model.bn.momentum == 0.1
    for k, v in model.state_dict().items():
        if k in params:
            assert torch.equal(v, params[k]), k  # no parameter changed
    hook.after_test_epoch(runner)
    assert torch.all(model.bn.running_mean == 3.0)  # checkpoint's back
    assert estimate_bn_stats(torch.nn.GroupNorm(2, 4), []) == 0
