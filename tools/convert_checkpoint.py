#!/usr/bin/env python
"""Convert an ImageNet ResNet/ResNeXt, MobileNetV2 or ShuffleNetV2 checkpoint
into an mmdet-ready XBN backbone file with metadata.

    # official XBNBlock weights (best.pth or checkpoint.pth); 64 groups
    python tools/convert_checkpoint.py best.pth \\
        checkpoints/xbn_resnet50_p2_gn64_imagenet.pth
    # a BatchNorm ResNet (torchvision, mmpretrain, an mmdet detector) as a
    # warm start for XBN-ResNet-50 P2
    python tools/convert_checkpoint.py resnet50.pth \\
        checkpoints/xbn_resnet50_p2_from_bn.pth --from-bn

    # official MobileNetV2/ShuffleNetV2-XBNBlock weights (16 / 29 groups)
    python tools/convert_checkpoint.py best.pth \
        checkpoints/xbn_shufflenetv2_x1_gn29_imagenet.pth

Architecture, depth, ResNeXt groups/width, the MobileNetV2/ShuffleNetV2
width, and (for XBN ResNets) the BFN position and stem are read from the
file; the group count cannot be, so it is an argument (default: the
official value for the architecture) and is recorded. Loading the output
into a backbone with other BFN settings then fails loudly.
"""
import argparse
import json
import os.path as osp
import sys
import warnings

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

import xbn_mmdet  # noqa: E402,F401
from xbn_mmdet.checkpoint import convert_checkpoint  # noqa: E402
from xbn_mmdet.checkpoint.loader import CheckpointMismatchError  # noqa: E402
from xbn_mmdet.checkpoint.safe_load import UnsafeCheckpointError  # noqa: E402
from xbn_mmdet.models.bfn import BFN_TYPES  # noqa: E402
from xbn_mmdet.utils.tool_cli import positive_int  # noqa: E402


def build_parser():
    parser = argparse.ArgumentParser(
        description='Convert an official XBNBlock or a BatchNorm ResNet/'
        'ResNeXt/MobileNetV2/ShuffleNetV2 checkpoint to an mmdet-ready XBN '
        'backbone file')
    parser.add_argument('src', help='source checkpoint (best.pth, '
                        'checkpoint.pth, a torchvision/mmpretrain/mmdet file)')
    parser.add_argument('dst', help='output file')
    parser.add_argument(
        '--num-groups', type=positive_int, default=None,
        help='GroupNorm groups the source was trained with (not readable '
        'from the weights; default: the official XBNBlock value, 64 for '
        'ResNet/ResNeXt, 16 for MobileNetV2, 8 or 29 for ShuffleNetV2 by '
        'width)')
    parser.add_argument('--bfn-type', choices=BFN_TYPES, default='GN',
                        help='batch-free norm type of the source (default GN)')
    parser.add_argument(
        '--from-bn', action='store_true',
        help='the source is a BatchNorm network: warm-start the XBN backbone '
        '(BFNs take the replaced BNs\' affine; their statistics are dropped)')
    parser.add_argument('--bfn-position', choices=('P1', 'P2', 'P3'),
                        help='with --from-bn: where the BFN goes (default '
                        'P2); otherwise checked against the source')
    parser.add_argument('--no-stem-bfn', dest='stem_bfn', action='store_false',
                        default=None, help='keep the stem norm BatchNorm')
    parser.add_argument(
        '--prefix', default='auto',
        help="take the keys under this prefix (default 'auto': 'backbone.' "
        "if present); '' for all keys")
    parser.add_argument(
        '--trust-source', action='store_true',
        help='unpickle SRC without the weights-only restriction; only for a '
        'file you trust that holds classes the safe loader refuses')
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not osp.isfile(args.src):
        parser.error(f'source checkpoint not found: {args.src}')
    if osp.abspath(args.src) == osp.abspath(args.dst):
        parser.error(f'dst must differ from src ({args.dst})')
    try:
        meta = convert_checkpoint(
            args.src, args.dst, num_groups=args.num_groups,
            bfn_type=args.bfn_type, from_bn=args.from_bn,
            bfn_position=args.bfn_position, stem_bfn=args.stem_bfn,
            prefix=args.prefix or None, trust_source=args.trust_source)
    except (CheckpointMismatchError, UnsafeCheckpointError, ValueError,
            KeyError, TypeError) as exc:
        raise SystemExit(f'error: {exc}')
    print(f'wrote {args.dst}')
    print(json.dumps(meta, indent=2))
    print('use it with:\n  backbone=dict(' + ', '.join(
        f'{k}={v!r}' for k, v in meta['backbone_cfg'].items()) +
        f",\n    init_cfg=dict(type='Pretrained', checkpoint={args.dst!r}))")


if __name__ == '__main__':
    main()
