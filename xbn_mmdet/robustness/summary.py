"""mPC and rPC from a sweep's cells.

For each task (``bbox``; ``segm`` when the detector predicts masks), with
AP the COCO mAP@[.5:.95] the evaluator reports:

* P (clean AP): AP at severity 0, the unchanged test set;
* mPC (mean performance under corruption): the mean of AP over every
  evaluated (corruption, severity) cell with severity 1..5, of the
  corruptions and severities selected: with each corruption evaluated at
  the same severities, the mean over corruptions of the mean over
  severities, as in Michaelis et al. 2019;
* rPC (relative performance under corruption): mPC / P.
"""
from typing import Dict, List, Optional, Sequence

__all__ = ['TASKS', 'task_ap', 'summarize_model']

# Task -> the metric name's last part (the evaluator's prefix, e.g.
# 'coco/', varies).
TASKS = {'bbox': 'bbox_mAP', 'segm': 'segm_mAP'}


def task_ap(metrics: Dict[str, float], task: str) -> Optional[float]:
    """The AP of ``task`` in one cell's metrics, None when absent.

    No metrics at all is AP 0: mmdet's ``CocoMetric`` returns nothing
    ("The testing results of the whole dataset is empty") when the model
    detected nothing on the whole test set, which is what a detector can do
    under a strong corruption.
    """
    if not metrics:
        return 0.0
    suffix = TASKS[task]
    for key, value in metrics.items():
        if key.split('/')[-1] == suffix:
            return float(value)
    return None


def summarize_model(cells: Dict[str, Dict], corruptions: Sequence[str],
                    severities: Sequence[int]) -> Dict[str, Dict]:
    """``{task: {'clean': P, 'mPC': .., 'rPC': .., 'table': {corruption:
    {severity: AP}}, 'per_corruption': {corruption: mean AP over 1..5},
    'cells_used': n}}`` for each task present in the cells; a value that
    its inputs do not define (no clean cell, no corrupted cell, P = 0) is
    None."""
    by_key = {(c['corruption'], c['severity']): c for c in cells.values()}
    clean = by_key.get(('clean', 0)) if 0 in severities else None
    corrupted = [s for s in severities if s > 0]
    summary = {}
    for task in TASKS:
        # Tasks the model has: those some cell with metrics reports.
        if not any(c['metrics'] and task_ap(c['metrics'], task) is not None
                   for c in cells.values()):
            continue
        p = task_ap(clean['metrics'], task) if clean else None
        table, per_corruption, values = {}, {}, []
        for name in corruptions:
            row = {}
            if p is not None:
                row[0] = p
            for severity in corrupted:
                cell = by_key.get((name, severity))
                if cell is not None:
                    row[severity] = task_ap(cell['metrics'], task)
            table[name] = row
            row_values = [
                row[s] for s in corrupted if row.get(s) is not None
            ]
            per_corruption[name] = _mean(row_values)
            values += row_values
        mpc = _mean(values)
        summary[task] = dict(
            clean=p,
            mPC=mpc,
            rPC=(mpc / p if mpc is not None and p else None),
            table=table,
            per_corruption=per_corruption,
            cells_used=len(values))
    return summary


def _mean(values: List[float]) -> Optional[float]:
    return sum(values) / len(values) if values else None
