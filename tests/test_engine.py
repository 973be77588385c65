import io
import warnings
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from cnnlens.training.engine import (
    COMPILER,
    GRAPH,
    Engine,
    FallbackWarning,
    TrainStep,
    load_optimizer_state,
    make_optimizer,
)

CPU = torch.device("cpu")
CUDA_ONLY = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
# On a GPU a failed compile or capture must fail the test, not quietly compare eager training with itself.
NO_FALLBACK = pytest.mark.filterwarnings("error::cnnlens.training.engine.FallbackWarning")
# The first lines of the stand-in compiler's and capture's errors, which the fallback warnings must name.
NO_COMPILER, NO_CAPTURE = "NO-COMPILER", "NO-CAPTURE"


def small_cnn(dropout: float = 0.5) -> nn.Module:
    torch.manual_seed(0)
    # No conv bias before BatchNorm: its gradient is rounding noise, which Adam turns into full-size
    # steps, so two correct implementations would disagree there.
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(32, 4),
    )


def batches(device=CPU, sizes=(16, 16, 16, 5)):
    generator = torch.Generator().manual_seed(1)
    return [
        (
            torch.randn(size, 3, 8, 8, generator=generator).to(device),
            torch.randint(0, 4, (size,), generator=generator).to(device),
        )
        for size in sizes
    ]


@dataclass
class Trained:
    weights: dict
    losses: list[float]
    step: TrainStep


def train(engine: Engine, device=CPU, sizes=(16, 16, 16, 5), dropout=0.5) -> Trained:
    """Weights and per-step losses after some steps (the last batch partial), from the same start."""
    model = small_cnn(dropout).to(device)
    step = TrainStep(model, make_optimizer(model, 1e-2, device), engine)
    torch.manual_seed(7)  # dropout
    losses = [step(inputs, labels)[0].item() for inputs, labels in batches(device, sizes)]
    return Trained(model.state_dict(), losses, step)


def assert_same_training(actual: Trained, expected: Trained, **tolerance):
    torch.testing.assert_close(actual.losses, expected.losses, **tolerance)
    for key, tensor in expected.weights.items():
        torch.testing.assert_close(actual.weights[key], tensor, **tolerance)


def test_step_returns_the_batch_loss_and_correct_count_and_updates_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
    inputs, labels = batches()[0]
    with torch.no_grad():
        logits = model(inputs)
    before = model[1].weight.clone()
    step = TrainStep(model, make_optimizer(model, 1e-2, CPU), Engine(compile=False))
    loss, correct = step(inputs, labels)
    assert loss.item() == pytest.approx(nn.functional.cross_entropy(logits, labels).item(), rel=1e-6)
    assert not loss.requires_grad
    assert correct.item() == (logits.argmax(1) == labels).sum().item()
    assert not torch.equal(model[1].weight, before)


def test_auto_compiles_on_cuda_only():
    assert not Engine().compiles_on(CPU) and Engine().compiles_on(torch.device("cuda"))
    assert Engine(compile=True).compiles_on(CPU) and not Engine(compile=False).compiles_on(torch.device("cuda"))


def names_the_failure(warning: warnings.WarningMessage, part: str, error: str) -> bool:
    """A fallback warning in one line that starts with the part that failed and names its error's first line."""
    message = str(warning.message)
    return message.startswith(part) and f"({error})" in message and "\n" not in message


def test_compile_failure_warns_and_trains_eagerly_from_the_same_state(monkeypatch):
    def broken_compile(model):
        def forward(inputs):
            model(inputs)  # updates BatchNorm's running stats, as a half-done first step would
            raise RuntimeError(f"{NO_COMPILER}\nlong traceback")

        return forward

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(FallbackWarning) as warned:
        fallen_back = train(Engine(compile=True))
    (warning,) = warned
    assert names_the_failure(warning, COMPILER, NO_COMPILER) and not fallen_back.step.compiled
    assert_same_training(fallen_back, train(Engine(compile=False)), rtol=0, atol=0)


class FailedCapture:
    """Ends as ``torch.cuda.graph`` does after an error inside it: ending the capture raises torch's
    secondary error while the first one propagates."""

    def __enter__(self):
        return self

    def __exit__(self, *error):
        raise RuntimeError("CUDA error: operation failed due to a previous error during capture")


def emulate_cuda_first_step(monkeypatch, compiler_works: bool) -> list[str]:
    """A CUDA job's first step on the CPU. The warm-up and the capture are stand-ins that train one step
    each (which the fallback must undo); the capture always fails, and the compiler fails unless it works.
    Returns the list that records what was attempted."""
    attempts = []

    def compile(model):
        def forward(inputs):
            if not compiler_works:
                raise RuntimeError(f"{NO_COMPILER}\nlong traceback")
            return model(inputs)

        return forward

    def as_on_cuda(self, *args):
        original_init(self, *args)
        self.use_graph = True

    def warm_up(self, inputs, labels):
        attempts.append("compiled warm-up" if self.compiled else "warm-up")
        self._body(self.forward, inputs, labels)

    def capture(self, inputs, labels):
        attempts.append("compiled capture" if self.compiled else "capture")
        with FailedCapture():
            self._eager(self.forward, inputs, labels)
            raise RuntimeError(NO_CAPTURE)

    original_init = TrainStep.__init__
    monkeypatch.setattr(torch, "compile", compile)
    monkeypatch.setattr(TrainStep, "__init__", as_on_cuda)
    monkeypatch.setattr(TrainStep, "_warm_up", warm_up)
    monkeypatch.setattr(TrainStep, "_capture", capture)
    return attempts


def test_a_compiler_failure_in_the_warm_up_drops_the_compiler_then_a_failed_capture_the_graph(monkeypatch):
    expected = train(Engine(compile=False))
    attempts = emulate_cuda_first_step(monkeypatch, compiler_works=False)
    with pytest.warns(FallbackWarning) as warned:
        fallen_back = train(Engine(compile=True))
    assert attempts == ["compiled warm-up", "warm-up", "capture"]
    compiler, graph = warned
    assert names_the_failure(compiler, COMPILER, NO_COMPILER) and names_the_failure(graph, GRAPH, NO_CAPTURE)
    assert not fallen_back.step.compiled and not fallen_back.step.use_graph
    assert_same_training(fallen_back, expected, rtol=0, atol=0)


def test_a_failed_capture_drops_the_graph_and_keeps_the_compiler(monkeypatch):
    expected = train(Engine(compile=False))
    attempts = emulate_cuda_first_step(monkeypatch, compiler_works=True)
    with pytest.warns(FallbackWarning) as warned:
        fallen_back = train(Engine(compile=True))
    assert attempts == ["compiled warm-up", "compiled capture"]
    (graph,) = warned
    assert names_the_failure(graph, GRAPH, NO_CAPTURE)
    assert fallen_back.step.compiled and not fallen_back.step.use_graph
    assert_same_training(fallen_back, expected, rtol=0, atol=0)  # this stand-in compiler computes as eager does


def test_errors_of_an_eager_step_are_not_swallowed():
    model = small_cnn()
    step = TrainStep(model, make_optimizer(model, 1e-2, CPU), Engine(compile=False))
    with pytest.raises(RuntimeError):
        step(torch.randn(4, 5, 8, 8), torch.zeros(4, dtype=torch.int64))  # 5 channels for a 3-channel conv


def test_compiled_step_trains_like_the_eager_one(monkeypatch):
    import torch._inductor.config

    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)  # eager's dropout masks
    assert_same_training(train(Engine(compile=True)), train(Engine(compile=False)), rtol=1e-4, atol=1e-5)


def test_bf16_precision_runs_the_forward_pass_in_bfloat16():
    model = small_cnn()
    dtypes = []
    model[-1].register_forward_hook(lambda _module, _inputs, output: dtypes.append(output.dtype))
    step = TrainStep(model, make_optimizer(model, 1e-2, CPU), Engine(compile=False, precision="bf16"))
    loss, _ = step(*batches()[0])
    assert dtypes == [torch.bfloat16] and loss.dtype == torch.float32
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())  # master weights stay fp32


@CUDA_ONLY
@NO_FALLBACK
@pytest.mark.parametrize(
    ("compile", "dropout", "rtol", "atol"),
    [
        # A replay draws dropout's masks with the eager kernel at the same place in the random stream.
        (False, 0.5, 1e-4, 1e-5),
        # Compiled dropout draws with other kernels than eager's fused one, so the masks differ: no dropout.
        (True, 0.0, 1e-3, 1e-4),
    ],
)
def test_cuda_graph_step_trains_like_the_eager_one(compile, dropout, rtol, atol):
    cuda = torch.device("cuda")
    sizes = (16, 5, 16, 16, 5)  # replays after an eager partial batch, and a partial batch at the end
    graphed = train(Engine(compile=compile, cuda_graph=True), cuda, sizes, dropout)
    eager = train(Engine(compile=False, cuda_graph=False), cuda, sizes, dropout)
    assert graphed.step.captured is not None and graphed.step.compiled == compile
    assert eager.step.captured is None and not eager.step.compiled
    assert_same_training(graphed, eager, rtol=rtol, atol=atol)
    assert graphed.weights["1.num_batches_tracked"].item() == len(sizes)  # the warm-up steps were undone


@CUDA_ONLY
@NO_FALLBACK
def test_the_cuda_graph_reads_the_learning_rate_tensor_at_every_replay():
    cuda, engine = torch.device("cuda"), Engine(compile=False)
    model = small_cnn().to(cuda)
    optimizer = make_optimizer(model, 1e-2, cuda, engine)
    step = TrainStep(model, optimizer, engine)
    first, second = batches(cuda, sizes=(16, 16))
    step(*first)
    assert step.captured is not None
    lr = optimizer.param_groups[0]["lr"]
    lr.fill_(0)  # Adam without weight decay then leaves the parameters as they are
    before = [parameter.detach().clone() for parameter in model.parameters()]
    step(*second)
    assert all(torch.equal(parameter, old) for parameter, old in zip(model.parameters(), before, strict=False))
    lr.fill_(1e-2)
    step(*second)
    assert not any(torch.equal(parameter, old) for parameter, old in zip(model.parameters(), before, strict=False))


@CUDA_ONLY
@NO_FALLBACK
def test_a_graph_run_resumed_from_an_eager_runs_state_read_on_the_cpu_still_captures():
    cuda = torch.device("cuda")
    graph_engine, eager_engine = Engine(compile=False), Engine(compile=False, cuda_graph=False)
    model = small_cnn().to(cuda)
    eager_optimizer = make_optimizer(model, 1e-2, cuda, eager_engine)
    TrainStep(model, eager_optimizer, eager_engine)(*batches(cuda)[0])
    saved = io.BytesIO()
    torch.save(eager_optimizer.state_dict(), saved)
    saved.seek(0)
    state = torch.load(saved, weights_only=True, map_location="cpu")  # as the resume checkpoint is read
    optimizer = make_optimizer(model, 1e-3, cuda, graph_engine)
    load_optimizer_state(optimizer, state, cuda, graph_engine)
    group = optimizer.param_groups[0]
    assert group["fused"] and group["capturable"] and group["lr"].device.type == "cuda"
    assert group["lr"].item() == pytest.approx(1e-2)
    step = TrainStep(model, optimizer, graph_engine)
    step(*batches(cuda)[1])
    assert step.captured is not None
