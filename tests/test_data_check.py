"""The data pre-flight check (xbn_mmdet/datasets/preflight.py): each kind of
bad data gives one error naming the file and the problem, before training
starts; tools/train.py reports it as one line."""
import json
import shutil
import sys

import pytest
from mmengine.config import Config

from test_tools import TRAIN, make_synthetic_coco, run_tool, write_config
from xbn_mmdet.datasets.preflight import DataCheckError, check_config_data


@pytest.fixture(scope='module')
def pristine(tmp_path_factory):
    return make_synthetic_coco(tmp_path_factory.mktemp('coco'))


@pytest.fixture
def coco(pristine, tmp_path):
    root = tmp_path / 'coco'
    shutil.copytree(pristine, root)
    return root


def config_for(root, tmp_path):
    return Config.fromfile(str(write_config(tmp_path / 'cfg.py', root)))


def edit_json(root, fn, name='annotations.json'):
    path = root / name
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))
    return path


def test_good_data_passes(coco, tmp_path):
    assert check_config_data(config_for(coco, tmp_path)) == []


def _set(ann, **kw):
    ann.update(kw)


# (name, how to break the set, expected message fragment; '{ann}' is the
# annotation file, '{root}' the data root)
CASES = [
    ('annotation file missing',
     lambda r: (r / 'annotations.json').unlink(),
     'annotation file not found: {ann}'),
    ('not JSON', lambda r: (r / 'annotations.json').write_text('images: []'),
     'annotation file {ann} is not valid JSON: Expecting value at line 1'),
    ('truncated JSON', lambda r: (r / 'annotations.json').write_text(
        (r / 'annotations.json').read_text()[:300]),
     'annotation file {ann} is truncated: the JSON ends at byte 300'),
    ('empty file', lambda r: (r / 'annotations.json').write_text(''),
     'annotation file {ann} is empty'),
    ('not COCO: a list', lambda r: (r / 'annotations.json').write_text('[]'),
     '{ann} is not COCO: the top level is a list'),
    ('not COCO: no annotations key',
     lambda r: edit_json(r, lambda d: d.pop('annotations')),
     "{ann} is not COCO: no top-level 'annotations' (it has: 'images', "
     "'categories')"),
    ('image entry lacks file_name',
     lambda r: edit_json(r, lambda d: d['images'][1].pop('file_name')),
     "{ann} is not COCO: images[1] (id 2) lacks 'file_name'"),
    ('annotation lacks area',
     lambda r: edit_json(r, lambda d: d['annotations'][0].pop('area')),
     "{ann} is not COCO: annotations[0] (id 1) lacks 'area'"),
    ('unknown category id',
     lambda r: edit_json(r, lambda d: _set(d['annotations'][2],
                                           category_id=7)),
     '{ann}: annotation 3 has category_id 7, which is not in "categories" '
     '(valid ids: 1, 2)'),
    ('annotation of an unknown image',
     lambda r: edit_json(r, lambda d: _set(d['annotations'][0], image_id=99)),
     '{ann}: annotation 1 refers to image id 99, which is not in "images"'),
    ('negative box',
     lambda r: edit_json(r, lambda d: _set(d['annotations'][1],
                                           bbox=[30, 30, -5, 10])),
     '{ann}: annotation 2 has a negative box size (bbox [30, 30, -5, 10]'),
    ('box of 3 numbers',
     lambda r: edit_json(r, lambda d: _set(d['annotations'][1],
                                           bbox=[1, 2, 3])),
     '{ann}: annotation 2 has bbox [1, 2, 3]; a COCO box is [x, y, width, '
     'height], 4 finite numbers'),
    ('image missing on disk',
     lambda r: (r / 'images' / '0002.jpg').unlink(),
     '1 of 4 images listed in {ann} are missing on disk: '
     '{root}/images/0002.jpg'),
    ('image that cannot be decoded',
     lambda r: (r / 'images' / '0003.jpg').write_bytes(b'\xff\xd8garbage'),
     'image {root}/images/0003.jpg (9 bytes) cannot be decoded'),
    ('no usable box',
     lambda r: edit_json(r, lambda d: [_set(a, bbox=[0, 0, 0.5, 0.5])
                                       for a in d['annotations']]),
     '{ann}: none of its 6 boxes is usable: all have zero or sub-pixel size'),
]


@pytest.mark.parametrize('name,breaks,message', CASES,
                         ids=[c[0] for c in CASES])
def test_bad_data_is_one_clear_error(coco, tmp_path, name, breaks, message):
    breaks(coco)
    with pytest.raises(DataCheckError) as err:
        check_config_data(config_for(coco, tmp_path))
    text = str(err.value)
    assert '\n' not in text
    assert message.format(ann=coco / 'annotations.json', root=coco) in text


def test_config_classes_missing_from_the_file(coco, tmp_path):
    cfg = config_for(coco, tmp_path)
    cfg.train_dataloader.dataset.metainfo = dict(classes=('box', 'circle'))
    with pytest.raises(DataCheckError,
                       match=r"classes \['circle'\] of the config are not "
                       r"category names in .*annotations.json \(it has "
                       r"\['box', 'tri'\]\)"):
        check_config_data(cfg)


def test_empty_train_set_after_filtering(coco, tmp_path):
    cfg = config_for(coco, tmp_path)
    cfg.train_dataloader.dataset.filter_cfg.min_size = 100  # images: 64 px
    with pytest.raises(DataCheckError,
                       match=r'train_dataloader.dataset: the train set is '
                       r'empty after filtering: .*annotations.json lists '
                       r"images, but none passes filter_cfg=\{'filter_empty_gt'"
                       r": True, 'min_size': 100\}"):
        check_config_data(cfg)


def test_val_set_without_annotations(coco, tmp_path):
    data = json.loads((coco / 'annotations.json').read_text())
    data['annotations'] = []
    (coco / 'val.json').write_text(json.dumps(data))
    cfg = config_for(coco, tmp_path)
    cfg.val_dataloader.dataset.ann_file = 'val.json'
    with pytest.raises(DataCheckError,
                       match=r'val_dataloader.dataset: .*val.json has no '
                       'annotations'):
        check_config_data(cfg, splits=('train', 'val'))
    # a test-dev style set (format_only) needs none
    cfg.test_dataloader = cfg.val_dataloader
    cfg.test_evaluator = dict(type='CocoMetric', format_only=True,
                              outfile_prefix=str(tmp_path / 'dev'))
    assert check_config_data(cfg, splits=('test', )) == []


def test_degenerate_boxes_are_a_warning(coco, tmp_path):
    edit_json(coco, lambda d: _set(d['annotations'][0], bbox=[3, 3, 0, 9]))
    (warning, ) = check_config_data(config_for(coco, tmp_path),
                                    splits=('train', ))
    assert f'{coco}/annotations.json: 1 of 6 boxes have zero or sub-pixel' \
        in warning
    assert '(annotation ids 1); mmdet skips them' in warning


def test_train_tool_stops_before_training(coco, tmp_path):
    (coco / 'images' / '0004.jpg').unlink()
    config = write_config(tmp_path / 'cfg.py', coco)
    proc = run_tool([sys.executable, TRAIN, str(config), '--work-dir',
                     str(tmp_path / 'work')])
    assert proc.returncode != 0
    errors = [line for line in proc.output.splitlines()
              if line.startswith('error:')]
    assert len(errors) == 1, proc.output[-3000:]
    assert f'{coco}/images/0004.jpg' in errors[0]
    assert '--skip-data-check' in errors[0]
    assert 'Traceback' not in proc.output
    assert not (tmp_path / 'work').exists() or not list(
        (tmp_path / 'work').glob('*.pth'))


def test_bad_check_images_flag(coco, tmp_path):
    config = write_config(tmp_path / 'cfg.py', coco)
    proc = run_tool([sys.executable, TRAIN, str(config), '--check-images', 'some'])
    assert proc.returncode == 2
    assert "--check-images must be \"all\" or an integer >= 0, got 'some'" \
        in proc.output
