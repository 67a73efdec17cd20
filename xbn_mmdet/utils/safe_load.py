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

Everything else in a checkpoint (``collections.OrderedDict``/``Counter``,
``_codecs.encode``, tensors) is allowed by torch already.

``getattr`` is *not* allow-listed as such: a restricted stand-in registered
under the name ``builtins.getattr`` only returns HistoryBuffer's own
statistics methods and refuses anything else.

Checkpoints written under numpy 1.x spell the numpy functions
``numpy.core.multiarray.*``; those names are registered as aliases of the
same two functions (no extra callable is allowed).
"""
import pickle

import numpy as np
import torch

__all__ = ['register_checkpoint_safe_globals', 'checkpoint_safe_globals']

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
