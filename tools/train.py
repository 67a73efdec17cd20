#!/usr/bin/env python
"""Train a detector (mmdet 3.3 ``tools/train.py`` CLI) with the XBN backbones
registered.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options k=v ...] [--launcher pytorch]
        [--skip-data-check] [--check-images N|all]

The train and val data are checked before the Runner is built
(xbn_mmdet/datasets/preflight.py); a non-finite loss (NonFiniteLossHook)
and a bad checkpoint for --resume end with one ``error:`` line. Runs from the repository root without installing the package. Multi-process
runs (also CPU-only, over gloo): ``tools/dist_train.sh CONFIG N [args]``.
"""
import argparse
import logging
import os.path as osp
import sys
import warnings

# mmengine imports pkg_resources, whose deprecation warning is noise here.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.logging import print_log  # noqa: E402
from mmengine.runner import find_latest_checkpoint  # noqa: E402

from mmdet.utils import setup_cache_size_limit_of_dynamo  # noqa: E402

# Registers the XBN modules in mmdet and allow-lists the classes of mmengine
# checkpoints for torch's weights-only load (--resume).
import xbn_mmdet  # noqa: E402,F401
from xbn_mmdet.utils import (MissingPretrainedError,  # noqa: E402
                             check_pretrained_checkpoints,
                             drop_missing_pretrained)
from xbn_mmdet.utils.pretrained import local_pretrained  # noqa: E402
from xbn_mmdet.checkpoint import find_resumable_checkpoint  # noqa: E402
from xbn_mmdet.engine import NonFiniteLossError  # noqa: E402
from xbn_mmdet.utils.tool_cli import (add_common_args,  # noqa: E402
                                      add_data_check_args, build_runner,
                                      check_checkpoints_are_safe,
                                      check_common_args,
                                      check_data_check_args,
                                      finish_distributed, load_config,
                                      require_checkpoint, run_data_check)


def build_parser():
    parser = argparse.ArgumentParser(description='Train a detector')
    parser.add_argument('config', help='train config file path')
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
    add_common_args(parser)
    add_data_check_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    check_data_check_args(parser, args)
    if args.resume not in (None, 'auto'):
        require_checkpoint(parser, args.resume)
    return args


def build_config(args):
    cfg = load_config(args)
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
        cfg.load_from = resumable_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def resumable_checkpoint(work_dir):
    """What ``--resume`` without a path continues from: mmengine's
    ``last_checkpoint`` pointer when its file is intact, else the newest
    intact checkpoint in the work dir (a kill while saving, an emptied
    pointer), returned as the path to resume from. None leaves it to
    mmengine (pointer intact, or nothing saved: a fresh start); an error
    when checkpoints exist but none is intact."""
    path, notes = find_resumable_checkpoint(work_dir)
    for note in notes:
        print_log(f'--resume: passing over {note}', logger='current',
                  level=logging.WARNING)
    if path is None and notes:
        raise SystemExit(
            f'error: --resume: no intact checkpoint in {work_dir}: '
            f'{"; ".join(notes)}. Start afresh without --resume, or pass a '
            'checkpoint with --resume PATH')
    if not notes:
        return None  # the pointer is good: mmengine's own auto-resume
    print_log(f'--resume: continuing from {path}', logger='current',
              level=logging.WARNING)
    return path


def handle_pretrained(cfg):
    """Missing local pretrained file: clear error for a fresh run. When the
    weights come from a checkpoint (resume / load_from) the pretrained init
    is dropped instead, since mmengine would still run it before loading."""
    restores = cfg.get('load_from', None)
    if cfg.get('resume', False) and not restores:
        restores = find_latest_checkpoint(cfg.work_dir)
    check_checkpoints_are_safe(
        [restores] + [e.file for e in local_pretrained(cfg)])
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

    cfg = build_config(args)
    handle_pretrained(cfg)
    run_data_check(cfg, args, splits=('train', 'val'))
    runner = build_runner(cfg)
    try:
        runner.train()
    except NonFiniteLossError as exc:
        raise SystemExit(f'error: {exc}')
    finish_distributed()


if __name__ == '__main__':
    main()
