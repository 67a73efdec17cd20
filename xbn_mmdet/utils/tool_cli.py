"""What the tools share (tools/train.py, tools/test.py, tools/analysis/*):
the common options of mmdet 3.3's CLI, config loading with their overrides,
building the Runner, argument checks."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from ..checkpoint.integrity import checkpoint_problem
from ..checkpoint.safe_load import (UnsafeCheckpointError,
                                    check_checkpoint_is_safe)
from .dist import DistributedLaunchError, prepare_cpu_distributed
from .pretrained import is_remote_checkpoint


class CfgOptionsAction(DictAction):
    """mmengine's ``DictAction`` (``key=value`` pairs, lists, tuples) with a
    parser error naming the bad item instead of a ``ValueError``
    traceback."""

    def __call__(self, parser, namespace, values, option_string=None):
        for item in values:
            key, sep, _ = item.partition('=')
            if not sep or not key:
                parser.error(f'{option_string}: {item!r} is not key=value, '
                             'e.g. train_cfg.max_epochs=2')
        try:
            super().__call__(parser, namespace, values, option_string)
        except (ValueError, AssertionError) as exc:
            parser.error(f'{option_string}: cannot parse {values!r}: {exc}')


def add_common_args(parser: argparse.ArgumentParser) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and the
    ``--local-rank`` torch.distributed.launch passes."""
    parser.add_argument('--work-dir', help='the dir for logs, checkpoints '
                        'and metrics (default: ./work_dirs/<config name>)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=CfgOptionsAction,
        help='override config settings, key=value pairs merged into the '
        'config, e.g. train_cfg.max_epochs=2 model.backbone.init_cfg=None; '
        'lists as key="[a,b]" or key=a,b (quotes needed, no spaces)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    # torch.distributed.launch passes --local-rank (torch>=2.0) or
    # --local_rank; torchrun sets LOCAL_RANK instead.
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def non_negative_int(text: str) -> int:
    """argparse ``type``: a whole number >= 0, else a parser error naming
    the value."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f'{text} is not an integer >= 0')
    return value


def positive_int(text: str) -> int:
    """argparse ``type`` for counts: a whole number >= 1, else a parser
    error naming the value."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a positive integer')
    return value


def require_checkpoint(parser: argparse.ArgumentParser, path: str) -> None:
    """A local checkpoint path must exist and hold nothing the weights-only
    loader refuses (remote ``scheme://`` ones are mmengine's to fetch)."""
    if is_remote_checkpoint(path):
        return
    if not osp.isfile(path):
        parser.error(f'checkpoint file not found: {path}')
    problem = checkpoint_problem(path)
    if problem:
        parser.error(f'checkpoint {path} cannot be loaded: {problem}')
    try:
        check_checkpoint_is_safe(path)
    except UnsafeCheckpointError as exc:
        parser.error(str(exc))


def add_data_check_args(parser: argparse.ArgumentParser) -> None:
    """``--skip-data-check`` and ``--check-images`` (see
    :mod:`xbn_mmdet.datasets.preflight`)."""
    parser.add_argument(
        '--skip-data-check',
        action='store_true',
        help='do not check the annotation files and images before starting')
    parser.add_argument(
        '--check-images',
        default='8',
        metavar='N|all',
        help='how many images per dataset the data check decodes (spread '
        'over the set; default 8); "all" decodes every image (slow on COCO). '
        'Every image is checked to exist either way')


def check_data_check_args(parser: argparse.ArgumentParser,
                          args: argparse.Namespace) -> None:
    text = args.check_images
    if text == 'all':
        args.check_images = None
        return
    try:
        args.check_images = int(text)
        if args.check_images < 0:
            raise ValueError
    except ValueError:
        parser.error(f'--check-images must be "all" or an integer >= 0, got '
                     f'{text!r}')


def run_data_check(cfg: Config, args: argparse.Namespace, splits) -> None:
    """The data pre-flight check of ``splits``: warnings logged, the first
    error as one ``error:`` line (SystemExit)."""
    if args.skip_data_check:
        return
    import logging

    from mmengine.logging import print_log

    from ..datasets.preflight import DataCheckError, check_config_data
    try:
        found = check_config_data(cfg, splits, decode=args.check_images)
    except DataCheckError as exc:
        raise SystemExit(f'error: {exc} (--skip-data-check to start anyway)')
    for warning in found:
        print_log(warning, logger='current', level=logging.WARNING)


def check_checkpoints_are_safe(paths) -> None:
    """Exit with the refusal message before anything is built if one of the
    local checkpoints needs globals outside the allow-list."""
    for path in paths:
        if path and not is_remote_checkpoint(path) and osp.isfile(path):
            try:
                check_checkpoint_is_safe(path)
            except UnsafeCheckpointError as exc:
                raise SystemExit(f'error: {exc}')


def check_common_args(parser: argparse.ArgumentParser,
                      args: argparse.Namespace) -> None:
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)


def load_config(args: argparse.Namespace) -> Config:
    """The config with ``--cfg-options`` merged, the launcher set and the
    work dir resolved (CLI > config > ./work_dirs/<config name>)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg: Config):
    """mmengine's Runner (or the config's ``runner_type``), after the CPU
    distributed set-up that mmengine's pytorch launcher lacks."""
    from mmengine.runner import Runner

    from mmdet.registry import RUNNERS
    try:
        prepare_cpu_distributed(cfg, cfg.launcher)
    except DistributedLaunchError as exc:
        raise SystemExit(f'error: {exc}')
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def finish_distributed() -> None:
    """Tear the process group down before the interpreter exits.

    Left to interpreter shutdown, a gloo group can abort one rank ("terminate
    called without an active exception", exit -6) while another still talks
    to it; a barrier, then an explicit destroy, ends every rank cleanly.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
