"""Tests for tools/train.py, tools/test.py, tools/dist_*.sh and
xbn_mmdet.utils (safe checkpoint loading, CPU distributed, pretrained check).

Everything runs on the CPU with a tiny Mask R-CNN (ResNet-18, 16-channel
FPN, 64x64 images) on a synthetic COCO set of four images built in tmp.
"""
import json
import os
import pickle
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tool_import import import_tool

# Backbone of the tiny test detector; switch to 'XBNResNet' once
# xbn_mmdet.models provides it.
BACKBONE_TYPE = 'XBNResNet'

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(REPO_ROOT / 'tools' / 'train.py')
TEST = str(REPO_ROOT / 'tools' / 'test.py')
DIST_TRAIN = str(REPO_ROOT / 'tools' / 'dist_train.sh')
NUM_IMAGES = 4
IMG_SIZE = 64
CLASSES = ('box', 'tri')

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def make_synthetic_coco(root, num_images=NUM_IMAGES, size=IMG_SIZE, seed=0):
    """Write ``root/images/*.jpg`` and ``root/annotations.json``: each image
    has one or two objects (a filled rectangle of class ``box`` or a
    triangle of class ``tri``) with bbox and polygon mask."""
    rng = np.random.default_rng(seed)
    root = Path(root)
    (root / 'images').mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for img_id in range(1, num_images + 1):
        img = rng.integers(0, 60, (size, size, 3), dtype=np.uint8)
        for k in range(1 + img_id % 2):
            w, h = (int(v) for v in rng.integers(18, 30, 2))
            x0 = int(rng.integers(0, size - w))
            y0 = int(rng.integers(0, size - h))
            cat_id = 1 + (img_id + k) % 2
            if cat_id == 1:
                poly = [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]
            else:
                poly = [x0, y0 + h, x0 + w // 2, y0, x0 + w, y0 + h]
            pts = np.array(poly, np.int32).reshape(-1, 2)
            color = tuple(int(c) for c in rng.integers(120, 255, 3))
            cv2.fillPoly(img, [pts], color)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=cat_id,
                    bbox=[x0, y0, w, h],
                    area=float(cv2.contourArea(pts.astype(np.float32))),
                    segmentation=[[float(v) for v in poly]],
                    iscrowd=0))
        name = f'{img_id:04d}.jpg'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(
            dict(id=img_id, file_name=name, width=size, height=size))
    categories = [
        dict(id=i + 1, name=n, supercategory='shape')
        for i, n in enumerate(CLASSES)
    ]
    with open(root / 'annotations.json', 'w') as f:
        json.dump(
            dict(images=images, annotations=annotations,
                 categories=categories), f)
    return root


CONFIG_TEMPLATE = """\
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

data_root = {data_root!r}
metainfo = dict(classes={classes!r}, palette=[(220, 20, 60), (0, 0, 230)])
ch = 16
model = dict(
    backbone=dict(type={backbone!r}, depth=18, init_cfg={init_cfg}),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=ch),
    rpn_head=dict(in_channels=ch, feat_channels=ch),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=ch),
        bbox_head=dict(in_channels=ch, fc_out_channels=32, num_classes=2),
        mask_roi_extractor=dict(out_channels=ch),
        mask_head=dict(
            num_convs=1, in_channels=ch, conv_out_channels=ch,
            num_classes=2)),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=64)),
        rpn_proposal=dict(nms_pre=200, max_per_img=50),
        rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(
        rpn=dict(nms_pre=200, max_per_img=50), rcnn=dict(max_per_img=10)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=({size}, {size}), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=({size}, {size}), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                    'scale_factor')),
]
tiny_dataset = dict(
    type='CocoDataset', data_root=data_root, metainfo=metainfo,
    ann_file='annotations.json', data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    batch_sampler=None,
    dataset=dict(
        tiny_dataset, filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(tiny_dataset, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric', ann_file=data_root + '/annotations.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=1, val_interval=100)
param_scheduler = [
    dict(type='MultiStepLR', by_epoch=True, begin=0, end=2, milestones=[1])
]
optim_wrapper = dict(optimizer=dict(lr=0.005))
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1))
log_processor = dict(window_size=1)
"""


def write_config(path, data_root, init_cfg='None', backbone=BACKBONE_TYPE):
    path = Path(path)
    path.write_text(
        CONFIG_TEMPLATE.format(
            data_root=str(data_root),
            classes=CLASSES,
            backbone=backbone,
            init_cfg=init_cfg,
            size=IMG_SIZE))
    return path


def run_tool(args, timeout=300, env=None, **kwargs):
    """Run a tool from the repository root; return the CompletedProcess with
    stdout+stderr merged into ``.output``."""
    run_env = os.environ.copy()
    run_env.setdefault('OMP_NUM_THREADS', '2')
    run_env.update(env or {})
    proc = subprocess.run(
        args,
        cwd=str(REPO_ROOT),
        env=run_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **kwargs)
    proc.output = proc.stdout
    return proc


def check_ok(proc):
    assert proc.returncode == 0, proc.output[-6000:]
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def load_checkpoint(path):
    """``torch.load`` with torch's default (weights_only=True) after our
    allow-list registration, as the tools do."""
    from xbn_mmdet.checkpoint.safe_load import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    return torch.load(path, map_location='cpu')


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    return make_synthetic_coco(tmp_path_factory.mktemp('coco'))


@pytest.fixture(scope='module')
def config_file(tmp_path_factory, coco_root):
    return write_config(
        tmp_path_factory.mktemp('cfg') / 'tiny_mask_rcnn.py', coco_root)


@pytest.fixture(scope='module')
def trained(tmp_path_factory, config_file):
    """One epoch of training; returns the work dir."""
    work_dir = tmp_path_factory.mktemp('train')
    check_ok(
        run_tool([
            sys.executable, TRAIN,
            str(config_file), '--work-dir',
            str(work_dir)
        ]))
    return work_dir


# --------------------------------------------------------------------------
# train / test / resume / distributed (end to end)
# --------------------------------------------------------------------------
@pytest.mark.slow
def test_train_writes_checkpoint(trained):
    ckpt = trained / 'epoch_1.pth'
    assert ckpt.is_file()
    assert (trained / 'last_checkpoint').read_text().strip().endswith(
        'epoch_1.pth')
    state = load_checkpoint(ckpt)
    assert state['meta']['epoch'] == 1
    assert state['meta']['iter'] == NUM_IMAGES // 2
    assert any(k.startswith('backbone.') for k in state['state_dict'])
    assert 'message_hub' in state and 'optimizer' in state


def run_test_tool(config_file, checkpoint, work_dir, *extra):
    out = Path(work_dir) / 'preds.pkl'
    proc = check_ok(
        run_tool([
            sys.executable, TEST,
            str(config_file),
            str(checkpoint), '--work-dir',
            str(work_dir), '--out',
            str(out), *extra
        ]))
    with open(out, 'rb') as f:
        return proc, pickle.load(f)


@pytest.fixture(scope='module')
def tested(trained, config_file, tmp_path_factory):
    """tools/test.py on the trained checkpoint: (process, predictions)."""
    return run_test_tool(config_file, trained / 'epoch_1.pth',
                         tmp_path_factory.mktemp('test'))


@pytest.mark.slow
def test_test_evaluates_and_dumps_predictions(tested):
    proc, preds = tested
    assert 'coco/bbox_mAP' in proc.output
    assert 'coco/segm_mAP' in proc.output
    assert len(preds) == NUM_IMAGES
    for pred in preds:
        inst = pred['pred_instances']
        assert {'bboxes', 'scores', 'labels', 'masks'} <= set(inst)
        assert pred['img_id'] in range(1, NUM_IMAGES + 1)


@pytest.mark.slow
def test_test_fuse_conv_bn_gives_the_same_predictions(tested, trained,
                                                      config_file, tmp_path):
    _, preds = tested
    proc, fused = run_test_tool(config_file, trained / 'epoch_1.pth',
                                tmp_path, '--fuse-conv-bn')
    assert re.search(r'--fuse-conv-bn: folded [1-9]\d* BatchNorms',
                     proc.output)
    for a, b in zip(preds, fused):
        a, b = a['pred_instances'], b['pred_instances']
        assert len(a['scores']) == len(b['scores'])
        assert (a['scores'] - b['scores']).abs().max() <= 1e-4
        assert (a['bboxes'] - b['bboxes']).abs().max() <= 1e-2


@pytest.mark.slow
def test_fast_coco_metric_in_a_full_test_run(tested, trained, config_file,
                                             tmp_path):
    """One --cfg-options switch; the logged metrics are CocoMetric's."""
    proc, _ = run_test_tool(config_file, trained / 'epoch_1.pth', tmp_path,
                            '--cfg-options',
                            'test_evaluator.type=FastCocoMetric')

    def metrics(output):
        return re.findall(r'coco/(?:bbox|segm)_mAP\S*: -?[\d.]+', output)

    assert len(metrics(proc.output)) == 12
    assert metrics(proc.output) == metrics(tested[0].output)


@pytest.mark.slow
def test_auto_resume_continues_to_epoch_2(trained, config_file, tmp_path):
    work_dir = tmp_path / 'resume'
    work_dir.mkdir()
    shutil.copy(trained / 'epoch_1.pth', work_dir / 'epoch_1.pth')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    proc = check_ok(
        run_tool([
            sys.executable, TRAIN,
            str(config_file), '--work-dir',
            str(work_dir), '--resume', '--cfg-options',
            'train_cfg.max_epochs=2'
        ]))
    assert 'Auto resumed from the latest checkpoint' in proc.output
    assert re.search(r'resumed epoch: 1, iter: 2\b', proc.output), \
        proc.output[-4000:]
    # training went on from iteration 2, not from scratch
    assert 'Epoch(train) [1]' not in proc.output
    assert 'Epoch(train) [2]' in proc.output
    state = load_checkpoint(work_dir / 'epoch_2.pth')
    assert state['meta']['epoch'] == 2
    assert state['meta']['iter'] == 2 * (NUM_IMAGES // 2)


DIST_CONFIG = """\
_base_ = {base!r}
custom_imports = dict(
    imports=['xbn_mmdet', 'seen_images_hook'], allow_failed_imports=False)
custom_hooks = [dict(type='SeenImagesHook')]
train_dataloader = dict(batch_size=1)
"""


@pytest.fixture(scope='module')
def dist_config_file(config_file):
    """The tiny config with batch 1 (4 images / 2 ranks: 2 iterations) and
    tests/seen_images_hook.py recording each rank's images."""
    path = Path(config_file).with_name('tiny_dist.py')
    path.write_text(DIST_CONFIG.format(base=str(config_file)))
    return path


def dist_env(**env):
    """Environment for tools/dist_*.sh: this python, one thread, and
    tests/ on PYTHONPATH for the seen-images hook."""
    tests_dir = str(Path(__file__).resolve().parent)
    path = os.environ.get('PYTHONPATH')
    return dict(
        PYTHON=sys.executable,
        OMP_NUM_THREADS='1',
        PYTHONPATH=tests_dir + (os.pathsep + path if path else ''),
        **env)


def check_two_ranks_trained(work_dir, config_name):
    """Both ranks trained 2 iterations on different images, rank 0 wrote
    exactly one checkpoint, over gloo with CPU DDP."""
    seen = [
        json.loads((work_dir / f'seen_images_rank{r}.json').read_text())
        for r in (0, 1)
    ]
    assert [len(s) for s in seen] == [2, 2], seen
    assert not set(seen[0]) & set(seen[1]), seen
    assert sorted(seen[0] + seen[1]) == list(range(1, NUM_IMAGES + 1))
    assert sorted(p.name for p in work_dir.glob('*.pth')) == ['epoch_1.pth']
    state = load_checkpoint(work_dir / 'epoch_1.pth')
    assert state['meta']['epoch'] == 1
    assert state['meta']['iter'] == 2
    dumped = (work_dir / config_name).read_text()
    assert "backend='gloo'" in dumped
    assert 'device_ids=None' in dumped


@pytest.mark.slow
def test_dist_train_two_cpu_processes(dist_config_file, tmp_path):
    """tools/dist_train.sh = torchrun --nproc_per_node 2 tools/train.py
    --launcher pytorch, on CPU (gloo)."""
    work_dir = tmp_path / 'dist'
    proc = check_ok(
        run_tool(
            ['bash', DIST_TRAIN,
             str(dist_config_file), '2', '--work-dir',
             str(work_dir)],
            env=dist_env(PORT=str(free_port()))))
    assert 'Distributed training: True' in proc.output
    check_two_ranks_trained(work_dir, dist_config_file.name)


@pytest.mark.slow
def test_dist_train_two_nodes_on_localhost(dist_config_file, tmp_path):
    """Two launcher invocations, as on two machines: NNODES=2, NODE_RANK=0
    and 1, the same MASTER_ADDR and PORT, one process each."""
    work_dir = tmp_path / 'two_nodes'
    port = str(free_port())
    procs = []
    for node_rank in (0, 1):
        log = open(tmp_path / f'node{node_rank}.log', 'w')
        env = os.environ.copy()
        env.update(
            dist_env(
                NNODES='2',
                NODE_RANK=str(node_rank),
                MASTER_ADDR='127.0.0.1',
                PORT=port))
        procs.append((subprocess.Popen(
            ['bash', DIST_TRAIN,
             str(dist_config_file), '1', '--work-dir',
             str(work_dir)],
            cwd=str(REPO_ROOT),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT), log))
    try:
        for proc, log in procs:
            proc.wait(timeout=300)
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                proc.kill()
            log.close()
    logs = [(tmp_path / f'node{r}.log').read_text() for r in (0, 1)]
    for (proc, _), log in zip(procs, logs):
        assert proc.returncode == 0, log[-6000:]
    check_two_ranks_trained(work_dir, dist_config_file.name)


# --------------------------------------------------------------------------
# xbn_mmdet.utils.dist (in process, single-process gloo group)
# --------------------------------------------------------------------------
def test_prepare_cpu_distributed(monkeypatch):
    import torch.distributed as dist
    from mmengine.config import Config

    from xbn_mmdet.utils.dist import (DistributedLaunchError, is_cpu_only,
                                      prepare_cpu_distributed)
    if not is_cpu_only():
        pytest.skip('only changes anything on a CPU-only machine')

    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    prepare_cpu_distributed(cfg, 'none')
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg

    for var in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(DistributedLaunchError, match='torchrun'):
        prepare_cpu_distributed(Config(), 'pytorch')
    with pytest.raises(DistributedLaunchError, match='not supported'):
        prepare_cpu_distributed(Config(), 'slurm')

    monkeypatch.setenv('RANK', '0')
    monkeypatch.setenv('WORLD_SIZE', '1')
    monkeypatch.setenv('MASTER_ADDR', '127.0.0.1')
    monkeypatch.setenv('MASTER_PORT', str(free_port()))
    cfg = Config(
        dict(
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
            find_unused_parameters=True))
    try:
        prepare_cpu_distributed(cfg, 'pytorch')
        assert dist.is_initialized()
        assert dist.get_backend() == 'gloo'
        assert dist.get_world_size() == 1
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg == dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=True)
        # a wrapper config of the user's keeps its keys (group exists now)
        cfg = Config(
            dict(
                model_wrapper_cfg=dict(
                    type='MMDistributedDataParallel',
                    find_unused_parameters=True)))
        prepare_cpu_distributed(cfg, 'pytorch')
        assert cfg.model_wrapper_cfg.device_ids is None
        assert cfg.model_wrapper_cfg.find_unused_parameters is True
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------
# command-line errors (no training)
# --------------------------------------------------------------------------
def test_missing_pretrained_gives_clear_error(coco_root, tmp_path):
    missing = tmp_path / 'checkpoints' / 'no_such_backbone.pth'
    cfg = write_config(
        tmp_path / 'pretrained.py',
        coco_root,
        init_cfg=f"dict(type='Pretrained', checkpoint={str(missing)!r})")
    proc = run_tool([
        sys.executable, TRAIN,
        str(cfg), '--work-dir',
        str(tmp_path / 'wd')
    ])
    assert proc.returncode != 0
    assert 'Traceback' not in proc.output, proc.output
    assert 'model.backbone.init_cfg.checkpoint' in proc.output
    assert str(missing) in proc.output
    assert '--cfg-options model.backbone.init_cfg=None' in proc.output
    assert 'Pretrained weights' in proc.output


def test_missing_config_and_checkpoint_are_parser_errors(config_file,
                                                         tmp_path):
    missing_cfg = tmp_path / 'nope.py'
    proc = run_tool([sys.executable, TRAIN, str(missing_cfg)])
    assert proc.returncode == 2
    assert f'config file not found: {missing_cfg}' in proc.output
    assert 'Traceback' not in proc.output

    missing_ckpt = tmp_path / 'nope.pth'
    proc = run_tool(
        [sys.executable, TEST,
         str(config_file), str(missing_ckpt)])
    assert proc.returncode == 2
    assert f'checkpoint file not found: {missing_ckpt}' in proc.output
    assert 'Traceback' not in proc.output


def test_code_running_checkpoints_are_refused_before_anything_runs(
        config_file, coco_root, tmp_path, capsys):
    """test.py CHECKPOINT, train.py --resume PATH, load_from and a
    Pretrained backbone file: each refused with the class named and the
    opt-in explained before any model is built, and the payload never
    runs."""
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': _RunsShell(marker)}, evil)
    pretrained_cfg = write_config(
        tmp_path / 'pretrained.py', coco_root,
        init_cfg=f"dict(type='Pretrained', checkpoint={str(evil)!r})")
    tools = {name: import_tool(name) for name in ('train', 'test')}
    for tool, args in (('test', [str(config_file), str(evil)]),
                       ('train', [str(config_file), '--resume', str(evil)]),
                       ('train', [str(config_file), '--cfg-options',
                                  f'load_from={evil}']),
                       ('train', [str(pretrained_cfg)])):
        with pytest.raises(SystemExit) as exc:
            tools[tool].main(args + ['--work-dir', str(tmp_path / 'wd')])
        message = capsys.readouterr().err + str(exc.value.code)
        assert f'refusing to load {evil}: it needs posix.system' in message
        assert 'add_safe_globals' in message
    assert not marker.exists()


HEADLINE = 'configs/mask_rcnn_r50_xbn.py'


@pytest.mark.parametrize('script,args,env,message', [
    ('dist_train.sh', [], {}, 'usage: '),
    ('dist_train.sh', [HEADLINE, 'x'], {},
     "GPUS must be an integer >= 1, got 'x'"),
    ('dist_train.sh', [HEADLINE, '0'], {},
     "GPUS must be an integer >= 1, got '0'"),
    ('dist_train.sh', ['nope.py', '2'], {}, 'config file not found: nope.py'),
    ('dist_train.sh', [HEADLINE, '8'], dict(NNODES='2', NODE_RANK='2'),
     "NODE_RANK must be an integer from 0 to 1, got '2'"),
    ('dist_train.sh', [HEADLINE, '8'], dict(NNODES='two'),
     "NNODES must be an integer >= 1, got 'two'"),
    ('dist_train.sh', [HEADLINE, '8'], dict(PORT='70000'),
     "PORT must be an integer from 1 to 65535, got '70000'"),
    ('dist_test.sh', [HEADLINE, 'x.pth'], {}, 'usage: '),
    ('dist_test.sh', [HEADLINE, 'x.pth', '-1'], {},
     "GPUS must be an integer >= 1, got '-1'"),
    ('slurm_train.sh', ['part', 'job', HEADLINE], {}, 'usage: '),
    ('slurm_train.sh', ['part', 'job', 'nope.py', 'wd'], {},
     'config file not found: nope.py'),
    ('slurm_train.sh', ['part', 'job', HEADLINE, 'wd'], dict(GPUS='eight'),
     "GPUS must be an integer >= 1, got 'eight'"),
    ('slurm_train.sh', ['part', 'job', HEADLINE, 'wd'], dict(GPUS='12'),
     'GPUS (12) must be a multiple of GPUS_PER_NODE (8)'),
    ('slurm_train.sh', ['part', 'job', HEADLINE, 'wd'],
     dict(CPUS_PER_TASK='0'), "CPUS_PER_TASK must be an integer >= 1, got '0'"),
    ('slurm_test.sh', ['part', 'job', HEADLINE], {}, 'usage: '),
    ('slurm_test.sh', ['part', 'job', HEADLINE, 'nope.pth'], {},
     'checkpoint file not found: nope.pth'),
])
def test_launcher_bad_input_is_one_clear_line(script, args, env, message):
    proc = run_tool(['bash', str(REPO_ROOT / 'tools' / script)] + args,
                    env=env, timeout=60)
    assert proc.returncode == 2
    assert message in proc.output
    assert len(proc.output.strip().splitlines()) == 1, proc.output


FAKE_SRUN = """#!/bin/sh
printf '%s\\n' "$@" > "$SRUN_LOG"
"""


@pytest.mark.parametrize('script,args', [
    ('slurm_train.sh', [HEADLINE, 'work_dirs/x', '--amp']),
    ('slurm_test.sh', [HEADLINE, 'torchvision://resnet50', '--out', 'r.pkl']),
])
def test_slurm_scripts_call_srun_like_mmdet(script, args, tmp_path):
    """Slurm is not installed here: a fake srun records its arguments."""
    (tmp_path / 'srun').write_text(FAKE_SRUN)
    (tmp_path / 'srun').chmod(0o755)
    log = tmp_path / 'srun.log'
    proc = check_ok(
        run_tool(
            ['bash', str(REPO_ROOT / 'tools' / script), 'gpu', 'xbn'] + args,
            env=dict(
                PATH=f'{tmp_path}:{os.environ["PATH"]}',
                SRUN_LOG=str(log),
                PYTHON='python-on-the-nodes',
                GPUS='16',
                SRUN_ARGS='--quotatype=auto --exclusive'),
            timeout=60))
    assert proc.output == ''
    tool = 'train.py' if script == 'slurm_train.sh' else 'test.py'
    passed = args[:1] + (['--work-dir'] + args[1:2] if tool == 'train.py'
                         else args[1:2]) + args[2:]
    assert log.read_text().splitlines() == [
        '-p', 'gpu', '--job-name=xbn', '--gres=gpu:8', '--ntasks=16',
        '--ntasks-per-node=8', '--cpus-per-task=5', '--kill-on-bad-exit=1',
        '--quotatype=auto', '--exclusive', 'python-on-the-nodes', '-u',
        str(REPO_ROOT / 'tools' / tool)
    ] + passed + ['--launcher', 'slurm']


def test_train_with_slurm_launcher_on_cpu_is_a_clear_error(config_file):
    """tools/train.py --launcher slurm goes to mmengine's slurm set-up on
    GPUs; on a CPU-only machine it stops with one clear line."""
    from xbn_mmdet.utils.dist import is_cpu_only
    if not is_cpu_only():
        pytest.skip('checks the CPU-only message')
    proc = run_tool(
        [sys.executable, TRAIN,
         str(config_file), '--launcher', 'slurm'],
        env=dict(SLURM_PROCID='0', SLURM_NTASKS='1',
                 SLURM_NODELIST='localhost'),
        timeout=120)
    assert proc.returncode != 0
    assert 'Traceback' not in proc.output
    assert '--launcher slurm is not supported on a CPU-only machine' in \
        proc.output


# --------------------------------------------------------------------------
# xbn_mmdet.utils.pretrained (in process)
# --------------------------------------------------------------------------
def _model_cfg(backbone_init, neck_init=None):
    from mmengine.config import Config
    return Config(
        dict(
            model=dict(
                type='MaskRCNN',
                backbone=dict(type='ResNet', init_cfg=backbone_init),
                neck=dict(type='FPN', init_cfg=neck_init))))


def test_check_pretrained_checkpoints(tmp_path):
    from xbn_mmdet.utils.pretrained import (MissingPretrainedError,
                                            check_pretrained_checkpoints,
                                            drop_missing_pretrained)
    existing = tmp_path / 'ok.pth'
    existing.write_bytes(b'')
    missing = str(tmp_path / 'missing.pth')

    # remote schemes and existing files pass
    for ckpt in ('torchvision://resnet50', 'open-mmlab://resnet50_caffe',
                 'https://example.com/r50.pth', 'mmcls://x', 'modelzoo://y',
                 str(existing)):
        check_pretrained_checkpoints(
            _model_cfg(dict(type='Pretrained', checkpoint=ckpt)))
    check_pretrained_checkpoints(_model_cfg(None))

    # dict form
    with pytest.raises(MissingPretrainedError) as exc:
        check_pretrained_checkpoints(
            _model_cfg(dict(type='Pretrained', checkpoint=missing)))
    msg = str(exc.value)
    assert f"model.backbone.init_cfg.checkpoint = '{missing}'" in msg
    assert '--cfg-options model.backbone.init_cfg=None' in msg

    # list form, nested module; other init entries kept when dropped
    cfg = _model_cfg(
        None,
        neck_init=[
            dict(type='Xavier', layer='Conv2d'),
            dict(type='Pretrained', checkpoint=missing)
        ])
    with pytest.raises(MissingPretrainedError) as exc:
        check_pretrained_checkpoints(cfg)
    assert 'model.neck.init_cfg[1].checkpoint' in str(exc.value)
    dropped = drop_missing_pretrained(cfg)
    assert [m.file for m in dropped] == [missing]
    assert cfg.model.neck.init_cfg == [dict(type='Xavier', layer='Conv2d')]
    check_pretrained_checkpoints(cfg)

    # deprecated string ``pretrained=``
    cfg = _model_cfg(None)
    cfg.model.backbone.pretrained = missing
    with pytest.raises(MissingPretrainedError):
        check_pretrained_checkpoints(cfg)
    drop_missing_pretrained(cfg)
    assert cfg.model.backbone.pretrained is None


# --------------------------------------------------------------------------
# xbn_mmdet.checkpoint.safe_load (in process)
# --------------------------------------------------------------------------
class _RunsShell:
    """Pickles to os.system(...): must never be executed by torch.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


class _Arbitrary:
    """A plain class that is not allow-listed."""

    def __init__(self):
        self.x = 1


class _GetattrAbuse:
    """Pickles to getattr(HistoryBuffer, 'register_statistics')."""

    def __reduce__(self):
        from mmengine.logging.history_buffer import HistoryBuffer
        return (getattr, (HistoryBuffer, 'register_statistics'))


def _message_hub_checkpoint():
    """What mmengine puts into a checkpoint besides tensors."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('xbn_test_safe_load')
    hub.update_scalar('train/loss', 1.5)
    hub.update_scalar('train/loss', np.float64(0.5))
    hub.update_scalar('train/iter', 3)
    hub.update_info('eta', np.float64(12.0))
    return dict(
        meta=dict(epoch=1, iter=3, dataset_meta=dict(classes=CLASSES)),
        state_dict={'w': torch.zeros(2)},
        message_hub=hub.state_dict())


def test_safe_load_accepts_checkpoints_rejects_other_globals(tmp_path):
    from xbn_mmdet.checkpoint.safe_load import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    register_checkpoint_safe_globals()  # idempotent

    path = tmp_path / 'hub.pth'
    torch.save(_message_hub_checkpoint(), path)
    loaded = torch.load(path)  # torch default: weights_only=True
    buf = loaded['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == pytest.approx(1.0)
    assert loaded['message_hub']['runtime_info']['eta'] == 12.0

    marker = tmp_path / 'pwned'
    for obj in (_RunsShell(marker), _Arbitrary(), _GetattrAbuse()):
        path = tmp_path / 'evil.pth'
        torch.save({'state_dict': {}, 'x': obj}, path)
        with pytest.raises(pickle.UnpicklingError):
            torch.load(path)
    assert not marker.exists()


def test_safe_load_accepts_numpy1_names(tmp_path):
    """Checkpoints pickled under numpy 1.x name numpy.core.multiarray."""
    from xbn_mmdet.checkpoint.safe_load import register_checkpoint_safe_globals
    register_checkpoint_safe_globals()
    path = tmp_path / 'legacy.pth'
    torch.save(
        _message_hub_checkpoint(), path, _use_new_zipfile_serialization=False)
    data = path.read_bytes()
    assert b'numpy._core.multiarray' in data
    path.write_bytes(
        data.replace(b'numpy._core.multiarray', b'numpy.core.multiarray'))
    loaded = torch.load(path)
    assert loaded['message_hub']['runtime_info']['eta'] == 12.0
