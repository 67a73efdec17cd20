"""What an ESM measurement takes from an mmengine config: the data loader of
a split (optionally its first N images) and the model with its checkpoint,
refused with one clear line when the checkpoint does not fit the config."""
import copy
from typing import Optional

import torch.nn as nn
from mmengine.config import Config, ConfigDict

SPLITS = ('val', 'train')


def esm_dataloader_cfg(cfg: Config,
                       split: str = 'val',
                       max_images: Optional[int] = None) -> ConfigDict:
    """The data loader config that reads ``split`` of ``cfg`` in order.

    ``val`` is ``cfg.val_dataloader``; ``train`` is ``cfg.train_dataloader``
    read with the val pipeline (no random augmentation: the expected
    statistics are those of the images, not of random flips). The sampler is
    mmengine's ``DefaultSampler`` without shuffling and without the padding
    it adds across processes (``round_up=False``), so every image is counted
    exactly once; ``max_images`` keeps the first N images (the dataset's
    ``indices``).
    """
    if split not in SPLITS:
        raise ValueError(f'split {split!r} is not valid; use one of '
                         f"{', '.join(SPLITS)}")
    key = f'{split}_dataloader'
    if cfg.get(key) is None:
        raise ValueError(f'the config has no {key}, needed for split '
                         f'{split!r}')
    loader = copy.deepcopy(cfg[key])
    dataset = loader.dataset
    if split == 'train' and cfg.get('val_dataloader') is not None:
        val_dataset = cfg.val_dataloader.dataset
        while 'dataset' in val_dataset:
            val_dataset = val_dataset.dataset
        inner = dataset
        while 'dataset' in inner:  # dataset wrappers (RepeatDataset, ...)
            inner = inner.dataset
        if 'pipeline' in val_dataset and 'pipeline' in inner:
            inner.pipeline = copy.deepcopy(val_dataset.pipeline)
    return ordered_dataloader_cfg(loader, max_images)


def ordered_dataloader_cfg(loader: dict,
                           max_images: Optional[int] = None) -> ConfigDict:
    """A copy of the data loader config ``loader`` that reads its dataset
    once, in order (no shuffle, no padding across processes), optionally
    only the first ``max_images`` images."""
    if max_images is not None and max_images < 1:
        raise ValueError(f'max_images must be a positive integer, got '
                         f'{max_images}')
    loader = ConfigDict(copy.deepcopy(loader))
    inner = loader.dataset
    while 'dataset' in inner:  # dataset wrappers (RepeatDataset, ...)
        inner = inner.dataset
    if max_images is not None:
        inner.indices = max_images
    # mmengine's serialization fails on an empty dataset with a numpy
    # message; unserialized, the emptiness is ours to report.
    inner.serialize_data = False
    loader.sampler = dict(type='DefaultSampler', shuffle=False,
                          round_up=False)
    loader.batch_sampler = None
    loader.persistent_workers = False
    return loader


def build_esm_dataloader(cfg: Config,
                         split: str = 'val',
                         max_images: Optional[int] = None):
    """The data loader of :func:`esm_dataloader_cfg`, built by mmengine's
    Runner in the config's registry scope; an empty split is a
    ``ValueError`` naming it."""
    from mmengine.registry import init_default_scope
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    return build_dataloader_checked(
        esm_dataloader_cfg(cfg, split, max_images), f'split {split!r}')


def build_dataloader_checked(loader_cfg: dict, what: str):
    """mmengine's ``Runner.build_dataloader``; an empty dataset is a
    ``ValueError`` naming ``what`` and the dataset's files."""
    from mmengine.runner import Runner
    loader = Runner.build_dataloader(loader_cfg)
    if len(loader.dataset) == 0:
        dataset = loader_cfg['dataset']
        where = ', '.join(f'{k}={dataset[k]!r}'
                          for k in ('data_root', 'ann_file') if k in dataset)
        raise ValueError(f'{what} has no images ({where})')
    return loader


def _state_dict_of(checkpoint) -> dict:
    state = checkpoint.get('state_dict', checkpoint)
    if all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def check_state_dict_matches(model: nn.Module, state: dict,
                             checkpoint: str) -> None:
    """``ValueError`` in one line unless ``state`` has exactly the model's
    keys with the model's shapes (a few examples of each difference)."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}'
        for k in own if k in state and hasattr(state[k], 'shape')
        and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    for what, keys in (('missing from the checkpoint', missing),
                       ('not in the model', unexpected),
                       ('with other shapes (checkpoint vs model)', shapes)):
        if keys:
            more = f' and {len(keys) - 3} more' if len(keys) > 3 else ''
            problems.append(f"{len(keys)} keys {what}: "
                            f"{', '.join(keys[:3])}{more}")
    if problems:
        raise ValueError(f'checkpoint {checkpoint} does not match the model '
                         f"of the config: {'; '.join(problems)}")


def build_model_with_checkpoint(cfg: Config, checkpoint: str) -> nn.Module:
    """``cfg.model`` built from mmdet's registry (after ``import
    xbn_mmdet``) with every weight and running statistic from
    ``checkpoint`` (mmengine's loader: local paths and URLs), strictly."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import CheckpointLoader

    from mmdet.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    # init_weights() is never called: no pretrained file named in an
    # init_cfg is read, the checkpoint supplies every weight.
    model = MODELS.build(cfg.model)
    state = _state_dict_of(
        CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'))
    check_state_dict_matches(model, state, checkpoint)
    model.load_state_dict(state, strict=True)
    return model
