"""Deterministic synthetic COCO instance-segmentation dataset ("shapes").

The generator draws coloured geometric shapes (circles, squares, stars, ...)
on textured, noisy backgrounds and writes a standard COCO layout::

    out_dir/
        train/000000.png ...
        val/000000.png ...
        annotations/instances_train.json
        annotations/instances_val.json

It exists so that demos and tests can train a small Mask R-CNN end to end in
minutes on a CPU without downloading anything.  Design points:

* Every image has its own random stream, derived from ``(seed, split, index)``
  with :class:`numpy.random.SeedSequence`.  Train and val therefore never
  share an image, and image ``i`` does not depend on how many images are
  requested (the first 8 images of a 300-image run equal an 8-image run).
* Output is byte-identical for the same arguments on the same software stack
  (numpy / OpenCV versions): no timestamps, JSON written with sorted keys and
  fixed separators, PNGs written by OpenCV with a fixed compression level.
* Annotations describe the *visible* part of each object: later objects are
  drawn on top of earlier ones, and bbox / area / RLE come from what is left.
* The generation parameters are stored in the JSON ``info`` field, so a call
  with the same parameters on an existing, complete dataset returns at once.
"""

from __future__ import annotations

import json
import math
import operator
import os
import re
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple, Union

import cv2
import numpy as np

from ..fileio import atomic_write

__all__ = [
    'SHAPE_NAMES',
    'generate_synthetic_coco',
    'synthetic_class_names',
]

# Fixed, ordered list of shape classes.  ``num_classes=K`` uses the first K,
# so category ids (1..K) keep their meaning whatever K is chosen.
SHAPE_NAMES: Tuple[str, ...] = (
    'circle',
    'square',
    'triangle',
    'star',
    'ring',
    'ellipse',
    'cross',
    'hexagon',
)

# Bump when the drawing or annotation logic changes, so datasets written by an
# older generator are not mistaken for up-to-date ones.
FORMAT_VERSION = 1
GENERATOR_NAME = 'xbn_mmdet.datasets.synthetic_coco'

# Valid parameter ranges (shared with the CLI so both report the same limits).
MIN_IMAGE_SIDE = 64
MAX_IMAGE_SIDE = 2048
MIN_IMAGES_PER_SPLIT = 1
MAX_IMAGES_PER_SPLIT = 100_000
MAX_OBJECTS_LIMIT = 50
MAX_SEED = 2**63 - 1

# Object diameters are drawn log-uniformly from ``object_size`` (pixels), so
# small and large objects are equally common on a log scale, like FPN levels.
DEFAULT_OBJECT_SIZE = (12, 70)
MIN_OBJECT_SIZE = 8
MAX_OBJECT_SIZE = 1024

# Visible-area rules.  MIN_VISIBLE_AREA removes slivers (and guarantees no
# zero-size boxes); MIN_VISIBLE_FRACTION keeps occlusion moderate so every
# annotated object is still recognisable, which keeps the task learnable.
MIN_VISIBLE_AREA = 30
MIN_VISIBLE_FRACTION = 0.4
MIN_INSIDE_FRACTION = 0.5
MAX_PLACEMENT_ATTEMPTS = 20
# Chance that a placement attempt aims at an existing object (see _near).
OVERLAP_PROBABILITY = 0.35

# Colour sampling: retry until the object stands out from what lies under it.
MIN_COLOUR_DISTANCE = 80.0
MAX_COLOUR_ATTEMPTS = 8

# Sub-pixel precision for cv2.fillPoly (coordinates are multiplied by 2**4),
# so small shapes keep their form instead of snapping to the pixel grid.
_POLY_SHIFT = 4
_PNG_PARAMS = [cv2.IMWRITE_PNG_COMPRESSION, 3]
_IMAGE_NAME_RE = re.compile(r'^\d{6}\.png$')
_SPLITS = ('train', 'val')

PathLike = Union[str, os.PathLike]
Polygon = np.ndarray  # (N, 2) float64, x/y in units of the object's radius


# --------------------------------------------------------------------------
# Public helpers
# --------------------------------------------------------------------------


def synthetic_class_names(num_classes: int = 4) -> Tuple[str, ...]:
    """Return the class names used for ``num_classes`` classes.

    Use it in configs, e.g.
    ``metainfo=dict(classes=synthetic_class_names(4))``.
    The names are in category-id order (category id ``i + 1`` is ``names[i]``).
    """
    num_classes = _check_int('num_classes', num_classes, 1, len(SHAPE_NAMES))
    return SHAPE_NAMES[:num_classes]


# --------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------


def _check_int(name: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int; else ValueError naming it and the valid range."""
    if isinstance(value, bool):
        raise ValueError(
            f'{name}={value!r} must be an integer in [{lo}, {hi}]')
    try:
        as_int = operator.index(value)
    except TypeError:
        raise ValueError(
            f'{name}={value!r} must be an integer in [{lo}, {hi}]') from None
    if not lo <= as_int <= hi:
        raise ValueError(
            f'{name}={as_int} is out of range; valid range is [{lo}, {hi}]')
    return as_int


def _check_pair(name: str, value: Any, labels: Tuple[str, str], lo: int,
                hi: int, ordered: bool = False) -> Tuple[int, int]:
    """Validate ``value`` as a pair of ints in [lo, hi] (and first <= second
    when ``ordered``); the message names ``name`` and the element."""
    try:
        first, second = value
    except (TypeError, ValueError):
        raise ValueError(f'{name}={value!r} must be a pair '
                         f'({labels[0]}, {labels[1]})') from None
    first = _check_int(f'{name}[0] ({labels[0]})', first, lo, hi)
    second = _check_int(f'{name}[1] ({labels[1]})', second,
                        first if ordered else lo, hi)
    return first, second


def _check_image_size(image_size: Any) -> Tuple[int, int]:
    """Validate ``image_size`` as an ``(H, W)`` pair of ints."""
    return _check_pair('image_size', image_size, ('H', 'W'), MIN_IMAGE_SIDE,
                       MAX_IMAGE_SIDE)


def _check_object_size(object_size: Any) -> List[int]:
    """Validate ``object_size`` as a ``(min, max)`` pair of ints."""
    return list(_check_pair('object_size', object_size, ('min', 'max'),
                            MIN_OBJECT_SIZE, MAX_OBJECT_SIZE, ordered=True))


# --------------------------------------------------------------------------
# Shapes
# --------------------------------------------------------------------------


def _regular_polygon(num_vertices: int,
                     radius: float = 1.0,
                     phase: float = 0.0) -> Polygon:
    """Vertices of a regular polygon centred at the origin."""
    angles = phase + 2.0 * np.pi * np.arange(num_vertices) / num_vertices
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _unit_shape(
        name: str,
        rng: np.random.Generator) -> Tuple[List[Polygon], List[Polygon]]:
    """Return ``(outer polygons, hole polygons)`` for a shape of radius ~1.

    Holes are cut out of the mask (the ring's centre shows what is behind it).
    Shapes whose proportions vary (ellipse, ring) draw them from ``rng``.
    """
    if name == 'circle':
        return [_regular_polygon(48)], []
    if name == 'square':
        return [_regular_polygon(4, phase=np.pi / 4)], []
    if name == 'triangle':
        return [_regular_polygon(3, phase=-np.pi / 2)], []
    if name == 'star':
        radii = np.tile([1.0, 0.45], 5)
        angles = -np.pi / 2 + np.pi * np.arange(10) / 5
        return [radii[:, None] *
                np.stack([np.cos(angles), np.sin(angles)], axis=1)], []
    if name == 'ring':
        inner = rng.uniform(0.45, 0.6)
        return [_regular_polygon(48)], [_regular_polygon(48, radius=inner)]
    if name == 'ellipse':
        poly = _regular_polygon(48)
        poly[:, 1] *= rng.uniform(0.4, 0.65)
        return [poly], []
    if name == 'cross':
        a = 0.32  # half-width of each arm
        pts = [(a, 1), (a, a), (1, a), (1, -a), (a, -a), (a, -1), (-a, -1),
               (-a, -a), (-1, -a), (-1, a), (-a, a), (-a, 1)]
        return [np.asarray(pts, dtype=np.float64)], []
    if name == 'hexagon':
        return [_regular_polygon(6)], []
    raise KeyError(f'unknown shape {name!r}')


def _polygon_area(poly: Polygon) -> float:
    """Absolute area of a simple polygon (shoelace formula)."""
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(
        float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _unit_area(outers: Sequence[Polygon], holes: Sequence[Polygon]) -> float:
    """Area of a unit shape (outers minus holes), used to detect truncation."""
    return (sum(_polygon_area(p) for p in outers) -
            sum(_polygon_area(p) for p in holes))


def _rasterize(outers: Sequence[Polygon], holes: Sequence[Polygon],
               centre: Tuple[float, float], radius: float, angle: float,
               canvas_hw: Tuple[int, int]) -> np.ndarray:
    """Rotate, scale and translate a unit shape; return its boolean mask.

    The mask is clipped to the canvas, so objects near a border come out
    truncated, as in real photos.
    """
    rot = np.array([[math.cos(angle), -math.sin(angle)],
                    [math.sin(angle), math.cos(angle)]])
    scale = float(1 << _POLY_SHIFT)

    def to_pixels(poly: Polygon) -> np.ndarray:
        pts = (poly @ rot.T) * radius + np.asarray(centre)
        return np.round(pts * scale).astype(np.int32)

    mask = np.zeros(canvas_hw, dtype=np.uint8)
    # LINE_8 (not anti-aliased) keeps the mask strictly binary.
    cv2.fillPoly(mask, [to_pixels(p) for p in outers], 1,
                 lineType=cv2.LINE_8, shift=_POLY_SHIFT)
    if holes:
        cv2.fillPoly(mask, [to_pixels(p) for p in holes], 0,
                     lineType=cv2.LINE_8, shift=_POLY_SHIFT)
    return mask.astype(bool)


# --------------------------------------------------------------------------
# Image synthesis
# --------------------------------------------------------------------------


def _image_rng(seed: int, split_index: int,
               image_index: int) -> np.random.Generator:
    """Independent random stream for one image of one split.

    ``spawn_key`` gives statistically independent streams, so train/val never
    coincide and images do not depend on the number requested.
    """
    seq = np.random.SeedSequence(seed, spawn_key=(split_index, image_index))
    return np.random.Generator(np.random.PCG64(seq))


def _background(rng: np.random.Generator, height: int,
                width: int) -> np.ndarray:
    """Float32 HxWx3 background: a linear colour gradient plus blotches.

    A flat background would make segmentation a thresholding exercise; the
    gradient and low-frequency blotches force the model to learn shape.
    """
    c0, c1 = rng.uniform(0.0, 255.0, size=(2, 3))
    theta = rng.uniform(0.0, 2.0 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    proj = xx * np.float32(math.cos(theta)) + yy * np.float32(math.sin(theta))
    t = (proj - proj.min()) / max(float(proj.max() - proj.min()), 1e-6)
    bg = c0.astype(np.float32) + (c1 - c0).astype(np.float32) * t[..., None]

    grid_h, grid_w = (int(v) for v in rng.integers(3, 8, size=2))
    coarse = rng.normal(0.0, 25.0, size=(grid_h, grid_w, 3)).astype(np.float32)
    bg += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    return bg


def _pick_colour(rng: np.random.Generator, image: np.ndarray,
                 mask: np.ndarray) -> np.ndarray:
    """Random colour that contrasts with the pixels the object will cover.

    Falls back to the most distinct candidate, so hard cases still occur.
    """
    under = image[mask].mean(axis=0)
    best, best_dist = None, -1.0
    for _ in range(MAX_COLOUR_ATTEMPTS):
        colour = rng.uniform(0.0, 255.0, size=3)
        dist = float(np.linalg.norm(colour - under))
        if dist > best_dist:
            best, best_dist = colour, dist
        if dist >= MIN_COLOUR_DISTANCE:
            break
    return best


def _paint(rng: np.random.Generator, image: np.ndarray, mask: np.ndarray,
           centre: Tuple[float, float], radius: float) -> None:
    """Paint an object in place: a flat colour with a linear shading ramp."""
    colour = _pick_colour(rng, image, mask)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    amplitude = rng.uniform(0.0, 30.0)
    ys, xs = np.nonzero(mask)
    # t is in about [-1, 1] across the object: a simple lighting gradient.
    t = ((xs - centre[0]) * math.cos(phi) +
         (ys - centre[1]) * math.sin(phi)) / radius
    shaded = colour[None, :] + amplitude * t[:, None]
    image[ys, xs] = shaded.astype(np.float32)


def _near(rng: np.random.Generator, centres: Sequence[Tuple[float, float]],
          radii: Sequence[float], radius: float, height: int,
          width: int) -> Tuple[float, float]:
    """Centre that makes the new object overlap a random earlier one.

    Uniform placement rarely produces occlusion in sparse images; this makes
    partial overlaps common enough for the model to learn to separate them.
    """
    k = int(rng.integers(len(centres)))
    dist = (radii[k] + radius) * rng.uniform(0.4, 0.95)
    phi = rng.uniform(0.0, 2.0 * np.pi)
    x = min(max(centres[k][0] + dist * math.cos(phi), 0.0), width - 1.0)
    y = min(max(centres[k][1] + dist * math.sin(phi), 0.0), height - 1.0)
    return (x, y)


class _Layout:
    """Instances drawn so far: who is visible where, and how much.

    ``id_map`` holds the 1-based instance id visible at each pixel (0 is
    background); later instances overwrite earlier ones, which is exactly
    how the painter's algorithm occludes them in the image.
    """

    def __init__(self, height: int, width: int) -> None:
        self.id_map = np.zeros((height, width), dtype=np.int32)
        self.visible = np.zeros(1, dtype=np.int64)   # index 0: background
        self.original = np.zeros(1, dtype=np.int64)  # area when first drawn
        self.classes: List[int] = []
        self.centres: List[Tuple[float, float]] = []
        self.radii: List[float] = []

    def _covered(self, mask: np.ndarray) -> np.ndarray:
        """Pixels of each existing instance that ``mask`` would hide."""
        return np.bincount(self.id_map[mask], minlength=len(self.visible))

    def occlusion_ok(self, mask: np.ndarray) -> bool:
        """True if drawing ``mask`` on top leaves earlier objects visible."""
        if not self.classes:
            return True
        remaining = self.visible[1:] - self._covered(mask)[1:]
        needed = np.maximum(MIN_VISIBLE_AREA,
                            MIN_VISIBLE_FRACTION * self.original[1:])
        return bool(np.all(remaining >= needed))

    def add(self, mask: np.ndarray, cls: int, centre: Tuple[float, float],
            radius: float) -> None:
        """Record a new top-most instance."""
        area = int(np.count_nonzero(mask))
        self.visible = np.append(self.visible - self._covered(mask), area)
        self.original = np.append(self.original, area)
        self.id_map[mask] = len(self.classes) + 1
        self.classes.append(cls)
        self.centres.append(centre)
        self.radii.append(radius)


def _place(rng: np.random.Generator, layout: _Layout, outers: List[Polygon],
           holes: List[Polygon], radius: float) -> Any:
    """Find a pose for a shape; return ``(mask, centre)`` or None.

    A pose is rejected if the shape is mostly outside the image or would
    hide too much of an earlier object.
    """
    height, width = layout.id_map.shape
    full_area = _unit_area(outers, holes) * radius * radius
    min_area = max(MIN_VISIBLE_AREA, MIN_INSIDE_FRACTION * full_area)
    for attempt in range(MAX_PLACEMENT_ATTEMPTS):
        angle = rng.uniform(0.0, 2.0 * np.pi)
        if not layout.classes and attempt == MAX_PLACEMENT_ATTEMPTS - 1:
            # Guarantee at least one object per image: the centre of an empty
            # canvas always works because the diameter is <= half a side.
            centre = (0.5 * width, 0.5 * height)
        elif layout.classes and rng.random() < OVERLAP_PROBABILITY:
            centre = _near(rng, layout.centres, layout.radii, radius, height,
                           width)
        else:
            centre = (rng.uniform(0.0, width), rng.uniform(0.0, height))
        mask = _rasterize(outers, holes, centre, radius, angle,
                          (height, width))
        if np.count_nonzero(mask) >= min_area and layout.occlusion_ok(mask):
            return mask, centre
    return None


def _synthesize_image(
        rng: np.random.Generator, height: int, width: int, num_classes: int,
        max_objects: int, object_size: Sequence[int] = DEFAULT_OBJECT_SIZE
) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """Draw one image.

    Returns ``(image uint8 HxWx3, id_map int32 HxW, class index per instance)``
    where ``id_map`` holds the 1-based instance id visible at each pixel
    (0 = background).
    """
    image = _background(rng, height, width)
    layout = _Layout(height, width)

    # Largest diameter is at most half the shorter side (see _place).
    min_size, max_size = object_size
    max_size = max(min_size, min(max_size, 0.5 * min(height, width)))
    log_lo, log_hi = math.log(min_size), math.log(max_size)

    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.integers(num_classes))
        outers, holes = _unit_shape(SHAPE_NAMES[cls], rng)
        radius = 0.5 * math.exp(rng.uniform(log_lo, log_hi))
        placed = _place(rng, layout, outers, holes, radius)
        if placed is None:
            continue  # no acceptable pose: drop this object
        mask, centre = placed
        _paint(rng, image, mask, centre, radius)
        layout.add(mask, cls, centre, radius)

    # Sensor-like noise over everything, so object interiors are not flat.
    sigma = rng.uniform(3.0, 10.0)
    image += rng.normal(0.0, sigma, size=image.shape).astype(np.float32)
    image_u8 = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image_u8, layout.id_map, layout.classes


# --------------------------------------------------------------------------
# Annotations
# --------------------------------------------------------------------------


def _encode_rle(mask: np.ndarray) -> Dict[str, Any]:
    """COCO compressed RLE of a boolean mask, JSON-ready (counts as str)."""
    # Imported here so class names etc. stay usable without pycocotools.
    from pycocotools import mask as mask_utils

    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    counts = rle['counts']
    if isinstance(counts, bytes):
        counts = counts.decode('ascii')
    return {'counts': counts, 'size': [int(v) for v in rle['size']]}


def _image_annotations(id_map: np.ndarray, classes: Sequence[int],
                       image_id: int,
                       first_ann_id: int) -> List[Dict[str, Any]]:
    """COCO annotations for the visible part of each instance in ``id_map``."""
    annotations = []
    ann_id = first_ann_id
    for inst_id, cls in enumerate(classes, start=1):
        mask = id_map == inst_id
        area = int(np.count_nonzero(mask))
        # Placement already enforces this; kept as a safety net so no
        # degenerate (tiny or empty) box can ever reach the JSON.
        if area < MIN_VISIBLE_AREA:
            continue
        ys, xs = np.nonzero(mask)
        x0, y0 = int(xs.min()), int(ys.min())
        # Same convention as pycocotools.mask.toBbox: inclusive pixel extent.
        bbox = [float(x0), float(y0), float(xs.max() - x0 + 1),
                float(ys.max() - y0 + 1)]
        annotations.append({
            'id': ann_id,
            'image_id': image_id,
            'category_id': cls + 1,
            'bbox': bbox,
            'area': float(area),
            'iscrowd': 0,
            'segmentation': _encode_rle(mask),
        })
        ann_id += 1
    return annotations


def _categories(num_classes: int) -> List[Dict[str, Any]]:
    """COCO categories, ids 1..K in SHAPE_NAMES order."""
    return [{'id': i + 1, 'name': name, 'supercategory': 'shape'}
            for i, name in enumerate(SHAPE_NAMES[:num_classes])]


# --------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------


def _dump_json(obj: Any, path: Path) -> None:
    """Write JSON deterministically and atomically.

    The annotation file is the "dataset complete" marker, so it is written to
    a temporary name and renamed: an interrupted run never leaves a valid
    JSON next to missing images.
    """
    atomic_write(path, json.dumps(obj, sort_keys=True,
                                  separators=(',', ':')).encode('utf-8'))


def _split_paths(out_dir: Path, split: str) -> Tuple[Path, Path]:
    """(image directory, annotation file) of one split."""
    return out_dir / split, out_dir / 'annotations' / f'instances_{split}.json'


def _existing_summary(out_dir: Path, params: Dict[str, Any]) -> Any:
    """Per-split counts if ``out_dir`` holds exactly this dataset, else None.

    Only file existence is checked (not contents), which keeps the check cheap
    enough to run on every demo start.
    """
    counts = {}
    for split in _SPLITS:
        img_dir, ann_file = _split_paths(out_dir, split)
        try:
            with open(ann_file, encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            return None
        info = data.get('info') if isinstance(data, dict) else None
        if not isinstance(info, dict) or info.get('params') != params:
            return None
        images = data.get('images', [])
        if not all((img_dir / img['file_name']).is_file() for img in images):
            return None
        counts[split] = (len(images), len(data.get('annotations', [])))
    return counts


def _check_owned(out_dir: Path) -> None:
    """Refuse to overwrite annotation files this generator did not write."""
    for split in _SPLITS:
        _, ann_file = _split_paths(out_dir, split)
        if not ann_file.exists():
            continue
        try:
            with open(ann_file, encoding='utf-8') as f:
                info = json.load(f).get('info', {})
            ours = info.get('generator') == GENERATOR_NAME
        except (OSError, ValueError, AttributeError):
            ours = False
        if not ours:
            raise FileExistsError(
                f'{ann_file} exists and was not written by {GENERATOR_NAME}; '
                'pass overwrite=True (CLI: --overwrite) to replace it')


def _remove_previous(out_dir: Path) -> None:
    """Delete files an earlier run of this generator may have left behind.

    Only our own file patterns are touched, so stray user files survive.  The
    JSON files go first so a crash mid-way cannot look like a finished run.
    """
    for split in _SPLITS:
        img_dir, ann_file = _split_paths(out_dir, split)
        ann_file.unlink(missing_ok=True)
        if img_dir.is_dir():
            for entry in img_dir.iterdir():
                if _IMAGE_NAME_RE.match(entry.name) and entry.is_file():
                    entry.unlink()


def _write_split(out_dir: Path, split: str, split_index: int, num_images: int,
                 params: Dict[str, Any]) -> Tuple[int, int]:
    """Generate one split; return ``(num_images, num_annotations)``."""
    img_dir, ann_file = _split_paths(out_dir, split)
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_file.parent.mkdir(parents=True, exist_ok=True)
    height, width = params['image_size']

    images, annotations = [], []
    for index in range(num_images):
        rng = _image_rng(params['seed'], split_index, index)
        image, id_map, classes = _synthesize_image(
            rng, height, width, params['num_classes'], params['max_objects'],
            params['object_size'])
        file_name = f'{index:06d}.png'
        if not cv2.imwrite(str(img_dir / file_name), image, _PNG_PARAMS):
            raise OSError(f'cv2.imwrite failed for {img_dir / file_name}')
        image_id = index + 1
        images.append({'id': image_id, 'file_name': file_name,
                       'height': height, 'width': width})
        annotations.extend(
            _image_annotations(id_map, classes, image_id,
                               len(annotations) + 1))

    coco = {
        'info': {
            'description': 'xbn-mmdet synthetic shapes (instance seg.)',
            'generator': GENERATOR_NAME,
            'params': params,
            'split': split,
        },
        'licenses': [],
        'images': images,
        'annotations': annotations,
        'categories': _categories(params['num_classes']),
    }
    _dump_json(coco, ann_file)
    return len(images), len(annotations)


# --------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------


def generate_synthetic_coco(out_dir: PathLike,
                            num_train: int = 300,
                            num_val: int = 60,
                            image_size: Sequence[int] = (160, 192),
                            num_classes: int = 4,
                            max_objects: int = 5,
                            seed: int = 0,
                            object_size: Sequence[int] = DEFAULT_OBJECT_SIZE,
                            overwrite: bool = False) -> Dict[str, Any]:
    """Generate (or reuse) a synthetic COCO instance-segmentation dataset.

    Args:
        out_dir: Dataset root; created if missing.
        num_train: Number of training images (>= 1).
        num_val: Number of validation images (>= 1).
        image_size: ``(H, W)`` in pixels, each side in [64, 2048].
        num_classes: Number of shape classes, 1..len(SHAPE_NAMES); the first
            ``num_classes`` names of :data:`SHAPE_NAMES` are used.
        max_objects: Each image gets 1..max_objects objects (some may be
            skipped if they cannot be placed without heavy occlusion).
        seed: Non-negative base seed; train and val derive separate streams.
        object_size: ``(min, max)`` object diameter in pixels (log-uniform;
            the max is capped at half the shorter image side).
        overwrite: Regenerate even if an identical dataset already exists.

    Returns:
        dict with ``out_dir``, ``train_img_dir``, ``val_img_dir``,
        ``train_ann_file``, ``val_ann_file`` (str paths), ``num_train``,
        ``num_val``, ``num_train_annotations``, ``num_val_annotations``,
        ``classes`` (tuple of names) and ``skipped`` (True when an existing
        dataset with the same parameters was reused).

    Raises:
        ValueError: if a parameter is out of range (the message names it).
        FileExistsError: if ``out_dir`` holds annotation files not written by
            this generator and ``overwrite`` is False.

    Existing output written by this generator with *different* parameters is
    replaced (only this generator's own files are deleted).
    """
    height, width = _check_image_size(image_size)
    params = {
        'format_version': FORMAT_VERSION,
        'num_train': _check_int('num_train', num_train, MIN_IMAGES_PER_SPLIT,
                                MAX_IMAGES_PER_SPLIT),
        'num_val': _check_int('num_val', num_val, MIN_IMAGES_PER_SPLIT,
                              MAX_IMAGES_PER_SPLIT),
        'image_size': [height, width],
        'num_classes': _check_int('num_classes', num_classes, 1,
                                  len(SHAPE_NAMES)),
        'max_objects': _check_int('max_objects', max_objects, 1,
                                  MAX_OBJECTS_LIMIT),
        'seed': _check_int('seed', seed, 0, MAX_SEED),
        'object_size': _check_object_size(object_size),
    }
    root = Path(out_dir)

    counts = None if overwrite else _existing_summary(root, params)
    skipped = counts is not None
    if not skipped:
        if not overwrite:
            _check_owned(root)
        _remove_previous(root)
        counts = {
            split: _write_split(root, split, split_index,
                                params[f'num_{split}'], params)
            for split_index, split in enumerate(_SPLITS)
        }

    result: Dict[str, Any] = {'out_dir': str(root)}
    for split in _SPLITS:
        img_dir, ann_file = _split_paths(root, split)
        result[f'{split}_img_dir'] = str(img_dir)
        result[f'{split}_ann_file'] = str(ann_file)
        result[f'num_{split}'] = counts[split][0]
        result[f'num_{split}_annotations'] = counts[split][1]
    result['classes'] = SHAPE_NAMES[:params['num_classes']]
    result['skipped'] = skipped
    return result
