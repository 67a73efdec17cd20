"""One DDP step over gloo equals one single-process step for an XBN backbone
whose BNs are frozen: the batch-free layers and DDP agree.

Two processes get one image each and back-propagate that image's loss (the
mean of the backbone's outputs); DDP averages the gradients over the
processes, which is the gradient of the mean of the two per-image losses.
One process with both images in one batch and loss = the mean of the
per-image losses must then get the same gradients, provided no layer mixes
the images of a batch: GroupNorm (the BFN) normalises each image on its own,
and the frozen BNs (``norm_eval=True``) use their fixed statistics. A control
run with the BNs in training mode (batch statistics of one image per process
against two images in one batch) must differ, so the check can fail.

A whole detector is not expected to match exactly, and this test does not
try: mmdet's detectors normalise their losses per process (the RPN and RoI
samplers draw a fixed number of samples per image at random, the losses are
averaged over the samples of that process, and ``avg_factor``s count that
process's positives), so the average over processes of per-process means is
not the mean over the union of the batches.

The comparison runs in float64. In float32 the two sides differ by up to
4e-3 of a tensor's largest gradient (measured: ResNet-50 with random weights
on 64x64 images, where GroupNorm over a few elements amplifies round-off,
and batch 1 versus batch 2 take different conv kernels); in float64 they
agree to about 1e-14, and the BN control differs by more than 100%.
"""
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel

from xbn_mmdet.models.backbones import XBNResNet

IMAGES = 2


def build_backbone(norm_eval):
    """XBN-ResNet-50 (P2, GN 64) with frozen BN layers as the COCO recipes
    have them, all stages trainable, BN statistics made non-trivial."""
    torch.manual_seed(0)
    model = XBNResNet(
        depth=50,
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=norm_eval,
        bfn_cfg=dict(type='GN', num_groups=64))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    model.train()
    return model.double()


def per_image_losses(outputs):
    """The mean of each image's outputs, summed over the stages: (N,)."""
    return sum(out.flatten(1).mean(1) for out in outputs)


def gradients(model):
    return {
        name: p.grad.detach().clone()
        for name, p in model.named_parameters() if p.requires_grad
    }


def images():
    return torch.randn(
        IMAGES,
        3,
        64,
        64,
        dtype=torch.float64,
        generator=torch.Generator().manual_seed(1))


def _ddp_worker(rank, init_file, out_pattern):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'file://{init_file}',
        rank=rank,
        world_size=IMAGES)
    try:
        result = {}
        for norm_eval in (True, False):
            model = build_backbone(norm_eval)
            ddp = DistributedDataParallel(model)
            loss = per_image_losses(ddp(images()[rank:rank + 1])).mean()
            loss.backward()
            result[norm_eval] = gradients(model)
        torch.save(result, out_pattern.format(rank=rank))
    finally:
        dist.destroy_process_group()


def _max_rel_diff(a, b):
    return max(((a[k] - b[k]).abs().max() /
                b[k].abs().max().clamp_min(1e-12)).item() for k in b)


@pytest.mark.slow  # two spawned processes importing mmdet: 25-45 s here
def test_ddp_gradients_equal_single_process(tmp_path):
    out_pattern = str(tmp_path / 'grads_rank{rank}.pt')
    mp.spawn(
        _ddp_worker,
        args=(str(tmp_path / 'store'), out_pattern),
        nprocs=IMAGES,
        join=True)
    ranks = [torch.load(out_pattern.format(rank=r)) for r in range(IMAGES)]

    for norm_eval in (True, False):
        model = build_backbone(norm_eval)
        per_image_losses(model(images())).mean().backward()
        single = gradients(model)
        # DDP left the same averaged gradients on every rank
        for rank in ranks[1:]:
            for name, grad in rank[norm_eval].items():
                torch.testing.assert_close(grad, ranks[0][norm_eval][name])
        if norm_eval:
            assert any(n.endswith('bn2.weight') for n in single)  # GN
            assert not any(n.endswith('bn3.weight') for n in single)  # BN
            for name, grad in single.items():
                torch.testing.assert_close(
                    ranks[0][True][name], grad, rtol=1e-9, atol=1e-12,
                    msg=lambda m, n=name: f'{n}: {m}')
        else:
            # control: BNs on batch statistics do mix the images
            assert _max_rel_diff(ranks[0][False], single) > 1.0
