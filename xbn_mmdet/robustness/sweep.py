"""Evaluate one built Runner over the (corruption, severity) cells of a
sweep, skipping the cells its results file already holds."""
import copy
import time
from typing import Callable, Dict, Iterable, List, Tuple

from mmengine.dist import broadcast_object_list, is_main_process

from .bn_stats import AdaptBNStatsHook
from .pipeline import corrupted_dataloader_cfg
from .results import ResultsStore, ResumeMismatchError, cell_key

__all__ = ['sweep_cells', 'run_sweep']


def sweep_cells(corruptions: Iterable[str],
                severities: Iterable[int]) -> List[Tuple[str, int]]:
    """The cells in evaluation order: the clean set once (when severity 0
    is selected), then each corruption at each selected severity > 0."""
    severities = sorted(set(severities))
    cells = [('clean', 0)] if 0 in severities else []
    cells += [(c, s) for c in corruptions for s in severities if s > 0]
    return cells


def _finished_cells(store, name, identity):
    """Rank 0 checks the results file; every rank gets its finished cells
    (or the refusal, raised on every rank)."""
    payload = [None]
    if is_main_process():
        try:
            payload = [dict(done=sorted(store.begin_model(name, identity)))]
        except ResumeMismatchError as exc:
            payload = [dict(error=str(exc))]
    broadcast_object_list(payload)
    if 'error' in payload[0]:
        raise ResumeMismatchError(payload[0]['error'])
    return set(payload[0]['done'])


def run_sweep(runner, store: ResultsStore, name: str, identity: Dict,
              cells: List[Tuple[str, int]], seed: int, bn_stats: str,
              log: Callable[[str], None] = print) -> Dict[str, int]:
    """Evaluate ``runner``'s model on each cell not yet in ``store``;
    rank 0 records each cell as soon as it is evaluated. Returns
    ``{'evaluated': n, 'skipped': m}``."""
    done = _finished_cells(store, name, identity)
    base_cfg = copy.deepcopy(runner.cfg.test_dataloader)
    if bn_stats == 'adapt':
        runner.register_hook(AdaptBNStatsHook())
    counts = dict(evaluated=0, skipped=0)
    for index, (corruption, severity) in enumerate(cells, 1):
        key = cell_key(corruption, severity)
        where = f'[robustness] {name} cell {index}/{len(cells)} {key}'
        if key in done:
            log(f'{where}: already in {store.path}, skipped')
            counts['skipped'] += 1
            continue
        log(f'{where}: evaluating')
        loader_cfg = corrupted_dataloader_cfg(base_cfg, corruption, severity,
                                              seed)
        runner.test_loop.dataloader = runner.build_dataloader(loader_cfg)
        start = time.time()
        metrics = runner.test()
        seconds = time.time() - start
        if is_main_process():
            store.record(name, corruption, severity,
                         {k: float(v) for k, v in metrics.items()}, seconds)
        counts['evaluated'] += 1
        aps = ', '.join(f'{k} {v:.3f}' for k, v in metrics.items()
                        if k.endswith('_mAP'))
        if not metrics:
            aps = ('no metrics: no detection on the whole set, counted as '
                   'AP 0')
        log(f'{where}: done in {seconds:.1f} s ({aps})')
    return counts
