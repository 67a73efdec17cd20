"""NonFiniteLossHook: stop with a clear message, or really skip the update,
at a loss forced to NaN at a chosen iteration (a toy model in mmengine's
Runner), and the hook on in our configs."""
import copy
import logging
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader

from test_tools import (TRAIN, dist_env, load_checkpoint, make_synthetic_coco,
                        run_tool, write_config)
from xbn_mmdet.engine import NonFiniteLossError, NonFiniteLossHook

REPO_ROOT = Path(__file__).resolve().parents[1]


class ToyModel(BaseModel):
    """Two loss terms; ``loss_box`` is NaN (or inf) at the iterations in
    ``bad_iters`` (counted from 1, as mmengine logs them)."""

    def __init__(self, bad_iters=(), bad_value=float('nan')):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)
        self.bad_iters = set(bad_iters)
        self.bad_value = bad_value
        self.calls = 0
        self.snapshots = []  # weights before each step

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.calls += 1
        self.snapshots.append(copy.deepcopy(self.state_dict()))
        out = self.linear(inputs)
        loss_cls = (out**2).mean()
        loss_box = (out - 1).abs().mean()
        if self.calls in self.bad_iters:
            loss_box = loss_box * self.bad_value
        return dict(loss_cls=loss_cls, loss_box=loss_box)


def run_toy(tmp_path, hook, bad_iters, max_epochs=1, **model_kw):
    torch.manual_seed(0)
    data = [dict(inputs=torch.randn(4)) for _ in range(16)]
    model = ToyModel(bad_iters, **model_kw)
    runner = Runner(
        model=model,
        work_dir=str(tmp_path),
        train_dataloader=DataLoader(data, batch_size=2, shuffle=False),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False)),
        custom_hooks=[hook],
        experiment_name=f'toy_{tmp_path.name}',
        default_scope='mmdet',
        log_level=logging.WARNING)
    return runner, model


def test_stop_names_iteration_terms_and_checkpoint(tmp_path):
    runner, model = run_toy(tmp_path, NonFiniteLossHook(), bad_iters=[5])
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    msg = str(err.value)
    assert 'iteration 5 (epoch 1)' in msg
    assert 'loss_box=nan' in msg and 'loss_cls' not in msg
    assert f'last checkpoint: {tmp_path}/iter_4.pth' in msg
    # the NaN step did not touch the weights
    for k, v in model.state_dict().items():
        assert torch.equal(v, model.snapshots[4][k])
        assert torch.isfinite(v).all()


def test_stop_without_checkpoint_says_so(tmp_path):
    runner, _ = run_toy(tmp_path, NonFiniteLossHook(), bad_iters=[1],
                        bad_value=float('inf'))
    with pytest.raises(NonFiniteLossError,
                       match=r'iteration 1 .*loss_box=inf.*no checkpoint '
                       'saved yet'):
        runner.train()


def test_skip_drops_exactly_that_update(tmp_path):
    runner, model = run_toy(tmp_path, NonFiniteLossHook(action='skip'),
                            bad_iters=[3])
    runner.train()
    snaps = model.snapshots
    assert len(snaps) == 8  # the run went on to the end of the epoch
    # weights before iteration 4 == weights before iteration 3: no update,
    # not even SGD's momentum term (a step with zeroed gradients would
    # still move them)
    for k in snaps[2]:
        assert torch.equal(snaps[3][k], snaps[2][k])
        assert not torch.equal(snaps[4][k], snaps[3][k])
    hook = [h for h in runner.hooks if isinstance(h, NonFiniteLossHook)][0]
    assert hook.skipped == 1
    # the wrapped methods are gone after training
    assert 'update_params' not in runner.optim_wrapper.__dict__
    assert 'parse_losses' not in model.__dict__
    for v in model.state_dict().values():
        assert torch.isfinite(v).all()


def test_skip_gives_up_after_max_consecutive_skips(tmp_path):
    runner, _ = run_toy(tmp_path, NonFiniteLossHook(
        action='skip', max_consecutive_skips=2), bad_iters=[2, 3, 4])
    with pytest.raises(NonFiniteLossError,
                       match='iteration 4 .*3 non-finite steps in a row'):
        runner.train()


@pytest.mark.parametrize('kwargs,message', [
    (dict(action='ignore'), "action='ignore' is not one of 'stop', 'skip'"),
    (dict(max_consecutive_skips=0), 'max_consecutive_skips=0 must be'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NonFiniteLossHook(**kwargs)


@pytest.mark.parametrize('config', [
    'configs/mask_rcnn_r50_xbn.py',
    'configs/mask_rcnn/mask-rcnn_bn-r101_fpn_ms-poly-3x_coco.py',
    'configs/faster_rcnn/faster-rcnn_xbn-r50_fpn-gn_4conv1fc-gn-head_1x_coco.py',
    'configs/mask_rcnn/mask-rcnn_xbn-x101-64x4d_fpn_2x_coco.py',
    'configs/demo/mask_rcnn_r18_xbn_synthetic.py',
    'configs/xbn_mobile/faster-rcnn_xbn-mobilenetv2_fpn_1x_coco.py',
    'configs/xbn_mobile/retinanet_bn-shufflenetv2-x1_fpn_1x_coco.py',
    'configs/xbn_mobile/ssdlite_xbn-mobilenetv2-scratch_8xb24-600e_coco.py',
])
def test_on_by_default_in_our_configs(config):
    cfg = Config.fromfile(str(REPO_ROOT / config))
    types = [h['type'] for h in cfg.get('custom_hooks', [])]
    for hook in ('NonFiniteLossHook', 'AtomicCheckpointWritesHook',
                 'RandomStateHook'):
        assert types.count(hook) == 1, types


NAN_CONFIG = """\
_base_ = {base!r}
custom_imports = dict(imports=['xbn_mmdet', 'nan_loss_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='NonFiniteLossHook', action={action!r}),
                dict(type='InjectNaNLossHook', at_iter=2)]
train_cfg = dict(max_epochs=2)
"""


@pytest.mark.slow
@pytest.mark.parametrize('action', ['stop', 'skip'])
def test_detector_training_with_a_nan_loss(action, tmp_path):
    """The tiny Mask R-CNN through tools/train.py (2 iterations an epoch),
    loss_bbox NaN at iteration 2."""
    coco = make_synthetic_coco(tmp_path / 'coco')
    base = write_config(tmp_path / 'tiny.py', coco)
    config = tmp_path / 'nan.py'
    config.write_text(NAN_CONFIG.format(base=str(base), action=action))
    proc = run_tool([sys.executable, TRAIN, str(config), '--work-dir',
                     str(tmp_path / 'w')],
                    env={'PYTHONPATH': dist_env()['PYTHONPATH']})
    if action == 'stop':
        assert proc.returncode == 1
        assert 'Traceback' not in proc.output
        (line, ) = [l for l in proc.output.splitlines()
                    if l.startswith('error:')]
        assert line.startswith(
            'error: non-finite loss at iteration 2 (epoch 1): loss_bbox=nan;'
            ' training stopped before updating the weights; no checkpoint '
            'saved yet.'), line
        assert not (tmp_path / 'w' / 'epoch_1.pth').exists()
    else:
        assert proc.returncode == 0, proc.output[-3000:]
        assert 'non-finite loss at iteration 2 (epoch 1): loss_bbox=nan; ' \
            'skipped this update (1 skipped so far)' in proc.output
        state = load_checkpoint(tmp_path / 'w' / 'epoch_2.pth')
        for k, v in state['state_dict'].items():
            assert torch.isfinite(v).all(), k
