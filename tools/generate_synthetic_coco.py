#!/usr/bin/env python
"""Generate the synthetic COCO-format shapes dataset.

Example (from the repository root)::

    python tools/generate_synthetic_coco.py --out data/synthetic_coco \
        --num-train 300 --num-val 60 --size 160 192 --num-classes 4

Re-running with the same arguments is cheap: an existing, matching dataset
is reused unless --overwrite is given.
"""

import argparse
import os
import sys
import time

# Make ``xbn_mmdet`` importable when run from a checkout that is not
# pip-installed (``python tools/generate_synthetic_coco.py``).
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

from xbn_mmdet.datasets import synthetic_coco as sc  # noqa: E402


def _int_in_range(lo, hi):
    """argparse ``type`` for an int in [lo, hi] with a one-line error."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f'{text!r} is not an integer (valid range [{lo}, {hi}])')
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(
                f'{value} is out of range; valid range is [{lo}, {hi}]')
        return value

    return parse


def parse_args(argv=None):
    """Parse command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Generate a deterministic synthetic COCO instance '
        'segmentation dataset of coloured shapes.')
    parser.add_argument('--out', required=True,
                        help='output directory (dataset root)')
    count = _int_in_range(sc.MIN_IMAGES_PER_SPLIT, sc.MAX_IMAGES_PER_SPLIT)
    parser.add_argument('--num-train', type=count, default=300,
                        help='number of training images (default: 300)')
    parser.add_argument('--num-val', type=count, default=60,
                        help='number of validation images (default: 60)')
    side = _int_in_range(sc.MIN_IMAGE_SIDE, sc.MAX_IMAGE_SIDE)
    parser.add_argument('--size', type=side, nargs=2, metavar=('H', 'W'),
                        default=[160, 192],
                        help='image height and width (default: 160 192)')
    names = ', '.join(sc.SHAPE_NAMES)
    parser.add_argument('--num-classes',
                        type=_int_in_range(1, len(sc.SHAPE_NAMES)),
                        default=4,
                        help='number of shape classes, taken in order from '
                        f'{names} (default: 4)')
    parser.add_argument('--max-objects',
                        type=_int_in_range(1, sc.MAX_OBJECTS_LIMIT),
                        default=5, help='max objects per image (default: 5)')
    parser.add_argument('--object-size', nargs=2, metavar=('MIN', 'MAX'),
                        type=_int_in_range(sc.MIN_OBJECT_SIZE,
                                           sc.MAX_OBJECT_SIZE),
                        default=list(sc.DEFAULT_OBJECT_SIZE),
                        help='object diameter range in pixels (default: '
                        '%(default)s)')
    parser.add_argument('--seed', type=_int_in_range(0, sc.MAX_SEED),
                        default=0, help='random seed (default: 0)')
    parser.add_argument('--overwrite', action='store_true',
                        help='regenerate even if a matching dataset exists')
    return parser.parse_args(argv)


def main(argv=None):
    """CLI entry point; prints a one-line summary."""
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        result = sc.generate_synthetic_coco(
            args.out,
            num_train=args.num_train,
            num_val=args.num_val,
            image_size=tuple(args.size),
            num_classes=args.num_classes,
            max_objects=args.max_objects,
            seed=args.seed,
            object_size=tuple(args.object_size),
            overwrite=args.overwrite)
    except (ValueError, FileExistsError) as exc:
        sys.exit(f'error: {exc}')
    elapsed = time.perf_counter() - start
    status = ('up to date, skipped' if result['skipped'] else
              f'generated in {elapsed:.1f}s')
    print(f"synthetic COCO at {result['out_dir']}: "
          f"train {result['num_train']} images / "
          f"{result['num_train_annotations']} instances, "
          f"val {result['num_val']} images / "
          f"{result['num_val_annotations']} instances, "
          f'{args.size[0]}x{args.size[1]}, classes '
          f"{','.join(result['classes'])} ({status})")


if __name__ == '__main__':
    main()
