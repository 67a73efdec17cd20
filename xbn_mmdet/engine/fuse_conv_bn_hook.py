"""``tools/test.py --fuse-conv-bn``: fold the BatchNorms after the
checkpoint is loaded and before the first test batch."""
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmdet.registry import HOOKS

from ..models.fuse_conv_bn import fuse_conv_bn


@HOOKS.register_module()
class FuseConvBNHook(Hook):
    """Folds every BatchNorm that directly follows a conv into it (see
    :func:`xbn_mmdet.models.fuse_conv_bn`) at ``before_test``, which mmengine
    calls after ``load_from`` has been loaded. For testing only."""

    priority = 'VERY_HIGH'

    def before_test(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        folded = fuse_conv_bn(model)
        print_log(f'--fuse-conv-bn: folded {folded} BatchNorms into their '
                  'convolutions', logger='current')
