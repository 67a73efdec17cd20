"""COCO box/mask AP with faster-coco-eval: mmdet's ``CocoMetric`` with the
evaluation done in C++.

mmdet's ``CocoMetric`` reads the ``COCO`` and ``COCOeval`` classes and the
``dump``/``load`` functions from its module's namespace. ``FastCocoMetric``
points those names, for the duration of its own calls, at faster-coco-eval's
drop-in classes (same API, same algorithm, C++ ``evaluate``/``accumulate``)
and at JSON helpers: the result files are written with the C encoder
(mmengine's ``dump`` goes through ``json.dump``, which encodes in pure
Python and was over half of the remaining time) when ``outfile_prefix``
asks for them, not at all when mmdet would only put them in a temporary
directory, and reading them back returns the objects instead of decoding
the file again. Every other part of mmdet's metric (category and image
ids, proposal numbers, ``classwise`` tables, ``format_only``, metric names
such as ``coco/bbox_mAP``) is mmdet's unchanged. Switch a config with one
line::

    val_evaluator = dict(type='FastCocoMetric', ...)   # was 'CocoMetric'
"""
import contextlib
import gc
import json
from unittest import mock

from mmengine.fileio import dump as mmengine_dump
from mmengine.fileio import load as mmengine_load
from mmengine.fileio.handlers.json_handler import set_default
from mmdet.evaluation.metrics import CocoMetric
from mmdet.evaluation.metrics import coco_metric as mmdet_coco_metric
from mmdet.registry import METRICS

__all__ = ['FastCocoMetric']


class _JsonRoundTrip:
    # ``write=False``: the metric has no ``outfile_prefix``, so mmdet writes
    # into a temporary directory it deletes afterwards; the files are then
    # kept in memory only.
    """``dump``/``load`` for mmdet's metric module. A local ``.json`` file is
    written with ``json.dumps`` (C encoder, same text), and the first
    ``load`` of that file returns the object that was written instead of
    decoding the file (mmdet's result lists hold only lists, dicts, strings
    and numbers, which read back equal). Anything else goes to mmengine."""

    def __init__(self, write=True):
        self.write = write
        self.written = {}

    def dump(self, obj, file=None, file_format=None, **kwargs):
        if isinstance(file, str) and file.endswith('.json') and \
                '://' not in file and file_format is None and not kwargs:
            if self.write:
                with open(file, 'w') as f:
                    f.write(json.dumps(obj, default=set_default))
            self.written[file] = obj
            return None
        return mmengine_dump(obj, file, file_format, **kwargs)

    def load(self, file, file_format=None, **kwargs):
        if file in self.written and file_format is None and not kwargs:
            return self.written.pop(file)
        return mmengine_load(file, file_format, **kwargs)


@contextlib.contextmanager
def _faster_coco_eval_classes(write_results=True):
    try:
        from faster_coco_eval import COCO, COCOeval_faster
    except ImportError as exc:  # pragma: no cover - installed by setup.py
        raise ImportError(
            'FastCocoMetric needs the faster-coco-eval package: '
            'pip install faster-coco-eval') from exc
    json_io = _JsonRoundTrip(write=write_results)
    with mock.patch.object(mmdet_coco_metric, 'COCO', COCO), \
            mock.patch.object(mmdet_coco_metric, 'COCOeval',
                              COCOeval_faster), \
            mock.patch.object(mmdet_coco_metric, 'dump', json_io.dump), \
            mock.patch.object(mmdet_coco_metric, 'load', json_io.load):
        yield


@METRICS.register_module()
class FastCocoMetric(CocoMetric):
    """:class:`mmdet.evaluation.CocoMetric` evaluated by faster-coco-eval.

    Takes exactly ``CocoMetric``'s arguments and reports the same numbers
    (``tools/benchmark_coco_eval.py`` checks all of them and times both).
    ``use_mp_eval`` is not needed and not supported.
    """

    def __init__(self, *args, **kwargs) -> None:
        if kwargs.get('use_mp_eval', False):
            raise ValueError('FastCocoMetric: use_mp_eval=True is not '
                             'supported (faster-coco-eval is fast on one '
                             'process); drop it or use CocoMetric')
        with _faster_coco_eval_classes():
            super().__init__(*args, **kwargs)

    def compute_metrics(self, results: list) -> dict:
        # Over a million result dicts stay alive here; the cyclic garbage
        # collector would re-scan them again and again for cycles they do
        # not have.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            with _faster_coco_eval_classes(
                    write_results=self.outfile_prefix is not None):
                return super().compute_metrics(results)
        finally:
            if was_enabled:
                gc.enable()
