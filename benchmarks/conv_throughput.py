"""How close the CIFAR CNN's convolutions run to the machine's arithmetic peak, pass by pass.

For each conv layer of the recipe's CNN at batch 64 (channels_last, as the engine trains on the CPU)
it times the passes a training step runs: the forward pass, the input gradient (not for the first
layer, whose input needs none) and the weight gradient with the bias gradient, through
``torch.ops.aten.convolution_backward``. It prints GFLOP/s beside a large float32 matrix multiply's,
and the milliseconds all of them take per training step. When the convolutions already run near that peak, the training
step can only get faster by doing less arithmetic, not by better scheduling of the rest.

    python benchmarks/conv_throughput.py [--device cpu] [--repeats 50]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from cnnlens.models.cnn import CONV_CHANNELS
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.training.batches import preferred_memory_format
from cnnlens.training.recipe import pick_device

BATCH = 64
IMAGE_SIZE = 32


def seconds_per_call(function: Callable[[], object], repeats: int, device: torch.device) -> float:
    for _ in range(5):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        function()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def conv_passes(
    in_channels: int, out_channels: int, size: int, device: torch.device, first: bool
) -> dict[str, Callable]:
    """The training passes of one 3x3, padding-1 conv layer on random data."""
    memory_format = preferred_memory_format(device)
    weight = torch.randn(out_channels, in_channels, 3, 3, device=device).contiguous(memory_format=memory_format)
    inputs = torch.randn(BATCH, in_channels, size, size, device=device).contiguous(memory_format=memory_format)
    grad = torch.randn(BATCH, out_channels, size, size, device=device).contiguous(memory_format=memory_format)

    def backward(mask: list[bool]) -> Callable:
        return lambda: torch.ops.aten.convolution_backward(
            grad, inputs, weight, [out_channels], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask
        )

    passes = {
        "forward": lambda: F.conv2d(inputs, weight, padding=1),
        "input gradient": backward([True, False, False]),
        "weight and bias gradient": backward([False, True, True]),
    }
    if first:
        del passes["input gradient"]
    return passes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    keep_freed_memory()
    device = pick_device(args.device)
    print(f"{device}, {torch.get_num_threads()} threads, torch {torch.__version__}, batch {BATCH}\n")

    side = 2048
    left, right = torch.randn(side, side, device=device), torch.randn(side, side, device=device)
    peak = 2 * side**3 / seconds_per_call(lambda: left @ right, args.repeats, device) / 1e9
    print(f"float32 matrix multiply {side}x{side}: {peak:.0f} GFLOP/s\n")

    print("| layer | pass | ms | GFLOP/s |")
    print("|---|---|---|---|")
    in_channels, size, total = 3, IMAGE_SIZE, 0.0
    for layer, out_channels in enumerate(CONV_CHANNELS, start=1):
        flops = 2 * BATCH * size * size * in_channels * out_channels * 9
        for name, function in conv_passes(in_channels, out_channels, size, device, first=layer == 1).items():
            seconds = seconds_per_call(function, args.repeats, device)
            total += seconds
            print(
                f"| conv{layer} ({in_channels}->{out_channels}, {size}x{size}) | {name} | "
                f"{seconds * 1e3:.2f} | {flops / seconds / 1e9:.0f} |"
            )
        in_channels, size = out_channels, size // 2
    print(f"\nall of them, once per training step: {total * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
