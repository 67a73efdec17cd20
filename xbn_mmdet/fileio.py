"""Writing files so that a kill never leaves half of one under its name."""
import os
import os.path as osp
import tempfile

__all__ = ['atomic_write']


def atomic_write(path, data: bytes) -> None:
    """Write ``data`` to a temporary file in the same folder, flush it to
    disk, then rename it over ``path`` (``os.replace`` is atomic on POSIX and
    Windows): a reader sees the old file or the new one, never a part."""
    path = str(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
