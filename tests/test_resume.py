"""Kill and resume: a tiny Mask R-CNN killed with SIGKILL mid-run and
restarted with --resume ends with bitwise the weights of an uninterrupted
run, with the same logged losses after the resume point; torn checkpoints
never break --resume."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from test_tools import (REPO_ROOT, TRAIN, check_ok, load_checkpoint,
                        make_synthetic_coco, run_tool, write_config)
from xbn_mmdet.checkpoint import (AtomicLocalBackend, checkpoint_problem,
                                  find_resumable_checkpoint)

MAX_ITERS = 12
# Iteration-based loop: mmengine resumes it mid-epoch (the data loader is
# advanced past the batches already trained); checkpoints every 3
# iterations, 2 iterations an epoch (4 images, batch 2).
RESUME_CONFIG = """\
_base_ = {base!r}
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop',
                 max_iters={max_iters}, val_interval=1000)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=False, begin=0, end={max_iters},
         milestones=[8])
]
default_hooks = dict(
    checkpoint=dict(interval=3, by_epoch=False, max_keep_ckpts=-1),
    logger=dict(interval=1))
log_processor = dict(by_epoch=False, window_size=1)
randomness = dict(seed=7, deterministic=True)
custom_hooks = [
    dict(type='NonFiniteLossHook'),
    dict(type='AtomicCheckpointWritesHook'),
    dict(type='RandomStateHook'),
]
"""


@pytest.fixture(scope='module')
def resume_config(tmp_path_factory):
    root = tmp_path_factory.mktemp('resume')
    coco = make_synthetic_coco(root / 'coco')
    base = write_config(root / 'tiny.py', coco)
    config = root / 'tiny_iters.py'
    config.write_text(RESUME_CONFIG.format(base=str(base),
                                           max_iters=MAX_ITERS))
    return config


def train_cmd(config, work_dir, *extra):
    return [sys.executable, TRAIN, str(config), '--work-dir', str(work_dir),
            *extra]


def logged_losses(work_dir):
    """{step: loss} from every run's vis_data/scalars.json in work_dir (a
    resumed run writes its own, later, timestamp dir)."""
    losses = {}
    for path in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if 'loss' in rec:
                losses[rec['step']] = rec['loss']
    return losses


@pytest.mark.slow
def test_sigkill_then_resume_is_bitwise_equal(resume_config, tmp_path):
    full, killed = tmp_path / 'full', tmp_path / 'killed'
    check_ok(run_tool(train_cmd(resume_config, full)))

    # Kill the second run (SIGKILL: no handler, no cleanup) as soon as its
    # second checkpoint file is on disk: at iteration 6 or later, mid-epoch,
    # possibly before mmengine has pointed last_checkpoint at it (then the
    # run resumes from iteration 3).
    env = dict(__import__('os').environ, OMP_NUM_THREADS='2')
    proc = subprocess.Popen(train_cmd(resume_config, killed), cwd=REPO_ROOT,
                            env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (killed / 'iter_6.pth').exists():
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / f'iter_{MAX_ITERS}.pth').exists()
    resumed_from, _ = find_resumable_checkpoint(str(killed))
    resume_iter = load_checkpoint(resumed_from)['meta']['iter']
    assert resume_iter in (3, 6, 9)

    out = check_ok(run_tool(train_cmd(resume_config, killed, '--resume')))
    assert 'resumed epoch: ' in out.output and f'iter: {resume_iter}' in \
        out.output

    a = load_checkpoint(full / f'iter_{MAX_ITERS}.pth')
    b = load_checkpoint(killed / f'iter_{MAX_ITERS}.pth')
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), k
    assert a['meta']['iter'] == b['meta']['iter'] == MAX_ITERS

    full_losses, killed_losses = logged_losses(full), logged_losses(killed)
    after = [s for s in full_losses if s > resume_iter]
    assert after == list(range(resume_iter + 1, MAX_ITERS + 1))
    assert [killed_losses[s] for s in after] == \
        [full_losses[s] for s in after]


def test_atomic_backend_never_leaves_a_partial_file(tmp_path, monkeypatch):
    target = tmp_path / 'iter_3.pth'
    target.write_bytes(b'old complete file')

    class Killed(BaseException):
        pass

    def dying_fsync(fd):
        raise Killed  # the process "dies" after writing, before the rename

    monkeypatch.setattr('os.fsync', dying_fsync)
    with pytest.raises(Killed):
        AtomicLocalBackend().put(b'new data that never lands', target)
    assert target.read_bytes() == b'old complete file'
    assert [p.name for p in tmp_path.iterdir()] == ['iter_3.pth']


def _torn_work_dir(trained_ckpt, work_dir, pointer_to_torn=True):
    """A work dir as a kill during the save of iter_6.pth with mmengine's
    in-place writer leaves it: iter_3.pth good, iter_6.pth truncated."""
    work_dir.mkdir()
    good = work_dir / 'iter_3.pth'
    good.write_bytes(trained_ckpt.read_bytes())
    torn = work_dir / 'iter_6.pth'
    torn.write_bytes(trained_ckpt.read_bytes()[:5000])
    (work_dir / 'last_checkpoint').write_text(
        str(torn if pointer_to_torn else good))
    return good, torn


@pytest.fixture(scope='module')
def one_checkpoint(resume_config, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('one')
    check_ok(run_tool(train_cmd(resume_config, work_dir, '--cfg-options',
                                'train_cfg.max_iters=3')))
    return work_dir / 'iter_3.pth'


@pytest.fixture
def small_checkpoint(tmp_path):
    """A torch.save zip file of some size (the error paths never load the
    weights into a model)."""
    path = tmp_path / 'small.pth'
    torch.save({'state_dict': {'w': torch.arange(20000.)},
                'meta': dict(iter=3)}, path)
    return path


def test_checkpoint_problem(small_checkpoint, tmp_path):
    assert checkpoint_problem(small_checkpoint) is None
    torn = tmp_path / 'torn.pth'
    torn.write_bytes(small_checkpoint.read_bytes()[:5000])
    assert 'truncated or corrupt (5000 bytes' in checkpoint_problem(torn)
    flipped = bytearray(small_checkpoint.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # inside the weights
    (tmp_path / 'flipped.pth').write_bytes(bytes(flipped))
    assert checkpoint_problem(tmp_path / 'flipped.pth').startswith(
        'it is corrupt (checksum error in ')
    (tmp_path / 'empty.pth').write_bytes(b'')
    assert checkpoint_problem(tmp_path / 'empty.pth') == \
        'the file is empty (0 bytes)'
    assert checkpoint_problem(tmp_path / 'nope.pth') == \
        'the file does not exist'


@pytest.mark.slow
def test_resume_passes_over_a_torn_checkpoint(one_checkpoint, resume_config,
                                              tmp_path):
    good, torn = _torn_work_dir(one_checkpoint, tmp_path / 'w')
    proc = check_ok(run_tool(train_cmd(
        resume_config, tmp_path / 'w', '--resume', '--cfg-options',
        'train_cfg.max_iters=4')))
    assert f'--resume: passing over {torn} (named in' in proc.output
    assert 'it is truncated or corrupt' in proc.output
    assert f'--resume: continuing from {good}' in proc.output
    assert load_checkpoint(tmp_path / 'w' / 'iter_4.pth')['meta']['iter'] \
        == 4


def test_resume_with_only_torn_checkpoints_is_one_clear_error(
        small_checkpoint, resume_config, tmp_path):
    good, torn = _torn_work_dir(small_checkpoint, tmp_path / 'w')
    good.write_bytes(b'')
    proc = run_tool(train_cmd(resume_config, tmp_path / 'w', '--resume'))
    assert proc.returncode != 0
    assert 'Traceback' not in proc.output
    (line, ) = [l for l in proc.output.splitlines() if l.startswith('error')]
    assert f'no intact checkpoint in {tmp_path / "w"}' in line
    assert f'{torn} (named in' in line and f'{good}: the file is empty' in line


def test_explicit_resume_of_a_torn_checkpoint_is_a_parser_error(
        small_checkpoint, resume_config, tmp_path):
    _, torn = _torn_work_dir(small_checkpoint, tmp_path / 'w')
    proc = run_tool(train_cmd(resume_config, tmp_path / 'w', '--resume',
                              str(torn)))
    assert proc.returncode == 2
    assert 'Traceback' not in proc.output
    assert f'checkpoint {torn} cannot be loaded: it is truncated or ' \
        'corrupt' in proc.output


def test_atomic_hook_switches_the_checkpoint_hook_to_the_atomic_backend(
        tmp_path):
    from mmengine.hooks import CheckpointHook

    from test_non_finite_loss import run_toy
    from xbn_mmdet.engine import AtomicCheckpointWritesHook
    runner, _ = run_toy(tmp_path, AtomicCheckpointWritesHook(), bad_iters=[])
    runner.train()
    (hook, ) = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
    assert hook.backend_args == dict(backend='atomic_local')
    assert isinstance(hook.file_backend, AtomicLocalBackend)
    assert checkpoint_problem(tmp_path / 'iter_8.pth') is None
    assert not list(tmp_path.glob('.*.tmp'))
