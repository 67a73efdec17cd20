"""A test-only hook (imported through ``custom_imports`` by the
multi-process tests in test_tools.py): each rank writes the ``img_id`` of
every training image it was given to ``WORK_DIR/seen_images_rank{RANK}.json``
so a test can check that the ranks saw different data."""
import json
import os.path as osp

from mmengine.dist import get_rank
from mmengine.hooks import Hook

from mmdet.registry import HOOKS


@HOOKS.register_module()
class SeenImagesHook(Hook):

    def before_run(self, runner):
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen += [s.img_id for s in data_batch['data_samples']]

    def after_train(self, runner):
        path = osp.join(runner.work_dir, f'seen_images_rank{get_rank()}.json')
        with open(path, 'w') as f:
            json.dump(self.seen, f)
