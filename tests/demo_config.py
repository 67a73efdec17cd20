"""The demo config pointed at a synthetic set of a test's own (an output
of ``generate_synthetic_coco``): shared by the tests that train the demo
detector briefly."""
from pathlib import Path

DEMO_CONFIG = (Path(__file__).resolve().parents[1] / 'configs' / 'demo' /
               'mask_rcnn_r18_xbn_synthetic.py')

_DATA = """\
_base_ = {base!r}
data_root = {root!r}
train_dataloader = dict(dataset=dict(data_root=data_root))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
"""


def demo_config_on(data_root, overrides: str = '') -> str:
    """Config text: the demo config with every data path under
    ``data_root``, then ``overrides`` (more config lines)."""
    return _DATA.format(base=str(DEMO_CONFIG),
                        root=str(data_root).rstrip('/') + '/') + overrides
