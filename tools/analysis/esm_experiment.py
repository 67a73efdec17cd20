#!/usr/bin/env python
"""The XBNBlock paper's core finding on real data, on a CPU, in minutes:
estimation shift of BN layers, a deep BN network against its XBN twin.

    python tools/analysis/esm_experiment.py [--out DIR] [--iters N]
        [--subset-sizes 100 ...] [--seeds 0 1 2] [--threads 2]

Data: scikit-learn's bundled handwritten digits (1797 8x8 grey images, 10
classes; no download). Networks: a ResNet for 8x8 inputs (3x3 stem, three
stages of ``--blocks`` BasicBlocks, strides 1, 2, 2, all ``--width``
channels) built from mmdet's ResLayer with this package's
XBNBasicBlock: the BN network (``bfn_cfg=None``) and its XBN twin (GroupNorm
as the first norm of every block and in the stem, the P2 placement of
XBNResNet-18; the second norm and the shortcut norms stay BN). Both train
from scratch with trainable BN (momentum 0.1), SGD, the same iterations, the
same seed and batches.

Settings (the paper's two):
  1. ``full``: train on all 1797 images, evaluate on the same images;
  2. ``subset-N``: train on a random class-stratified subset of N images,
     evaluate on all 1797.
For each, the per-BN-layer ESM (xbn_mmdet.analysis: exact population
statistics of the evaluation set, eval mode) and the error rate on the
evaluation set. Writes ``results.json``, ``esm.csv`` and one
``esm_<setting>.png`` per setting (ESM against the position among all norm
layers, so the twins share the x axis) to DIR, and prints a summary.
"""
import argparse
import json
import os.path as osp
import sys
import time
import warnings

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmdet.models.layers import ResLayer  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

from xbn_mmdet.analysis import (compute_estimation_shift,  # noqa: E402
                                plot_esm_vs_depth, write_records_csv)
from xbn_mmdet.models.backbones.xbn_resnet import XBNBasicBlock  # noqa: E402
from xbn_mmdet.models.bfn import build_bfn  # noqa: E402
from xbn_mmdet.utils.tool_cli import positive_int  # noqa: E402

MODELS = ('BN', 'XBN')


class DigitsResNet(nn.Module):
    """ResNet for 8x8 inputs; ``bfn_cfg=None`` is the plain BN network,
    otherwise the BFN replaces the stem norm and each block's first norm."""

    def __init__(self, width=32, blocks=3, bfn_cfg=None, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width) if bfn_cfg is None else build_bfn(
            bfn_cfg, width, 'stem bn1')
        # One width throughout: ESM is an l2 norm over channels, so with
        # widening stages it would grow with depth through the width alone.
        self.layers = nn.Sequential(*[
            ResLayer(XBNBasicBlock, width, width, blocks, stride=stride,
                     bfn_cfg=bfn_cfg, bfn_position='P2',
                     bfn_scope=f'layer{i + 1}')
            for i, stride in enumerate((1, 2, 2))
        ])
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.layers(torch.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def load_digits_tensors():
    """(N, 1, 8, 8) float32 images scaled to [0, 1] and int64 labels."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        sys.exit('error: scikit-learn is needed for its bundled digits '
                 'data: pip install scikit-learn')
    digits = load_digits()
    x = torch.from_numpy(digits.images.astype(np.float32) / 16.0)
    return x[:, None], torch.from_numpy(digits.target.astype(np.int64))


def stratified_subset(labels, size, seed):
    """``size`` indices drawn at random, about equally from each class."""
    rng = np.random.default_rng(seed)
    classes = np.unique(labels.numpy())
    picks = []
    for rank, c in enumerate(classes):
        pool = np.flatnonzero(labels.numpy() == c)
        take = size // len(classes) + (rank < size % len(classes))
        picks.extend(rng.choice(pool, min(take, len(pool)), replace=False))
    return torch.as_tensor(np.sort(picks))


def batches(x, y, batch_size):
    return [(x[i:i + batch_size], y[i:i + batch_size])
            for i in range(0, len(x), batch_size)]


def train(model, x, y, args, seed):
    """SGD with momentum, cosine learning rate, ``args.iters`` steps over
    reshuffled epochs of (x, y); the batch order depends on ``seed`` only,
    so both twins see the same batches."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9,
                          weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.iters)
    model.train()
    step = 0
    while step < args.iters:
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x) - args.batch_size + 1, args.batch_size):
            idx = order[start:start + args.batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if step == args.iters:
                break


@torch.no_grad()
def error_rate(model, x, y):
    model.eval()
    wrong = sum((model(xb).argmax(1) != yb).sum().item()
                for xb, yb in batches(x, y, 256))
    return wrong / len(x)


def run_setting(name, train_idx, x, y, args, seed):
    out = {}
    for label in MODELS:
        torch.manual_seed(seed)
        bfn_cfg = None if label == 'BN' else dict(type='GN',
                                                  num_groups=args.groups)
        model = DigitsResNet(args.width, args.blocks, bfn_cfg)
        train(model, x[train_idx], y[train_idx], args, seed)
        records = compute_estimation_shift(model,
                                           batches(x, y, args.batch_size))
        out[label] = dict(records=records, error=error_rate(model, x, y))
    return out


def summarize(records_bn, records_xbn):
    """Numbers that answer the paper's two claims for one run."""
    bn_by_pos = {r.norm_depth: r for r in records_bn}
    shared = [r.norm_depth for r in records_xbn if r.norm_depth in bn_by_pos]
    half = len(records_bn) // 2

    def mean(values):
        return float(np.mean(values))

    return dict(
        bn_layers=len(records_bn),
        xbn_layers=len(records_xbn),
        # growth with depth: deep half against shallow half of the BN net
        bn_esm_mean_shallow_half=mean([r.esm_mean
                                       for r in records_bn[:half]]),
        bn_esm_mean_deep_half=mean([r.esm_mean for r in records_bn[half:]]),
        bn_esm_var_shallow_half=mean([r.esm_var for r in records_bn[:half]]),
        bn_esm_var_deep_half=mean([r.esm_var for r in records_bn[half:]]),
        bn_esm_mean_depth_corr=spearman(
            [r.depth for r in records_bn], [r.esm_mean for r in records_bn]),
        # XBN against BN at the same positions (the BNs XBN keeps)
        shared_positions=len(shared),
        bn_esm_mean_shared=mean([bn_by_pos[d].esm_mean for d in shared]),
        xbn_esm_mean_shared=mean([r.esm_mean for r in records_xbn]),
        bn_esm_var_shared=mean([bn_by_pos[d].esm_var for d in shared]),
        xbn_esm_var_shared=mean([r.esm_var for r in records_xbn]),
        bn_esm_mean_last=records_bn[-1].esm_mean,
        xbn_esm_mean_last=records_xbn[-1].esm_mean)


def aggregate(results):
    """Per setting, over seeds: mean and standard deviation of the errors
    and of the summary numbers, and in how many runs XBN's ESM (mean and
    variance, at the shared positions) is below BN's."""
    table = {}
    for name in dict.fromkeys(r['setting'] for r in results):
        runs = [r for r in results if r['setting'] == name]
        row = dict(runs=len(runs))
        for label in MODELS:
            errs = [r['error'][label] for r in runs]
            row[f'error_{label}'] = (float(np.mean(errs)), float(np.std(errs)))
        for key in runs[0]['summary']:
            vals = [r['summary'][key] for r in runs]
            row[key] = (float(np.mean(vals)), float(np.std(vals)))
        for q in ('mean', 'var'):
            row[f'xbn_lower_esm_{q}_runs'] = sum(
                r['summary'][f'xbn_esm_{q}_shared'] <
                r['summary'][f'bn_esm_{q}_shared'] for r in runs)
        table[name] = row
    return table


def print_aggregate(table):
    def ms(pair, fmt='.3f'):
        return f'{pair[0]:{fmt}} +- {pair[1]:{fmt}}'

    print('\nmean +- sd over seeds; ESM at the BN positions XBN keeps')
    for name, row in table.items():
        print(f"{name:>11} ({row['runs']} runs): error BN "
              f"{ms(row['error_BN'], '.2%')}, XBN {ms(row['error_XBN'], '.2%')}"
              f" | BN net ESM mean shallow half "
              f"{ms(row['bn_esm_mean_shallow_half'])}, deep half "
              f"{ms(row['bn_esm_mean_deep_half'])}, spearman(depth) "
              f"{ms(row['bn_esm_mean_depth_corr'], '.2f')} | ESM mean BN "
              f"{ms(row['bn_esm_mean_shared'])}, XBN "
              f"{ms(row['xbn_esm_mean_shared'])} (XBN lower in "
              f"{row['xbn_lower_esm_mean_runs']}/{row['runs']}); ESM var BN "
              f"{ms(row['bn_esm_var_shared'])}, XBN "
              f"{ms(row['xbn_esm_var_shared'])} (XBN lower in "
              f"{row['xbn_lower_esm_var_runs']}/{row['runs']})")


def spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='work_dirs/esm_experiment')
    parser.add_argument('--iters', type=positive_int, default=600,
                        help='training iterations of every run')
    parser.add_argument('--batch-size', type=positive_int, default=32)
    parser.add_argument('--lr', type=float, default=0.1)
    parser.add_argument('--width', type=positive_int, default=32,
                        help='channels of every layer')
    parser.add_argument('--blocks', type=positive_int, default=3,
                        help='BasicBlocks per stage (3 stages)')
    parser.add_argument('--groups', type=positive_int, default=8,
                        help='GroupNorm groups of the XBN twin')
    parser.add_argument('--subset-sizes', type=positive_int, nargs='+',
                        default=[100], help='setting 2: training subset '
                        'sizes (evaluated on all 1797 images)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--threads', type=positive_int, default=2,
                        help='torch CPU threads')
    args = parser.parse_args(argv)
    for size in args.subset_sizes:
        if size < 10 or size > 1797:
            parser.error(f'--subset-sizes {size} is not valid; use 10..1797 '
                         f'(at least one image per class)')
        if size < args.batch_size:
            parser.error(f'--subset-sizes {size} is smaller than '
                         f'--batch-size {args.batch_size}')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    x, y = load_digits_tensors()
    settings = [('full', None)] + [(f'subset-{n}', n)
                                   for n in args.subset_sizes]
    mkdir_or_exist(args.out)
    results, csv_rows = [], {}
    start = time.time()
    for seed in args.seeds:
        for name, size in settings:
            train_idx = torch.arange(len(x)) if size is None else \
                stratified_subset(y, size, seed)
            out = run_setting(name, train_idx, x, y, args, seed)
            summary = summarize(out['BN']['records'], out['XBN']['records'])
            results.append(
                dict(setting=name, seed=seed, train_images=len(train_idx),
                     eval_images=len(x),
                     error={k: v['error'] for k, v in out.items()},
                     summary=summary,
                     records={k: [r.to_dict() for r in v['records']]
                              for k, v in out.items()}))
            for label in MODELS:
                csv_rows[f'{label}/{name}/seed{seed}'] = out[label]['records']
            if seed == args.seeds[0]:
                plot_esm_vs_depth(
                    {f"{k} (error {v['error']:.1%})": v['records']
                     for k, v in out.items()},
                    osp.join(args.out, f'esm_{name}.png'),
                    title=f'digits, {name}: train {len(train_idx)} images, '
                    f'evaluate {len(x)} (seed {seed})')
            print(f"[{time.time() - start:5.0f} s] seed {seed} {name:>11}: "
                  f"error BN {out['BN']['error']:.2%} XBN "
                  f"{out['XBN']['error']:.2%} | BN ESM mean shallow/deep "
                  f"half {summary['bn_esm_mean_shallow_half']:.3f}/"
                  f"{summary['bn_esm_mean_deep_half']:.3f} (spearman "
                  f"{summary['bn_esm_mean_depth_corr']:+.2f}) | at XBN's "
                  f"{summary['shared_positions']} BN positions ESM mean BN "
                  f"{summary['bn_esm_mean_shared']:.3f} XBN "
                  f"{summary['xbn_esm_mean_shared']:.3f}, var BN "
                  f"{summary['bn_esm_var_shared']:.3f} XBN "
                  f"{summary['xbn_esm_var_shared']:.3f}", flush=True)
    table = aggregate(results)
    print_aggregate(table)
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(dict(args=vars(args), seconds=time.time() - start,
                       aggregate=table, runs=results), f, indent=1)
    write_records_csv(osp.join(args.out, 'esm.csv'), csv_rows)
    print(f'wrote {args.out}/results.json, esm.csv, '
          f"{', '.join(f'esm_{n}.png' for n, _ in settings)} "
          f'({time.time() - start:.0f} s)')


if __name__ == '__main__':
    main()
