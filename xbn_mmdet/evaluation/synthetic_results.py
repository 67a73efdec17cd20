"""A synthetic COCO ground truth with instance masks and detector-like
results, for timing and cross-checking COCO evaluators
(``tools/benchmark_coco_eval.py``, tests).

Ground truth: 2-15 objects an image (polygons of 3-12 vertices, some small,
some large, ~3% crowd boxes). Results, per image: for each object 1-3
jittered copies (the duplicates NMS leaves behind) with high scores, the
rest of ``dets_per_image`` false positives with low scores, some of them on
the wrong class; masks are RLEs of the jittered polygons. The format is
what mmdet's ``CocoMetric.compute_metrics`` receives from ``process``.
"""
import json
import os.path as osp

import numpy as np
from pycocotools import mask as mask_utils

__all__ = ['make_coco_eval_case']


def _polygon(rng, cx, cy, radius):
    n = int(rng.integers(3, 13))
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = radius * rng.uniform(0.6, 1.0, n)
    return np.stack([cx + radii * np.cos(angles),
                     cy + radii * np.sin(angles)], 1)


def _clip(poly, width, height):
    return np.stack([poly[:, 0].clip(0, width - 1),
                     poly[:, 1].clip(0, height - 1)], 1)


def _xyxy(poly):
    return [*poly.min(0), *poly.max(0)]


def make_coco_eval_case(out_dir, num_images=5000, dets_per_image=200,
                        num_classes=20, image_size=(480, 640), seed=0):
    """Write ``out_dir/instances.json`` and return ``(ann_file, classes,
    results)`` where ``results`` is the list ``CocoMetric.compute_metrics``
    takes (``(gt, pred)`` pairs)."""
    rng = np.random.default_rng(seed)
    height, width = image_size
    classes = tuple(f'class_{i}' for i in range(num_classes))
    images, annotations, results = [], [], []
    for img_id in range(1, num_images + 1):
        images.append(dict(id=img_id, width=width, height=height,
                           file_name=f'{img_id:06d}.jpg'))
        objects = []
        for _ in range(int(rng.integers(2, 16))):
            radius = float(np.exp(rng.uniform(np.log(4), np.log(160))))
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            poly = _clip(_polygon(rng, cx, cy, radius), width, height)
            label = int(rng.integers(num_classes))
            objects.append((poly, label))
            x0, y0, x1, y1 = _xyxy(poly)
            rle = mask_utils.frPyObjects([poly.ravel().tolist()], height,
                                         width)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id,
                category_id=label + 1, bbox=[x0, y0, x1 - x0, y1 - y0],
                area=float(mask_utils.area(mask_utils.merge(rle))),
                iscrowd=int(rng.random() < 0.03),
                segmentation=[poly.ravel().tolist()]))
        polys, labels, scores = [], [], []
        for poly, label in objects:
            for _ in range(int(rng.integers(1, 4))):
                shift = rng.normal(0, 0.08, 2) * np.ptp(poly, 0).clip(2)
                scale = rng.uniform(0.85, 1.15)
                centre = poly.mean(0)
                polys.append(_clip((poly - centre) * scale + centre + shift,
                                   width, height))
                labels.append(label if rng.random() < 0.9 else
                              int(rng.integers(num_classes)))
                scores.append(rng.uniform(0.3, 1.0))
        while len(polys) < dets_per_image:
            radius = float(np.exp(rng.uniform(np.log(4), np.log(120))))
            polys.append(_clip(_polygon(rng, rng.uniform(0, width),
                                        rng.uniform(0, height), radius),
                               width, height))
            labels.append(int(rng.integers(num_classes)))
            scores.append(rng.uniform(0.0, 0.5))
        polys, labels = polys[:dets_per_image], labels[:dets_per_image]
        scores = np.asarray(scores[:dets_per_image], np.float32)
        masks = [mask_utils.merge(mask_utils.frPyObjects(
            [p.ravel().tolist()], height, width)) for p in polys]
        results.append((
            dict(width=width, height=height, img_id=img_id),
            dict(img_id=img_id,
                 bboxes=np.asarray([_xyxy(p) for p in polys], np.float32),
                 scores=scores,
                 labels=np.asarray(labels, np.int64),
                 masks=masks)))
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(classes)]
    ann_file = osp.join(out_dir, 'instances.json')
    with open(ann_file, 'w') as f:
        json.dump(dict(images=images, annotations=annotations,
                       categories=categories), f)
    return ann_file, classes, results
