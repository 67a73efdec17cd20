"""Metrics (registered in mmdet's METRICS on import)."""
from .fast_coco_metric import FastCocoMetric

__all__ = ['FastCocoMetric']
