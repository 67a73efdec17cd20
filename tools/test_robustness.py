#!/usr/bin/env python
"""Evaluate a detector under image corruptions (the "Benchmarking Robustness
in Object Detection" protocol) and, optionally, with test-time BatchNorm
statistics; report AP per corruption and severity, mPC and rPC.

    python tools/test_robustness.py CONFIG CHECKPOINT
        [--corruptions benchmark|all|noise|blur|weather|digital|extra|NAME ...]
        [--severities 0 1 2 3 4 5] [--out DIR] [--bn-stats running|adapt]
        [--compare CONFIG_B CHECKPOINT_B] [--seed N]
        [--work-dir DIR] [--cfg-options k=v ...] [--launcher pytorch]

Each (corruption, severity) cell is written to OUT/cells.json when it is
done; running the same command again skips the finished cells. At the end:
OUT/results.json, results.csv, summary.csv and robustness_{bbox,segm}.png.
Multi-process: ``bash tools/dist_launch.sh test_robustness.py N CONFIG
CHECKPOINT ...`` (torchrun, ``--launcher pytorch``; gloo on CPU).
"""
import argparse
import gc
import os.path as osp
import sys
import warnings

# mmengine imports pkg_resources, whose deprecation warning is noise here.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.dist import is_main_process  # noqa: E402

from mmdet.utils import setup_cache_size_limit_of_dynamo  # noqa: E402

# Registers the XBN modules and SeededCorrupt in mmdet, and allow-lists the
# classes of mmengine checkpoints for torch's weights-only load.
import xbn_mmdet  # noqa: E402,F401
from xbn_mmdet.robustness import (BN_STATS_MODES,  # noqa: E402
                                  CORRUPTION_GROUPS, SEVERITIES,
                                  CorruptionNameError, PipelineError,
                                  ResultsStore, ResumeMismatchError,
                                  config_fingerprint, file_sha256,
                                  probe_corruptions, resolve_corruptions,
                                  run_sweep, summarize_model, sweep_cells)
from xbn_mmdet.robustness.report import write_report  # noqa: E402
from xbn_mmdet.utils.tool_cli import (add_common_args,  # noqa: E402
                                      build_runner, check_common_args,
                                      finish_distributed, load_config,
                                      require_checkpoint)


def severity(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in SEVERITIES:
        raise argparse.ArgumentTypeError(
            f'invalid severity {text!r}; valid: integers 0..5 (0 = clean)')
    return value


def build_parser():
    parser = argparse.ArgumentParser(
        description='Evaluate a detector on corrupted test sets '
        '(mPC, rPC)')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--corruptions', nargs='+', default=['benchmark'],
        metavar='NAME',
        help='corruption names and/or groups: '
        f'{", ".join(CORRUPTION_GROUPS)} (default: benchmark, the 15 '
        'corruptions of the protocol; all adds speckle_noise, '
        'gaussian_blur, spatter, saturate)')
    parser.add_argument(
        '--severities', nargs='+', type=severity, default=list(SEVERITIES),
        metavar='S', help='severities 0..5, 0 = clean (default: 0 1 2 3 4 5)')
    parser.add_argument(
        '--out', help='output folder; a folder with finished cells is '
        'resumed (default: work_dirs/robustness/<config name>[_vs_<config '
        'B name>])')
    parser.add_argument(
        '--compare', nargs=2, metavar=('CONFIG_B', 'CHECKPOINT_B'),
        help='a second model (say the BN twin) evaluated on the same cells '
        'and shown beside the first')
    parser.add_argument(
        '--bn-stats', choices=BN_STATS_MODES, default='running',
        help='running: the checkpoint\'s BatchNorm statistics (default); '
        'adapt: re-estimate them on each evaluated test set (AdaBN)')
    parser.add_argument(
        '--seed', type=int, default=0,
        help='seed of the corruptions (each image gets a seed derived from '
        'it, the cell and the file name; default 0)')
    add_common_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    require_checkpoint(parser, args.checkpoint)
    if args.compare:
        if not osp.isfile(args.compare[0]):
            parser.error(f'config file not found: {args.compare[0]}')
        require_checkpoint(parser, args.compare[1])
    try:
        args.corruptions = resolve_corruptions(args.corruptions)
    except CorruptionNameError as exc:
        parser.error(str(exc))
    args.severities = sorted(set(args.severities))
    return args


def model_specs(args):
    """[(name, config, checkpoint)]: names from the config files, made
    unique with the checkpoint name when both models share a config."""
    specs = [(args.config, args.checkpoint)]
    if args.compare:
        specs.append(tuple(args.compare))
    names = [osp.splitext(osp.basename(c))[0] for c, _ in specs]
    if len(set(names)) < len(names):
        names = [
            f'{n}@{osp.splitext(osp.basename(k))[0]}'
            for n, (_, k) in zip(names, specs)
        ]
    if len(set(names)) < len(names):
        names = [f'{n}#{i}' for i, n in enumerate(names, 1)]
    return [(n, c, k) for n, (c, k) in zip(names, specs)]


def default_out(specs):
    return osp.join('work_dirs', 'robustness',
                    '_vs_'.join(osp.splitext(osp.basename(c))[0]
                                for _, c, _ in specs))


def usable_corruptions(args):
    """Probe the selected corruptions; skip (loudly) the ones the
    installed imagecorruptions cannot run."""
    if not any(s > 0 for s in args.severities):
        return args.corruptions
    usable, broken = probe_corruptions(args.corruptions)
    for name, why in broken.items():
        print(f'[robustness] skipping {name}: imagecorruptions fails on it '
              f'here ({why})', file=sys.stderr)
    return usable


def model_config(args, config, checkpoint, name, out_dir):
    cfg = load_config(argparse.Namespace(**{**vars(args), 'config': config}))
    cfg.load_from = checkpoint
    if args.work_dir is None:
        # The runner's logs go with the results, one folder a model.
        cfg.work_dir = osp.join(out_dir, 'logs', name)
    elif args.compare:
        cfg.work_dir = osp.join(args.work_dir, name)
    return cfg


def main(argv=None):
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()
    specs = model_specs(args)
    out_dir = args.out or default_out(specs)
    corruptions = usable_corruptions(args)
    cells = sweep_cells(corruptions, args.severities)
    if not cells:
        raise SystemExit('error: nothing to evaluate (no usable corruption '
                         'and severity 0 not selected)')
    try:
        # Every rank reads the file (for its path and finished cells); only
        # rank 0 checks and writes it.
        store = ResultsStore(out_dir)
        summaries, identities = {}, {}
        for name, config, checkpoint in specs:
            cfg = model_config(args, config, checkpoint, name, out_dir)
            identity = dict(
                config=config,
                checkpoint=checkpoint,
                fingerprint=dict(
                    config_sha256=config_fingerprint(cfg),
                    checkpoint_sha256=file_sha256(checkpoint),
                    bn_stats=args.bn_stats,
                    corruption_seed=args.seed))
            runner = build_runner(cfg)
            run_sweep(runner, store, name, identity, cells, args.seed,
                      args.bn_stats, log=_log)
            # Free the model (and its DDP wrapper; Runner and its loops
            # reference each other) before the next model is built and
            # before the process group is destroyed.
            del runner
            gc.collect()
            if is_main_process():
                summaries[name] = summarize_model(
                    store.cells(name), corruptions, args.severities)
                identities[name] = store.identity(name)
    except (ResumeMismatchError, PipelineError) as exc:
        raise SystemExit(f'error: {exc}')
    if is_main_process():
        paths = write_report(out_dir, summaries, identities, corruptions,
                             args.severities)
        _print_summary(summaries)
        print('[robustness] wrote ' + ', '.join(paths))
    finish_distributed()
    return summaries


def _log(message):
    if is_main_process():
        print(message, flush=True)


def _print_summary(summaries):
    print('\n[robustness] model / task: P (clean AP), mPC, rPC')
    for name, tasks in summaries.items():
        for task, s in tasks.items():
            values = [
                'n/a' if v is None else f'{v:.3f}'
                for v in (s['clean'], s['mPC'], s['rPC'])
            ]
            print(f'  {name} / {task}: P {values[0]}, mPC {values[1]}, '
                  f'rPC {values[2]} ({s["cells_used"]} corrupted cells)')


if __name__ == '__main__':
    main()
