"""Let ``torch.load(weights_only=True)`` read mmengine/mmdet checkpoints.

torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``. mmengine
0.10.7 does not pass that flag, so loading a full training checkpoint (for
``--resume``, ``load_from`` or ``tools/test.py``) fails with::

    Unsupported global: GLOBAL mmengine.logging.history_buffer.HistoryBuffer

We keep the safe unpickler and only allow-list the globals that real
checkpoints contain. The list was found empirically: a checkpoint was saved
by a short mmdet 3.3 Mask R-CNN training run (torch 2.13, numpy 2.x), its
``data.pkl`` was scanned with ``pickletools`` for GLOBAL/STACK_GLOBAL
opcodes, and it was loaded repeatedly, adding only what the weights-only
unpickler reported, until it loaded:

* ``message_hub.log_scalars`` holds :class:`HistoryBuffer` objects whose
  state has numpy arrays (``_reconstruct``, ``ndarray``, ``dtype``; the
  unpickler's BUILD step checks the concrete dtype class, i.e.
  ``numpy.dtypes.Float64DType`` / ``Int64DType``), and a dict of the
  buffer's statistics methods, which pickle writes as
  ``getattr(HistoryBuffer, 'min')`` etc.
* ``message_hub.runtime_info`` holds numpy scalars (``eta``):
  ``numpy._core.multiarray.scalar``.
* The official XBNBlock ImageNet ``checkpoint.pth`` keeps its training
  arguments as an ``argparse.Namespace`` under ``cfg`` (plain attributes:
  strings, numbers, lists), next to the optimizer and scheduler state.

Everything else in a checkpoint (``collections.OrderedDict``/``Counter``,
``_codecs.encode``, tensors) is allowed by torch already.

``getattr`` is *not* allow-listed as such: a restricted stand-in registered
under the name ``builtins.getattr`` only returns HistoryBuffer's own
statistics methods and refuses anything else.

Checkpoints written under numpy 1.x spell the numpy functions
``numpy.core.multiarray.*``; those names are registered as aliases of the
same two functions (no extra callable is allowed).
"""
import argparse
import pickle
import re

import numpy as np
import torch

__all__ = [
    'register_checkpoint_safe_globals', 'checkpoint_safe_globals',
    'UnsafeCheckpointError', 'unsafe_globals_in', 'check_checkpoint_is_safe',
    'load_checkpoint_file'
]

# HistoryBuffer statistics methods mmengine registers by default
# (HistoryBuffer._set_default_statistics).
_HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')

# numpy dtype classes seen in real checkpoints (HistoryBuffer's float64 log
# history and int64 count history; numpy float64 scalars).
_NUMPY_DTYPE_CLASS_NAMES = ('Float64DType', 'Int64DType')

_registered = False


def _history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside the weights-only unpickler.

    Pickle (protocol 2) writes the function ``HistoryBuffer.min`` as
    ``getattr(HistoryBuffer, 'min')``. Only those lookups are answered.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    if obj is HistoryBuffer and name in _HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'getattr({obj!r}, {name!r}) is not allowed while loading a '
        'checkpoint with weights_only=True')


def _numpy_multiarray():
    core = getattr(np, '_core', None)  # numpy >= 2
    if core is None:  # pragma: no cover - numpy 1.x
        core = np.core
    return core.multiarray


def checkpoint_safe_globals():
    """The entries :func:`register_checkpoint_safe_globals` registers, in the
    form :func:`torch.serialization.add_safe_globals` accepts."""
    from mmengine.logging.history_buffer import HistoryBuffer
    multiarray = _numpy_multiarray()
    entries = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        (multiarray._reconstruct, 'numpy._core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy._core.multiarray.scalar'),
        # Names used by checkpoints pickled under numpy 1.x.
        (multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
        (multiarray.scalar, 'numpy.core.multiarray.scalar'),
        (_history_buffer_getattr, 'builtins.getattr'),
        argparse.Namespace,
    ]
    dtypes = getattr(np, 'dtypes', None)  # numpy >= 1.25
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in _NUMPY_DTYPE_CLASS_NAMES]
    return entries


def register_checkpoint_safe_globals():
    """Allow-list the globals of mmengine/mmdet checkpoints for the
    weights-only ``torch.load``. Idempotent; a no-op on torch without
    ``torch.serialization.add_safe_globals`` (< 2.4)."""
    global _registered
    if _registered:
        return
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - old torch
        _registered = True
        return
    add_safe_globals(checkpoint_safe_globals())
    _registered = True


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint needs a global that the weights-only loader refuses."""

    def __init__(self, path, names):
        self.path = str(path)
        self.names = sorted(names)
        super().__init__(
            f'refusing to load {self.path}: it needs '
            f"{', '.join(self.names) or 'a global'}, which is not on "
            "xbn-mmdet's allow-list for weights-only torch.load (unpickling "
            'it could run code from the file). If you trust this file, allow '
            'exactly those classes before loading, e.g. '
            '`torch.serialization.add_safe_globals([TheClass])` in a module '
            "your config's custom_imports imports, or write a weights-only "
            'copy of a backbone checkpoint once with `python '
            'tools/convert_checkpoint.py SRC DST --trust-source`')


def unsafe_globals_in(path) -> list:
    """The globals in a checkpoint file that weights-only loading would
    refuse, found without unpickling anything (torch's static scan).

    Returns ``[]`` for files the scan cannot read (legacy non-zip format,
    remote paths); loading them still goes through the weights-only
    unpickler, and :func:`load_checkpoint_file` reports what it refuses.
    """
    register_checkpoint_safe_globals()
    scan = getattr(torch.serialization, 'get_unsafe_globals_in_checkpoint',
                   None)
    if scan is None:  # pragma: no cover - torch < 2.5
        return []
    try:
        return sorted(scan(str(path)))
    except (ValueError, RuntimeError, OSError):
        return []


def check_checkpoint_is_safe(path) -> None:
    """Raise :class:`UnsafeCheckpointError` before anything is loaded if a
    local checkpoint needs globals outside the allow-list."""
    names = unsafe_globals_in(path)
    if names:
        raise UnsafeCheckpointError(path, names)


_UNSUPPORTED_GLOBAL = re.compile(r'Unsupported global: GLOBAL ([\w.]+)')


def load_checkpoint_file(path, map_location='cpu', logger=None):
    """Load a local or remote checkpoint with mmengine's
    ``CheckpointLoader`` (``scheme://`` paths, the local file system) and the
    weights-only unpickler, turning a refusal into
    :class:`UnsafeCheckpointError` (which names the class and the opt-in)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    register_checkpoint_safe_globals()
    try:
        return CheckpointLoader.load_checkpoint(
            str(path), map_location=map_location, logger=logger)
    except pickle.UnpicklingError as exc:
        if isinstance(exc, UnsafeCheckpointError):
            raise
        names = unsafe_globals_in(path) or \
            _UNSUPPORTED_GLOBAL.findall(str(exc))
        raise UnsafeCheckpointError(path, names) from None
