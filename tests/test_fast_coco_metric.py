"""FastCocoMetric (faster-coco-eval) reports what mmdet's CocoMetric
(pycocotools) reports; tools/benchmark_coco_eval.py checks and times it."""
from pathlib import Path

import pytest
from mmdet.evaluation import CocoMetric
from mmdet.registry import METRICS

import xbn_mmdet  # noqa: F401
from xbn_mmdet.evaluation import FastCocoMetric
from xbn_mmdet.evaluation.synthetic_results import make_coco_eval_case

from tool_import import import_tool  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def import_benchmark():
    return import_tool('benchmark_coco_eval')


@pytest.fixture(scope='module')
def case(tmp_path_factory):
    return make_coco_eval_case(tmp_path_factory.mktemp('coco_eval'),
                               num_images=300, dets_per_image=40,
                               num_classes=8, image_size=(120, 160))


def test_same_numbers_as_pycocotools(case):
    bench = import_benchmark()
    ann_file, classes, results = case
    _, ref_values, ref_stats = bench.run(CocoMetric, *case)
    _, fast_values, fast_stats = bench.run(FastCocoMetric, *case)
    assert len(ref_stats) == len(fast_stats) == 2  # bbox, segm
    for ref, fast in zip(ref_stats, fast_stats):
        assert len(ref) == 12
        assert fast == pytest.approx(ref, abs=1e-6)
    assert fast_values == ref_values
    assert 0 < ref_values['bbox_mAP'] < 1 and 0 < ref_values['segm_mAP'] < 1


def test_classwise_table_and_outfile(case, tmp_path):
    ann_file, classes, results = case
    values = {}
    for cls in (CocoMetric, FastCocoMetric):
        metric = cls(ann_file=ann_file, metric='bbox', classwise=True,
                     outfile_prefix=str(tmp_path / cls.__name__))
        metric.dataset_meta = dict(classes=classes)
        values[cls] = metric.compute_metrics(results)
    assert values[CocoMetric] == values[FastCocoMetric]
    assert f'{classes[0]}_precision' in values[FastCocoMetric]
    assert (tmp_path / 'FastCocoMetric.bbox.json').read_text() == \
        (tmp_path / 'CocoMetric.bbox.json').read_text()


def test_registered_and_rejects_mp_eval(case):
    assert METRICS.get('FastCocoMetric') is FastCocoMetric
    with pytest.raises(ValueError, match='use_mp_eval=True is not supported'):
        FastCocoMetric(ann_file=case[0], use_mp_eval=True)


def test_benchmark_tool_runs_and_checks(tmp_path, capsys):
    bench = import_benchmark()
    out = tmp_path / 'bench.json'
    bench.main(['--images', '20', '--dets', '10', '--classes', '3',
                '--repeat', '2', '--json', str(out)])
    printed = capsys.readouterr().out
    assert 'agree within 1e-4' in printed and 'x faster' in printed
    assert out.is_file()
    with pytest.raises(SystemExit):
        bench.main(['--images', '0'])
