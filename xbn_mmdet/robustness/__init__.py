"""Robustness under distribution shift (``tools/test_robustness.py``):
corrupted test sets (the "Benchmarking Robustness in Object Detection"
protocol), test-time BatchNorm statistics (AdaBN), mPC/rPC, tables and
heat maps. One job a module:

- ``corruptions``: names, groups, the probe and ``SeededCorrupt``
- ``pipeline``: where the corruption goes in a test pipeline
- ``bn_stats``: ``--bn-stats adapt``
- ``results``: the resumable per-cell results file
- ``sweep``: evaluating a Runner over the cells
- ``summary``: P, mPC, rPC
- ``report``: JSON, CSV and PNG
"""
from .bn_stats import BN_STATS_MODES, AdaptBNStatsHook, estimate_bn_stats
from .corruptions import (ALL_CORRUPTIONS, BENCHMARK_CORRUPTIONS,
                          CORRUPTION_GROUPS, EXTRA_CORRUPTIONS, SEVERITIES,
                          CorruptionNameError, SeededCorrupt,
                          probe_corruptions, resolve_corruptions)
from .pipeline import PipelineError, corrupted_dataloader_cfg
from .results import (ResultsStore, ResumeMismatchError, config_fingerprint,
                      file_sha256)
from .summary import summarize_model, task_ap
from .sweep import run_sweep, sweep_cells

__all__ = [
    'BN_STATS_MODES', 'AdaptBNStatsHook', 'estimate_bn_stats',
    'ALL_CORRUPTIONS', 'BENCHMARK_CORRUPTIONS', 'CORRUPTION_GROUPS',
    'EXTRA_CORRUPTIONS', 'SEVERITIES', 'CorruptionNameError',
    'SeededCorrupt', 'probe_corruptions', 'resolve_corruptions',
    'PipelineError', 'corrupted_dataloader_cfg', 'ResultsStore',
    'ResumeMismatchError', 'config_fingerprint', 'file_sha256',
    'summarize_model', 'task_ap', 'run_sweep', 'sweep_cells'
]
