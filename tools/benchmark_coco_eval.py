#!/usr/bin/env python
"""Time mmdet's CocoMetric (pycocotools) against FastCocoMetric
(faster-coco-eval) on the same synthetic results, and check that every
AP/AR number agrees.

    python tools/benchmark_coco_eval.py [--images 5000] [--dets 200]
        [--classes 20] [--repeat 1] [--json OUT]

Both metrics get the same ground truth file and the same results (what
``CocoMetric.process`` hands to ``compute_metrics``); the time is
``compute_metrics`` end to end for bbox and segm: writing the result json,
loading it, matching, accumulating, summarising. ``process`` itself is
mmdet's in both and is not timed. The runs alternate (A, B, A, B...) when
``--repeat`` > 1 and the medians are compared.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile
import time
import warnings
from unittest import mock

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import faster_coco_eval  # noqa: E402
from mmdet.evaluation import CocoMetric  # noqa: E402
from mmdet.evaluation.metrics import coco_metric  # noqa: E402

from xbn_mmdet.evaluation import FastCocoMetric  # noqa: E402
from xbn_mmdet.evaluation.synthetic_results import \
    make_coco_eval_case  # noqa: E402
from xbn_mmdet.utils.tool_cli import positive_int  # noqa: E402

STAT_NAMES = ('AP', 'AP50', 'AP75', 'AP_s', 'AP_m', 'AP_l', 'AR@100',
              'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')


def recording(evaluator_cls, sink):
    """The evaluator class, keeping each summary's 12 raw stats (mmdet's
    metric returns them rounded to 3 decimals)."""

    class Recording(evaluator_cls):

        def summarize(self):
            super().summarize()
            sink.append([float(v) for v in self.stats])

    return Recording


def run(metric_cls, ann_file, classes, results):
    """One end-to-end evaluation: (seconds, returned metrics, raw stats of
    bbox and segm)."""
    stats = []
    if metric_cls is CocoMetric:
        patch = mock.patch.object(coco_metric, 'COCOeval',
                                  recording(coco_metric.COCOeval, stats))
    else:
        patch = mock.patch.object(
            faster_coco_eval, 'COCOeval_faster',
            recording(faster_coco_eval.COCOeval_faster, stats))
    # results2json decodes each RLE in place: give every run its own.
    fresh = [(gt, dict(pred, masks=[dict(m) for m in pred['masks']]))
             for gt, pred in results]
    with patch:
        metric = metric_cls(ann_file=ann_file, metric=['bbox', 'segm'])
        metric.dataset_meta = dict(classes=classes)
        start = time.perf_counter()
        values = metric.compute_metrics(fresh)
        seconds = time.perf_counter() - start
    return seconds, dict(values), stats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--images', type=positive_int, default=5000)
    parser.add_argument('--dets', type=positive_int, default=200,
                        help='detections per image (default 200)')
    parser.add_argument('--classes', type=positive_int, default=20)
    parser.add_argument('--repeat', type=positive_int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the measurements here')
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        ann_file, classes, results = make_coco_eval_case(
            tmp, args.images, args.dets, args.classes, seed=args.seed)
        print(f'synthetic case: {args.images} images, {args.dets} '
              f'detections each, {args.classes} classes '
              f'({time.perf_counter() - start:.1f} s to make)', flush=True)
        times = {CocoMetric: [], FastCocoMetric: []}
        outputs = {}
        for _ in range(args.repeat):
            for cls in (CocoMetric, FastCocoMetric):
                seconds, values, stats = run(cls, ann_file, classes, results)
                times[cls].append(seconds)
                outputs[cls] = (values, stats)
                print(f'{cls.__name__}: {seconds:.2f} s', flush=True)

    (ref_values, ref_stats), (fast_values, fast_stats) = \
        outputs[CocoMetric], outputs[FastCocoMetric]
    worst = max(abs(a - b) for ra, rb in zip(ref_stats, fast_stats)
                for a, b in zip(ra, rb))
    for iou_type, ra, rb in zip(('bbox', 'segm'), ref_stats, fast_stats):
        print(f'{iou_type}: ' + ', '.join(
            f'{n} {a:.4f}/{b:.4f}' for n, a, b in zip(STAT_NAMES, ra, rb)))
    slow, fast = (statistics.median(times[c])
                  for c in (CocoMetric, FastCocoMetric))
    agree = worst <= 1e-4 and ref_values == fast_values
    print(f'pycocotools {slow:.2f} s, faster-coco-eval {fast:.2f} s: '
          f'{slow / fast:.2f}x faster; largest difference of the 24 numbers '
          f'{worst:.2e} ({"agree" if agree else "DISAGREE"} within 1e-4)')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(vars(args), pycocotools_s=times[CocoMetric],
                           faster_coco_eval_s=times[FastCocoMetric],
                           speedup=slow / fast, max_abs_diff=worst,
                           pycocotools_stats=ref_stats,
                           faster_coco_eval_stats=fast_stats), f, indent=2)
    if not agree:
        raise SystemExit('error: the two evaluators disagree')


if __name__ == '__main__':
    main()
