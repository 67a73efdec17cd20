"""``EstimationShiftHook``: per-BN-layer ESM during training, written through
the runner's visualizer (``LocalVisBackend``: ``vis_data/scalars.json``;
``TensorboardVisBackend`` when configured), plus an ESM-over-training plot.

Config::

    custom_hooks = [
        dict(type='EstimationShiftHook',
             interval=1, by_epoch=True,   # every epoch (or N iterations)
             split='val', num_images=64)  # the first 64 val images
    ]
"""
import json
import os.path as osp
from typing import Dict, List, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.utils import mkdir_or_exist

from mmdet.registry import HOOKS

from .esm import compute_estimation_shift
from .inputs import (SPLITS, build_dataloader_checked, esm_dataloader_cfg,
                     ordered_dataloader_cfg)
from .plot import plot_esm_over_training, plot_esm_vs_depth


@HOOKS.register_module()
class EstimationShiftHook(Hook):
    """Measure the estimation shift magnitude of every BN layer every
    ``interval`` epochs (``by_epoch=True``) or iterations.

    Each measurement runs the model in eval mode over the first
    ``num_images`` images of ``split`` (the val pipeline, in order; see
    :func:`~xbn_mmdet.analysis.esm_dataloader_cfg`) or over the data loader
    config ``dataloader``, then restores the model's modes. The scalars
    ``esm_mean/<layer>`` and ``esm_var/<layer>`` go to the runner's
    visualizer at the step of the number of iterations trained so far;
    ``<log_dir>/esm/esm_history.json`` holds every measurement, and after
    training ``esm_over_training.png`` and ``esm_vs_depth.png`` plot them.
    In a process group each process measures its shard of the images and
    the statistics are merged exactly.

    Note: with frozen BNs (mmdet's ``norm_eval=True``, as in the COCO
    configs) the running statistics never change during training; the ESM
    then measures how far the (ImageNet) estimates are from the detection
    data, and changes only because the layers before each BN train.

    Args:
        interval: measure every ``interval`` epochs or iterations.
        by_epoch: count ``interval`` in epochs (True) or iterations.
        split: ``'val'`` or ``'train'`` (read with the val pipeline).
        num_images: how many images (the first ones); ``None``: all.
        dataloader: a data loader config to use instead of ``split``.
        before_train: measure once before the first iteration too (step 0).
        plot: draw the plots after training.
    """

    priority = 'LOW'

    def __init__(self,
                 interval: int = 1,
                 by_epoch: bool = True,
                 split: str = 'val',
                 num_images: Optional[int] = 64,
                 dataloader: Optional[dict] = None,
                 before_train: bool = True,
                 plot: bool = True) -> None:
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'EstimationShiftHook interval must be a '
                             f'positive integer, got {interval!r}')
        if split not in SPLITS:
            raise ValueError(f'EstimationShiftHook split {split!r} is not '
                             f"valid; use one of {', '.join(SPLITS)}")
        if num_images is not None and (not isinstance(num_images, int)
                                       or num_images < 1):
            raise ValueError(f'EstimationShiftHook num_images must be a '
                             f'positive integer or None, got {num_images!r}')
        self.interval = interval
        self.by_epoch = by_epoch
        self.split = split
        self.num_images = num_images
        self.dataloader_cfg = dataloader
        self.measure_before_train = before_train
        self.plot = plot
        self.history: List[Dict] = []
        self._loader = None

    # -- hook points --------------------------------------------------------
    def before_train(self, runner) -> None:
        if self.dataloader_cfg is not None:
            loader_cfg = ordered_dataloader_cfg(self.dataloader_cfg,
                                                self.num_images)
            what = 'the EstimationShiftHook dataloader'
        else:
            loader_cfg = esm_dataloader_cfg(runner.cfg, self.split,
                                            self.num_images)
            what = f'split {self.split!r}'
        self._loader = build_dataloader_checked(loader_cfg, what)
        self.out_dir = osp.join(runner.log_dir, 'esm')
        if self.measure_before_train:
            self._measure(runner, step=0)

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        if not self.by_epoch and self.every_n_train_iters(
                runner, self.interval):
            self._measure(runner, step=runner.iter + 1)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch and self.every_n_epochs(runner, self.interval):
            # runner.iter already counts this epoch's iterations here.
            self._measure(runner, step=runner.iter, epoch=runner.epoch + 1)

    def after_train(self, runner) -> None:
        if not (self.plot and self.history and is_main_process()):
            return
        name = osp.splitext(osp.basename(runner.cfg.filename or 'model'))[0]
        plot_esm_over_training(
            self.history, osp.join(self.out_dir, 'esm_over_training.png'),
            title=f'{name}: ESM per BN layer during training')
        last = self.history[-1]
        plot_esm_vs_depth({f"{name} (iter {last['step']})": last['records']},
                          osp.join(self.out_dir, 'esm_vs_depth.png'))

    # -- measurement ----------------------------------------------------------
    def _measure(self, runner, step: int,
                 epoch: Optional[int] = None) -> None:
        """One measurement at ``step`` iterations trained (``epoch``
        epochs, when measured at an epoch's end)."""
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        records = compute_estimation_shift(model, self._loader)
        self.history.append(dict(step=step, epoch=epoch, records=records))
        scalars = {}
        for rec in records:
            scalars[f'esm_mean/{rec.name}'] = rec.esm_mean
            scalars[f'esm_var/{rec.name}'] = rec.esm_var
        runner.visualizer.add_scalars(scalars, step=step)
        deepest = records[-1]
        runner.logger.info(
            f'EstimationShiftHook: step {step}, {len(records)} BN layers; '
            f'deepest ({deepest.name}) ESM mean {deepest.esm_mean:.4g}, var '
            f'{deepest.esm_var:.4g}')
        if is_main_process():
            mkdir_or_exist(self.out_dir)
            with open(osp.join(self.out_dir, 'esm_history.json'), 'w') as f:
                json.dump([
                    dict(step=h['step'], epoch=h['epoch'],
                         records=[r.to_dict() for r in h['records']])
                    for h in self.history
                ], f, indent=1)
