#!/usr/bin/env python
"""Train a detector (mmdet 3.3 ``tools/train.py`` CLI) with the XBN backbones
registered.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]

Runs from the repository root without installing the package. Multi-process
runs (also CPU-only, over gloo): ``tools/dist_train.sh CONFIG N [args]``.
"""
import argparse
import logging
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import Runner, find_latest_checkpoint  # noqa: E402

from mmdet.registry import RUNNERS  # noqa: E402
from mmdet.utils import setup_cache_size_limit_of_dynamo  # noqa: E402

import xbn_mmdet  # noqa: E402,F401  (registers the XBN modules in mmdet)
from xbn_mmdet.utils import (DistributedLaunchError,  # noqa: E402
                             MissingPretrainedError,
                             check_pretrained_checkpoints,
                             drop_missing_pretrained, prepare_cpu_distributed,
                             register_checkpoint_safe_globals)


def build_parser():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--amp',
        action='store_true',
        default=False,
        help='enable automatic-mixed-precision training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the learning rate by the real total batch size '
        '(needs auto_scale_lr.base_batch_size in the config)')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from this checkpoint; without a path, resume from the '
        'latest checkpoint in the work directory')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value pairs merged into the '
        'config, e.g. train_cfg.max_epochs=2 model.backbone.init_cfg=None; '
        'lists as key="[a,b]" or key=a,b (quotes needed, no spaces)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch>=2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if (args.resume not in (None, 'auto') and '://' not in args.resume
            and not osp.isfile(args.resume)):
        parser.error(f'checkpoint file not found: {args.resume}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args):
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)

    # work_dir: CLI > config > ./work_dirs/<config name>
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        scale_cfg = cfg.get('auto_scale_lr', None)
        if not scale_cfg or 'base_batch_size' not in scale_cfg:
            raise SystemExit(
                'error: --auto-scale-lr needs auto_scale_lr = dict('
                'enable=False, base_batch_size=...) in the config')
        cfg.auto_scale_lr.enable = True

    # An explicit checkpoint wins over auto-resume.
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def handle_pretrained(cfg):
    """Missing local pretrained file: clear error for a fresh run. When the
    weights come from a checkpoint (resume / load_from) the pretrained init
    is dropped instead, since mmengine would still run it before loading."""
    restores = cfg.get('load_from', None)
    if cfg.get('resume', False) and not restores:
        restores = find_latest_checkpoint(cfg.work_dir)
    if restores:
        for m in drop_missing_pretrained(cfg):
            print_log(
                f'{m.key} = {m.file!r} does not exist; skipping that '
                f'pretrained init since the weights come from {restores}',
                logger='current',
                level=logging.WARNING)
        return
    try:
        check_pretrained_checkpoints(cfg)
    except MissingPretrainedError as exc:
        raise SystemExit(f'error: {exc}')


def main(argv=None):
    args = parse_args(argv)
    # Fewer dynamo recompilations (as in mmdet's tools).
    setup_cache_size_limit_of_dynamo()
    # torch>=2.6 loads with weights_only=True; resume needs these.
    register_checkpoint_safe_globals()

    cfg = build_config(args)
    handle_pretrained(cfg)
    try:
        prepare_cpu_distributed(cfg, args.launcher)
    except DistributedLaunchError as exc:
        raise SystemExit(f'error: {exc}')

    if 'runner_type' in cfg:
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
