#!/usr/bin/env python
"""Test (and evaluate) a detector checkpoint (mmdet 3.3 ``tools/test.py``
CLI) with the XBN backbones registered.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULT.pkl]
        [--show] [--show-dir DIR] [--wait-time S] [--tta] [--fuse-conv-bn]
        [--cfg-options k=v ...] [--launcher pytorch]
        [--skip-data-check] [--check-images N|all]

The test set's annotations and images are checked before the Runner is
built (xbn_mmdet/datasets/preflight.py). Runs from the repository root without installing the package. Multi-process
runs (also CPU-only, over gloo): ``tools/dist_test.sh CONFIG CKPT N [args]``.
"""
import argparse
import os.path as osp
import sys
import warnings
from copy import deepcopy

# mmengine imports pkg_resources, whose deprecation warning is noise here.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from mmengine.config import ConfigDict  # noqa: E402

from mmdet.engine.hooks.utils import trigger_visualization_hook  # noqa: E402
from mmdet.evaluation import DumpDetResults  # noqa: E402
from mmdet.utils import setup_cache_size_limit_of_dynamo  # noqa: E402

# Registers the XBN modules in mmdet and allow-lists the classes of mmengine
# checkpoints for torch's weights-only load.
import xbn_mmdet  # noqa: E402,F401
from xbn_mmdet.utils.tool_cli import (add_common_args,  # noqa: E402
                                      add_data_check_args, build_runner,
                                      check_common_args,
                                      check_data_check_args,
                                      finish_distributed, load_config,
                                      require_checkpoint, run_data_check)


def build_parser():
    parser = argparse.ArgumentParser(
        description='MMDet test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out',
        type=str,
        help='dump predictions to a pickle file (.pkl/.pickle) for offline '
        'evaluation')
    parser.add_argument(
        '--show', action='store_true', help='show prediction results')
    parser.add_argument(
        '--show-dir',
        help='directory where painted images will be saved, relative to '
        'work_dir/timestamp/')
    parser.add_argument(
        '--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument(
        '--tta', action='store_true', help='test-time augmentation (flip)')
    parser.add_argument(
        '--fuse-conv-bn',
        action='store_true',
        help='fold each BatchNorm into the conv before it (batch-free norms '
        'stay) for faster inference; same predictions within float error')
    add_common_args(parser)
    add_data_check_args(parser)
    return parser


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    check_common_args(parser, args)
    check_data_check_args(parser, args)
    require_checkpoint(parser, args.checkpoint)
    if args.out is not None and not args.out.endswith(('.pkl', '.pickle')):
        parser.error(f'--out must be a .pkl or .pickle file: {args.out}')
    return args


def apply_tta(cfg):
    """Wrap the model in a TTA model and swap in a flip TTA pipeline, using
    the config's ``tta_model``/``tta_pipeline`` when it has them."""
    if 'tta_model' not in cfg:
        warnings.warn('No tta_model in the config; using DetTTAModel with '
                      'NMS(iou 0.5), 100 detections per image.')
        cfg.tta_model = dict(
            type='DetTTAModel',
            tta_cfg=dict(
                nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))
    if 'tta_pipeline' not in cfg:
        warnings.warn('No tta_pipeline in the config; using the test '
                      'pipeline with horizontal flip TTA.')
        dataset_cfg = cfg.test_dataloader.dataset
        while 'dataset' in dataset_cfg:  # dataset wrappers
            dataset_cfg = dataset_cfg['dataset']
        pipeline = deepcopy(dataset_cfg.pipeline)
        pipeline[-1] = dict(
            type='TestTimeAug',
            transforms=[
                [dict(type='RandomFlip', prob=1.),
                 dict(type='RandomFlip', prob=0.)],
                [dict(
                    type='PackDetInputs',
                    meta_keys=('img_id', 'img_path', 'ori_shape',
                               'img_shape', 'scale_factor', 'flip',
                               'flip_direction'))],
            ])
        cfg.tta_pipeline = pipeline
    cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def build_config(args):
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        cfg = apply_tta(cfg)
    if args.fuse_conv_bn:
        cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
            dict(type='FuseConvBNHook')]
    return cfg


def main(argv=None):
    args = parse_args(argv)
    setup_cache_size_limit_of_dynamo()

    cfg = build_config(args)
    run_data_check(cfg, args, splits=('test', ))
    runner = build_runner(cfg)

    if args.out is not None:
        # Dump the raw predictions next to the normal metrics.
        runner.test_evaluator.metrics.append(
            DumpDetResults(out_file_path=args.out))
    runner.test()
    finish_distributed()


if __name__ == '__main__':
    main()
