"""Dataset utilities for xbn-mmdet.

Kept import-light (numpy + OpenCV only) so the synthetic data generator can
run without importing torch or mmdet.
"""

from .synthetic_coco import (SHAPE_NAMES, generate_synthetic_coco,
                             synthetic_class_names)

__all__ = ['SHAPE_NAMES', 'generate_synthetic_coco', 'synthetic_class_names']
