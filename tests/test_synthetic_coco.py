"""Synthetic COCO generator: determinism, COCO validity, exact annotations,
reuse of an existing dataset, parameter checks and the CLI."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip('pycocotools')
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402

from xbn_mmdet.datasets import (  # noqa: E402
    SHAPE_NAMES, generate_synthetic_coco, synthetic_class_names)

from tool_import import import_tool  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = REPO_ROOT / 'tools' / 'generate_synthetic_coco.py'
SMALL = dict(num_train=8, num_val=4, image_size=(96, 112), max_objects=5)
SPLITS = ('train', 'val')


def all_files(root):
    """{relative path: bytes} of every file under ``root``."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(Path(root).rglob('*')) if p.is_file()
    }


def load(result, split):
    """Parsed annotation JSON of one split."""
    return json.loads(Path(result[f'{split}_ann_file']).read_text())


@pytest.fixture(scope='module')
def small_dataset(tmp_path_factory):
    """One small dataset shared by the read-only checks."""
    root = tmp_path_factory.mktemp('synthetic') / 'coco'
    return generate_synthetic_coco(root, seed=3, **SMALL)


def test_layout_and_counts(small_dataset):
    result = small_dataset
    assert result['skipped'] is False
    assert result['num_train'] == 8 and result['num_val'] == 4
    assert result['classes'] == synthetic_class_names(4) == SHAPE_NAMES[:4]
    for split in SPLITS:
        data = load(result, split)
        assert len(data['images']) == result[f'num_{split}']
        assert len(data['annotations']) == result[f'num_{split}_annotations']
        assert data['info']['params']['seed'] == 3


def test_deterministic_bytes(tmp_path):
    first = generate_synthetic_coco(tmp_path / 'a', seed=7, **SMALL)
    second = generate_synthetic_coco(tmp_path / 'b', seed=7, **SMALL)
    other = generate_synthetic_coco(tmp_path / 'c', seed=8, **SMALL)
    files_a = all_files(first['out_dir'])
    files_b = all_files(second['out_dir'])
    files_c = all_files(other['out_dir'])
    assert len(files_a) == 8 + 4 + 2
    assert files_a == files_b
    assert files_a.keys() == files_c.keys()
    # A different seed changes every image, not just some.
    for name in files_a:
        if name.endswith('.png'):
            assert files_a[name] != files_c[name], name


def test_train_and_val_images_differ(small_dataset):
    train = all_files(small_dataset['train_img_dir']).values()
    val = all_files(small_dataset['val_img_dir']).values()
    assert not set(train) & set(val)


def test_loads_with_pycocotools(small_dataset):
    for split in SPLITS:
        coco = COCO(small_dataset[f'{split}_ann_file'])
        assert sorted(coco.getCatIds()) == [1, 2, 3, 4]
        names = [c['name'] for c in coco.loadCats(coco.getCatIds())]
        assert names == list(SHAPE_NAMES[:4])
        assert all(c['supercategory'] == 'shape'
                   for c in coco.loadCats(coco.getCatIds()))
        assert len(coco.getImgIds()) == small_dataset[f'num_{split}']


def test_images_exist_with_declared_size(small_dataset):
    for split in SPLITS:
        img_dir = Path(small_dataset[f'{split}_img_dir'])
        for info in load(small_dataset, split)['images']:
            image = cv2.imread(str(img_dir / info['file_name']))
            assert image is not None, info['file_name']
            assert image.shape == (info['height'], info['width'], 3)
            assert (info['height'], info['width']) == SMALL['image_size']


def test_annotations_match_their_masks(small_dataset):
    for split in SPLITS:
        data = load(small_dataset, split)
        image_ids = {img['id'] for img in data['images']}
        ann_ids = [ann['id'] for ann in data['annotations']]
        assert len(ann_ids) == len(set(ann_ids))
        per_image = {i: 0 for i in image_ids}
        for ann in data['annotations']:
            assert ann['image_id'] in image_ids
            assert 1 <= ann['category_id'] <= 4
            assert ann['iscrowd'] == 0
            rle = dict(ann['segmentation'])
            assert isinstance(rle['counts'], str)
            assert rle['size'] == list(SMALL['image_size'])
            rle['counts'] = rle['counts'].encode('ascii')
            mask = mask_utils.decode(rle)
            assert ann['area'] == mask.sum() > 0
            assert ann['bbox'] == mask_utils.toBbox(rle).tolist()
            x, y, w, h = ann['bbox']
            assert w >= 1 and h >= 1
            # The box is tight: the mask touches all four sides.
            x, y, w, h = int(x), int(y), int(w), int(h)
            crop = mask[y:y + h, x:x + w]
            assert crop.sum() == mask.sum()
            assert crop[0].any() and crop[-1].any()
            assert crop[:, 0].any() and crop[:, -1].any()
            per_image[ann['image_id']] += 1
        assert all(1 <= n <= SMALL['max_objects'] for n in per_image.values())


def test_visible_masks_do_not_overlap(small_dataset):
    # Occlusion is resolved: each pixel belongs to at most one instance.
    data = load(small_dataset, 'train')
    for img in data['images']:
        anns = [a for a in data['annotations'] if a['image_id'] == img['id']]
        total = np.zeros(SMALL['image_size'], dtype=np.int32)
        for ann in anns:
            rle = dict(ann['segmentation'])
            rle['counts'] = rle['counts'].encode('ascii')
            total += mask_utils.decode(rle)
        assert total.max() <= 1


def test_skips_existing_unless_overwrite(tmp_path):
    root = tmp_path / 'coco'
    generate_synthetic_coco(root, seed=1, **SMALL)
    probe = root / 'train' / '000000.png'
    before = probe.stat().st_mtime_ns
    again = generate_synthetic_coco(root, seed=1, **SMALL)
    assert again['skipped'] is True
    assert again['num_train'] == 8 and again['num_val'] == 4
    assert probe.stat().st_mtime_ns == before

    forced = generate_synthetic_coco(root, seed=1, overwrite=True, **SMALL)
    assert forced['skipped'] is False

    # Different parameters regenerate, and stale images are removed.
    fewer = dict(SMALL, num_train=3)
    changed = generate_synthetic_coco(root, seed=1, **fewer)
    assert changed['skipped'] is False
    assert sorted(p.name for p in (root / 'train').iterdir()) == [
        '000000.png', '000001.png', '000002.png'
    ]

    # A missing image means the dataset is incomplete: regenerate it.
    (root / 'val' / '000001.png').unlink()
    repaired = generate_synthetic_coco(root, seed=1, **fewer)
    assert repaired['skipped'] is False
    assert (root / 'val' / '000001.png').is_file()


def test_refuses_foreign_annotations(tmp_path):
    ann = tmp_path / 'annotations' / 'instances_train.json'
    ann.parent.mkdir()
    ann.write_text('{"images": []}')
    with pytest.raises(FileExistsError, match='instances_train.json'):
        generate_synthetic_coco(tmp_path, **SMALL)
    assert ann.read_text() == '{"images": []}'


@pytest.mark.parametrize('num_classes', [0, -1, len(SHAPE_NAMES) + 1])
def test_bad_num_classes(tmp_path, num_classes):
    with pytest.raises(ValueError, match=rf'num_classes={num_classes}\b.*'
                       rf'\[1, {len(SHAPE_NAMES)}\]'):
        generate_synthetic_coco(tmp_path, num_classes=num_classes)
    with pytest.raises(ValueError, match=f'num_classes={num_classes}'):
        synthetic_class_names(num_classes)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize('kwargs, name', [
    (dict(num_train=-1), 'num_train'),
    (dict(num_val=0), 'num_val'),
    (dict(image_size=(32, 128)), 'image_size'),
    (dict(max_objects=0), 'max_objects'),
    (dict(seed=-5), 'seed'),
    (dict(object_size=(4, 40)), 'object_size'),
    (dict(object_size=(30, 20)), 'object_size'),
    (dict(object_size=30), 'object_size'),
])
def test_bad_parameters(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_synthetic_coco(tmp_path, **kwargs)


def test_object_size_range_is_respected(tmp_path):
    info = generate_synthetic_coco(tmp_path, num_train=12, num_val=1,
                                   object_size=(30, 40), seed=2)
    with open(info['train_ann_file']) as f:
        anns = json.load(f)['annotations']
    sides = [max(a['bbox'][2:]) for a in anns]
    # Visible boxes of 30-40 px diameter shapes (some cut by occlusion or
    # the image border, squares up to sqrt(2) wider).
    assert max(sides) <= 40 * 1.5 and sorted(sides)[len(sides) // 2] >= 20


def test_class_names():
    assert len(SHAPE_NAMES) >= 6 and len(set(SHAPE_NAMES)) == len(SHAPE_NAMES)
    assert synthetic_class_names(6) == SHAPE_NAMES[:6]
    assert synthetic_class_names() == ('circle', 'square', 'triangle', 'star')


def test_all_classes_appear(tmp_path):
    k = len(SHAPE_NAMES)
    result = generate_synthetic_coco(
        tmp_path, num_train=24, num_val=1, image_size=(64, 64), num_classes=k)
    cats = {a['category_id'] for a in load(result, 'train')['annotations']}
    assert cats == set(range(1, k + 1))


def run_cli(*args):
    """Run the CLI script in a fresh interpreter, from the repository root."""
    return subprocess.run([sys.executable, str(CLI), *map(str, args)],
                          cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope='module')
def cli_module():
    """The CLI script imported in-process (a subprocess costs seconds, since
    importing xbn_mmdet pulls in torch and mmdet)."""
    return import_tool('generate_synthetic_coco')


def test_cli_subprocess(tmp_path):
    out = tmp_path / 'cli'
    proc = run_cli('--out', out, '--num-train', 3, '--num-val', 2, '--size',
                   64, 80, '--num-classes', 5, '--max-objects', 3, '--seed',
                   11)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and 'train 3 images' in lines[0], proc.stdout
    data = json.loads((out / 'annotations' / 'instances_val.json').read_text())
    assert len(data['images']) == 2
    assert data['images'][0]['height'] == 64
    assert data['images'][0]['width'] == 80
    assert len(data['categories']) == 5

    bad = run_cli('--out', tmp_path / 'bad', '--num-val', '-2')
    assert bad.returncode == 2
    errors = [ln for ln in bad.stderr.splitlines() if 'error:' in ln]
    assert len(errors) == 1 and '-2' in errors[0], bad.stderr


def test_cli_skips_matching_dataset(tmp_path, cli_module, capsys):
    args = ['--out', str(tmp_path), '--num-train', '2', '--num-val', '1',
            '--size', '64', '64']
    cli_module.main(args)
    assert 'generated in' in capsys.readouterr().out
    cli_module.main(args)
    assert 'skipped' in capsys.readouterr().out
    cli_module.main(args + ['--overwrite'])
    assert 'generated in' in capsys.readouterr().out


@pytest.mark.parametrize('args, needle', [
    (('--num-train', '-3'), '-3'),
    (('--num-val', '0'), '0'),
    (('--size', '32', '96'), '32'),
    (('--size', '96', '5000'), '5000'),
    (('--num-classes', '99'), '99'),
    (('--num-classes', '0'), '0'),
    (('--max-objects', 'x'), "'x'"),
    (('--seed', '-1'), '-1'),
    (('--object-size', '2', '40'), '2'),
])
def test_cli_rejects_bad_values(tmp_path, cli_module, capsys, args, needle):
    with pytest.raises(SystemExit) as exc:
        cli_module.main(['--out', str(tmp_path / 'bad'), *args])
    assert exc.value.code == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines()
              if 'error:' in ln]
    assert len(errors) == 1
    assert needle in errors[0] and 'valid range' in errors[0], errors
    assert not (tmp_path / 'bad').exists()
