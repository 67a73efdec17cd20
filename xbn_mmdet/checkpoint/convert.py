"""Convert an ImageNet ResNet/ResNeXt, MobileNetV2 or ShuffleNetV2 checkpoint
(official XBNBlock, or a BatchNorm network as a warm start) into an
mmdet-ready XBN backbone file.

The output is ``{'state_dict': backbone weights, 'meta': {'xbn_mmdet':
meta}}`` where ``meta`` records the architecture, the batch-free norm
settings (type, group count, position, stem_bfn), the backbone config to
paste, and the source file's name and SHA-256. It loads through the ordinary
``init_cfg=dict(type='Pretrained', checkpoint=...)`` and is checked against
the backbone there (:mod:`.loader`).

Conversion builds the backbone the file is for and loads the source into
it with ``strict=True``, so a converted file is complete by construction.
"""
import hashlib
import os
import os.path as osp
from typing import Optional

import torch

from .loader import load_backbone_state
from .metadata import (META_KEY, backbone_meta, infer_mobile_arch,
                       infer_resnet_arch, norm_module_names)
from .safe_load import load_checkpoint_file
from .state_dict import extract_backbone_state_dict

__all__ = ['convert_checkpoint', 'sha256_of']


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            digest.update(chunk)
    return digest.hexdigest()


def _read_source(src: str, trust_source: bool):
    if not trust_source:
        return load_checkpoint_file(src)
    # The explicit per-file opt-in UnsafeCheckpointError points to: the user
    # vouches for this one file; the written copy is weights-only again.
    print(f'warning: --trust-source: unpickling {src} without the '
          'weights-only restriction (it can run code); only for files you '
          'trust')
    return torch.load(src, map_location='cpu', weights_only=False)


def _backbone_cfg(arch: dict, bfn_cfg: dict, position: str,
                  stem_bfn: bool) -> dict:
    if 'widen_factor' in arch:  # MobileNetV2, ShuffleNetV2: no position
        return dict(arch, bfn_cfg=bfn_cfg)
    cfg = dict(type=arch['type'], depth=arch['depth'])
    if arch['type'] == 'XBNResNeXt':
        cfg.update(groups=arch['groups'], base_width=arch['base_width'])
    cfg.update(bfn_cfg=bfn_cfg, bfn_position=position, stem_bfn=stem_bfn)
    return cfg


def _official_num_groups(arch: dict) -> int:
    """The group count of the official XBN models of this architecture:
    64 (ResNet/ResNeXt), 16 (MobileNetV2), 8/29 (ShuffleNetV2 by width)."""
    from mmdet.registry import MODELS
    cls = MODELS.get(arch['type'])
    groups = getattr(cls, 'official_groups', None)
    if groups is not None:
        return groups[arch['widen_factor']]
    return getattr(cls, 'official_num_groups', 64)


def _build(cfg: dict):
    from mmdet.registry import MODELS
    return MODELS.build(dict(cfg, init_cfg=None))


def _bfn_settings_of(src, state_dict, arch, bfn_cfg, bfn_position, stem_bfn):
    """The (position, stem_bfn) where the source's norms have no BatchNorm
    statistics, checked against what the user passed."""
    probe = _build(_backbone_cfg(arch, bfn_cfg, 'P2', True))
    batch_free = {n for n in norm_module_names(probe)
                  if f'{n}.weight' in state_dict
                  and f'{n}.running_mean' not in state_dict}
    if not batch_free:
        raise ValueError(
            f'{src} is a BatchNorm network (every norm has running '
            'statistics), not an XBN one; pass --from-bn to convert it as a '
            'warm start')
    inferred = probe.infer_bfn_settings(batch_free)
    if inferred is None:
        raise ValueError(
            f'{src}: its batch-free norms ({len(batch_free)}, e.g. '
            f'{sorted(batch_free)[0]}) match no bfn_position/stem_bfn of '
            f"{arch['type']}-{arch['depth']}")
    position = bfn_position or inferred[0]
    stem = inferred[1] if stem_bfn is None else stem_bfn
    if probe.bfn_names_for(position, stem) != batch_free:
        raise ValueError(
            f'{src} has its batch-free norms at bfn_position='
            f'{inferred[0]!r}, stem_bfn={inferred[1]}, not at the requested '
            f'bfn_position={position!r}, stem_bfn={stem}')
    return position, stem


def convert_checkpoint(src: str,
                       dst: str,
                       num_groups: Optional[int] = None,
                       bfn_type: str = 'GN',
                       from_bn: bool = False,
                       bfn_position: Optional[str] = None,
                       stem_bfn: Optional[bool] = None,
                       prefix='auto',
                       trust_source: bool = False) -> dict:
    """Convert ``src`` to ``dst`` and return the recorded metadata.

    Args:
        num_groups: the GroupNorm group count the source was trained with
            (it cannot be read from the weights). Default: the official
            models' count for the architecture (64 for ResNet/ResNeXt, 16
            for MobileNetV2, 8 or 29 for ShuffleNetV2 by width). Ignored
            unless ``bfn_type='GN'``.
        bfn_type: ``'GN'``, ``'LN'`` or ``'IN'``.
        from_bn: the source is a BatchNorm network: warm-start the XBN
            backbone from it (``bfn_position`` default ``'P2'``,
            ``stem_bfn`` default True).
        bfn_position, stem_bfn: for an XBN source they are read from where
            its norms lack BatchNorm statistics; passing them checks that.
        prefix: see :func:`.state_dict.extract_backbone_state_dict`.
        trust_source: unpickle ``src`` without the weights-only restriction
            (for a trusted file that holds other classes).
    """
    from ..models.bfn import validate_bfn_cfg
    if not osp.isfile(src):
        raise FileNotFoundError(f'source checkpoint not found: {src}')
    bfn_cfg = dict(type=bfn_type)
    if bfn_type == 'GN' and num_groups is not None:
        bfn_cfg['num_groups'] = num_groups
    validate_bfn_cfg(bfn_cfg)
    raw = _read_source(src, trust_source)
    state_dict, _ = extract_backbone_state_dict(raw, prefix)
    arch = infer_resnet_arch(state_dict) or infer_mobile_arch(state_dict)
    if arch is None:
        raise ValueError(
            f'{src} is not a ResNet/ResNeXt checkpoint in torchvision/mmdet '
            'key layout (conv1, layer1.0.conv2, ...) nor a MobileNetV2/'
            'ShuffleNetV2 one in the official or mmdet layout; its top-level '
            f"keys: {sorted({k.split('.')[0] for k in state_dict})[:8]}")
    if bfn_type == 'GN' and num_groups is None:
        bfn_cfg['num_groups'] = _official_num_groups(arch)
    if 'widen_factor' in arch:
        # no position or stem to infer: loading below (strict) checks that
        # the file's batch-free norms sit after the depthwise convs
        if bfn_position is not None or stem_bfn is not None:
            raise ValueError(f"bfn_position/stem_bfn do not apply to "
                             f"{arch['type']} (its BFNs follow the "
                             'depthwise convs)')
        position, stem = None, None
    elif from_bn:
        position = bfn_position or 'P2'
        stem = True if stem_bfn is None else stem_bfn
    else:
        position, stem = _bfn_settings_of(src, state_dict, arch, bfn_cfg,
                                          bfn_position, stem_bfn)
    cfg = _backbone_cfg(arch, bfn_cfg, position, stem)
    model = _build(cfg)
    report = load_backbone_state(model, raw, source=src, prefix=prefix,
                                 from_bn=from_bn, strict=True)
    from .. import __version__
    meta = dict(
        backbone=backbone_meta(model),
        backbone_cfg=cfg,
        from_bn=from_bn,
        source_file=osp.basename(src),
        source_sha256=sha256_of(src),
        dropped={k: len(v) for k, v in report.dropped.items()},
        converted_by=f'xbn_mmdet {__version__}, torch {torch.__version__}')
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    torch.save({'state_dict': model.state_dict(), 'meta': {META_KEY: meta}},
               dst)
    return meta
