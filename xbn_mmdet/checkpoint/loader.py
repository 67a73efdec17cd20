"""Load pretrained weights into an XBN backbone, loudly.

mmengine's ``Pretrained`` init loads with ``strict=False`` and reports a
wrong key only in a long log line, so a renamed layer silently stays at
random init. Our backbones route ``init_cfg=dict(type='Pretrained', ...)``
here instead (see ``XBNPretrainedMixin.init_weights``), which:

* reads every checkpoint form (:mod:`.state_dict`) with the weights-only
  unpickler (:mod:`.safe_load`), and renames official module names where
  the backbone has ``convert_official_keys`` (MobileNetV2, ShuffleNetV2);
* drops the ImageNet classifier and says so;
* refuses a file whose batch-free norms disagree with the backbone: the
  settings a converted file records (type, group count, position,
  stem_bfn), or, for a raw file, where its norms have no BatchNorm
  statistics; ``allow_bfn_mismatch=True`` turns that into a warning;
* refuses a BatchNorm network's checkpoint unless ``from_bn=True`` asks for
  the warm start (:func:`warm_start_from_bn`);
* warns once, listing them, about missing and unexpected keys (an error
  with ``strict=True``), and logs the fraction of parameters loaded.
"""
import copy
import logging
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mmengine.logging import print_log

from .metadata import (BFN_FIELDS, META_KEY, backbone_meta,
                       bfn_module_names, compare_meta, norm_module_names)
from .safe_load import load_checkpoint_file
from .state_dict import extract_backbone_state_dict, split_classifier

__all__ = [
    'CheckpointMismatchError', 'LoadReport', 'PRETRAINED_OPTIONS',
    'load_backbone_checkpoint', 'load_backbone_state', 'warm_start_from_bn',
    'split_pretrained_init_cfg'
]

# Keys our backbones accept in init_cfg=dict(type='Pretrained', ...):
# mmengine's own (checkpoint, prefix, map_location) and ours.
PRETRAINED_OPTIONS = ('type', 'checkpoint', 'prefix', 'map_location',
                      'from_bn', 'strict', 'allow_bfn_mismatch')

_BN_STATS = ('running_mean', 'running_var', 'num_batches_tracked')

WARM_START_CAVEAT = (
    'A BatchNorm warm start is not XBN ImageNet pretraining: the batch-free '
    'norms start from affine parameters learned for batch statistics, so '
    'expect lower accuracy than with official XBN weights (README, '
    '"Pretrained weights").')


class CheckpointMismatchError(ValueError):
    """The checkpoint does not fit the backbone it is loaded into."""


@dataclass
class LoadReport:
    """What :func:`load_backbone_state` did."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    # reason -> keys of the file left out on purpose
    dropped: Dict[str, List[str]] = field(default_factory=dict)
    # batch-free norms that took a BatchNorm's affine (warm start)
    transferred: List[str] = field(default_factory=list)
    loaded_fraction: float = 0.0
    meta: Optional[dict] = None


def _brief(names, limit=6) -> str:
    names = list(names)
    shown = ', '.join(names[:limit])
    more = len(names) - limit
    return f'{shown}, ... ({len(names)} in all)' if more > 0 else shown


def _describe_bfn(model, names) -> str:
    """``"bfn_position='P1', stem_bfn=True"`` when the backbone can tell
    which settings put batch-free norms at exactly ``names``."""
    infer = getattr(model, 'infer_bfn_settings', None)
    settings = infer(set(names)) if infer is not None else None
    if settings is None:
        return f'at {_brief(sorted(names))}' if names else 'none'
    position, stem = settings
    return f'bfn_position={position!r}, stem_bfn={stem}'


def warm_start_from_bn(state_dict: dict, bfn_names) -> Tuple[dict, List[str],
                                                             List[str]]:
    """Turn a BatchNorm network's state dict into a warm start for its XBN
    counterpart: each batch-free norm keeps the replaced BN's affine weight
    and bias, and that BN's running statistics are dropped. Every other
    BatchNorm is left as it is.

    Returns ``(state_dict, transferred norm names, dropped keys)``.
    """
    state_dict = dict(state_dict)
    transferred, dropped = [], []
    for name in bfn_names:
        stats = [f'{name}.{s}' for s in _BN_STATS
                 if f'{name}.{s}' in state_dict]
        if not stats:
            continue
        for key in stats:
            del state_dict[key]
        dropped += stats
        if f'{name}.weight' in state_dict:
            transferred.append(name)
    return state_dict, transferred, dropped


def _check_recorded_settings(model, meta, allow_mismatch, source):
    differences = compare_meta(meta.get('backbone', {}), backbone_meta(model))
    if not differences:
        return
    text = '; '.join(f'{f}: checkpoint {a!r}, backbone {b!r}'
                     for f, a, b in differences)
    bfn_only = all(f in BFN_FIELDS for f, _, _ in differences)
    if allow_mismatch and bfn_only:
        print_log(f'{source} was converted for other batch-free norm '
                  f'settings ({text}); loading anyway because '
                  'allow_bfn_mismatch=True', logger='current',
                  level=logging.WARNING)
        return
    hint = ('; build the backbone with the checkpoint\'s settings, or pass '
            'allow_bfn_mismatch=True in init_cfg to load it anyway'
            if bfn_only else '')
    raise CheckpointMismatchError(
        f'{source} does not match the backbone: {text}{hint}')


def _batch_free_in(model, state_dict) -> set:
    """Norms of the backbone whose weights the file has without BatchNorm
    statistics: the file's batch-free norms."""
    return {n for n in norm_module_names(model)
            if f'{n}.weight' in state_dict
            and f'{n}.running_mean' not in state_dict}


def _check_structure(model, state_dict, allow_mismatch, source):
    """For raw files: the file's batch-free norms must sit where the
    backbone has them."""
    ours = set(bfn_module_names(model))
    theirs = _batch_free_in(model, state_dict)
    if theirs == ours:
        return
    text = (f'the checkpoint has batch-free norms {_describe_bfn(model, theirs)}'
            f', the backbone {_describe_bfn(model, ours)} '
            f'(checkpoint only: {_brief(sorted(theirs - ours)) or "none"})')
    if allow_mismatch:
        print_log(f'{source}: {text}; loading anyway because '
                  'allow_bfn_mismatch=True', logger='current',
                  level=logging.WARNING)
        return
    settings = 'bfn_position/stem_bfn' if hasattr(model, 'bfn_position') \
        else 'bfn_cfg (None for a BatchNorm file)'
    raise CheckpointMismatchError(
        f'{source} does not match the backbone: {text}. Set {settings} to '
        'match, or pass allow_bfn_mismatch=True in init_cfg to load it '
        'anyway')


def _warn_unrecorded_groups(model, state_dict, source):
    meta = backbone_meta(model)
    official = getattr(model, 'official_num_groups', 64)
    if meta['bfn_type'] == 'GN' and meta['num_groups'] != official and \
            any(f'{n}.weight' in state_dict for n in bfn_module_names(model)):
        print_log(
            f'{source} does not record its GroupNorm group count; the '
            f'official {meta["type"]} XBN weights use {official} groups, '
            'this backbone '
            f'{meta["num_groups"]}. Record it once with tools/'
            'convert_checkpoint.py --num-groups N to have it checked.',
            logger='current', level=logging.WARNING)


def _check_shapes(model_state, state_dict, source):
    bad = [f'{k}: checkpoint {tuple(v.shape)}, backbone '
           f'{tuple(model_state[k].shape)}'
           for k, v in state_dict.items()
           if k in model_state and v.shape != model_state[k].shape]
    if bad:
        raise CheckpointMismatchError(
            f'{source}: {len(bad)} tensors have another shape than the '
            f'backbone (another depth, width or groups?): {_brief(bad, 4)}')


def load_backbone_state(model,
                        checkpoint,
                        source: str = 'checkpoint',
                        prefix='auto',
                        from_bn: bool = False,
                        strict: bool = False,
                        allow_bfn_mismatch: bool = False) -> LoadReport:
    """Load an already-unpickled checkpoint into ``model`` (see the module
    docstring for the checks). Returns a :class:`LoadReport`."""
    state_dict, dropped = extract_backbone_state_dict(checkpoint, prefix)
    # Backbones whose official checkpoints use other module names (the
    # mobile ones) rename them here; other state dicts pass unchanged.
    convert = getattr(model, 'convert_official_keys', None)
    if convert is not None:
        state_dict = convert(state_dict)
    model_state = model.state_dict()
    state_dict, classifier = split_classifier(state_dict, model_state)
    if classifier:
        dropped['classifier'] = classifier
    meta = checkpoint.get('meta', {}).get(META_KEY) \
        if isinstance(checkpoint.get('meta'), dict) else None
    report = LoadReport(source=source, dropped=dropped, meta=meta)

    bfn_names = bfn_module_names(model)
    with_stats = [n for n in bfn_names if f'{n}.running_mean' in state_dict]
    if from_bn:
        if not with_stats:
            raise CheckpointMismatchError(
                f'from_bn=True, but {source} has no BatchNorm statistics at '
                "the backbone's batch-free norms: it is not a BatchNorm "
                'network\'s checkpoint; load it without from_bn')
        state_dict, report.transferred, stats = warm_start_from_bn(
            state_dict, bfn_names)
        dropped['BatchNorm statistics of the replaced norms'] = stats
    elif meta is not None:
        _check_recorded_settings(model, meta, allow_bfn_mismatch, source)
    elif with_stats and not _batch_free_in(model, state_dict):
        raise CheckpointMismatchError(
            f'{source} is a BatchNorm network\'s checkpoint (BatchNorm '
            f'statistics at all of the backbone\'s {len(bfn_names)} '
            f'batch-free norms, e.g. {with_stats[0]}). To warm-start the XBN '
            'backbone from it, pass from_bn=True in init_cfg (or convert it '
            'with tools/convert_checkpoint.py --from-bn); for real XBN '
            'weights see README "Pretrained weights"')
    else:
        _check_structure(model, state_dict, allow_bfn_mismatch, source)
        _warn_unrecorded_groups(model, state_dict, source)
    _check_shapes(model_state, state_dict, source)

    result = model.load_state_dict(state_dict, strict=False)
    report.missing = list(result.missing_keys)
    report.unexpected = list(result.unexpected_keys)
    report.loaded = [k for k in state_dict if k in model_state]
    loaded = set(report.loaded)
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    report.loaded_fraction = sum(
        p.numel() for k, p in params.items() if k in loaded) / max(total, 1)
    _log_report(report, strict)
    return report


def _log_report(report: LoadReport, strict: bool) -> None:
    source = report.source
    if report.missing or report.unexpected:
        text = (f'{source}: {len(report.missing)} backbone keys missing from '
                f'the checkpoint (left at their initial values): '
                f'{_brief(report.missing) or "none"}; '
                f'{len(report.unexpected)} checkpoint keys the backbone does '
                f'not have: {_brief(report.unexpected) or "none"}')
        if strict:
            raise CheckpointMismatchError(text + ' (strict=True)')
        print_log(text, logger='current', level=logging.WARNING)
    for reason, keys in report.dropped.items():
        print_log(f'{source}: dropped {len(keys)} keys ({reason}): '
                  f'{_brief(keys, 4)}', logger='current')
    if report.transferred:
        print_log(
            f'{source}: BatchNorm warm start: {len(report.transferred)} '
            'batch-free norms took the affine weight and bias of the '
            'BatchNorm they replace, their running statistics were dropped, '
            'every other layer loaded as is. ' + WARM_START_CAVEAT,
            logger='current', level=logging.WARNING)
    elif report.meta and report.meta.get('from_bn'):
        print_log(f'{source} is a BatchNorm warm start converted from '
                  f'{report.meta.get("source_file")}. ' + WARM_START_CAVEAT,
                  logger='current', level=logging.WARNING)
    print_log(f'{source}: loaded {len(report.loaded)} tensors, '
              f'{100 * report.loaded_fraction:.1f}% of the backbone\'s '
              'parameters', logger='current')


def load_backbone_checkpoint(model, checkpoint: str, map_location='cpu',
                             **options) -> LoadReport:
    """Read ``checkpoint`` (a path or ``scheme://`` URL) safely and load it
    into ``model`` with :func:`load_backbone_state`."""
    loaded = load_checkpoint_file(checkpoint, map_location=map_location)
    return load_backbone_state(model, loaded, source=str(checkpoint),
                               **options)


def split_pretrained_init_cfg(init_cfg) -> Tuple[Optional[dict], object]:
    """``(the Pretrained entry or None, init_cfg without it)``; unknown keys
    in the Pretrained entry are an error naming the valid ones."""
    entries = init_cfg if isinstance(init_cfg, list) else \
        [] if init_cfg is None else [init_cfg]
    pretrained = [c for c in entries
                  if isinstance(c, dict) and c.get('type') == 'Pretrained']
    if not pretrained:
        return None, init_cfg
    if len(pretrained) > 1:
        raise ValueError('init_cfg has more than one Pretrained entry: '
                         f'{pretrained}')
    cfg = copy.deepcopy(pretrained[0])
    unknown = sorted(set(cfg) - set(PRETRAINED_OPTIONS))
    if unknown:
        raise ValueError(
            f'init_cfg Pretrained: unknown key(s) {", ".join(unknown)}; '
            f'valid: {", ".join(PRETRAINED_OPTIONS)}')
    if not isinstance(cfg.get('checkpoint'), str):
        raise ValueError('init_cfg Pretrained needs checkpoint=<path or URL>,'
                         f' got {cfg.get("checkpoint")!r}')
    rest = [c for c in entries if c is not pretrained[0]]
    if isinstance(init_cfg, list):
        return cfg, rest
    return cfg, None
