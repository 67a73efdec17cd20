#!/usr/bin/env python
"""Estimation shift magnitude (ESM) of every BN layer of a trained detector.

    python tools/analysis/estimation_shift.py CONFIG CHECKPOINT
        [--split val|train] [--max-images N] [--out DIR]
        [--compare CONFIG2 CHECKPOINT2] [--cfg-options k=v ...]

Runs the model in eval mode over the split (its val pipeline, in order),
accumulates the exact mean and variance of every BN layer's input and writes
``esm.csv``, ``esm.json`` and ``esm.png`` (ESM_mean and ESM_var against layer
depth) to DIR (default ``work_dirs/esm/<config name>``). ``--compare`` adds a
second model (say the BN twin of an XBN detector), measured on its own
config's split, to the same files and axes.
"""
import argparse
import os.path as osp
import sys
import warnings

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import Config  # noqa: E402
from mmengine.utils import mkdir_or_exist  # noqa: E402

import xbn_mmdet  # noqa: E402,F401  (registers modules, safe torch.load)
from xbn_mmdet.analysis import (SPLITS, build_esm_dataloader,  # noqa: E402
                                build_model_with_checkpoint,
                                compute_estimation_shift, plot_esm_vs_depth,
                                write_records_csv, write_records_json)
from xbn_mmdet.utils.tool_cli import (CfgOptionsAction,  # noqa: E402
                                      positive_int, require_checkpoint)


def build_parser():
    parser = argparse.ArgumentParser(
        description='Estimation shift magnitude of every BN layer')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint of that config')
    parser.add_argument('--split', choices=SPLITS, default='val',
                        help='the data to compute the expected statistics '
                        'on (train is read with the val pipeline)')
    parser.add_argument('--max-images', type=positive_int,
                        help='only the first N images of the split')
    parser.add_argument('--out', help='output dir (default: '
                        'work_dirs/esm/<config name>)')
    parser.add_argument('--compare', nargs=2,
                        metavar=('CONFIG2', 'CHECKPOINT2'),
                        help='a second model on the same plot and files')
    parser.add_argument(
        '--cfg-options', nargs='+', action=CfgOptionsAction,
        help='override settings of CONFIG (and CONFIG2), key=value pairs')
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    pairs = [(args.config, args.checkpoint)]
    if args.compare:
        pairs.append(tuple(args.compare))
    for config, checkpoint in pairs:
        if not osp.isfile(config):
            parser.error(f'config file not found: {config}')
        require_checkpoint(parser, checkpoint)
    args.pairs = pairs
    return args


def label_of(config, taken):
    label = osp.splitext(osp.basename(config))[0]
    while label in taken:
        label += "'"
    return label


def measure(config, checkpoint, args):
    cfg = Config.fromfile(config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = build_esm_dataloader(cfg, args.split, args.max_images)
    model = build_model_with_checkpoint(cfg, checkpoint)
    print(f'{config}: {len(loader.dataset)} {args.split} images', flush=True)
    return compute_estimation_shift(model, loader, progress=True)


def main(argv=None):
    args = parse_args(argv)
    out = args.out or osp.join(
        'work_dirs', 'esm', osp.splitext(osp.basename(args.config))[0])
    records, meta = {}, {}
    for config, checkpoint in args.pairs:
        label = label_of(config, records)
        try:
            records[label] = measure(config, checkpoint, args)
        except ValueError as exc:
            sys.exit(f'error: {exc}')
        meta[label] = dict(config=config, checkpoint=checkpoint,
                           split=args.split, max_images=args.max_images)
    mkdir_or_exist(out)
    write_records_csv(osp.join(out, 'esm.csv'), records)
    write_records_json(osp.join(out, 'esm.json'), records, meta)
    plot_esm_vs_depth(records, osp.join(out, 'esm.png'),
                      title=f'estimation shift per BN layer ({args.split})')
    for label, recs in records.items():
        print(f'{label}: {len(recs)} BN layers, ESM mean/var: first '
              f'{recs[0].esm_mean:.4g}/{recs[0].esm_var:.4g}, deepest '
              f'{recs[-1].esm_mean:.4g}/{recs[-1].esm_var:.4g}')
    print(f'wrote {out}/esm.csv, esm.json, esm.png')


if __name__ == '__main__':
    main()
