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
