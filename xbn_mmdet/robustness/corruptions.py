"""The corruptions of the "Benchmarking Robustness in Object Detection"
protocol (Michaelis et al. 2019), their groups, the CLI's name resolution,
and a per-image seeded version of mmdet's ``Corrupt`` transform.

The corruption functions come from the ``imagecorruptions`` module, which we
install from the maintained ``imagecorruptions-imaug`` distribution (1.1.5):
the original ``imagecorruptions`` 1.1.2 (2020) breaks under numpy 2 /
scikit-image >= 0.19 (``np.float_`` in ``fog``, ``gaussian(multichannel=)``
in ``glass_blur`` and ``gaussian_blur``) and imports ``pkg_resources``.
:func:`probe_corruptions` finds such broken functions before a sweep starts.
"""
import contextlib
import hashlib
import inspect
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mmdet.datasets.transforms.transforms import Corrupt
from mmdet.registry import TRANSFORMS

__all__ = [
    'BENCHMARK_CORRUPTIONS', 'EXTRA_CORRUPTIONS', 'ALL_CORRUPTIONS',
    'CORRUPTION_GROUPS', 'SEVERITIES', 'resolve_corruptions',
    'probe_corruptions', 'SeededCorrupt', 'CorruptionNameError'
]

# The 15 benchmark corruptions, in the protocol's order, by group.
NOISE = ('gaussian_noise', 'shot_noise', 'impulse_noise')
BLUR = ('defocus_blur', 'glass_blur', 'motion_blur', 'zoom_blur')
WEATHER = ('snow', 'frost', 'fog', 'brightness')
DIGITAL = ('contrast', 'elastic_transform', 'pixelate', 'jpeg_compression')
BENCHMARK_CORRUPTIONS = NOISE + BLUR + WEATHER + DIGITAL
# The four held-out ("validation") corruptions.
EXTRA_CORRUPTIONS = ('speckle_noise', 'gaussian_blur', 'spatter', 'saturate')
ALL_CORRUPTIONS = BENCHMARK_CORRUPTIONS + EXTRA_CORRUPTIONS
CORRUPTION_GROUPS = {
    'benchmark': BENCHMARK_CORRUPTIONS,
    'all': ALL_CORRUPTIONS,
    'noise': NOISE,
    'blur': BLUR,
    'weather': WEATHER,
    'digital': DIGITAL,
    'extra': EXTRA_CORRUPTIONS,
}
# 0 is the clean test set; 1..5 the corruption strengths.
SEVERITIES = (0, 1, 2, 3, 4, 5)


class CorruptionNameError(ValueError):
    """An unknown corruption or group name (user error)."""


def resolve_corruptions(tokens: Sequence[str]) -> List[str]:
    """Expand group names and check single names; keep the first-seen order,
    drop repeats. Raises :class:`CorruptionNameError` naming the bad token
    and everything valid."""
    names = []
    for token in tokens:
        if token in CORRUPTION_GROUPS:
            expanded = CORRUPTION_GROUPS[token]
        elif token in ALL_CORRUPTIONS:
            expanded = (token, )
        else:
            raise CorruptionNameError(
                f'unknown corruption {token!r}; valid groups: '
                f'{", ".join(CORRUPTION_GROUPS)}; valid names: '
                f'{", ".join(ALL_CORRUPTIONS)}')
        names += [n for n in expanded if n not in names]
    return names


def probe_corruptions(names: Sequence[str],
                      size: Tuple[int, int] = (64, 80)
                      ) -> Tuple[List[str], Dict[str, str]]:
    """Run each corruption once (severity 1, a small random image) and
    split ``names`` into those that work and ``{name: why}`` for those that
    do not, so that a broken function of the installed ``imagecorruptions``
    is skipped with its reason instead of crashing a sweep half-way.

    ``imagecorruptions`` missing altogether makes every name broken.
    """
    try:
        from imagecorruptions import corrupt
    except ImportError as exc:
        why = (f'the imagecorruptions module is not importable ({exc}); '
               'install it with `pip install imagecorruptions-imaug==1.1.5`')
        return [], {name: why for name in names}
    image = np.random.default_rng(0).integers(
        0, 256, (*size, 3), dtype=np.uint8)
    usable, broken = [], {}
    for name in names:
        try:
            with seeded_numpy(0):
                out = corrupt(image, corruption_name=name, severity=1)
            if np.asarray(out).shape[:2] != image.shape[:2]:
                raise ValueError(f'returned shape {np.asarray(out).shape} '
                                 f'for an input of {image.shape}')
        except Exception as exc:  # any failure means: cannot evaluate it
            broken[name] = f'{type(exc).__name__}: {exc}'
        else:
            usable.append(name)
    return usable, broken


@contextlib.contextmanager
def seeded_numpy(seed: int):
    """Seed numpy's global RNG (which most corruption functions draw from)
    inside the block and put its previous state back afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def image_seed(seed: int, corruption: str, severity: int, img_path) -> int:
    """A 32-bit seed from the sweep seed, the cell and the image file name:
    the same image gets the same corruption whatever the batch order, the
    number of processes or a resumed sweep."""
    key = f'{seed}/{corruption}/{severity}/{osp.basename(str(img_path))}'
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], 'little')


@TRANSFORMS.register_module()
class SeededCorrupt(Corrupt):
    """mmdet's :class:`Corrupt`, made reproducible: each image is corrupted
    with a seed derived from ``seed``, the corruption, the severity and the
    image's file name (:func:`image_seed`). numpy's global RNG is seeded for
    the call and restored afterwards; ``impulse_noise`` and ``glass_blur``,
    which draw from fresh generators, get the seed as their ``seed``
    argument.

    Args:
        corruption (str): one of :data:`ALL_CORRUPTIONS`.
        severity (int): 1..5.
        seed (int): the sweep's seed. Defaults to 0.
    """

    def __init__(self, corruption: str, severity: int = 1,
                 seed: int = 0) -> None:
        super().__init__(corruption=corruption, severity=severity)
        self.seed = seed

    def transform(self, results: dict) -> dict:
        seed = image_seed(self.seed, self.corruption, self.severity,
                          results.get('img_path', results.get('img_id')))
        with seeded_numpy(seed):
            if not _takes_seed(self.corruption):
                return super().transform(results)
            from imagecorruptions import corrupt
            results['img'] = corrupt(
                results['img'].astype(np.uint8),
                corruption_name=self.corruption,
                severity=self.severity,
                seed=seed)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(corruption={self.corruption}, '
                f'severity={self.severity}, seed={self.seed})')


def _takes_seed(name: str) -> bool:
    """Whether the corruption function has its own ``seed`` argument (in
    imagecorruptions-imaug: impulse_noise, glass_blur)."""
    try:
        import imagecorruptions.corruptions as functions
    except ImportError:
        return False
    function = getattr(functions, name, None)
    return (function is not None
            and 'seed' in inspect.signature(function).parameters)
