"""Plots of ESM records: against layer depth (one or more models on the same
axes) and over training (one line per layer)."""
from typing import Dict, Mapping, Sequence

from .esm import ESMRecord

_QUANTITIES = (('esm_mean', 'ESM of the mean'),
               ('esm_var', 'ESM of the variance'))


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def plot_esm_vs_depth(records_by_model: Mapping[str, Sequence[ESMRecord]],
                      out_file: str,
                      title: str = '',
                      log_scale: bool = True) -> None:
    """ESM_mean and ESM_var of each BN layer against its position among the
    normalization layers in forward order (``norm_depth``), so that a BN
    network and its XBN twin share the x axis (the twin simply has no point
    where its BN was replaced)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (key, label) in zip(axes, _QUANTITIES):
        for model, records in records_by_model.items():
            ax.plot([r.norm_depth for r in records],
                    [getattr(r, key) for r in records],
                    marker='o', markersize=3, label=model)
        ax.set_xlabel('normalization layer index (forward order)')
        ax.set_ylabel(label)
        if log_scale:
            ax.set_yscale('log')
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)


def plot_esm_over_training(history: Sequence[Dict], out_file: str,
                           title: str = '') -> None:
    """Per-layer ESM against the training step: ``history`` is a list of
    ``{'step': int, 'records': [ESMRecord, ...]}``; one line per BN layer,
    coloured from shallow (light) to deep (dark)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    names = [r.name for r in history[-1]['records']]
    cmap = plt.get_cmap('viridis_r')
    fig, axes = plt.subplots(1, 2, figsize=(12, 4), layout='constrained')
    for ax, (key, label) in zip(axes, _QUANTITIES):
        for i, name in enumerate(names):
            points = [(h['step'], getattr(r, key)) for h in history
                      for r in h['records'] if r.name == name]
            ax.plot([p[0] for p in points], [p[1] for p in points],
                    color=cmap(0.15 + 0.85 * i / max(len(names) - 1, 1)),
                    linewidth=1)
        ax.set_xlabel('training step (iterations)')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(label)
        ax.set_yscale('log')
        ax.grid(alpha=0.3)
    sm = plt.cm.ScalarMappable(
        cmap=cmap, norm=plt.Normalize(0, max(len(names) - 1, 1)))
    fig.colorbar(sm, ax=axes, label='BN layer depth (forward order)')
    if title:
        fig.suptitle(title)
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
