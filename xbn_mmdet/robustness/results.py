"""The per-cell results file of a sweep (``OUT/cells.json``): written after
every finished (corruption, severity) cell, atomically, so a killed sweep
resumes where it stopped; it refuses to mix the cells of another model, data
set or setting into it."""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, Optional

from ..fileio import atomic_write

__all__ = [
    'CELLS_FILE', 'ResultsStore', 'ResumeMismatchError', 'cell_key',
    'config_fingerprint', 'file_sha256'
]

CELLS_FILE = 'cells.json'
FORMAT_VERSION = 1
CLEAN = 'clean'


class ResumeMismatchError(RuntimeError):
    """``--out`` holds results of another sweep (user error)."""


def cell_key(corruption: str, severity: int) -> str:
    """``'fog/3'``; every severity-0 cell is the one clean cell."""
    return f'{CLEAN}/0' if severity == 0 else f'{corruption}/{severity}'


def file_sha256(path: str) -> str:
    """SHA-256 of a local file; a remote checkpoint is named by its URL."""
    if not osp.isfile(path):
        return 'url:' + path
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def config_fingerprint(cfg) -> str:
    """SHA-256 of what decides a cell's numbers: the model, the test
    dataset (with its pipeline) and the test evaluator, after
    ``--cfg-options``; not the work dir, launcher or logging."""
    parts = {
        key: cfg.get(key, None)
        for key in ('model', 'test_evaluator')
    }
    parts['test_dataset'] = cfg.test_dataloader.get('dataset', None)
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _atomic_write_json(path: str, data) -> None:
    """A reader sees the old or the new file, never half of one."""
    atomic_write(path, json.dumps(data, indent=1, sort_keys=True).encode())


class ResultsStore:
    """``OUT/cells.json``: ``{"version": 1, "models": {NAME: {"identity":
    {...}, "cells": {"fog/3": {"corruption", "severity", "metrics",
    "seconds"}}}}}``.

    ``identity`` holds the config and checkpoint paths (for messages) and a
    ``fingerprint`` (config fingerprint, checkpoint SHA-256, BN statistics
    mode, corruption seed) that a resumed sweep must match.
    """

    def __init__(self, out_dir: str):
        self.path = osp.join(out_dir, CELLS_FILE)
        self.data = dict(version=FORMAT_VERSION, models={})
        if osp.isfile(self.path):
            with open(self.path) as f:
                self.data = json.load(f)
            if self.data.get('version') != FORMAT_VERSION:
                raise ResumeMismatchError(
                    f'{self.path} has format version '
                    f'{self.data.get("version")!r}, expected '
                    f'{FORMAT_VERSION}; use another --out')

    def begin_model(self, name: str, identity: Dict) -> Dict[str, Dict]:
        """Register ``name`` (or check that it matches what the file holds)
        and return its finished cells."""
        models = self.data['models']
        if name not in models:
            models[name] = dict(identity=identity, cells={})
            return {}
        old = models[name]['identity']
        diffs = [
            f'{key}: {old["fingerprint"].get(key)!r} in the file, '
            f'{value!r} now'
            for key, value in identity['fingerprint'].items()
            if old['fingerprint'].get(key) != value
        ]
        if diffs:
            raise ResumeMismatchError(
                f'{self.path} holds a sweep of {name!r} with '
                f'{old["config"]} / {old["checkpoint"]} that differs from '
                f'this one ({"; ".join(diffs)}); use another --out, or '
                'delete the file to start over')
        return dict(models[name]['cells'])

    def record(self, name: str, corruption: str, severity: int,
               metrics: Dict[str, float], seconds: float) -> None:
        key = cell_key(corruption, severity)
        self.data['models'][name]['cells'][key] = dict(
            corruption=CLEAN if severity == 0 else corruption,
            severity=severity,
            metrics=metrics,
            seconds=round(seconds, 3))
        self.save()

    def save(self) -> None:
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        _atomic_write_json(self.path, self.data)

    def cells(self, name: str) -> Dict[str, Dict]:
        return self.data['models'].get(name, {}).get('cells', {})

    def identity(self, name: str) -> Optional[Dict]:
        return self.data['models'].get(name, {}).get('identity')
