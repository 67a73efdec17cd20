"""tools/benchmark.py runs both models interleaved and reports ratios
(the numbers themselves belong in the README, not in assertions)."""
import json
import re
from pathlib import Path

import pytest
from tool_import import import_tool

REPO = Path(__file__).resolve().parents[1]
DEMO = str(REPO / 'configs' / 'demo' / 'mask_rcnn_r18_xbn_synthetic.py')


@pytest.fixture(scope='module')
def benchmark():
    return import_tool('benchmark')


def test_xbn_against_its_bn_twin(benchmark, tmp_path, capsys):
    out = tmp_path / 'bench.json'
    ratios = benchmark.main([DEMO, '--input', '64x96', '--batch', '1',
                             '--iters', '2', '--warmup', '0', '--device',
                             'cpu', '--json', str(out)])
    printed = capsys.readouterr().out
    assert 'B = BN twin (bfn_cfg=None)' in printed
    for label in ('train step', 'inference', 'inference, BN folded',
                  'train peak memory'):
        assert label in printed
    result = json.loads(out.read_text())
    assert set(result['ratios']) >= {'train', 'infer', 'infer_fused'}
    assert all(r > 0 for r in ratios.values())
    for phase in ('train', 'infer', 'infer_fused'):
        assert len(result['samples'][result['a']][phase]) == 2
    # The XBN backbone has fewer BatchNorms to fold than its twin.
    folded = [int(n) for n in
              printed.split('BatchNorms folded: A ')[1].replace(
                  'B ', '').split(',')]
    assert 0 < folded[0] < folded[1]


def test_backbone_part_and_profile(benchmark, capsys):
    ratios = benchmark.main([DEMO, '--part', 'backbone', '--input', '64x64',
                             '--batch', '1', '--iters', '1', '--warmup', '0',
                             '--device', 'cpu', '--profile'])
    printed = capsys.readouterr().out
    assert 'cpu, backbone, batch 1 of 64x64' in printed
    assert set(ratios) >= {'train', 'infer', 'infer_fused'}
    assert re.search(r'infer_fused: top operators .*GroupNorm \d+\.\d%',
                     printed)


def test_equal_head_load_overrides(benchmark):
    from mmengine.config import Config
    cfg = benchmark.equalize_head_load(Config.fromfile(DEMO))
    assert cfg.model.train_cfg.rpn_proposal.nms.iou_threshold == 1.0
    assert cfg.model.test_cfg.rpn.nms.iou_threshold == 1.0
    assert cfg.model.test_cfg.rcnn.score_thr == 0.0


@pytest.mark.parametrize('argv,words', [
    ([DEMO, '--input', '16x16'], "'16x16' is not HxW with both at least 32"),
    ([DEMO, '--iters', '0'], "'0' is not a positive integer"),
    (['nope.py'], 'config file not found: nope.py'),
    ([DEMO, '--cfg-options', 'model.backbone.type=ResNet',
      'model.backbone.bfn_cfg=None'], 'has no XBN backbone'),
])
def test_bad_input(benchmark, argv, words, capsys):
    with pytest.raises(SystemExit) as exc:
        benchmark.main(argv)
    assert words in capsys.readouterr().err + str(exc.value.code)
