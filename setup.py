"""Install with ``pip install -e .`` into an environment that already has
torch and mmcv 2.1.0 built with ops (see README: "Into your own OpenMMLab
environment"); mmcv is only on PyPI as source, so it is not built here."""
import os.path as osp

from setuptools import find_packages, setup


def read_version():
    scope = {}
    with open(osp.join(osp.dirname(__file__), 'xbn_mmdet', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='xbn-mmdet',
    version=read_version(),
    description='XBNBlock (batch-free normalized) backbones for MMDetection 3.x',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['xbn_mmdet', 'xbn_mmdet.*']),
    python_requires='>=3.8',
    install_requires=[
        'torch>=1.8',
        # mmdet 3.3.0 asserts 2.0.0rc4 <= mmcv < 2.2.0 at import time.
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmengine>=0.7.1,<1.0.0',
        'mmdet>=3.3.0,<3.4.0',
        'pycocotools>=2.0.8',
        'faster-coco-eval>=1.6.5',
        'numpy',
        # xbn_mmdet.analysis plots; tools/analysis/esm_experiment.py reads
        # scikit-learn's bundled digits images.
        'matplotlib',
        'scikit-learn',
        # tools/test_robustness.py (mmdet's Corrupt transform imports the
        # `imagecorruptions` module). This maintained fork provides it and
        # works with numpy 2 / scikit-image 0.26; the original
        # imagecorruptions 1.1.2 fails there (fog, glass_blur,
        # gaussian_blur). Do not install both: they ship the same module.
        'imagecorruptions-imaug==1.1.5',
    ],
    extras_require={'tests': ['pytest']},
    license='Apache-2.0',
    zip_safe=False,
)
