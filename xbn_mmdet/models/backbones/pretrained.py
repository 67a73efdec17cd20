"""``init_cfg=dict(type='Pretrained', ...)`` for every XBN backbone."""


class XBNPretrainedMixin:
    """Routes a ``Pretrained`` init_cfg to
    :func:`xbn_mmdet.checkpoint.load_backbone_checkpoint` (safe, checked
    against the BFN settings, loud about unloaded keys) instead of
    mmengine's silent ``strict=False`` load; the rest of the init_cfg is
    the mmdet backbone's own.

    Extra ``Pretrained`` keys: ``prefix`` (default ``'auto'``: the
    ``backbone.`` part of a detector/classifier checkpoint, else all),
    ``from_bn`` (warm start from a BatchNorm network), ``strict``,
    ``allow_bfn_mismatch``. A backbone whose official checkpoints use other
    key names than its modules defines ``convert_official_keys(state_dict)``,
    which the loader applies.
    """

    def init_weights(self) -> None:
        from ...checkpoint.loader import (load_backbone_checkpoint,
                                          split_pretrained_init_cfg)
        pretrained, others = split_pretrained_init_cfg(self.init_cfg)
        if pretrained is None:
            super().init_weights()
            return
        init_cfg, self.init_cfg = self.init_cfg, others
        try:
            super().init_weights()
        finally:
            self.init_cfg = init_cfg
        pretrained.pop('type')
        load_backbone_checkpoint(self, **pretrained)


class OfficialLayoutMixin:
    """Renames official checkpoints whose conv/norm pairs are our mmcv
    ``ConvModule``s (``features.3.conv.3``/``.4`` -> ``layer2.1.
    depthwise_conv.conv``/``.bn``). A backbone sets ``official_key`` (a key
    only the official layout has) and yields the pairs from
    ``_official_conv_modules()``; the loader calls
    :meth:`convert_official_keys`."""

    official_key: str = ''

    def _official_conv_modules(self):
        """Yield ``(official conv, official norm, our ConvModule)``
        module names."""
        raise NotImplementedError

    def convert_official_keys(self, state_dict: dict) -> dict:
        """The state dict with official module names replaced by ours; a
        state dict not in the official layout is returned as it is. Keys
        without a counterpart (the classifier) are kept for the loader to
        drop or report."""
        from ...checkpoint.state_dict import rename_modules
        if self.official_key not in state_dict:
            return state_dict
        names = {}
        for conv, norm, ours in self._official_conv_modules():
            names[conv] = f'{ours}.conv'
            names[norm] = f'{ours}.{self.get_submodule(ours).norm_name}'
        return rename_modules(state_dict, names)
