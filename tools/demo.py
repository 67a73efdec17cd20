"""The demo that runs anywhere: generate a synthetic COCO-format set, train an
XBN Mask R-CNN on it, evaluate COCO box/mask AP, draw a few predictions.

    python tools/demo.py                 # what `make demo` runs
    python tools/demo.py --epochs 2      # a quicker, weaker run

About 9 minutes on 2 CPU cores with the defaults. Everything it writes goes
under --data-root and --work-dir; the printed table says where.
"""
import argparse
import os
import os.path as osp
import sys
import warnings
import time

# mmengine imports pkg_resources, whose deprecation warning is noise here.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from xbn_mmdet.utils.tool_cli import (non_negative_int,  # noqa: E402
                                      positive_int)

DEMO_CONFIG = osp.join(REPO_ROOT, 'configs', 'demo',
                       'mask_rcnn_r18_xbn_synthetic.py')
METRIC_ROWS = [('box mAP', 'coco/bbox_mAP'), ('box AP50', 'coco/bbox_mAP_50'),
               ('box AP75', 'coco/bbox_mAP_75'), ('mask mAP', 'coco/segm_mAP'),
               ('mask AP50', 'coco/segm_mAP_50'),
               ('mask AP75', 'coco/segm_mAP_75')]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--data-root', default='data/synthetic_coco',
                        help='where the synthetic set is (generated if '
                        'missing)')
    parser.add_argument('--work-dir', default='work_dirs/demo',
                        help='checkpoints, logs and pictures go here')
    parser.add_argument('--epochs', type=positive_int, default=None,
                        help='training epochs (default: the config\'s)')
    parser.add_argument('--num-train', type=positive_int, default=240)
    parser.add_argument('--num-val', type=positive_int, default=60)
    parser.add_argument('--num-vis', type=non_negative_int, default=4,
                        help='val images to draw predictions on')
    parser.add_argument('--object-size', type=positive_int, nargs=2,
                        default=[20, 72], metavar=('MIN', 'MAX'),
                        help='object diameters in pixels')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def build_config(args):
    from mmengine.config import Config

    cfg = Config.fromfile(DEMO_CONFIG)
    data_root = args.data_root.rstrip('/') + '/'
    for loader in (cfg.train_dataloader, cfg.val_dataloader,
                   cfg.test_dataloader):
        loader.dataset.data_root = data_root
    for evaluator in (cfg.val_evaluator, cfg.test_evaluator):
        evaluator.ann_file = data_root + 'annotations/instances_val.json'
    if args.epochs is not None:
        epochs = args.epochs
        cfg.train_cfg.max_epochs = epochs
        cfg.param_scheduler[1].end = epochs
        cfg.param_scheduler[1].milestones = [
            max(1, int(epochs * 0.75)), max(1, int(epochs * 0.9))]
        cfg.default_hooks.checkpoint.interval = epochs
    # Evaluate once, after training (runner.test), not also in a val loop.
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.work_dir = args.work_dir
    cfg.randomness = dict(seed=args.seed)
    return cfg


def draw_predictions(model, cfg, data_root, out_dir, num):
    """Run the trained detector on the first ``num`` val images and save
    them with the predicted boxes and masks drawn."""
    import mmcv
    from mmdet.apis import inference_detector
    from mmdet.registry import VISUALIZERS

    model.cfg = cfg  # inference_detector reads the test pipeline from it
    model.eval()
    visualizer = VISUALIZERS.build(cfg.visualizer)
    visualizer.dataset_meta = model.dataset_meta
    val_dir = osp.join(data_root, 'val')
    names = sorted(os.listdir(val_dir))[:num]
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name in names:
        image = mmcv.imread(osp.join(val_dir, name), channel_order='rgb')
        result = inference_detector(model, image)
        path = osp.join(out_dir, name)
        visualizer.add_datasample(
            name, image, data_sample=result, draw_gt=False, show=False,
            pred_score_thr=0.5, out_file=path)
        paths.append(path)
    return paths


def main(argv=None):
    args = parse_args(argv)
    import xbn_mmdet  # noqa: F401  (registers backbones, safe loading)
    from mmengine.runner import Runner

    from xbn_mmdet.datasets import generate_synthetic_coco

    start = time.time()
    try:
        info = generate_synthetic_coco(
            args.data_root, num_train=args.num_train, num_val=args.num_val,
            object_size=args.object_size, seed=args.seed)
    except (ValueError, FileExistsError) as exc:
        raise SystemExit(f'error: {exc}')
    print(f"[demo] synthetic set at {args.data_root}: {info['num_train']} "
          f"train / {info['num_val']} val images, classes "
          f"{', '.join(info['classes'])}"
          f"{' (reused)' if info['skipped'] else ''}")

    cfg = build_config(args)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    checkpoint = osp.join(args.work_dir,
                          f'epoch_{cfg.train_cfg.max_epochs}.pth')
    model = runner.model
    model.dataset_meta = runner.test_dataloader.dataset.metainfo
    vis = draw_predictions(model, cfg, args.data_root,
                           osp.join(args.work_dir, 'vis'), args.num_vis)

    minutes = (time.time() - start) / 60
    print('\n[demo] XBN Mask R-CNN (half-width ResNet-18, P2, GN) on the '
          f'synthetic val split, {minutes:.1f} min in all')
    print(f"  {'metric':<10} {'value':>6}")
    for label, key in METRIC_ROWS:
        print(f'  {label:<10} {metrics[key]:>6.3f}')
    print(f'  checkpoint: {checkpoint}')
    print(f'  logs:       {osp.join(args.work_dir, runner.timestamp)}')
    print(f'  pictures:   {", ".join(vis)}')
    return metrics


if __name__ == '__main__':
    main()
