"""Where a corruption goes in a test pipeline: right after the image is
loaded, before any resize, as in the robustness benchmark (corruptions are
defined on images at their original resolution)."""
import copy

__all__ = ['corrupted_dataloader_cfg', 'PipelineError']

# Transforms that put ``results['img']`` in place from a file or an array.
LOADING_TRANSFORMS = ('LoadImageFromFile', 'LoadImageFromNDArray',
                      'LoadMultiChannelImageFromFiles')


class PipelineError(ValueError):
    """The test pipeline has no image-loading step to insert after."""


def _innermost_dataset(dataset_cfg):
    while 'dataset' in dataset_cfg:  # ConcatDataset-free wrappers
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def corrupted_dataloader_cfg(dataloader_cfg, corruption, severity, seed=0):
    """A copy of ``dataloader_cfg`` whose dataset pipeline corrupts each
    image with ``SeededCorrupt``; severity 0 returns an unchanged copy (the
    clean test set)."""
    dataloader_cfg = copy.deepcopy(dataloader_cfg)
    if severity == 0:
        return dataloader_cfg
    pipeline = _innermost_dataset(dataloader_cfg['dataset'])['pipeline']
    # 'LoadImageFromFile', 'mmdet.LoadImageFromFile' or the class itself
    types = [
        getattr(step.get('type'), '__name__',
                str(step.get('type')).split('.')[-1]) for step in pipeline
    ]
    loads = [i for i, t in enumerate(types) if t in LOADING_TRANSFORMS]
    if not loads:
        raise PipelineError(
            'cannot place the corruption: the test pipeline has no image '
            f'loading step ({", ".join(LOADING_TRANSFORMS)}); its '
            f'steps are {types}')
    pipeline.insert(
        loads[0] + 1,
        dict(
            type='SeededCorrupt',
            corruption=corruption,
            severity=severity,
            seed=seed))
    return dataloader_cfg
