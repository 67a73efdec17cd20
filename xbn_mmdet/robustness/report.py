"""A sweep's tables and pictures: ``results.json`` (everything),
``results.csv`` (one row a model, task, corruption and severity),
``summary.csv`` (P, mPC, rPC a model and task) and ``robustness_<task>.png``
(a heat map of AP over corruption x severity per model, and with two models
a bar chart of P, mPC and rPC)."""
import csv
import json
import os.path as osp
from typing import Dict, List

__all__ = ['write_report']


def write_report(out_dir: str, summaries: Dict[str, Dict],
                 identities: Dict[str, Dict], corruptions: List[str],
                 severities: List[int]) -> List[str]:
    """Write the tables and plots; return the written paths.

    ``summaries``: model name -> :func:`summarize_model` output;
    ``identities``: model name -> the results file's identity entry.
    """
    paths = []
    results = dict(
        corruptions=list(corruptions),
        severities=list(severities),
        models={
            name: dict(identity=identities[name], tasks=summaries[name])
            for name in summaries
        })
    path = osp.join(out_dir, 'results.json')
    with open(path, 'w') as f:
        json.dump(results, f, indent=1)
    paths.append(path)

    path = osp.join(out_dir, 'results.csv')
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['model', 'task', 'corruption', 'severity', 'AP'])
        for name, tasks in summaries.items():
            for task, summary in tasks.items():
                if summary['clean'] is not None:
                    writer.writerow([name, task, 'clean', 0,
                                     summary['clean']])
                for corruption, row in summary['table'].items():
                    for severity, ap in sorted(row.items()):
                        if severity > 0:
                            writer.writerow(
                                [name, task, corruption, severity, ap])
    paths.append(path)

    path = osp.join(out_dir, 'summary.csv')
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['model', 'task', 'bn_stats', 'P_clean', 'mPC',
                         'rPC', 'cells'])
        for name, tasks in summaries.items():
            bn_stats = identities[name]['fingerprint']['bn_stats']
            for task, s in tasks.items():
                writer.writerow([name, task, bn_stats, _blank(s['clean']),
                                 _blank(s['mPC']), _blank(s['rPC']),
                                 s['cells_used']])
    paths.append(path)

    tasks = sorted({t for s in summaries.values() for t in s},
                   key=['bbox', 'segm'].index)
    for task in tasks:
        path = osp.join(out_dir, f'robustness_{task}.png')
        _plot_task(path, task, summaries, identities, corruptions,
                   severities)
        paths.append(path)
    return paths


def _blank(value):
    return '' if value is None else value


def _fmt(value, spec='.3f'):
    return 'n/a' if value is None else format(value, spec)


def _plot_task(path, task, summaries, identities, corruptions, severities):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    names = [n for n in summaries if task in summaries[n]]
    with_bars = len(names) > 1
    columns = len(names) + int(with_bars)
    fig, axes = plt.subplots(
        1, columns, figsize=(4.2 * columns + 0.6,
                             1.2 + 0.32 * max(len(corruptions), 4)),
        squeeze=False)
    axes = axes[0]
    grids = {}
    for name in names:
        table = summaries[name][task]['table']
        grids[name] = np.array(
            [[table[c].get(s, np.nan) if table[c].get(s) is not None
              else np.nan for s in severities] for c in corruptions],
            dtype=float)
    top = max([np.nanmax(g) for g in grids.values() if np.isfinite(g).any()]
              + [1e-6])
    label = 'box AP' if task == 'bbox' else 'mask AP'
    for ax, name in zip(axes, names):
        s = summaries[name][task]
        image = ax.imshow(grids[name], vmin=0, vmax=top, cmap='viridis',
                          aspect='auto')
        for (i, j), value in np.ndenumerate(grids[name]):
            if np.isfinite(value):
                ax.text(j, i, f'{value:.2f}', ha='center', va='center',
                        fontsize=7,
                        color='white' if value < 0.6 * top else 'black')
        ax.set_xticks(range(len(severities)), [str(v) for v in severities])
        ax.set_yticks(range(len(corruptions)), corruptions, fontsize=8)
        ax.set_xlabel('severity (0 = clean)')
        bn_stats = identities[name]['fingerprint']['bn_stats']
        ax.set_title(f'{name} [{bn_stats} BN stats]\nP {_fmt(s["clean"])}  '
                     f'mPC {_fmt(s["mPC"])}  rPC {_fmt(s["rPC"], ".2f")}',
                     fontsize=9)
        fig.colorbar(image, ax=ax, label=label, fraction=0.05)
    if with_bars:
        ax = axes[-1]
        keys = ['clean', 'mPC', 'rPC']
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            values = [summaries[name][task][key] or 0.0 for key in keys]
            bars = ax.bar(np.arange(3) + k * width, values, width,
                          label=name)
            ax.bar_label(bars, fmt='%.3f', fontsize=7)
        ax.set_xticks(np.arange(3) + 0.4 - width / 2,
                      ['P (clean AP)', 'mPC', 'rPC'])
        ax.set_title(f'{label}: clean, under corruption, relative',
                     fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
