"""One optimisation step, run eagerly, through ``torch.compile``, or replayed as one CUDA graph.

On a GPU this small CNN is bound by kernel launches, not arithmetic: replaying forward, backward and
the fused Adam update as one CUDA graph removes the launches' Python and driver overhead, and
``torch.compile`` fuses the elementwise kernels. Both are tried at the first step; where one is
unsupported (no compiler, an op that cannot be captured) the step warns and goes on without it from
the same state. Batches of another size than the first (the partial last one) run eagerly on the same
parameters rather than paying a second compilation and capture.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

WARMUP_STEPS = 3  # CUDA graphs want a few eager steps on a side stream before capture (PyTorch docs)
COMPILER = "torch.compile"
GRAPH = "CUDA graph capture"


class FallbackWarning(UserWarning):
    """torch.compile or CUDA graph capture failed, and training goes on without it."""


@dataclass(frozen=True)
class Engine:
    """How training runs, as opposed to what it computes (:class:`cnnlens.training.recipe.Recipe`)."""

    # auto: on CUDA only. On 2 CPU cores it made the step slower (benchmarks/engine_choices.py).
    compile: bool | str = "auto"
    cuda_graph: bool = True  # CUDA only
    precision: str = "fp32"  # or "bf16": autocast for the forward pass and the loss

    def compiles_on(self, device: torch.device) -> bool:
        return device.type == "cuda" if self.compile == "auto" else bool(self.compile)

    def graphs_on(self, device: torch.device) -> bool:
        return self.cuda_graph and device.type == "cuda"


def optimizer_settings(lr: float, device: torch.device, engine: Engine) -> dict:
    """Adam's group settings for this engine. Always the fused kernel: one pass over the parameters
    instead of one per operation (benchmarks/engine_choices.py). For a CUDA graph also capturable with
    the learning rate in a device tensor, which the graph reads at every replay."""
    graphed = engine.graphs_on(device)
    return {"lr": torch.tensor(lr, device=device) if graphed else lr, "fused": True, "capturable": graphed}


def make_optimizer(model: nn.Module, lr: float, device: torch.device, engine: Engine = Engine()) -> torch.optim.Adam:
    return torch.optim.Adam(model.parameters(), **optimizer_settings(lr, device, engine))


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict, device: torch.device, engine: Engine) -> None:
    """Load a saved state under this engine's group settings. ``load_state_dict`` would bring back the saved
    fused, capturable and learning-rate type: a graph run resumed from another engine's state would lose its
    graph, and a learning rate loaded to the CPU would not be on the device. The rate keeps its saved value."""
    groups = [{**group, **optimizer_settings(float(group["lr"]), device, engine)} for group in state["param_groups"]]
    optimizer.load_state_dict({**state, "param_groups": groups})


@dataclass
class _CapturedStep:
    graph: torch.cuda.CUDAGraph
    inputs: torch.Tensor
    labels: torch.Tensor
    loss: torch.Tensor
    correct: torch.Tensor

    def replay(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.inputs.copy_(inputs)
        self.labels.copy_(labels)
        self.graph.replay()
        return self.loss.clone(), self.correct.clone()  # the next replay overwrites the static outputs


class TrainStep:
    """``step(inputs, labels)`` trains on one batch and returns its loss and correct count, on the device."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, engine: Engine) -> None:
        self.model = model
        self.optimizer = optimizer
        self.device = next(model.parameters()).device
        self.precision = torch.bfloat16 if engine.precision == "bf16" else None
        self.forward: Callable = torch.compile(model) if engine.compiles_on(self.device) else model
        self.use_graph = engine.graphs_on(self.device)
        if self.use_graph:
            torch.cuda.set_device(self.device)  # graphs capture and replay on the current device (cuda:N)
        self.lr_tensors = [group["lr"] for group in optimizer.param_groups]  # what a captured graph reads
        self.first_shape: torch.Size | None = None
        self.captured: _CapturedStep | None = None

    @property
    def compiled(self) -> bool:
        return self.forward is not self.model

    def sync_lr(self) -> None:
        """Call after every scheduler step: put each group's learning rate back into the tensor the graph
        reads. Recent torch fills a tensor rate in place, but older builds' ReduceLROnPlateau assigns a float
        (pytorch issue #163093), which the graph would never see."""
        for group, tensor in zip(self.optimizer.param_groups, self.lr_tensors, strict=False):
            if torch.is_tensor(tensor):
                tensor.fill_(float(group["lr"]))
                group["lr"] = tensor

    def __call__(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.first_shape is None:
            self.first_shape = inputs.shape
            return self._first_step(inputs, labels)
        if inputs.shape != self.first_shape:
            return self._eager(self.model, inputs, labels)
        if self.captured is not None:
            return self.captured.replay(inputs, labels)
        return self._eager(self.forward, inputs, labels)

    def _first_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Compile and capture. If either fails, warn, undo what the attempt trained and go on without the
        part that failed, eagerly as the last resort: an error in the compiled warm-up steps is the compiler's
        (a GPU node may lack what Triton needs), one in the capture or its replay the graph's."""
        saved = _snapshot(self.model, self.optimizer)
        stream = torch.cuda.current_stream() if self.device.type == "cuda" else None
        while True:
            culprit = COMPILER if self.compiled else GRAPH if self.use_graph else None
            try:
                if not self.use_graph:
                    return self._eager(self.forward, inputs, labels)
                static_inputs, static_labels = inputs.clone(), labels.clone()
                self._warm_up(static_inputs, static_labels)
                _restore(self.model, self.optimizer, saved)  # the warm-up steps do not count as training
                culprit = GRAPH
                self.captured = self._capture(static_inputs, static_labels)
                return self.captured.replay(inputs, labels)
            except Exception as error:  # compiler and capture failures come in many types
                if culprit is None:
                    raise  # an eager step's error is a real one
                if stream is not None:
                    torch.cuda.set_stream(stream)  # a failed capture can leave its side stream current
                    torch.cuda.synchronize()
                _restore(self.model, self.optimizer, saved)
                self.captured = None
                self._drop(culprit)
                message = f"{culprit} failed ({_summary(error)}); training {self._mode()} instead"
                warnings.warn(message, FallbackWarning, stacklevel=1)  # the engine's own event: reported here

    def _drop(self, part: str) -> None:
        if part == COMPILER:
            self.forward = self.model
        else:
            self.use_graph = False

    def _mode(self) -> str:
        """How training runs after a fallback, for its warning."""
        return {
            (False, True): "as a CUDA graph without torch.compile",
            (True, False): "with torch.compile without a CUDA graph",
            (False, False): "eagerly",
        }[self.compiled, self.use_graph]

    def _eager(self, forward: Callable, inputs: torch.Tensor, labels: torch.Tensor):
        # Once a graph is captured, zero in place: the graph keeps writing into these gradient tensors.
        self.optimizer.zero_grad(set_to_none=self.captured is None)
        return self._body(forward, inputs, labels)

    def _body(self, forward: Callable, inputs: torch.Tensor, labels: torch.Tensor):
        with torch.autocast(self.device.type, dtype=self.precision, enabled=self.precision is not None):
            logits = forward(inputs)
            loss = F.cross_entropy(logits, labels)
        loss.backward()
        self.optimizer.step()
        return loss.detach(), (logits.argmax(1) == labels).sum()

    def _warm_up(self, inputs: torch.Tensor, labels: torch.Tensor) -> None:
        """The eager steps on a side stream that precede capture (the PyTorch docs' whole-network recipe);
        a compiled forward compiles here."""
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_STEPS):
                self.optimizer.zero_grad(set_to_none=True)
                self._body(self.forward, inputs, labels)
        torch.cuda.current_stream().wait_stream(side)

    def _capture(self, inputs: torch.Tensor, labels: torch.Tensor) -> _CapturedStep:
        """Capture forward, backward and update as one graph that reads ``inputs`` and ``labels``."""
        graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # backward allocates the gradients inside the graph
        with torch.cuda.graph(graph):
            loss, correct = self._body(self.forward, inputs, labels)
        return _CapturedStep(graph, inputs, labels, loss, correct)


def _summary(error: BaseException) -> str:
    """The first line of the error that started the chain: a failed capture ends with torch's "operation
    failed due to a previous error during capture", raised while the error inside the capture propagated."""
    while (earlier := error.__cause__ or error.__context__) is not None:
        error = earlier
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _snapshot(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[list, dict, list]:
    """Weights, buffers, optimizer state and the random streams (an undone step also drew dropout masks)."""
    weights = [tensor.clone() for tensor in model.state_dict().values()]
    state = {id(p): {k: v.clone() for k, v in s.items() if torch.is_tensor(v)} for p, s in optimizer.state.items()}
    random = [torch.get_rng_state(), cuda_random_state(next(model.parameters()).device)]
    return weights, state, random


def cuda_random_state(device: torch.device) -> torch.Tensor | None:
    """The training device's CUDA random stream (dropout's), None off CUDA: a CPU run touches no GPU,
    and a machine that resumes the run may show fewer GPUs."""
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else None


@torch.no_grad()
def _restore(model: nn.Module, optimizer: torch.optim.Optimizer, saved: tuple[list, dict, list]) -> None:
    """Copy a snapshot back in place (a captured graph holds these very tensors). Optimizer state that
    did not exist yet is zeroed: Adam's moments and step count start at zero."""
    weights, state, (cpu_random, cuda_random) = saved
    torch.set_rng_state(cpu_random)
    if cuda_random is not None:
        torch.cuda.set_rng_state(cuda_random, next(model.parameters()).device)
    for tensor, value in zip(model.state_dict().values(), weights, strict=False):
        tensor.copy_(value)
    for param, param_state in optimizer.state.items():
        for key, value in param_state.items():
            if torch.is_tensor(value):
                previous = state.get(id(param), {}).get(key)
                if previous is None:
                    value.zero_()
                else:
                    value.copy_(previous)
