"""Estimation shift of BatchNorm layers (the XBNBlock paper's diagnostic).

* :func:`compute_estimation_shift` - per-BN-layer ESM records of a model on
  a data loader (exact population statistics, forward order).
* :class:`EstimationShiftHook` - the same during training (registered in
  ``mmdet.registry.HOOKS``), written through the runner's visualizer.
* :func:`plot_esm_vs_depth`, :func:`plot_esm_over_training` - the plots.
* :func:`build_esm_dataloader`, :func:`build_model_with_checkpoint` - what
  ``tools/analysis/estimation_shift.py`` builds from a config.
"""
from .esm import (CSV_FIELDS, ESMRecord, compute_estimation_shift,
                  default_forward, frozen_bn_layers, read_records_json,
                  write_records_csv, write_records_json)
from .hook import EstimationShiftHook
from .inputs import (SPLITS, build_dataloader_checked, build_esm_dataloader,
                     build_model_with_checkpoint, check_state_dict_matches,
                     esm_dataloader_cfg, ordered_dataloader_cfg)
from .plot import plot_esm_over_training, plot_esm_vs_depth
from .population_stats import (BNInputStats, RunningMoments, is_batch_norm,
                               is_norm_layer)

__all__ = [
    'ESMRecord', 'CSV_FIELDS', 'compute_estimation_shift', 'default_forward',
    'frozen_bn_layers', 'read_records_json', 'write_records_csv',
    'write_records_json', 'EstimationShiftHook', 'SPLITS',
    'build_dataloader_checked', 'build_esm_dataloader',
    'build_model_with_checkpoint', 'check_state_dict_matches',
    'esm_dataloader_cfg', 'ordered_dataloader_cfg', 'plot_esm_over_training',
    'plot_esm_vs_depth', 'BNInputStats', 'RunningMoments', 'is_batch_norm',
    'is_norm_layer'
]
