"""Find the backbone weights inside any checkpoint form users bring.

Forms seen in the wild, all handled by :func:`extract_backbone_state_dict`:

* a plain state dict (official XBNBlock ``best.pth``, torchvision's
  ``resnet50-*.pth``), classifier ``fc.*`` included;
* ``{'model': state_dict, 'cfg': Namespace, 'optimizer': ..., ...}`` (the
  official ``checkpoint.pth``), keys prefixed ``module.`` by DataParallel;
* ``{'state_dict': ..., 'meta': ...}`` (mmengine: mmdet/mmpretrain models,
  our converted files); a detector's or classifier's backbone sits under
  ``backbone.``.
"""
from typing import Dict, List, Tuple

import torch

__all__ = [
    'CLASSIFIER_PREFIXES', 'extract_backbone_state_dict', 'rename_modules',
    'split_classifier'
]

# Classification heads of ImageNet checkpoints: torchvision/official ResNet
# (fc), MobileNetV2/ShuffleNetV2 (classifier), and the official
# ShuffleNetV2's last 1x1 conv when the backbone does not build it.
CLASSIFIER_PREFIXES = ('fc.', 'classifier.', 'conv_last.')

# Where the weights sit in a checkpoint dict, most specific first.
_STATE_DICT_KEYS = ('state_dict', 'model')


def _unwrap(checkpoint) -> Tuple[dict, str]:
    if not isinstance(checkpoint, dict):
        raise TypeError('a checkpoint must be a dict (a state dict, or one '
                        "holding it under 'state_dict' or 'model'), got "
                        f'{type(checkpoint).__name__}')
    for key in _STATE_DICT_KEYS:
        if isinstance(checkpoint.get(key), dict):
            return checkpoint[key], key
    return checkpoint, 'plain'


def _strip(state_dict: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in state_dict.items()
            if k.startswith(prefix)}


def extract_backbone_state_dict(
        checkpoint, prefix='auto') -> Tuple[dict, Dict[str, List[str]]]:
    """The backbone's tensors from a loaded checkpoint, and what was left.

    Args:
        checkpoint: the object ``torch.load`` returned.
        prefix (str | None): keep only keys under this prefix and strip it
            (``'backbone'`` and ``'backbone.'`` are the same, as in mmengine's
            ``Pretrained``). ``'auto'`` (default) takes ``backbone.`` when the
            checkpoint has such keys (a detector or an mmpretrain classifier)
            and everything otherwise. ``None``/``''``: everything.

    Returns:
        ``(state_dict, dropped)``: ``dropped`` maps a reason to the keys
        (as written in the file) left out for it.
    """
    raw, form = _unwrap(checkpoint)
    tensors = {k: v for k, v in raw.items() if isinstance(v, torch.Tensor)}
    dropped: Dict[str, List[str]] = {}
    if form != 'plain':
        others = sorted(k for k in checkpoint if k != form)
        if others:
            dropped[f'checkpoint entries other than {form!r}'] = others
    non_tensors = sorted(set(raw) - set(tensors))
    if non_tensors:
        dropped['not a tensor'] = non_tensors
    # DataParallel/DDP wrap every key; strip it only when all keys have it.
    if tensors and all(k.startswith('module.') for k in tensors):
        tensors = _strip(tensors, 'module.')
    if prefix == 'auto':
        prefix = 'backbone.' if any(
            k.startswith('backbone.') for k in tensors) else None
    if prefix:
        prefix = prefix if prefix.endswith('.') else prefix + '.'
        selected = _strip(tensors, prefix)
        if not selected:
            raise KeyError(f'no key of the checkpoint starts with prefix='
                           f'{prefix!r}; its keys start with '
                           f'{_top_level_names(tensors)}')
        outside = sorted(k for k in tensors if not k.startswith(prefix))
        if outside:
            dropped[f'outside {prefix!r} ('
                    f'{", ".join(_top_level_names(outside))})'] = outside
        tensors = selected
    return tensors, dropped


def split_classifier(state_dict: dict,
                     model_keys) -> Tuple[dict, List[str]]:
    """Remove the ImageNet classifier (keys under :data:`CLASSIFIER_PREFIXES`
    that the backbone does not have)."""
    model_keys = set(model_keys)
    classifier = sorted(
        k for k in state_dict
        if k.startswith(CLASSIFIER_PREFIXES) and k not in model_keys)
    kept = {k: v for k, v in state_dict.items() if k not in classifier}
    return kept, classifier


def _top_level_names(keys) -> List[str]:
    return sorted({k.split('.', 1)[0] for k in keys})


def rename_modules(state_dict: dict, names: Dict[str, str]) -> dict:
    """Rename keys by module: ``names`` maps a module prefix of the file
    (``features.0.1``) to the backbone's (``conv1.bn``); the tensor name
    after it is kept. Keys of other modules pass unchanged (the loader then
    reports them)."""
    renamed = {}
    for key, value in state_dict.items():
        module, _, tensor = key.rpartition('.')
        renamed[f'{names[module]}.{tensor}' if module in names
                else key] = value
    return renamed
