#!/usr/bin/env python
"""What does XBN cost? Time and memory of two detectors side by side.

    python tools/benchmark.py CONFIG [--compare CONFIG_B] [--input HxW]
        [--batch N] [--iters N] [--warmup N] [--device cpu|cuda]
        [--part detector|backbone] [--raw-head-load]
        [--json OUT] [--profile] [--cfg-options k=v ...]

Both models are built in this one process (random init, no checkpoint
needed) and fed the same synthetic batch. Random weights do change how many
boxes a detector's RPN keeps, and so the work of RoIAlign and the heads:
by default both detectors are therefore run without RPN NMS suppression
and with a zero score threshold, so each has the same number of proposals
and detections (``--raw-head-load`` keeps the configs' values).
``--part backbone`` times the backbones alone, where XBN's cost lives. After ``--warmup`` rounds, each round runs A then B (B then
A on odd rounds, so drift hits both alike) for:

* train step: mmengine's ``model.train_step`` (data preprocessor, forward
  with losses, backward, optimizer step), the optimizer from the config
  run with lr 0 so that every round sees the same weights;
* inference: ``model.test_step`` in eval mode (preprocessor, predict,
  post-processing);
* inference after folding the BatchNorms into the convs
  (``xbn_mmdet.models.fuse_conv_bn``; GroupNorms stay);
* peak memory of a train step: on CUDA ``torch.cuda.max_memory_allocated``
  after a reset; on CPU the rise of the process's peak resident set (Linux:
  VmHWM is reset through ``/proc/self/clear_refs`` and freed heap returned
  with ``malloc_trim`` before each step).

Medians are printed with the A/B ratios and written with every sample to
``--json``. Without ``--compare``, B is CONFIG with
``model.backbone.bfn_cfg=None``: the same detector on the plain BatchNorm
ResNet (the BN twin), which is what "what does XBN cost" means.
``--profile`` adds the top operators of one train step and one folded
inference of each model (torch.profiler), with GroupNorm's share.
"""
import argparse
import copy
import ctypes
import json
import os.path as osp
import statistics
import sys
import time
import warnings

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.model import revert_sync_batchnorm  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmdet.registry import MODELS  # noqa: E402
from mmdet.testing import demo_mm_inputs  # noqa: E402
from mmdet.utils import register_all_modules  # noqa: E402

import xbn_mmdet  # noqa: E402,F401
from xbn_mmdet.models import fuse_conv_bn  # noqa: E402
from xbn_mmdet.utils.tool_cli import (CfgOptionsAction,  # noqa: E402
                                      non_negative_int, positive_int)

PHASES = ('train', 'infer', 'infer_fused')


def input_size(text):
    try:
        h, w = (int(v) for v in text.lower().split('x'))
        if h >= 32 and w >= 32:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f'{text!r} is not HxW with both at least 32, e.g. 512x512')



def build_parser():
    parser = argparse.ArgumentParser(
        description='Time and memory of two detectors side by side')
    parser.add_argument('config', help='model A (e.g. an XBN config)')
    parser.add_argument('--compare', help='model B (default: A with '
                        'model.backbone.bfn_cfg=None, the BN twin)')
    parser.add_argument('--input', type=input_size, default=(512, 512),
                        help='HxW of the synthetic images (default 512x512)')
    parser.add_argument('--batch', type=positive_int, default=2)
    parser.add_argument('--iters', type=positive_int, default=10,
                        help='measured rounds (default 10)')
    parser.add_argument('--warmup', type=non_negative_int, default=2)
    parser.add_argument('--device', choices=('cpu', 'cuda'), default=None,
                        help='default: cuda when available')
    parser.add_argument(
        '--part', choices=('detector', 'backbone'), default='detector',
        help='time the whole detector (default) or only its backbone')
    parser.add_argument(
        '--raw-head-load', action='store_true',
        help='keep the configs\' RPN NMS and score threshold (by default '
        'both detectors get the same number of proposals and detections)')
    parser.add_argument('--json', help='write medians, ratios and samples')
    parser.add_argument('--profile', action='store_true',
                        help='print the top operators of one train step '
                        'and one folded inference of each model')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
                        help='overrides for both configs')
    return parser


def load_cfg(path, options):
    if not osp.isfile(path):
        raise SystemExit(f'error: config file not found: {path}')
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def bn_twin(cfg, path):
    backbone = cfg.model.get('backbone', {})
    if not str(backbone.get('type', '')).startswith('XBN'):
        raise SystemExit(
            f'error: {path} has no XBN backbone (type '
            f"{backbone.get('type')!r}); pass --compare CONFIG_B")
    twin = copy.deepcopy(cfg)
    twin.model.backbone.bfn_cfg = None
    return twin


def head_info(model_cfg):
    """(num_classes, with_mask) for the synthetic ground truth."""
    roi_head = model_cfg.get('roi_head') or {}
    bbox_head = roi_head.get('bbox_head') or model_cfg.get('bbox_head') or {}
    if isinstance(bbox_head, list):
        bbox_head = bbox_head[0]
    return bbox_head.get('num_classes', 80), 'mask_head' in roi_head


def equalize_head_load(cfg):
    """Give both detectors the same head workload. With random weights the
    RPN of two different backbones keeps very different numbers of boxes
    after NMS, and RoIAlign and the heads then dominate the comparison (we
    measured a 3x gap in RoIAlign time between an XBN R-50 and its twin,
    which had nothing to do with the backbone). Without NMS suppression in
    the RPN every image keeps ``max_per_img`` proposals, and with a zero
    score threshold every image yields ``max_per_img`` detections (and
    masks), in both models."""
    for key in ('rpn_proposal', 'rpn'):
        for stage in ('train_cfg', 'test_cfg'):
            node = (cfg.model.get(stage) or {}).get(key)
            if node and 'nms' in node:
                node.nms.iou_threshold = 1.0
    rcnn = (cfg.model.get('test_cfg') or {}).get('rcnn')
    if rcnn and 'score_thr' in rcnn:
        rcnn.score_thr = 0.0
    return cfg


class Subject:
    """One model with its optimizer, batch, and inference copy: the whole
    detector (``part='detector'``, mmengine's train_step/test_step) or only
    its backbone (``part='backbone'``: forward, the mean of the outputs as
    the loss, backward, the config's optimizer step)."""

    def __init__(self, name, cfg, args, device):
        self.name = name
        self.part = args.part
        model_cfg = cfg.model if args.part == 'detector' else \
            dict(cfg.model.backbone, init_cfg=None)
        self.model = revert_sync_batchnorm(MODELS.build(model_cfg)).to(device)
        optim_cfg = copy.deepcopy(cfg.optim_wrapper)
        # The step's full arithmetic runs, but with lr 0 the weights stay
        # the random init: a model that diverged after a few real steps
        # would see NaNs, keep no boxes, and time far less work.
        optim_cfg.optimizer.lr = 0.0
        if optim_cfg.get('type') == 'AmpOptimWrapper' and device == 'cpu':
            optim_cfg.type = 'OptimWrapper'  # AMP needs CUDA
            optim_cfg.pop('loss_scale', None)
        self.optim_wrapper = build_optim_wrapper(self.model, optim_cfg)
        torch.manual_seed(0)
        h, w = args.input
        if args.part == 'backbone':
            self.batch = torch.randn(args.batch, 3, h, w, device=device)
        else:
            num_classes, with_mask = head_info(cfg.model)
            self.batch = demo_mm_inputs(
                args.batch, [[3, h, w]] * args.batch,
                num_items=[5] * args.batch, num_classes=num_classes,
                with_mask=with_mask)
        self.fused = None
        self.folded = 0

    def _run(self, model):
        if self.part == 'detector':
            return model.test_step(self.batch)
        return model(self.batch)

    def train(self):
        self.model.train()
        if self.part == 'detector':
            self.model.train_step(self.batch, self.optim_wrapper)
            return
        loss = sum(o.mean() for o in self.model(self.batch))
        self.optim_wrapper.update_params(loss)

    def infer(self):
        self.model.eval()
        with torch.no_grad():
            self._run(self.model)

    def infer_fused(self):
        if self.fused is None:
            self.fused = copy.deepcopy(self.model)
            self.fused.eval()
            self.folded = fuse_conv_bn(self.fused)
        with torch.no_grad():
            self._run(self.fused)


class PeakMemory:
    """Peak memory a call adds, in MiB (``None`` where unmeasurable)."""

    def __init__(self, device):
        self.device = device
        self.libc = None
        if device == 'cpu':
            try:
                self.libc = ctypes.CDLL('libc.so.6')
                self._reset_cpu_peak()
            except OSError:
                self.libc = None

    @staticmethod
    def _status(key):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) / 1024
        raise OSError(key)

    def _reset_cpu_peak(self):
        self.libc.malloc_trim(0)
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')

    def measure(self, fn):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            fn()
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_allocated() - before) / 2**20
        if self.libc is None:
            fn()
            return None
        self._reset_cpu_peak()
        before = self._status('VmRSS')
        fn()
        return self._status('VmHWM') - before


def timed(fn, device):
    if device == 'cuda':
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device == 'cuda':
        torch.cuda.synchronize()
    return time.perf_counter() - start


def profile(subject, phase, top=10):
    """Top operators of one call of ``phase`` ('train' or 'infer_fused')."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    activities = [ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(ProfilerActivity.CUDA)
    with torch_profile(activities=activities) as prof:
        getattr(subject, phase)()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events) or 1
    shares = {
        name: 100 * sum(e.self_cpu_time_total
                        for e in events if key in e.key) / total
        for name, key in (('group_norm', 'group_norm'),
                          ('batch_norm', 'batch_norm'))
    }
    print(f'\n{subject.name}, {phase}: top operators by self CPU time '
          f'(GroupNorm {shares["group_norm"]:.1f}%, BatchNorm '
          f'{shares["batch_norm"]:.1f}% of the total)')
    print(events.table(sort_by='self_cpu_time_total', row_limit=top))


def main(argv=None):
    args = build_parser().parse_args(argv)
    device = args.device or ('cuda' if torch.cuda.is_available() else 'cpu')
    if device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('error: --device cuda, but no CUDA device is '
                         'available; use --device cpu')
    register_all_modules()
    cfg_a = load_cfg(args.config, args.cfg_options)
    if args.compare:
        cfg_b, name_b = load_cfg(args.compare, args.cfg_options), \
            osp.basename(args.compare)
    else:
        cfg_b, name_b = bn_twin(cfg_a, args.config), \
            'BN twin (bfn_cfg=None)'
    if args.part == 'detector' and not args.raw_head_load:
        cfg_a, cfg_b = equalize_head_load(cfg_a), equalize_head_load(cfg_b)
    subjects = [Subject(osp.basename(args.config), cfg_a, args, device),
                Subject(name_b, cfg_b, args, device)]
    memory = PeakMemory(device)
    samples = {s.name: {p: [] for p in PHASES + ('train_peak_mib', )}
               for s in subjects}
    h, w = args.input
    print(f'{device}, {args.part}, batch {args.batch} of {h}x{w}, '
          f'{args.warmup} warm-up '
          f'+ {args.iters} measured rounds, A/B interleaved', flush=True)
    for i in range(args.warmup + args.iters):
        order = subjects if i % 2 == 0 else subjects[::-1]
        for phase in PHASES:
            for s in order:
                seconds = timed(getattr(s, phase), device)
                if i >= args.warmup:
                    samples[s.name][phase].append(seconds)
        for s in order:
            peak = memory.measure(s.train)
            if i >= args.warmup and peak is not None:
                samples[s.name]['train_peak_mib'].append(peak)
        print(f'round {i + 1}/{args.warmup + args.iters}'
              + (' (warm-up)' if i < args.warmup else ''), flush=True)

    medians = {n: {k: statistics.median(v) if v else None
                   for k, v in d.items()} for n, d in samples.items()}
    a, b = (medians[s.name] for s in subjects)
    print(f'\nA = {subjects[0].name}\nB = {subjects[1].name}')
    print(f'{"":<24}{"A":>12}{"B":>12}{"A/B":>8}')
    ratios = {}
    for key, label, scale, unit in (
            ('train', 'train step', 1000, 'ms'),
            ('infer', 'inference', 1000, 'ms'),
            ('infer_fused', 'inference, BN folded', 1000, 'ms'),
            ('train_peak_mib', 'train peak memory', 1, 'MiB')):
        if a[key] is None or b[key] is None:
            print(f'{label:<24}{"n/a":>12}{"n/a":>12}')
            continue
        ratios[key] = a[key] / b[key]
        print(f'{label:<24}{a[key] * scale:>10.1f}{unit:>2}'
              f'{b[key] * scale:>10.1f}{unit:>2}{ratios[key]:>8.3f}')
    print(f'BatchNorms folded: A {subjects[0].folded}, '
          f'B {subjects[1].folded}')
    if args.profile:
        for phase in ('train', 'infer_fused'):
            for s in subjects:
                profile(s, phase)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(dict(device=device, part=args.part, input=[h, w],
                           batch=args.batch,
                           iters=args.iters, a=subjects[0].name,
                           b=subjects[1].name, medians=medians,
                           ratios=ratios, samples=samples), f, indent=2)
    return ratios


if __name__ == '__main__':
    main()
