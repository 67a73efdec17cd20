"""Import a script from tools/ in-process: a subprocess costs seconds of
importing torch and mmdet, and in-process calls let tests read SystemExit
messages and return values directly."""
import importlib.util
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / 'tools'


def import_tool(name):
    """``tools/<name>.py`` as a fresh module (``name`` may contain a
    subfolder, e.g. ``'analysis/estimation_shift'``)."""
    path = TOOLS / f'{name}.py'
    spec = importlib.util.spec_from_file_location(
        'xbn_tool_' + name.replace('/', '_'), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
