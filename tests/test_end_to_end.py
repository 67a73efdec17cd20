"""End to end on the synthetic set: tools/train.py trains the demo detector
(XBN ResNet-18 Mask R-CNN) briefly, tools/test.py evaluates it, and the AP it
reports is recomputed here with pycocotools' COCOeval run directly on the
predictions tools/test.py dumped with --out."""
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mmengine.config import Config
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from demo_config import DEMO_CONFIG, demo_config_on
from xbn_mmdet.datasets import generate_synthetic_coco

REPO = Path(__file__).resolve().parents[1]
AP_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')

# A short run of the demo recipe on its own small set: warm-up shortened to
# fit, validation only at the end.
OVERRIDES = """
train_cfg = dict(max_epochs={epochs}, val_interval={epochs})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(type='MultiStepLR', begin=0, end={epochs}, by_epoch=True,
         milestones=[{epochs}], gamma=0.1)
]
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=3))
"""


def run(args):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:]
    return proc.stdout


def reported_metrics(log):
    """The coco/* numbers tools/test.py printed in its final line."""
    line = [ln for ln in log.splitlines() if 'Epoch(test)' in ln][-1]
    return {k: float(v) for k, v in re.findall(r'coco/(\w+): ([-\d.]+)', line)}


def coco_results(preds, gt, classes):
    """COCO result dicts from tools/test.py's --out pickle, written from the
    COCO format spec, not with mmdet's converters. Label i is ``classes[i]``
    (the config's metainfo)."""
    names = {c['name']: c['id'] for c in gt.loadCats(gt.getCatIds())}
    cat_of_label = [names[n] for n in classes]
    boxes, segms = [], []
    for pred in preds:
        inst = pred['pred_instances']
        for i, (x1, y1, x2, y2) in enumerate(np.asarray(inst['bboxes'])):
            common = dict(image_id=int(pred['img_id']),
                          category_id=cat_of_label[int(inst['labels'][i])],
                          score=float(inst['scores'][i]))
            boxes.append(dict(common, bbox=[float(x1), float(y1),
                                            float(x2 - x1), float(y2 - y1)]))
            rle = dict(inst['masks'][i])
            if isinstance(rle['counts'], bytes):
                rle['counts'] = rle['counts'].decode()
            segms.append(dict(common, segmentation=rle))
    return boxes, segms


def cocoeval_stats(gt, results, iou_type):
    coco_eval = COCOeval(gt, gt.loadRes(results), iou_type)
    coco_eval.evaluate()
    coco_eval.accumulate()
    coco_eval.summarize()
    return coco_eval.stats


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('e2e')
    root = tmp / 'data'
    generate_synthetic_coco(root, num_train=48, num_val=12, seed=3)
    config = tmp / 'demo_short.py'
    config.write_text(demo_config_on(root, OVERRIDES.format(epochs=6)))
    work_dir = tmp / 'work'
    run(['tools/train.py', config, '--work-dir', work_dir])
    return dict(config=config, work_dir=work_dir, root=root, tmp=tmp)


@pytest.mark.slow
def test_reported_ap_equals_cocoeval_on_dumped_predictions(trained):
    out = trained['tmp'] / 'preds.pkl'
    log = run(['tools/test.py', trained['config'],
               trained['work_dir'] / 'epoch_6.pth', '--out', out,
               '--work-dir', trained['tmp'] / 'test'])
    reported = reported_metrics(log)
    with open(out, 'rb') as f:
        preds = pickle.load(f)
    gt = COCO(str(trained['root'] / 'annotations' / 'instances_val.json'))
    assert len(preds) == len(gt.getImgIds())
    classes = Config.fromfile(str(DEMO_CONFIG)).classes
    boxes, segms = coco_results(preds, gt, classes)
    assert boxes, 'the trained detector predicted nothing'
    for iou_type, results, prefix in (('bbox', boxes, 'bbox'),
                                      ('segm', segms, 'segm')):
        stats = cocoeval_stats(gt, results, iou_type)
        for name, value in zip(AP_NAMES, stats[:6]):
            # CocoMetric rounds to 3 decimals.
            assert reported[f'{prefix}_{name}'] == pytest.approx(
                round(float(value), 3), abs=1e-9), (prefix, name)
    # Six short epochs already learn something measurable.
    assert reported['bbox_mAP_50'] > 0.02


@pytest.mark.slow
def test_resume_continues_from_a_checkpoint(trained, tmp_path):
    """--resume CKPT restarts after that checkpoint's epoch with its
    optimizer state, and trains to the new end."""
    import shutil

    import torch

    import xbn_mmdet  # noqa: F401  (safe-load allow-list)

    work_dir = tmp_path / 'resumed'
    shutil.copytree(trained['work_dir'], work_dir)
    log = run(['tools/train.py', trained['config'], '--work-dir', work_dir,
               '--resume', work_dir / 'epoch_5.pth', '--cfg-options',
               'train_cfg.max_epochs=7', 'train_cfg.val_interval=7'])
    assert 'resumed epoch: 5' in log
    assert re.search(r'Epoch\(train\)\s+\[6\]', log)
    assert not re.search(r'Epoch\(train\)\s+\[[1-5]\]', log)
    state = torch.load(work_dir / 'epoch_7.pth', map_location='cpu')
    assert state['meta']['epoch'] == 7
    before = torch.load(work_dir / 'epoch_5.pth', map_location='cpu')
    key = 'backbone.layer4.1.bn1.weight'  # an XBN GroupNorm
    assert not torch.equal(before['state_dict'][key],
                           state['state_dict'][key])
