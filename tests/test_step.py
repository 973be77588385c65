import pytest
import torch
from torch import nn

from cnnlens.step import Engine, TrainStep, make_optimizer

CPU = torch.device("cpu")
CUDA_ONLY = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def small_cnn(dropout: float = 0.5) -> nn.Module:
    torch.manual_seed(0)
    # No conv bias before BatchNorm: its gradient is rounding noise, which Adam turns into full-size
    # steps, so two correct implementations would disagree there.
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Dropout(dropout), nn.Linear(32, 4))


def batches(device=CPU, sizes=(16, 16, 16, 5)):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(size, 3, 8, 8, generator=generator).to(device),
             torch.randint(0, 4, (size,), generator=generator).to(device)) for size in sizes]


def train(engine: Engine, device=CPU, sizes=(16, 16, 16, 5), dropout=0.5):
    """Weights and per-step losses after some steps (the last batch partial), from the same start."""
    model = small_cnn(dropout).to(device)
    step = TrainStep(model, make_optimizer(model, 1e-2, device), engine)
    torch.manual_seed(7)  # dropout
    losses = [step(inputs, labels)[0].item() for inputs, labels in batches(device, sizes)]
    return model.state_dict(), losses


def assert_same_training(actual, expected, **tolerance):
    (weights, losses), (expected_weights, expected_losses) = actual, expected
    torch.testing.assert_close(losses, expected_losses, **tolerance)
    for key, tensor in expected_weights.items():
        torch.testing.assert_close(weights[key], tensor, **tolerance)


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


def test_compile_failure_warns_and_trains_eagerly_from_the_same_state(monkeypatch):
    def broken_compile(model):
        def forward(inputs):
            model(inputs)  # updates BatchNorm's running stats, as a half-done first step would
            raise RuntimeError("inductor: no working C++ compiler\nlong traceback")
        return forward

    monkeypatch.setattr(torch, "compile", broken_compile)
    with pytest.warns(UserWarning, match=r"failed \(inductor: no working C\+\+ compiler\); training eagerly"):
        fallen_back = train(Engine(compile=True))
    assert_same_training(fallen_back, train(Engine(compile=False)), rtol=0, atol=0)


def test_failed_capture_retries_without_the_compiler_then_eagerly(monkeypatch):
    """The fallback chain of a CUDA job, on the CPU: a capture that always fails."""
    attempts = []

    def broken_capture(self, inputs, labels):
        attempts.append("compiled" if self.forward is not self.model else "plain")
        self.forward(inputs)  # a half-done warm-up step
        raise RuntimeError("operation not permitted when stream is capturing")

    def as_on_cuda(self, *args):
        original_init(self, *args)
        self.use_graph = True

    original_init = TrainStep.__init__
    monkeypatch.setattr(TrainStep, "__init__", as_on_cuda)
    monkeypatch.setattr(TrainStep, "_capture", broken_capture)
    monkeypatch.setattr(torch, "compile", lambda model: lambda inputs: model(inputs))
    with pytest.warns(UserWarning) as warned:
        fallen_back = train(Engine(compile=True))
    assert attempts == ["compiled", "plain"]
    assert [str(warning.message) for warning in warned] == [
        "torch.compile / CUDA graph capture failed (operation not permitted when stream is capturing); "
        "training as a CUDA graph without torch.compile instead",
        "CUDA graph capture failed (operation not permitted when stream is capturing); training eagerly instead",
    ]
    monkeypatch.setattr(TrainStep, "__init__", original_init)
    assert_same_training(fallen_back, train(Engine(compile=False)), rtol=0, atol=0)


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
    model[-1].register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    step = TrainStep(model, make_optimizer(model, 1e-2, CPU), Engine(compile=False, precision="bf16"))
    loss, _ = step(*batches()[0])
    assert dtypes == [torch.bfloat16] and loss.dtype == torch.float32
    assert all(parameter.dtype == torch.float32 for parameter in model.parameters())  # master weights stay fp32


@CUDA_ONLY
@pytest.mark.parametrize("compile, rtol, atol", [(False, 1e-4, 1e-5), (True, 1e-3, 1e-4)])
def test_cuda_graph_step_trains_like_the_eager_one(compile, rtol, atol):
    # Without dropout: a replayed graph draws other random numbers than eager kernels.
    cuda = torch.device("cuda")
    graphed = train(Engine(compile=compile, cuda_graph=True), cuda, dropout=0.0)
    eager = train(Engine(compile=False, cuda_graph=False), cuda, dropout=0.0)
    assert_same_training(graphed, eager, rtol=rtol, atol=atol)
    assert graphed[0]["1.num_batches_tracked"].item() == 4  # the warm-up steps were undone
