"""The one place that records layer outputs: forward hooks that live only inside a ``with`` block."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from cnnlens.errors import CnnlensError


@contextmanager
def capture(model: nn.Module, layers: Iterable[str], keep_graph: bool = False) -> Iterator[dict[str, torch.Tensor]]:
    """Record the outputs of the named modules during forward passes run inside the block.

    Outputs are detached clones, because an in-place ReLU after a layer would otherwise overwrite
    what was recorded. A later forward pass replaces an earlier one's outputs. Hooks are removed on
    exit, also when the block raises.

    With ``keep_graph=True`` the recorded tensors stay in the autograd graph, so that gradients of
    the model's output with respect to them can be taken (Grad-CAM). The hook then records the
    layer's own output and hands a clone downstream instead: the forward pass computes the same
    values, an in-place ReLU overwrites only the clone, and the recorded tensor lies on the path
    from the input to the output, which ``torch.autograd.grad`` needs.

    Example:
        >>> with capture(model, ["conv1", "ca1.gate"]) as outputs:
        ...     model(images)
        >>> outputs["conv1"].shape
    """
    modules = dict(model.named_modules())
    layers = list(layers)
    missing = [name for name in layers if name not in modules]
    if missing:
        available = ", ".join(name for name in modules if name)
        raise CnnlensError(f"layers {missing} are not in the model: choose from {available}")
    outputs: dict[str, torch.Tensor] = {}
    handles: list[RemovableHandle] = []
    try:
        # extend() keeps the hooks registered before one that raises, so that `finally` removes them
        handles.extend(modules[name].register_forward_hook(_recorder(outputs, name, keep_graph)) for name in layers)
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def _recorder(outputs: dict[str, torch.Tensor], name: str, keep_graph: bool) -> Callable:
    # torch calls a forward hook as hook(module, inputs, output)
    def record(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        outputs[name] = output.detach().clone()

    def record_in_graph(_module: nn.Module, _inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        outputs[name] = output
        return output.clone()

    return record_in_graph if keep_graph else record
