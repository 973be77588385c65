"""What CBAM costs beside the plain and squeeze-and-excitation CNNs on the CPU: training steps and inference.

- training: seconds per epoch (timed steps scaled to 50,000 images) of the engine's training step
  (cnnlens.training.engine: channels_last, fused Adam, eager on the CPU) on a fixed random batch, for the
  plain, SE and CBAM CNNs, and CBAM through autograd (its plain expressions, ``use_fused_cbam(model, False)``);
  with ``--compiled``, also CBAM whose blocks' plain expressions ``torch.compile`` turns into fused C++ loops;
- inference: seconds per 10,000 images of forward passes without gradients of each model's scoring copy (eval
  mode, BatchNorm folded, channels_last batches of 64: what deletion, insertion and channel removal run,
  cnnlens.interpret.scoring), for the same models.

The models take turns step by step (forward pass by forward pass), in a rotating order, for several rounds;
every round and the least are printed, and each model's ratio to the plain CNN's least. The process keeps freed
memory (cnnlens.training.allocator), as ``cnnlens`` jobs do. Run against another checkout's sources (before a
change) with ``PYTHONPATH=<checkout>/src``: the autograd row needs ``use_fused_cbam`` and is left out without it.

    python benchmarks/cbam_speed.py [--batch-size 64] [--inference-batch 64] [--rounds 3] [--steps 30] [--compiled]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
from engine_choices import interleaved_seconds  # the script's own folder is first on sys.path

from cnnlens.interpret.scoring import default_batch_size, scoring_copy
from cnnlens.models import attention
from cnnlens.models.cnn import Architecture, build_model
from cnnlens.training.allocator import keep_freed_memory
from cnnlens.training.engine import Engine, TrainStep, make_optimizer

TRAIN_IMAGES = 50_000
INFERENCE_IMAGES = 10_000
MODELS = {"plain": Architecture(), "SE": Architecture(attention="se"), "CBAM": Architecture(attention="cbam")}
AUTOGRAD = "CBAM through autograd"
COMPILED = "CBAM, blocks compiled (inductor)"


def models(compiled: bool = False) -> dict[str, torch.nn.Module]:
    built = {}
    extra = {AUTOGRAD: MODELS["CBAM"], **({COMPILED: MODELS["CBAM"]} if compiled else {})}
    for name, architecture in {**MODELS, **extra}.items():
        if name in extra and not hasattr(attention, "use_fused_cbam"):
            continue  # sources from before the fused CBAM: their CBAM row is this one
        torch.manual_seed(0)
        model = build_model(architecture).to(memory_format=torch.channels_last)
        if name in extra:
            attention.use_fused_cbam(model, False)
        if name == COMPILED:  # each CBAM block's plain expressions, forward and backward, as inductor's C++ loops
            for block in model.modules():
                if isinstance(block, attention.CBAM):
                    block.compile(dynamic=False)
        built[name] = model
    return built


def training_step(model: torch.nn.Module, batch_size: int) -> Callable[[], None]:
    """The engine's step on a fixed random batch, warmed up."""
    model.train()
    step = TrainStep(model, make_optimizer(model, 1e-3, torch.device("cpu")), Engine())
    inputs = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch_size,))
    for _ in range(3):
        step(inputs, labels)
    return lambda: step(inputs, labels)


def inference_pass(model: torch.nn.Module, batch_size: int) -> Callable[[], None]:
    """A forward pass of the model's scoring copy without gradients on a fixed random batch, warmed up."""
    model = scoring_copy(model)
    inputs = torch.randn(batch_size, 3, 32, 32).contiguous(memory_format=torch.channels_last)

    def forward() -> None:
        with torch.inference_mode():
            model(inputs)

    for _ in range(3):
        forward()
    return forward


def print_rounds(title: str, unit: str, results: dict[str, list[float]]) -> None:
    least = {name: min(seconds) for name, seconds in results.items()}
    print(f"| {title} | {unit}, each round | least | × plain |")
    print("|---|---|---|---|")
    for name, seconds in results.items():
        rounds = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"| {name} | {rounds} | {least[name]:.1f} | {least[name] / least['plain']:.2f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=64, help="training batch (the recipe's: 64)")
    parser.add_argument("--inference-batch", type=int, default=default_batch_size(torch.device("cpu")))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30, help="timed steps (and forward passes) per model and round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--compiled", action="store_true", help="add CBAM with its blocks compiled (needs a C++ compiler)"
    )
    args = parser.parse_args()
    keep_freed_memory()
    torch.set_num_threads(args.threads)
    print(f"CPU, {args.threads} threads, torch {torch.__version__}, batch {args.batch_size}, {attention.__file__}\n")

    steps = {name: training_step(model, args.batch_size) for name, model in models(args.compiled).items()}
    forwards = {name: inference_pass(model, args.inference_batch) for name, model in models(args.compiled).items()}
    training: dict[str, list[float]] = {name: [] for name in steps}
    inference: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, seconds in interleaved_seconds(steps, args.steps).items():
            training[name].append(seconds * TRAIN_IMAGES / args.batch_size)
        for name, seconds in interleaved_seconds(forwards, args.steps).items():
            inference[name].append(seconds * INFERENCE_IMAGES / args.inference_batch)
    print_rounds("training steps", "s/epoch", training)
    print_rounds("inference (eval, no grad)", "s per 10,000 images", inference)


if __name__ == "__main__":
    main()
