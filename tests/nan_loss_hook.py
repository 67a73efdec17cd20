"""A test-only hook (imported through ``custom_imports`` by
tests/test_non_finite_loss.py): makes the detector's ``loss_bbox`` NaN at
one training iteration (counted from 1)."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmdet.registry import HOOKS


@HOOKS.register_module()
class InjectNaNLossHook(Hook):

    def __init__(self, at_iter):
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        model.__dict__.pop('loss', None)
        if runner.iter + 1 != self.at_iter:
            return
        loss = model.loss

        def nan_loss(*args, **kwargs):
            losses = loss(*args, **kwargs)
            losses['loss_bbox'] = losses['loss_bbox'] * float('nan')
            return losses

        model.loss = nan_loss
