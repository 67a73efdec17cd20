"""Estimation shift magnitude (ESM) per BN layer (Huang et al., CVPR 2022).

For a BN layer with running (estimated) mean ``mu_hat`` and variance
``var_hat``, and the expected statistics ``mu``, ``var`` of its input (the
exact population mean and variance over every sample and spatial position of
a data set, with the trained model in eval mode)::

    ESM_mean = || mu_hat - mu ||_2        ESM_var = || var_hat - var ||_2

``var`` is the population variance (sum of squared deviations / count).
"""
import csv
import dataclasses
import json
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

import torch
import torch.nn as nn

from .population_stats import BNInputStats, is_batch_norm

CSV_FIELDS = ('model', 'name', 'depth', 'norm_depth', 'channels', 'frozen',
              'esm_mean', 'esm_var', 'esm_mean_per_channel',
              'esm_var_per_channel')


@dataclasses.dataclass
class ESMRecord:
    """The estimation shift of one BN layer.

    Attributes:
        name: module name in the model (``backbone.layer1.0.bn2``).
        depth: index among the BN layers, in forward order (0 = first run).
        norm_depth: index among all normalization layers (BN, GN, LN, IN) in
            forward order: the same position in a BN network and its XBN
            twin, whose replaced BNs are GroupNorms.
        channels: number of channels (``num_features``).
        frozen: the layer's running statistics or affine parameters are not
            trained: its affine parameters all have ``requires_grad=False``,
            or it stays in eval mode when the model is put in train mode
            (mmdet's ``norm_eval=True``, ``frozen_stages``). With
            ``norm_eval`` the running statistics never change in training.
        esm_mean, esm_var: ``||mu_hat - mu||_2`` and ``||var_hat - var||_2``.
        esm_mean_per_channel, esm_var_per_channel: the same divided by
            ``channels``.
    """
    name: str
    depth: int
    norm_depth: int
    channels: int
    frozen: bool
    esm_mean: float
    esm_var: float
    esm_mean_per_channel: float
    esm_var_per_channel: float

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)


def default_forward(model: nn.Module, batch: Any) -> None:
    """One eval forward: ``model.test_step(batch)`` for mmengine models (an
    mmdet detector: data preprocessor, then predict), ``model(batch)`` for a
    tensor and ``model(batch[0])`` for an ``(inputs, targets)`` pair."""
    if hasattr(model, 'test_step') and hasattr(model, 'data_preprocessor'):
        model.test_step(batch)
    elif isinstance(batch, (list, tuple)):
        model(batch[0])
    else:
        model(batch)


def _batch_size(batch: Any) -> int:
    if isinstance(batch, dict) and 'inputs' in batch:
        return len(batch['inputs'])
    if isinstance(batch, (list, tuple)):
        return _batch_size(batch[0])
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    return 1


def frozen_bn_layers(model: nn.Module) -> Dict[str, bool]:
    """``{bn name: frozen}`` (see :class:`ESMRecord`). Probes the train mode
    by calling ``model.train()`` (which applies ``norm_eval``) and restores
    every module's previous mode."""
    modes = {m: m.training for m in model.modules()}
    try:
        model.train()
        frozen = {}
        for name, m in model.named_modules():
            if is_batch_norm(m):
                params = list(m.parameters(recurse=False))
                no_grad = bool(params) and not any(p.requires_grad
                                                   for p in params)
                frozen[name] = no_grad or not m.training
    finally:
        for m, mode in modes.items():
            m.training = mode
    return frozen


def records_from_stats(model: nn.Module, stats: BNInputStats,
                       frozen: Dict[str, bool]) -> List[ESMRecord]:
    """ESM records of the BN layers ``stats`` saw, in forward order."""
    modules = dict(model.named_modules())
    records = []
    bn_seen = [n for n in stats.order if n in stats.moments]
    for depth, name in enumerate(bn_seen):
        bn = modules[name]
        moments = stats.moments[name]
        if bn.running_mean is None or bn.running_var is None:
            raise ValueError(f'BN layer {name} keeps no running statistics '
                             f'(track_running_stats=False): it normalizes '
                             f'with batch statistics also in eval mode, so '
                             f'it has no estimation shift')
        mean_hat = bn.running_mean.detach().to('cpu', torch.float64)
        var_hat = bn.running_var.detach().to('cpu', torch.float64)
        esm_mean = float(torch.linalg.vector_norm(mean_hat - moments.mean))
        esm_var = float(torch.linalg.vector_norm(var_hat - moments.var))
        records.append(
            ESMRecord(
                name=name,
                depth=depth,
                norm_depth=stats.order.index(name),
                channels=bn.num_features,
                frozen=frozen[name],
                esm_mean=esm_mean,
                esm_var=esm_var,
                esm_mean_per_channel=esm_mean / bn.num_features,
                esm_var_per_channel=esm_var / bn.num_features))
    return records


def compute_estimation_shift(
        model: nn.Module,
        data_loader: Iterable,
        forward_fn: Callable[[nn.Module, Any], Any] = default_forward,
        progress: bool = False,
        num_samples: Optional[int] = None) -> List[ESMRecord]:
    """Per-BN-layer estimation shift of ``model`` on the data of
    ``data_loader``, in forward order.

    The model runs in eval mode under ``torch.no_grad()`` (BN normalizes with
    its running statistics, which therefore do not change); every module's
    train/eval mode is restored afterwards. In a process group each process
    should see its own shard (mmengine's ``DefaultSampler`` with
    ``round_up=False``); the moments are merged over all processes.

    Args:
        model: any ``nn.Module`` with at least one BN layer (an mmdet
            detector, an mmengine ``BaseModel``, a plain network).
        data_loader: an iterable of batches that ``forward_fn`` accepts.
        forward_fn: ``forward_fn(model, batch)`` runs one eval forward;
            see :func:`default_forward`.
        progress: show mmengine's progress bar (over samples).
        num_samples: the progress bar's total (default ``len(dataset)``).

    Raises:
        ValueError: the model has no BN layer, or the data loader yielded no
            sample.
    """
    frozen = frozen_bn_layers(model)
    modes = {m: m.training for m in model.modules()}
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        if num_samples is None:
            num_samples = len(getattr(data_loader, 'dataset', ()))
        bar = ProgressBar(num_samples)
    try:
        model.eval()
        with BNInputStats(model) as stats, torch.no_grad():
            for batch in data_loader:
                forward_fn(model, batch)
                if bar is not None:
                    bar.update(_batch_size(batch))
        stats.all_reduce()
    finally:
        for m, mode in modes.items():
            m.training = mode
    if bar is not None:
        print(flush=True)
    if not stats.moments:
        raise ValueError('the data loader yielded no sample, so no BN layer '
                         'saw any input; check the split and --max-images')
    return records_from_stats(model, stats, frozen)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------
def write_records_csv(path: str,
                      records_by_model: Dict[str, Sequence[ESMRecord]]) -> None:
    """One row per (model, BN layer), columns :data:`CSV_FIELDS`."""
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for label, records in records_by_model.items():
            for rec in records:
                writer.writerow(dict(model=label, **rec.to_dict()))


def write_records_json(path: str,
                       records_by_model: Dict[str, Sequence[ESMRecord]],
                       meta: Optional[Dict[str, Dict[str, Any]]] = None
                       ) -> None:
    """``{"models": [{"label", <meta>..., "records": [...]}, ...]}``."""
    meta = meta or {}
    models = [
        dict(label=label, **meta.get(label, {}),
             records=[r.to_dict() for r in records])
        for label, records in records_by_model.items()
    ]
    with open(path, 'w') as f:
        json.dump(dict(models=models), f, indent=1)


def read_records_json(path: str) -> Dict[str, List[ESMRecord]]:
    with open(path) as f:
        models = json.load(f)['models']
    return {
        m['label']: [ESMRecord(**r) for r in m['records']]
        for m in models
    }
