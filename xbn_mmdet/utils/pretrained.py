"""Fail early, with one clear message, when a local pretrained checkpoint
named in the model config does not exist.

Without this, a missing file surfaces only after the whole Runner has been
built, as a traceback from deep inside ``init_weights``.
"""
import os.path as osp
from collections import namedtuple

__all__ = [
    'MissingPretrainedError', 'MissingPretrained', 'find_missing_pretrained',
    'local_pretrained',
    'check_pretrained_checkpoints', 'drop_missing_pretrained'
]

MissingPretrained = namedtuple(
    'MissingPretrained',
    # key: config path of the entry (model.backbone.init_cfg.checkpoint);
    # file: the path as written; override: the key to set to None
    ['key', 'file', 'override'])


class MissingPretrainedError(FileNotFoundError):
    """A local pretrained checkpoint named in the config does not exist."""

    def __init__(self, missing):
        self.missing = list(missing)
        super().__init__(format_missing_pretrained(self.missing))

    def __str__(self):
        return format_missing_pretrained(self.missing)


def is_remote_checkpoint(path):
    """Anything with a scheme (``http(s)://``, ``torchvision://``,
    ``open-mmlab://``, ``mmcls://``, ``modelzoo://``, ``s3://``...) is
    resolved by mmengine's CheckpointLoader, not the local file system."""
    return '://' in path


def _iter_pretrained(node, key):
    """Yield ``(container, index, key)`` for every local pretrained file
    entry below ``node``: ``init_cfg`` entries of type ``Pretrained`` and
    string ``pretrained=`` arguments (the deprecated form backbones accept).
    """
    if isinstance(node, dict):
        items = node.items()
    elif isinstance(node, (list, tuple)):
        items = ((i, v) for i, v in enumerate(node))
    else:
        return
    for k, v in items:
        sub = f'{key}[{k}]' if isinstance(k, int) else f'{key}.{k}'
        if k == 'init_cfg':
            inits = v if isinstance(v, (list, tuple)) else [v]
            for i, init in enumerate(inits):
                if (isinstance(init, dict)
                        and init.get('type') == 'Pretrained'
                        and isinstance(init.get('checkpoint'), str)):
                    item_key = sub if v is init else f'{sub}[{i}]'
                    yield MissingPretrained(f'{item_key}.checkpoint',
                                            init['checkpoint'], sub)
        elif k == 'pretrained' and isinstance(v, str):
            yield MissingPretrained(sub, v, sub)
        else:
            yield from _iter_pretrained(v, sub)


def local_pretrained(cfg):
    """The local (not ``scheme://``) pretrained file entries of
    ``cfg.model``."""
    model = cfg.get('model', None)
    if model is None:
        return []
    return [e for e in _iter_pretrained(model, 'model')
            if not is_remote_checkpoint(e.file)]


def find_missing_pretrained(cfg):
    """List the local pretrained files in ``cfg.model`` that do not exist."""
    return [e for e in local_pretrained(cfg)
            if not osp.isfile(osp.expanduser(e.file))]


def format_missing_pretrained(missing):
    lines = []
    for m in missing:
        lines.append(
            f'pretrained checkpoint not found: {m.key} = {m.file!r} '
            f'(looked for {osp.abspath(osp.expanduser(m.file))}).')
    overrides = ' '.join(
        dict.fromkeys(f'{m.override}=None' for m in missing))
    lines.append(
        'Obtain the file (see README "Pretrained weights"), or train from '
        f'scratch with --cfg-options {overrides}')
    return '\n'.join(lines)


def check_pretrained_checkpoints(cfg):
    """Raise :class:`MissingPretrainedError` if a local pretrained checkpoint
    named in ``cfg.model`` (``init_cfg=dict(type='Pretrained',
    checkpoint=...)`` at any depth, or a string ``pretrained=``) does not
    exist. Remote checkpoints (``scheme://...``) are not checked."""
    missing = find_missing_pretrained(cfg)
    if missing:
        raise MissingPretrainedError(missing)


def drop_missing_pretrained(cfg):
    """Remove the missing local pretrained entries from ``cfg.model`` in
    place and return them (see :func:`find_missing_pretrained`).

    For runs that resume or ``load_from`` a checkpoint: mmengine still calls
    ``init_weights`` before loading it, so a missing pretrained file would
    crash the run although its weights are overwritten right after.
    """
    missing = find_missing_pretrained(cfg)
    for m in missing:
        parent, last = _resolve_parent(cfg, m.override)
        value = parent[last]
        if isinstance(value, (list, tuple)):
            kept = [
                init for init in value if not (
                    isinstance(init, dict) and init.get('type') == 'Pretrained'
                    and init.get('checkpoint') in {x.file
                                                   for x in missing})
            ]
            parent[last] = kept or None
        else:
            parent[last] = None
    return missing


def _resolve_parent(cfg, key):
    """``'model.a[1].init_cfg'`` -> (the container of init_cfg, 'init_cfg')"""
    tokens = []
    for part in key.split('.'):
        name, *indices = part.split('[')
        tokens.append(name)
        tokens.extend(int(i.rstrip(']')) for i in indices)
    node = cfg
    for tok in tokens[:-1]:
        node = node[tok]
    return node, tokens[-1]
