"""Check a config's COCO-format data before training or testing starts.

``tools/train.py`` and ``tools/test.py`` call :func:`check_config_data` before
the Runner is built (skip it with ``--skip-data-check``), so a bad annotation
file or a missing image stops the run at once with one line naming the file
and the problem, instead of a ``KeyError`` deep in mmdet, a silent
mislabelling, or a crash hours into training when the sampler reaches the
broken image.

For every ``CocoDataset`` (or subclass reading the same format) in
``train_dataloader``,
``val_dataloader`` and ``test_dataloader`` (also inside ``RepeatDataset``,
``ClassBalancedDataset``, ``ConcatDataset``, ... wrappers):

1. the annotation file (``data_root`` + ``ann_file``, as mmengine joins
   them) exists, is valid JSON, is not truncated, and is COCO: a dict with
   ``images``, ``annotations`` and ``categories`` lists whose entries have the
   keys mmdet reads (image ``id``/``file_name``/``width``/``height``;
   annotation ``id``/``image_id``/``category_id``/``bbox``/``area``);
2. every annotation names an image and a category that exist, and every
   class of the config (``metainfo.classes``) is a category name of the file
   (mmdet maps classes to category ids by name and silently drops classes it
   does not find, shifting the labels of the rest);
3. boxes are 4 finite numbers with non-negative width and height; boxes of
   zero or sub-pixel size, or outside their image, are counted in a warning
   (mmdet skips them when it loads, and the real COCO train set has a few);
4. the dataset as mmdet builds it (``filter_cfg`` applied, no pipeline): the
   train set is not empty; every image file exists (one ``stat`` per
   image); ``decode`` of them, spread evenly over
   the set, are read and decoded as ``LoadImageFromFile`` does (all of them
   with ``decode=None``: slow on a large set);
5. a val/test set has annotations to evaluate against, unless its evaluator
   has ``format_only=True`` (e.g. COCO test-dev).

Datasets read through a remote ``backend_args`` backend are skipped. Building
the datasets costs what mmdet's own loading does (pycocotools' load of the
annotation file), once more before the Runner loads them.
"""
import json
import math
import os.path as osp
from typing import Iterator, List, Optional, Tuple

__all__ = ['DataCheckError', 'check_coco_annotations', 'check_config_data']

SPLITS = ('train', 'val', 'test')
_IMAGE_KEYS = ('id', 'file_name', 'width', 'height')
_ANN_KEYS = ('id', 'image_id', 'category_id', 'bbox', 'area')
_CAT_KEYS = ('id', 'name')


class DataCheckError(ValueError):
    """Bad data, found before training; the message names the file."""


def _fmt_ids(ids, limit=5) -> str:
    ids = list(ids)
    shown = ', '.join(map(str, ids[:limit]))
    return shown + (f' and {len(ids) - limit} more' if len(ids) > limit
                    else '')


def _load_json(path: str, what: str) -> object:
    if not osp.isfile(path):
        raise DataCheckError(f'{what}: annotation file not found: {path}')
    with open(path, 'rb') as f:
        raw = f.read()
    if not raw.strip():
        raise DataCheckError(f'{what}: annotation file {path} is empty')
    try:
        return json.loads(raw)
    except UnicodeDecodeError:
        raise DataCheckError(
            f'{what}: annotation file {path} is not JSON (not UTF-8 text)'
        ) from None
    except json.JSONDecodeError as exc:
        # The decoder ran into the end of the text: an unclosed string, or
        # an error at the very end (unclosed list/object).
        if exc.msg.startswith('Unterminated string') or \
                exc.pos >= len(raw.rstrip()) - 1:
            raise DataCheckError(
                f'{what}: annotation file {path} is truncated: the JSON '
                f'ends at byte {len(raw)} before it is complete ({exc.msg})'
            ) from None
        raise DataCheckError(
            f'{what}: annotation file {path} is not valid JSON: {exc.msg} '
            f'at line {exc.lineno} column {exc.colno}') from None


def _require_list_of(entries, keys, path, what, name) -> None:
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise DataCheckError(
                f'{what}: {path} is not COCO: {name}[{i}] is a '
                f'{type(entry).__name__}, not an object')
        missing = [k for k in keys if k not in entry]
        if missing:
            ident = f' (id {entry["id"]})' if 'id' in entry else ''
            raise DataCheckError(
                f'{what}: {path} is not COCO: {name}[{i}]{ident} lacks '
                f'{", ".join(map(repr, missing))} (needs '
                f'{", ".join(keys)})')


def check_coco_annotations(path: str,
                           what: str = 'dataset',
                           classes: Optional[Tuple[str, ...]] = None,
                           need_annotations: bool = True) -> List[str]:
    """Check one COCO annotation file (points 1-3 of the module docstring).

    Returns warnings; raises :class:`DataCheckError` for an error.
    ``what`` says where the file comes from (``train_dataloader``).
    """
    data = _load_json(path, what)
    if not isinstance(data, dict):
        raise DataCheckError(
            f'{what}: {path} is not COCO: the top level is a '
            f'{type(data).__name__}, not an object with images, annotations '
            'and categories')
    needed = ['images', 'categories'] + (['annotations']
                                         if need_annotations else [])
    missing = [k for k in needed if k not in data]
    if missing:
        raise DataCheckError(
            f'{what}: {path} is not COCO: no top-level '
            f'{", ".join(map(repr, missing))} (it has: '
            f'{", ".join(map(repr, data)) or "nothing"})')
    for key in ('images', 'annotations', 'categories'):
        if key in data and not isinstance(data[key], list):
            raise DataCheckError(
                f'{what}: {path} is not COCO: {key!r} is a '
                f'{type(data[key]).__name__}, not a list')
    images = data['images']
    anns = data.get('annotations', [])
    cats = data['categories']
    _require_list_of(images, _IMAGE_KEYS, path, what, 'images')
    _require_list_of(cats, _CAT_KEYS, path, what, 'categories')
    _require_list_of(anns, _ANN_KEYS, path, what, 'annotations')

    image_ids = {}
    for img in images:
        if img['id'] in image_ids:
            raise DataCheckError(
                f'{what}: {path}: image id {img["id"]} is listed twice')
        image_ids[img['id']] = img
    cat_ids = {c['id']: c['name'] for c in cats}
    if classes is not None:
        absent = [c for c in classes if c not in cat_ids.values()]
        if absent:
            raise DataCheckError(
                f'{what}: classes {absent} of the config are not category '
                f'names in {path} (it has {sorted(cat_ids.values())}); mmdet '
                'would drop them and shift the labels of the others. Fix '
                'metainfo.classes')
    if need_annotations and not anns:
        raise DataCheckError(f'{what}: {path} has no annotations')

    degenerate = []
    for ann in anns:
        if ann['image_id'] not in image_ids:
            raise DataCheckError(
                f'{what}: {path}: annotation {ann["id"]} refers to image id '
                f'{ann["image_id"]}, which is not in "images"')
        if ann['category_id'] not in cat_ids:
            raise DataCheckError(
                f'{what}: {path}: annotation {ann["id"]} has category_id '
                f'{ann["category_id"]}, which is not in "categories" (valid '
                f'ids: {_fmt_ids(sorted(cat_ids), 20)})')
        box = ann['bbox']
        if not (isinstance(box, (list, tuple)) and len(box) == 4
                and all(isinstance(v, (int, float)) and math.isfinite(v)
                        for v in box)):
            raise DataCheckError(
                f'{what}: {path}: annotation {ann["id"]} has bbox {box!r}; '
                'a COCO box is [x, y, width, height], 4 finite numbers')
        x, y, w, h = box
        if w < 0 or h < 0:
            raise DataCheckError(
                f'{what}: {path}: annotation {ann["id"]} has a negative '
                f'box size (bbox {box}: width {w}, height {h}); COCO boxes '
                'are [x, y, width, height], not [x1, y1, x2, y2]')
        img = image_ids[ann['image_id']]
        inside_w = min(x + w, img['width']) - max(x, 0)
        inside_h = min(y + h, img['height']) - max(y, 0)
        if (w < 1 or h < 1 or ann['area'] <= 0 or inside_w <= 0
                or inside_h <= 0):
            degenerate.append(ann['id'])
    warnings = []
    if need_annotations and anns and len(degenerate) == len(anns):
        raise DataCheckError(
            f'{what}: {path}: none of its {len(anns)} boxes is usable: all '
            'have zero or sub-pixel size, zero area or lie outside their '
            f'image (annotation ids {_fmt_ids(degenerate)})')
    if degenerate:
        warnings.append(
            f'{what}: {path}: {len(degenerate)} of {len(anns)} boxes have '
            'zero or sub-pixel size, zero area or lie outside their image '
            f'(annotation ids {_fmt_ids(degenerate)}); mmdet skips them')
    return warnings


def _leaf_datasets(cfg, where) -> Iterator[Tuple[dict, str]]:
    """The innermost dataset configs under dataset wrappers."""
    if 'datasets' in cfg:
        for i, sub in enumerate(cfg['datasets']):
            yield from _leaf_datasets(sub, f'{where}.datasets[{i}]')
    elif 'dataset' in cfg:
        yield from _leaf_datasets(cfg['dataset'], f'{where}.dataset')
    else:
        yield cfg, where


def _is_coco_dataset(ds_cfg) -> bool:
    from mmdet.datasets import CocoDataset
    from mmdet.registry import DATASETS
    ds_type = ds_cfg.get('type')
    cls = DATASETS.get(ds_type) if isinstance(ds_type, str) else ds_type
    # Subclasses that read another format (LVIS, Objects365, COCO panoptic)
    # override the loading; only plain COCO-format readers are checked.
    return (isinstance(cls, type) and issubclass(cls, CocoDataset)
            and cls.load_data_list is CocoDataset.load_data_list
            and cls.parse_data_info is CocoDataset.parse_data_info)


def _remote(ds_cfg) -> bool:
    backend_args = ds_cfg.get('backend_args') or {}
    return backend_args.get('backend', 'local') not in ('local', 'disk')


def _build(ds_cfg):
    """The dataset as mmdet loads it (filter_cfg applied), no pipeline."""
    from mmdet.registry import DATASETS
    cfg = dict(ds_cfg)
    cfg.update(pipeline=[], lazy_init=True, serialize_data=False)
    dataset = DATASETS.build(cfg)
    dataset.full_init()
    return dataset


def _check_images(dataset, what, decode) -> List[str]:
    import mmcv
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    missing = [d['img_path'] for d in infos if not osp.isfile(d['img_path'])]
    if missing:
        raise DataCheckError(
            f'{what}: {len(missing)} of {len(infos)} images listed in '
            f'{dataset.ann_file} are missing on disk: {_fmt_ids(missing, 3)}')
    if decode is None or decode >= len(infos):
        sample = infos
    else:
        step = len(infos) / max(decode, 1)
        sample = [infos[int(i * step)] for i in range(decode)]
    warnings = []
    for info in sample:
        path = info['img_path']
        with open(path, 'rb') as f:
            content = f.read()
        try:
            img = mmcv.imfrombytes(content, flag='color')
        except Exception:  # noqa: BLE001  (any decoder failure)
            img = None
        if img is None:
            raise DataCheckError(
                f'{what}: image {path} ({len(content)} bytes) cannot be '
                'decoded (corrupt or not an image)')
        if img.shape[:2] != (info['height'], info['width']):
            warnings.append(
                f'{what}: image {path} is {img.shape[1]}x{img.shape[0]} but '
                f'{dataset.ann_file} says {info["width"]}x{info["height"]}')
    return warnings


def check_config_data(cfg,
                      splits=SPLITS,
                      decode: Optional[int] = 8) -> List[str]:
    """Check the COCO data of ``splits`` of an mmengine config.

    Returns the warnings; raises :class:`DataCheckError` on the first error.
    ``decode``: how many images per dataset to decode (``None``: all).
    """
    warnings = []
    for split in splits:
        loader = cfg.get(f'{split}_dataloader')
        if not loader or not loader.get('dataset'):
            continue
        evaluator = cfg.get(f'{split}_evaluator') or {}
        format_only = any(
            e.get('format_only', False)
            for e in (evaluator if isinstance(evaluator, list) else
                      [evaluator]))
        for ds_cfg, where in _leaf_datasets(loader['dataset'],
                                            f'{split}_dataloader.dataset'):
            if not _is_coco_dataset(ds_cfg) or _remote(ds_cfg):
                continue
            ann_file = ds_cfg.get('ann_file', '')
            data_root = ds_cfg.get('data_root') or ''
            path = ann_file if osp.isabs(ann_file) else osp.join(
                data_root, ann_file)
            metainfo = ds_cfg.get('metainfo') or {}
            classes = metainfo.get('classes')
            warnings += check_coco_annotations(
                path,
                what=where,
                classes=tuple(classes) if classes else None,
                need_annotations=not (split != 'train' and format_only))
            dataset = _build(ds_cfg)
            if split == 'train' and len(dataset) == 0:
                raise DataCheckError(
                    f'{where}: the train set is empty after filtering: '
                    f'{path} lists images, but none passes filter_cfg='
                    f'{dict(ds_cfg.get("filter_cfg") or {})} (images with no '
                    'usable box of the config\'s classes are dropped with '
                    'filter_empty_gt=True; smaller than min_size too)')
            warnings += _check_images(dataset, where, decode)
    return warnings
