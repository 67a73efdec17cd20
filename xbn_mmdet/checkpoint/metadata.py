"""What a converted checkpoint records about the backbone it was made for.

A GroupNorm's weights do not reveal its group count: a checkpoint trained
with 64 groups loads without a murmur into a backbone built with 32 (the
official XBNBlock detection code did exactly that). So converted files carry
the settings, and loading compares them with the backbone.
"""
from typing import List, Optional, Tuple

from torch.nn.modules.batchnorm import _BatchNorm

from ..models.bfn import is_bfn

__all__ = [
    'META_KEY', 'ARCH_FIELDS', 'BFN_FIELDS', 'backbone_meta',
    'compare_meta', 'infer_resnet_arch', 'infer_mobile_arch',
    'bfn_module_names',
    'norm_module_names'
]

# Converted files: {'state_dict': ..., 'meta': {META_KEY: {...}}}
META_KEY = 'xbn_mmdet'

ARCH_FIELDS = ('type', 'depth', 'groups', 'base_width', 'widen_factor')
BFN_FIELDS = ('bfn_type', 'num_groups', 'bfn_position', 'stem_bfn')


def backbone_meta(model) -> dict:
    """The architecture and batch-free-norm settings of an XBN backbone."""
    bfn_cfg = getattr(model, 'bfn_cfg', None)
    bfn_type = None if bfn_cfg is None else bfn_cfg['type']
    num_groups = None
    if bfn_type == 'GN':
        from ..models.bfn import DEFAULT_BFN_CFG
        num_groups = bfn_cfg.get('num_groups', DEFAULT_BFN_CFG['num_groups'])
    meta = dict(
        type=type(model).__name__,
        depth=getattr(model, 'depth', None),
        groups=getattr(model, 'groups', 1),
        base_width=getattr(model, 'base_width', 64),
        bfn_type=bfn_type,
        num_groups=num_groups,
        bfn_position=None if bfn_cfg is None else getattr(
            model, 'bfn_position', None),
        stem_bfn=None if bfn_cfg is None else getattr(model, 'stem_bfn',
                                                      None))
    if hasattr(model, 'widen_factor'):  # the mobile backbones
        meta['widen_factor'] = model.widen_factor
    return meta


def compare_meta(recorded: dict,
                 current: dict) -> List[Tuple[str, object, object]]:
    """``(field, recorded value, backbone value)`` for every field that
    differs; fields the file does not record are not compared."""
    return [(f, recorded[f], current.get(f))
            for f in ARCH_FIELDS + BFN_FIELDS
            if f in recorded and recorded[f] != current.get(f)]


def norm_module_names(model) -> List[str]:
    """Names of all BatchNorm and batch-free norm layers, in module order."""
    return [n for n, m in model.named_modules()
            if isinstance(m, _BatchNorm) or is_bfn(m)]


def bfn_module_names(model) -> List[str]:
    return [n for n, m in model.named_modules() if is_bfn(m)]


def infer_resnet_arch(state_dict: dict) -> Optional[dict]:
    """``dict(type, depth, groups, base_width)`` of a ResNet/ResNeXt state
    dict in torchvision/mmdet key layout, or ``None`` if it is not one."""
    from ..models.backbones import XBNResNet, XBNResNeXt
    if 'conv1.weight' not in state_dict:
        return None
    stages = []
    for stage in range(1, 5):
        blocks = {k.split('.')[1] for k in state_dict
                  if k.startswith(f'layer{stage}.')}
        stages.append(len(blocks))
    bottleneck = 'layer1.0.conv3.weight' in state_dict
    conv2 = state_dict.get('layer1.0.conv2.weight')
    if conv2 is None:
        return None
    groups = conv2.shape[0] // conv2.shape[1] if bottleneck else 1
    cls = XBNResNeXt if groups > 1 else XBNResNet
    for depth, (block, counts) in cls.arch_settings.items():
        if tuple(counts) == tuple(stages) and \
                _is_bottleneck(block) == bottleneck:
            return dict(type=cls.__name__, depth=depth, groups=groups,
                        base_width=conv2.shape[0] // groups
                        if groups > 1 else 64)
    return None


def _is_bottleneck(block) -> bool:
    return getattr(block, 'expansion', 1) == 4


def infer_mobile_arch(state_dict: dict) -> Optional[dict]:
    """``dict(type, widen_factor)`` of a MobileNetV2/ShuffleNetV2 state dict,
    in the official layout or ours (mmdet's), or ``None`` if it is neither.
    The width is the one whose network has exactly these tensor shapes."""
    from ..models.backbones import XBNMobileNetV2, XBNShuffleNetV2
    if XBNShuffleNetV2.official_key in state_dict or \
            'layer1.0.branch_main.0.conv.weight' in state_dict:
        cls, widths, extra = XBNShuffleNetV2, \
            sorted(XBNShuffleNetV2.arch_settings), dict(out_indices=(0, 1, 2))
    elif XBNMobileNetV2.official_key in state_dict or \
            'layer7.0.linear_conv.conv.weight' in state_dict:
        cls, widths, extra = XBNMobileNetV2, (0.35, 0.5, 0.75, 1.0, 1.3,
                                              1.4), {}
    else:
        return None
    for widen_factor in widths:
        model = cls(widen_factor=widen_factor, bfn_cfg=None, **extra)
        ours = model.state_dict()
        theirs = model.convert_official_keys(state_dict)
        if all(k in theirs and theirs[k].shape == v.shape
               for k, v in ours.items() if not k.endswith('_tracked')
               and not k.endswith(('running_mean', 'running_var'))):
            return dict(type=cls.__name__, widen_factor=widen_factor)
    return None
