import pytest
import torch
from torch import nn

from cnnlens.data.augment import augment_batch
from cnnlens.data.dataset import normalize
from cnnlens.data.sources import load_image_folder
from cnnlens.errors import CnnlensError
from cnnlens.models.cnn import PlainCNN
from cnnlens.training import batches as batches_module
from cnnlens.training import recipe as train_module
from cnnlens.training.batches import TensorBatches
from cnnlens.training.checkpoint import EpochCheckpoint
from cnnlens.training.engine import Engine, TrainStep
from cnnlens.training.recipe import Recipe, current_lr, fit, pick_device, seconds_per_epoch

CPU = torch.device("cpu")
CUDA_ONLY = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def linear_model() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3))


def test_batches_cover_every_image_once_with_a_partial_last_batch():
    labels = torch.arange(10)
    batches = TensorBatches(torch.zeros(10, 3, 4, 4, dtype=torch.uint8), labels, 4, CPU, shuffle=True)
    seen = [batch_labels for _, batch_labels in batches]
    assert len(batches) == 3 and [len(b) for b in seen] == [4, 4, 2]
    assert sorted(torch.cat(seen).tolist()) == list(range(10))
    assert torch.cat(seen).tolist() != torch.cat([b for _, b in batches]).tolist()  # reshuffled per epoch


def test_batches_are_normalised_and_seeded():
    images = torch.randint(0, 256, (6, 3, 8, 8), dtype=torch.uint8)
    first = [x for x, _ in TensorBatches(images, torch.arange(6), 3, CPU, shuffle=True, augment=True, seed=7)]
    again = [x for x, _ in TensorBatches(images, torch.arange(6), 3, CPU, shuffle=True, augment=True, seed=7)]
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=False))
    plain = next(iter(TensorBatches(images, torch.arange(6), 6, CPU)))[0]
    assert plain.mean().abs() < 2 and plain.dtype == torch.float32  # normalised, not 0..255


def test_chunked_augmentation_keeps_dataloader_batches_and_draws(monkeypatch):
    monkeypatch.setitem(batches_module.CHUNK_IMAGES, "cpu", 8)  # chunks of 2 batches of 4
    images = torch.randint(0, 256, (22, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    batches = TensorBatches(images, torch.arange(22), 4, CPU, shuffle=True, augment=True, seed=3)
    seen = list(batches)
    assert [len(labels) for _, labels in seen] == [4, 4, 4, 4, 4, 2]
    assert sorted(torch.cat([labels for _, labels in seen]).tolist()) == list(range(22))
    # Each chunk draws its augmentations in order, as one augment_batch call per chunk would.
    generator = torch.Generator().manual_seed(3)
    order = torch.randperm(22, generator=generator)
    expected = torch.cat([normalize(augment_batch(images[index], generator)) for index in order.split(8)])
    assert torch.equal(torch.cat([x for x, _ in seen]), expected)
    assert torch.equal(torch.cat([labels for _, labels in seen]), order)


def test_chunks_of_larger_images_hold_proportionally_fewer():
    def chunk(size):
        return TensorBatches(torch.zeros(1, 3, size, size, dtype=torch.uint8), torch.zeros(1), 64, CPU).chunk

    assert chunk(32) == batches_module.CHUNK_IMAGES["cpu"] and chunk(64) == chunk(32) // 4 and chunk(256) == 64


def tiny_batches(image_folder, augment=False):
    data = load_image_folder(image_folder)
    train = TensorBatches(data.train_images, data.train_labels, 4, CPU, shuffle=True, augment=augment)
    test = TensorBatches(data.test_images, data.test_labels, 4, CPU)
    return train, test


def test_fit_learns_an_easy_task_and_records_everything(image_folder):
    torch.manual_seed(0)
    train, test = tiny_batches(image_folder)
    result = fit(linear_model(), train, test, Recipe(epochs=8, lr=1e-2), progress=False)
    assert len(result.history) == 8
    assert len(result.iteration_losses) == 8 * len(train) == 24
    assert set(result.history[0]) == {
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "lr",
        "seconds",
    }
    assert result.history[-1]["test_accuracy"] == 1.0  # class is encoded in brightness
    assert result.history[-1]["test_loss"] < result.history[0]["test_loss"]
    assert result.iteration_losses[-1] < result.iteration_losses[0]


def test_learning_rate_halves_when_the_test_loss_stops_improving(image_folder):
    train, test = tiny_batches(image_folder)
    # 12 parameters moving by ~1e-6 a step cannot lower the loss by ReduceLROnPlateau's 1e-4 threshold.
    frozen_ish = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3))
    result = fit(frozen_ish, train, test, Recipe(epochs=4, lr=1e-6, lr_patience=0), progress=False)
    assert [row["lr"] for row in result.history] == pytest.approx([1e-6, 1e-6, 5e-7, 2.5e-7], rel=1e-12)


@pytest.mark.parametrize("rate", [1e-3, 5e-4, 1.25e-4])
def test_a_float32_tensor_learning_rate_is_recorded_as_its_shortest_decimal(rate):
    # A CUDA graph's optimizer holds the rate as a float32 tensor; history.csv should say 0.001.
    parameter = nn.Parameter(torch.zeros(1))
    tensor_rate = torch.optim.Adam([parameter], lr=torch.tensor(rate))
    assert float(tensor_rate.param_groups[0]["lr"]) != rate  # float32 is not the decimal
    assert current_lr(tensor_rate) == rate
    assert current_lr(torch.optim.Adam([parameter], lr=rate / 3)) == rate / 3  # a float is kept as it is


def assign_floats_as_older_torch_does(monkeypatch):
    """ReduceLROnPlateau as in torch builds before the fix of pytorch issue #163093: it assigns the reduced
    rate to the group as a float, replacing a tensor rate."""
    monkeypatch.setattr(
        torch.optim.lr_scheduler,
        "_update_param_group_val",
        lambda group, key, value: group.__setitem__(key, value),
        raising=False,
    )


def test_the_learning_rate_reaches_the_tensor_a_cuda_graph_reads_when_the_scheduler_assigns_a_float(
    image_folder, monkeypatch
):
    assign_floats_as_older_torch_does(monkeypatch)
    optimizers = []

    def tensor_rate_optimizer(model, lr, device, engine):  # a CUDA graph's optimizer, on the CPU
        optimizers.append(torch.optim.Adam(model.parameters(), lr=torch.tensor(lr), fused=True))
        return optimizers[-1]

    monkeypatch.setattr(train_module, "make_optimizer", tensor_rate_optimizer)
    captured_lr = None

    class ReadsTheRateTensor(TrainStep):
        def __init__(self, model, optimizer, engine):
            nonlocal captured_lr
            super().__init__(model, optimizer, engine)
            captured_lr = optimizer.param_groups[0]["lr"]

    monkeypatch.setattr(train_module, "TrainStep", ReadsTheRateTensor)
    train, test = tiny_batches(image_folder)
    frozen_ish = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(3, 3))  # see the test above
    result = fit(frozen_ish, train, test, Recipe(epochs=4, lr=1e-6, lr_patience=0), progress=False)
    assert [row["lr"] for row in result.history] == pytest.approx([1e-6, 1e-6, 5e-7, 2.5e-7], rel=1e-12)
    assert optimizers[0].param_groups[0]["lr"] is captured_lr
    assert captured_lr.item() == pytest.approx(1.25e-7)  # halved after the fourth epoch too


def test_learning_rate_follows_the_test_loss_not_the_train_loss(image_folder):
    # Test labels shifted by one class: the better the model fits the training set, the worse the test loss.
    data = load_image_folder(image_folder)
    train = TensorBatches(data.train_images, data.train_labels, 4, CPU, shuffle=True)
    test = TensorBatches(data.train_images, (data.train_labels + 1) % 3, 4, CPU)
    torch.manual_seed(0)
    result = fit(linear_model(), train, test, Recipe(epochs=4, lr=1e-2, lr_patience=0), progress=False)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert result.history[-1]["test_loss"] > result.history[0]["test_loss"]
    assert [row["lr"] for row in result.history] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3], rel=1e-12)


def test_same_seed_gives_identical_weights(image_folder):
    def run():
        torch.manual_seed(3)
        model = PlainCNN()
        train, test = tiny_batches(image_folder, augment=True)
        fit(model, train, test, Recipe(epochs=1), progress=False)
        return model.state_dict()

    first, second = run(), run()
    assert all(torch.equal(first[key], second[key]) for key in first)


@CUDA_ONLY
@pytest.mark.filterwarnings("error::cnnlens.training.engine.FallbackWarning")
@pytest.mark.parametrize("older_scheduler", [False, True])
def test_cuda_graph_training_follows_the_learning_rate_schedule_as_eager_training_does(
    image_folder, monkeypatch, older_scheduler
):
    if older_scheduler:
        assign_floats_as_older_torch_does(monkeypatch)
    steps = []

    class Recorded(TrainStep):
        def __init__(self, *args):
            super().__init__(*args)
            steps.append(self)

    monkeypatch.setattr(train_module, "TrainStep", Recorded)
    cuda = torch.device("cuda")
    data = load_image_folder(image_folder)

    def run(engine):
        # Test labels shifted by one class (see above): the rate halves after epochs 2 and 3.
        train = TensorBatches(data.train_images, data.train_labels, 5, cuda, shuffle=True)  # the last batch partial
        test = TensorBatches(data.train_images, (data.train_labels + 1) % 3, 4, cuda)
        torch.manual_seed(0)
        model = linear_model().to(cuda)
        return model, fit(model, train, test, Recipe(epochs=4, lr=1e-2, lr_patience=0), engine, progress=False)

    graphed_model, graphed = run(Engine(compile=False))
    eager_model, eager = run(Engine(compile=False, cuda_graph=False))
    assert steps[0].captured is not None and steps[1].captured is None
    assert [row["lr"] for row in graphed.history] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3], rel=1e-12)
    assert [row["lr"] for row in eager.history] == pytest.approx([1e-2, 1e-2, 5e-3, 2.5e-3], rel=1e-12)
    torch.testing.assert_close(graphed.iteration_losses, eager.iteration_losses, rtol=1e-4, atol=1e-5)
    expected = eager_model.state_dict()
    for key, tensor in graphed_model.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], rtol=1e-4, atol=1e-5)


def test_seconds_per_epoch_leave_out_the_first_epoch_which_compiles_and_captures():
    assert seconds_per_epoch([{"seconds": 9.0}, {"seconds": 2.0}, {"seconds": 4.0}]) == 3.0
    assert seconds_per_epoch([{"seconds": 9.0}]) == 9.0


def test_cuda_request_without_a_gpu_is_explained(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == CPU
    with pytest.raises(CnnlensError) as raised:
        pick_device("cuda")
    assert all(setting in str(raised.value) for setting in ("train.device", "'cuda'", "'auto'", "'cpu'"))


class KilledError(Exception):
    pass


class KilledAfter(TensorBatches):
    """Batches that stop the run, as a kill would, after ``batches_left`` batches."""

    def __init__(self, *args, batches_left: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_left = batches_left

    def __iter__(self):
        for batch in super().__iter__():
            if self.batches_left == 0:
                raise KilledError
            self.batches_left -= 1
            yield batch


def train_plain_cnn(image_folder, checkpoint=None, batches=TensorBatches, start_seed=3, **batch_options):
    torch.manual_seed(start_seed)
    model = PlainCNN()
    data = load_image_folder(image_folder)
    train = batches(data.train_images, data.train_labels, 4, CPU, shuffle=True, augment=True, seed=1, **batch_options)
    test = TensorBatches(data.test_images, data.test_labels, 4, CPU)
    result = fit(model, train, test, Recipe(epochs=3, lr_patience=0), checkpoint=checkpoint, progress=False)
    return model, result


def without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_a_run_killed_mid_epoch_resumes_from_its_checkpoint_bitwise(image_folder, tmp_path):
    reference_model, reference = train_plain_cnn(image_folder)
    checkpoint = EpochCheckpoint(tmp_path / "resume.pt", {"run": "a"})
    with pytest.raises(KilledError):  # in the third epoch: 3 batches per epoch
        train_plain_cnn(image_folder, checkpoint, KilledAfter, batches_left=2 * 3 + 1)
    assert len(torch.load(checkpoint.path, weights_only=True)["history"]) == 2
    # Another start seed: the resumed run must take its random streams from the checkpoint.
    model, resumed = train_plain_cnn(image_folder, checkpoint, start_seed=99)
    assert without_seconds(resumed.history) == without_seconds(reference.history)
    assert resumed.iteration_losses == reference.iteration_losses
    expected = reference_model.state_dict()
    assert all(torch.equal(tensor, expected[key]) for key, tensor in model.state_dict().items())


def test_a_checkpoint_of_another_run_is_ignored(image_folder, tmp_path, capsys):
    path = tmp_path / "resume.pt"
    with pytest.raises(KilledError):  # another run, killed in its second epoch, with other weights
        train_plain_cnn(image_folder, EpochCheckpoint(path, {"seed": 1}), KilledAfter, start_seed=5, batches_left=4)
    _, result = train_plain_cnn(image_folder, EpochCheckpoint(path, {"seed": 2}))
    _, fresh = train_plain_cnn(image_folder)
    assert capsys.readouterr().out.count(str(path)) == 1  # the line that says it is ignored
    assert without_seconds(result.history) == without_seconds(fresh.history)  # trained from the start
    assert result.iteration_losses == fresh.iteration_losses


def test_an_unreadable_checkpoint_is_explained(image_folder, tmp_path):
    path = tmp_path / "resume.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CnnlensError) as raised:
        train_plain_cnn(image_folder, EpochCheckpoint(path, {}))
    assert str(path) in str(raised.value) and "delete" in str(raised.value) and "\n" not in str(raised.value)


def save_as_a_gpu_run_does(state: dict, path, monkeypatch) -> None:
    """torch.save with every tensor marked as stored on cuda:0, which loads only where that device exists."""
    with monkeypatch.context() as patch:
        patch.setattr(torch.serialization, "location_tag", lambda _storage: "cuda:0")
        torch.save(state, path)


def test_a_checkpoint_of_a_gpu_run_is_read_on_the_cpu(tmp_path, monkeypatch, capsys):
    path = tmp_path / "resume.pt"
    save_as_a_gpu_run_does({"key": {"device": "cuda"}, "model": {"weight": torch.ones(2)}}, path, monkeypatch)
    assert EpochCheckpoint(path, {"device": "cpu"}).load() is None  # another run's: ignored, not an error
    assert str(path) in capsys.readouterr().out  # the line that says it is ignored
    assert EpochCheckpoint(path, {"device": "cuda"}).load()["model"]["weight"].device == CPU


@pytest.mark.parametrize(
    "saved_by",
    [
        # a CUDA graph's (capturable Adam runs fused on the CPU)
        {"lr": torch.tensor, "fused": True, "capturable": True},
        {"lr": float, "fused": False, "capturable": False},
    ],
)
def test_a_resumed_run_trains_with_its_own_engines_optimizer_settings(image_folder, tmp_path, monkeypatch, saved_by):
    checkpoint = EpochCheckpoint(tmp_path / "resume.pt", {"run": "a"})
    with monkeypatch.context() as patch:
        patch.setattr(
            train_module,
            "make_optimizer",
            lambda model, lr, _device, _engine: torch.optim.Adam(
                model.parameters(), lr=saved_by["lr"](lr), fused=saved_by["fused"], capturable=saved_by["capturable"]
            ),
        )
        with pytest.raises(KilledError):  # in the second epoch: 3 batches per epoch
            train_plain_cnn(image_folder, checkpoint, KilledAfter, batches_left=3 + 1)
    groups = []

    class Recorded(TrainStep):
        def __init__(self, model, optimizer, engine):
            groups.append({key: optimizer.param_groups[0][key] for key in ("lr", "fused", "capturable")})
            super().__init__(model, optimizer, engine)

    monkeypatch.setattr(train_module, "TrainStep", Recorded)
    _, resumed = train_plain_cnn(image_folder, checkpoint)
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]
    assert groups == [{"lr": pytest.approx(1e-3), "fused": True, "capturable": False}]
    assert type(groups[0]["lr"]) is float
