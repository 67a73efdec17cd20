#!/usr/bin/env python
"""Write the recipe zoo's ``configs/metafile.yml`` (mmdet's model-index
format) and the README's recipe table from the configs themselves.

    python tools/model_zoo.py           # rewrite both
    python tools/model_zoo.py --check   # exit 1 (and say what) when stale

Every ``.py`` under ``configs/`` except those in ``_base_/`` folders and
``demo/`` is a recipe.
What the metafile says about one (detector, backbone, schedule, training
resources, techniques, pretrained weights, BN twin) is read from the parsed
config, so the two cannot drift apart silently: tests run ``--check``.

The README table lists each XBN recipe beside its BN twin and, where the
recipe inherits an mmdet config directly, that config's published COCO
numbers from mmdet's own metafiles (mmdet's BN models train the BN affine
parameters; our twins freeze them, as the official XBNBlock code does).
"""
import argparse
import ast
import difflib
import os.path as osp
import re
import sys
import warnings
from pathlib import Path

warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import yaml  # noqa: E402
from mmengine.config import Config  # noqa: E402

CONFIGS = REPO_ROOT / 'configs'
METAFILE = CONFIGS / 'metafile.yml'
README = REPO_ROOT / 'README.md'
TABLE_BEGIN = '<!-- recipe table: written by tools/model_zoo.py -->'
TABLE_END = '<!-- end of recipe table -->'
NOT_RECIPES = ('_base_', 'demo')
# How the README table names the variants (metafile wording -> short).
VARIANTS = {
    'Mixed Precision Training': 'AMP',
    'SyncBN': 'SyncBN',
    'FPN with Group Normalization': 'GN in FPN',
    'Shared4Conv1FCBBoxHead with Group Normalization': '4conv1fc GN box head',
}
NORM_NAMES = {
    'GN': 'Group Normalization',
    'LN': 'Layer Normalization',
    'IN': 'Instance Normalization',
    'BN': 'Batch Normalization',
    'SyncBN': 'Batch Normalization',
}

COLLECTIONS = {
    'MaskRCNN': ('Mask R-CNN', ['RPN', 'FPN', 'RoIAlign']),
    'FasterRCNN': ('Faster R-CNN', ['RPN', 'FPN', 'RoIAlign']),
    'RetinaNet': ('RetinaNet', ['FPN', 'Focal Loss']),
    'SingleStageDetector': ('SSD', ['SSDLite']),
}
PAPER = dict(
    Title='Delving into the Estimation Shift of Batch Normalization in a '
    'Network (CVPR 2022)',
    URL='https://arxiv.org/abs/2203.10778')
CODE = dict(URL='https://github.com/huangleiBuaa/XBNBlock')
HEADER = """\
# The recipe zoo in mmdet's model-index format; written by
# `python tools/model_zoo.py` from the configs (do not edit by hand).
# No COCO results of ours exist yet, so no model has Results or Weights.
"""


def recipe_paths():
    """The recipe configs, relative to the repository root, sorted."""
    return sorted(
        p.relative_to(REPO_ROOT).as_posix() for p in CONFIGS.rglob('*.py')
        if not set(p.relative_to(CONFIGS).parts[:-1]) & set(NOT_RECIPES))


def _bases(path):
    """The ``_base_`` entries of a config file, as written."""
    tree = ast.parse(Path(path).read_text())
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and getattr(node.targets[0], 'id', None) == '_base_'):
            value = ast.literal_eval(node.value)
            return [value] if isinstance(value, str) else list(value)
    return []


def mmdet_reference(path):
    """The mmdet config a recipe inherits directly (first ``_base_`` entry
    with the ``mmdet::`` scope), as ``mask_rcnn/...py``, else None."""
    bases = _bases(REPO_ROOT / path)
    if bases and bases[0].startswith('mmdet::'):
        return bases[0][len('mmdet::'):]
    return None


def mmdet_results(ref):
    """``{'box AP': 38.2, 'mask AP': 34.7}`` from mmdet's metafile for the
    mmdet config ``ref`` (empty when mmdet publishes none)."""
    import mmdet
    metafile = Path(osp.dirname(mmdet.__file__), '.mim', 'configs',
                    ref.split('/')[0], 'metafile.yml')
    if not metafile.is_file():
        return {}
    for model in yaml.safe_load(metafile.read_text())['Models']:
        if model['Config'] == f'configs/{ref}':
            return {
                k: v
                for result in model.get('Results', [])
                for k, v in result['Metrics'].items()
            }
    return {}


def backbone_label(backbone):
    arch = backbone.type.replace('XBN', '')
    if 'depth' in backbone:
        label = f'{arch}-{backbone.depth}'
    else:  # MobileNetV2 / ShuffleNetV2
        label = f'{arch}-{float(backbone.get("widen_factor", 1.0))}x'
    if arch == 'ResNeXt':
        label += f'-{backbone.groups}x{backbone.base_width}d'
    norm = backbone.norm_cfg.type
    if backbone.type.startswith('XBN') and backbone.get('bfn_cfg'):
        bfn = backbone.bfn_cfg
        groups = f' {bfn.num_groups}' if 'num_groups' in bfn else ''
        position = f"{backbone.bfn_position}, " \
            if 'bfn_position' in backbone else ''
        label = (f'XBN-{label} ({position}{bfn.type}{groups}'
                 f'{", " + norm if norm != "BN" else ""})')
    else:
        label += f' ({norm})'
    return label


def _train_pipeline(dataset):
    while 'pipeline' not in dataset and 'dataset' in dataset:
        dataset = dataset.dataset
    return dataset.get('pipeline', [])


def _with_norm(name, module_cfg):
    norm = module_cfg.get('norm_cfg')
    return f'{name} with {NORM_NAMES[norm.type]}' if norm else name


def describe(path):
    """The metafile entry of one recipe."""
    cfg = Config.fromfile(str(REPO_ROOT / path))
    model, backbone = cfg.model, cfg.model.backbone
    collection, architecture = COLLECTIONS[model.type]
    # Mobile twins keep the XBN class with bfn_cfg=None.
    xbn = backbone.type.startswith('XBN') and bool(backbone.get('bfn_cfg'))
    arch = backbone.type.replace('XBN', '')
    loader = cfg.train_dataloader
    dataset = loader.dataset
    epochs = cfg.train_cfg.max_epochs * dataset.get('times', 1)

    techniques = ['SGD with Momentum', 'Weight Decay']
    if any(t['type'] == 'RandomResize' for t in _train_pipeline(dataset)):
        techniques.append('Multi-Scale Training')
    if cfg.optim_wrapper.type == 'AmpOptimWrapper':
        techniques.append('Mixed Precision Training')
    if backbone.norm_cfg.type == 'SyncBN':
        techniques.append('SyncBN')
    norms = ['XBNBlock', NORM_NAMES[backbone.bfn_cfg.type]] if xbn else []
    architecture = norms + ['Batch Normalization', arch] + architecture
    bbox_head = model.roi_head.bbox_head if 'roi_head' in model else None
    if bbox_head is not None and bbox_head.type != 'Shared2FCBBoxHead':
        architecture.append(_with_norm(bbox_head.type, bbox_head))
    if model.neck.type == 'FPN' and model.neck.get('norm_cfg'):
        architecture.append(_with_norm('FPN', model.neck))

    gpus = cfg.auto_scale_lr.base_batch_size // loader.batch_size
    name = Path(path).stem
    meta = {
        'Training Data': 'COCO',
        'Training Techniques': techniques,
        'Training Resources': f'{gpus}x GPUs',
        'Batch Size': cfg.auto_scale_lr.base_batch_size,
        'Epochs': epochs,
        'Architecture': architecture,
        'Backbone': backbone_label(backbone),
        'Pretrained': (backbone.init_cfg or {}).get('checkpoint'),
    }
    twin = name.replace('_xbn-', '_bn-') if xbn else name.replace(
        '_bn-', '_xbn-')
    twin_path = Path(path).with_name(twin + '.py')
    if twin != name and (REPO_ROOT / twin_path).is_file():
        meta['Twin'] = twin_path.as_posix()
    return {
        'Name': name,
        'In Collection': collection,
        'Config': path,
        'Metadata': meta,
    }


def metafile_text(entries):
    collections = [{
        'Name': name,
        'Metadata': {
            'Training Data': 'COCO'
        },
        'Paper': dict(PAPER),
        'Code': dict(CODE),
        'README': 'README.md',
    } for name in sorted({e['In Collection']
                          for e in entries})]
    body = yaml.safe_dump(
        {
            'Collections': collections,
            'Models': entries
        },
        sort_keys=False,
        width=100)
    return HEADER + body


def _reference_cell(path):
    ref = mmdet_reference(path)
    # Only mmdet's result for the same backbone is a reference: the mobile
    # FPN recipes inherit mmdet's R-50 configs.
    backbone = re.search(r'_x?bn-([a-z0-9]+(?:-\d+x\d+d)?)', Path(path).stem)
    if ref and backbone and backbone.group(1) not in Path(ref).stem:
        ref = None
    results = mmdet_results(ref) if ref else {}
    if not results:
        return '-'
    aps = ' / '.join(f'{results[k]:.1f}' for k in ('box AP', 'mask AP')
                     if k in results)
    return f'{aps} (`{Path(ref).stem}`)'


def readme_table(entries):
    """One row per XBN recipe, its BN twin beside it; Mask R-CNN first,
    then by backbone size, plain schedules before the variants."""
    rows = []
    for entry in entries:
        meta = entry['Metadata']
        if 'XBNBlock' not in meta['Architecture'] or 'Twin' not in meta:
            continue
        extra = [
            VARIANTS[t]
            for t in meta['Training Techniques'] + meta['Architecture']
            if t in VARIANTS
        ]
        schedule = f'{meta["Epochs"]} epochs'
        if 'Multi-Scale Training' in meta['Training Techniques']:
            schedule += ', multi-scale'
        depth = int(re.search(r'-(\d+)', meta['Backbone']).group(1))
        mobile = 'ResNe' not in meta['Backbone']
        key = (mobile, entry['In Collection'] != 'Mask R-CNN', depth,
               'ResNeXt' in meta['Backbone'], meta['Backbone'], bool(extra),
               meta['Epochs'])
        twin = meta['Twin']
        rows.append((key, ' | '.join([
            '', entry['In Collection'] + ''.join(f', {e}' for e in extra),
            meta['Backbone'].split(' (')[0], schedule,
            f'[{entry["Name"]}]({entry["Config"]})',
            f'[{Path(twin).stem}]({twin})',
            _reference_cell(entry['Config']), ''
        ]).strip()))
    header = [
        '| detector | backbone | schedule | XBN recipe | BN twin | '
        'mmdet\'s BN result, box / mask AP (mmdet config) |',
        '| --- | --- | --- | --- | --- | --- |',
    ]
    return '\n'.join(header + [row for _, row in sorted(rows)]) + '\n'


def readme_with_table(readme, table):
    begin, end = readme.index(TABLE_BEGIN), readme.index(TABLE_END)
    return readme[:begin + len(TABLE_BEGIN)] + '\n' + table + readme[end:]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--check',
        action='store_true',
        help='write nothing; exit 1 when configs/metafile.yml or the README '
        'table differ from what the configs say')
    args = parser.parse_args(argv)

    entries = [describe(p) for p in recipe_paths()]
    wanted = {
        METAFILE: metafile_text(entries),
        README: readme_with_table(README.read_text(), readme_table(entries)),
    }
    stale = []
    for path, text in wanted.items():
        current = path.read_text() if path.is_file() else ''
        if current == text:
            continue
        stale.append(path)
        if args.check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(True), text.splitlines(True),
                    str(path), 'generated', n=1))
        else:
            path.write_text(text)
            print(f'wrote {path.relative_to(REPO_ROOT)}')
    if args.check and stale:
        names = ', '.join(str(p.relative_to(REPO_ROOT)) for p in stale)
        sys.exit(f'{names} out of date with configs/; run '
                 'python tools/model_zoo.py')


if __name__ == '__main__':
    main()
