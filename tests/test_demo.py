"""tools/demo.py (what `make demo` runs), shortened: it generates the set,
trains, evaluates and prints the table with the paths it promises."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_runs_end_to_end_and_prints_results(tmp_path):
    data, work = tmp_path / 'data', tmp_path / 'work'
    proc = subprocess.run(
        [sys.executable, 'tools/demo.py', '--epochs', '1', '--num-train', '8',
         '--num-val', '4', '--num-vis', '2', '--data-root', str(data),
         '--work-dir', str(work)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-5000:]
    out = proc.stdout
    for label in ('box mAP', 'box AP50', 'mask mAP', 'mask AP50'):
        assert re.search(rf'{label}\s+-?\d\.\d{{3}}', out), label
    assert (data / 'annotations' / 'instances_val.json').is_file()
    assert (work / 'epoch_1.pth').is_file()
    pictures = sorted((work / 'vis').glob('*.png'))
    assert len(pictures) == 2 and all(p.stat().st_size > 0 for p in pictures)
    assert str(work / 'epoch_1.pth') in out


def test_demo_rejects_bad_arguments():
    proc = subprocess.run(
        [sys.executable, 'tools/demo.py', '--epochs', '0'], cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 2
    assert "'0' is not a positive integer" in proc.stdout
