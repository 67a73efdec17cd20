"""Checkpoints that survive a kill: atomic writes, intact-file checks and
choosing what ``--resume`` continues from.

What mmengine 0.10.7 does. ``CheckpointHook`` calls ``runner.save_checkpoint``,
which serialises the whole checkpoint to memory and hands the bytes to the
file backend's ``put``; ``LocalBackend.put`` opens the *final* file name
``'wb'`` and writes. Only afterwards does the hook write the file name into
``<work_dir>/last_checkpoint`` (the pointer ``--resume`` without a path
follows). So a kill during the write leaves a truncated ``iter_N.pth`` while
the pointer still names the previous checkpoint; a kill while the pointer is
rewritten can leave it empty, and mmengine then finds no checkpoint and
silently starts again from scratch. With ``max_keep_ckpts`` the hook deletes
the oldest checkpoint *before* writing the new one.

What we add:

* :class:`AtomicLocalBackend` (file backend ``'atomic_local'``): ``put``
  writes to a temporary file in the same directory, fsyncs it and renames it
  over the final name with ``os.replace`` (atomic on POSIX and Windows), so a
  checkpoint file is either absent or complete. Our configs select it with
  ``default_hooks.checkpoint.backend_args=dict(backend='atomic_local')``.
* :func:`checkpoint_problem`: is a file an intact torch checkpoint (zip
  archive readable, every member's CRC right)?
* :func:`find_resumable_checkpoint`: what auto-resume should continue from:
  the pointer's file when it is intact, else the newest intact checkpoint in
  the work dir, with the reason.
"""
import glob
import os.path as osp
import zipfile
from typing import List, Optional, Tuple

from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner import find_latest_checkpoint

from ..fileio import atomic_write

ATOMIC_BACKEND = 'atomic_local'


class AtomicLocalBackend(LocalBackend):
    """mmengine's local file backend whose ``put``/``put_text`` never leave a
    partly written file under the final name."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(filepath, obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(filepath, obj.encode(encoding))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)


def checkpoint_problem(path) -> Optional[str]:
    """``None`` if ``path`` is an intact checkpoint, else what is wrong with
    it (missing, empty, truncated, corrupt). Files in torch's legacy
    (pre-1.6, non-zip) format cannot be verified and pass."""
    path = str(path)
    if not osp.isfile(path):
        return 'the file does not exist'
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes)'
    with open(path, 'rb') as f:
        magic = f.read(4)
    if magic[:1] == b'\x80':  # legacy pickle-based torch.save format
        return None
    if magic[:2] != b'PK':
        return (f'it is not a torch checkpoint ({size} bytes, does not start '
                'like a torch.save zip archive)')
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return (f'it is truncated or corrupt ({size} bytes; {exc}), e.g. '
                'the process was killed while writing it')
    if bad is not None:
        return f'it is corrupt (checksum error in {bad})'
    return None


def _candidates(work_dir) -> List[str]:
    files = glob.glob(osp.join(work_dir, '*.pth'))
    return sorted(files, key=lambda p: (osp.getmtime(p), p), reverse=True)


def find_resumable_checkpoint(work_dir) -> Tuple[Optional[str], List[str]]:
    """The checkpoint auto-resume should use, and notes on what was passed
    over.

    Without ``work_dir/last_checkpoint`` nothing was saved: ``(None, [])``,
    a fresh run, as in mmengine. The pointer's file wins when the file it
    names is intact. Otherwise (pointer empty, file deleted, truncated) the
    newest intact ``*.pth`` in ``work_dir`` by modification time. ``(None,
    notes)`` when there is none; the notes then name every corrupt file.
    """
    notes = []
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):  # nothing saved yet: a fresh run
        return None, notes
    latest = find_latest_checkpoint(work_dir)
    if latest:
        problem = checkpoint_problem(latest)
        if problem is None:
            return latest, notes
        notes.append(f'{latest} (named in {pointer}): {problem}')
    else:
        notes.append(f'{pointer} is empty')
    for path in _candidates(work_dir):
        if latest and osp.abspath(path) == osp.abspath(latest):
            continue
        problem = checkpoint_problem(path)
        if problem is None:
            return path, notes
        notes.append(f'{path}: {problem}')
    return None, notes


__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'checkpoint_problem',
    'find_resumable_checkpoint'
]
