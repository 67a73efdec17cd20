"""Distributed runs on CPU-only machines (``torchrun ... --launcher pytorch``).

mmengine 0.10.7's ``pytorch`` launcher calls ``torch.cuda.set_device`` and
wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail without
a GPU. On a CPU-only machine we therefore

* initialise the ``gloo`` process group ourselves from the environment
  variables torchrun sets (``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``,
  ``MASTER_PORT``), before the Runner is built, so the Runner skips its own
  ``init_dist``;
* set ``env_cfg.dist_cfg.backend = 'gloo'``;
* make the DDP wrapper use ``device_ids=None`` (the CPU form).

With a GPU (or another accelerator mmengine knows) or ``--launcher none``
nothing is changed.
"""
import datetime
import os

import torch.distributed as torch_dist

__all__ = [
    'is_cpu_only', 'prepare_cpu_distributed', 'DistributedLaunchError'
]

_TORCHRUN_VARS = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')


class DistributedLaunchError(RuntimeError):
    """The requested launcher cannot be used as started (user error)."""


def is_cpu_only():
    """True when mmengine would run on the CPU (no CUDA/NPU/MLU/MUSA...)."""
    from mmengine.device import get_device
    return get_device() == 'cpu'


def _cpu_ddp_wrapper_cfg(cfg):
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        # Same defaults mmengine's Runner.wrap_model uses, minus device_ids.
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel',
            device_ids=None,
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        return
    from mmengine.registry import MODEL_WRAPPERS
    from torch.nn.parallel import DistributedDataParallel
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper_type = wrapper['type']
    if isinstance(wrapper_type, str):
        wrapper_type = MODEL_WRAPPERS.get(wrapper_type)
    if isinstance(wrapper_type, type) and issubclass(wrapper_type,
                                                     DistributedDataParallel):
        # An explicit device_ids in the config wins, like in mmengine.
        wrapper.setdefault('device_ids', None)


def prepare_cpu_distributed(cfg, launcher):
    """Make ``launcher`` work on a CPU-only machine; call it before building
    the Runner. A no-op when ``launcher == 'none'`` or an accelerator is
    available.

    Args:
        cfg (mmengine.Config): the run config; ``env_cfg.dist_cfg`` and
            ``model_wrapper_cfg`` are updated in place.
        launcher (str): ``'none'``, ``'pytorch'``, ``'slurm'`` or ``'mpi'``.
    """
    if launcher in (None, 'none') or not is_cpu_only():
        return
    if launcher != 'pytorch':
        raise DistributedLaunchError(
            f'--launcher {launcher} is not supported on a CPU-only machine; '
            'start CPU distributed runs with torchrun (tools/dist_train.sh, '
            'tools/dist_test.sh) and --launcher pytorch.')

    env_cfg = cfg.setdefault('env_cfg', dict())
    dist_cfg = env_cfg.setdefault('dist_cfg', dict())
    dist_cfg['backend'] = 'gloo'
    _cpu_ddp_wrapper_cfg(cfg)

    if torch_dist.is_available() and torch_dist.is_initialized():
        return
    missing = [v for v in _TORCHRUN_VARS if v not in os.environ]
    if missing:
        raise DistributedLaunchError(
            '--launcher pytorch expects the environment torchrun sets '
            f'(missing: {", ".join(missing)}); start the run with '
            'tools/dist_train.sh or `python -m torch.distributed.run`.')
    kwargs = {}
    timeout = dist_cfg.get('timeout', None)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(os.environ['RANK']),
        world_size=int(os.environ['WORLD_SIZE']),
        **kwargs)
