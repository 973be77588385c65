import numpy as np
import pytest
import torch

from cnnlens.artifacts import Similarity
from cnnlens.data.dataset import normalize
from cnnlens.data.sources import load_image_folder
from cnnlens.errors import CnnlensError
from cnnlens.interpret.cka import gram, minibatch_cka
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.similarity import measured_layers, minibatches, similarity
from cnnlens.interpret.steps import scored_images
from cnnlens.models.cnn import Architecture, build_model
from cnnlens.views import similarity as views


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from helpers import make_image_folder

    return load_image_folder(make_image_folder(tmp_path_factory.mktemp("images"), {"train": 1, "test": 8}))


def trained_like(architecture: Architecture, seed: int):
    torch.manual_seed(seed)
    return build_model(architecture).eval()


def artifact(model: str, seed: int, fields: dict) -> Similarity:
    return Similarity(model=model, seed=seed, **fields)


def test_the_attention_outputs_join_the_layers_in_forward_order():
    model = build_model(Architecture(attention="cbam", blocks=(1, 3)))
    assert measured_layers(model, ["fc1", "conv1", "pool2"]) == ["conv1", "ca1", "pool2", "ca3", "fc1"]
    assert measured_layers(build_model("plain"), ["pool1", "conv1"]) == ["conv1", "pool1"]


@pytest.mark.parametrize(("count", "size"), [(512, 128), (100, 32), (7, 4), (5, 8), (130, 64)])
def test_minibatches_cover_the_images_once_and_none_is_smaller_than_asked(count, size):
    parts = minibatches(count, size)
    assert [index for part in parts for index in part] == list(range(count))
    assert min(len(part) for part in parts) >= min(size, count)


def test_the_step_keeps_grams_that_give_the_cka_of_the_captured_activations(dataset):
    model = trained_like(Architecture(attention="se", blocks=(2,)), 0)
    fields = similarity(model, dataset, images=20, layers=["conv1", "pool2", "fc1"], minibatch=8)
    chosen = scored_images(len(dataset.test_labels), 20)
    assert torch.equal(fields["image_indices"], chosen)
    assert fields["layers"] == ["conv1", "ca2", "pool2", "fc1"]
    assert [matrix.shape for matrix in fields["grams"]["fc1"]] == [(10, 10), (10, 10)]
    assert set(fields["heatmaps"]) == {"channels", "gradcam", "deconvnet"}
    assert fields["heatmaps"]["gradcam"].shape == (20, 32, 32)
    with capture(model, ["conv1", "fc1"]) as outputs, torch.no_grad():
        model(normalize(dataset.test_images[chosen]))
    halves = [(outputs["conv1"][:10], outputs["fc1"][:10]), (outputs["conv1"][10:], outputs["fc1"][10:])]
    assert fields["cka"][0, 3].item() == pytest.approx(minibatch_cka(halves), abs=1e-6)  # float32 batches differ


def test_same_layer_cka_between_two_runs_equals_cka_of_their_activations(dataset):
    architecture = Architecture()
    runs, captured = [], []
    for seed in (0, 1):
        model = trained_like(architecture, seed)
        fields = similarity(model, dataset, images=24, layers=["conv2", "fc1"], minibatch=12)
        runs.append(artifact("plain", seed, fields))
        with capture(model, ["conv2"]) as outputs, torch.no_grad():
            model(normalize(dataset.test_images[fields["image_indices"]]))
        captured.append(outputs["conv2"])
    table = views.same_layer_cka(runs)
    assert table[["layer", "kind"]].values.tolist() == [["conv2", "seeds"], ["fc1", "seeds"]]
    expected = minibatch_cka([(captured[0][:12], captured[1][:12]), (captured[0][12:], captured[1][12:])])
    assert table["cka"].iloc[0] == pytest.approx(expected, abs=1e-9)
    assert 0 < table["cka"].iloc[0] < 0.999  # two initialisations are not the same representation


def layered_run(model: str, seed: int, features: dict[str, torch.Tensor], size: int = 16) -> Similarity:
    """A run whose layers have the given ``(N, p)`` features, measured in minibatches of ``size``."""
    grams = {layer: [gram(part) for part in values.split(size)] for layer, values in features.items()}
    count = len(next(iter(features.values())))
    return Similarity(
        model=model,
        seed=seed,
        image_indices=torch.arange(count),
        layers=list(features),
        grams=grams,
        cka=torch.eye(len(features)),
        heatmaps={},
    )


def distinct_layers(generator: torch.Generator, count: int = 64) -> list[torch.Tensor]:
    """Four unrelated layers' features, and a copy of each rotated and scaled (what another seed might learn)."""
    return [torch.randn(count, 20, generator=generator, dtype=torch.float64) for _ in range(4)]


def rotated(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    rotation, _ = torch.linalg.qr(
        torch.randn(features.shape[1], features.shape[1], generator=generator, dtype=torch.float64)
    )
    return 3.0 * features @ rotation + 0.1 * torch.randn(features.shape, generator=generator, dtype=torch.float64)


def test_layer_identification_finds_each_layer_again_in_another_seed():
    generator = torch.Generator().manual_seed(0)
    layers = distinct_layers(generator)
    names = ["conv1", "conv2", "conv3", "fc1"]
    first = layered_run("plain", 0, dict(zip(names, layers, strict=True)))
    second = layered_run("plain", 1, dict(zip(names, [rotated(x, generator) for x in layers], strict=True)))
    table = views.layer_identification([first, second])
    assert table.to_dict("records") == [
        {"model": "plain", "layers": 4, "comparisons": 8, "identified": 8, "share": 1.0}
    ]


def test_layer_identification_compares_a_layer_with_another_seeds_not_with_itself():
    # The second seed's layers are the first's in another order: a check that compared a seed's layer with itself
    # (or the run with itself) would find every layer; against the other seed, none is found.
    generator = torch.Generator().manual_seed(1)
    layers = distinct_layers(generator)
    names = ["conv1", "conv2", "conv3", "fc1"]
    first = layered_run("plain", 0, dict(zip(names, layers, strict=True)))
    shuffled = [layers[1], layers[2], layers[3], layers[0]]
    second = layered_run("plain", 1, dict(zip(names, [rotated(x, generator) for x in shuffled], strict=True)))
    other = layered_run("se", 0, dict(zip(names, layers, strict=True)))  # alone: no seed pair, no row
    table = views.layer_identification([first, second, other])
    assert table["model"].tolist() == ["plain"]
    assert table["identified"].tolist() == [0] and table["comparisons"].tolist() == [8]


def test_pairs_are_of_three_kinds_and_runs_of_other_images_are_refused():
    generator = torch.Generator().manual_seed(2)
    features = {"conv1": torch.randn(32, 5, generator=generator, dtype=torch.float64)}
    runs = [layered_run(model, seed, features) for model, seed in [("plain", 0), ("plain", 1), ("se", 0), ("se", 1)]]
    table = views.same_layer_cka(runs)
    assert table["kind"].tolist() == ["seeds", "variants", "both", "both", "variants", "seeds"]
    assert table["cka"].tolist() == pytest.approx([1.0] * 6)
    moved = layered_run("se", 2, features)
    moved.image_indices = torch.arange(1, 33)
    with pytest.raises(CnnlensError) as refused:
        views.same_layer_cka([runs[0], moved])
    assert "\n" not in str(refused.value) and "similarity" in str(refused.value)


def test_map_agreement_is_one_for_the_same_order_and_minus_one_reversed():
    generator = torch.Generator().manual_seed(3)
    maps = torch.rand(5, 8, 8, generator=generator)
    same = views.map_agreement(maps, maps * 0.5 + 0.2)  # a monotone change keeps the order
    np.testing.assert_allclose(same["spearman"], 1.0)
    np.testing.assert_allclose(same["top_overlap"], 1.0)
    reversed_ = views.map_agreement(maps, 1 - maps)
    np.testing.assert_allclose(reversed_["spearman"], -1.0)
    np.testing.assert_allclose(reversed_["top_overlap"], 0.0)


def test_map_agreement_counts_no_flat_map_and_no_tie_across_the_cut():
    peaked = torch.zeros(1, 10, 10)
    peaked[0, 0, :3] = 1.0  # 3 of the top 10 pixels; the other 97 tie, and the 7 left of the top lie among them
    agreement = views.map_agreement(peaked, peaked)
    assert agreement["top_overlap"].item() == pytest.approx(0.3)  # the tied pixels are not matched by their index
    flat = views.map_agreement(torch.zeros(1, 10, 10), peaked)
    assert np.isnan(flat["spearman"].item()) and np.isnan(flat["top_overlap"].item())
    straddling = torch.zeros(1, 10, 10)
    straddling[0, :2, :8] = torch.linspace(0, 1, 16).reshape(2, 8)
    straddling[0, :2, :8][straddling[0, :2, :8] > 0.1] = 1.0  # 14 pixels tie at the top: more than the top 10
    agreement = views.map_agreement(straddling, straddling)
    assert agreement["top_overlap"].item() == 0.0  # the group straddles the cut: none of it is counted


def test_two_seeds_of_random_maps_agree_at_chance():
    generator = torch.Generator().manual_seed(4)
    agreement = views.map_agreement(
        torch.rand(200, 16, 16, generator=generator), torch.rand(200, 16, 16, generator=generator)
    )
    assert abs(agreement["spearman"].mean()) < 0.01
    assert agreement["top_overlap"].mean() == pytest.approx(views.TOP_FRACTION, abs=0.01)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_step_on_the_gpu_stores_what_it_stores_on_the_cpu(dataset):
    model = trained_like(Architecture(attention="cbam", blocks=(3,)), 0)
    settings = {"images": 16, "layers": ["conv1", "fc1"], "minibatch": 8}
    on_cpu = similarity(model, dataset, **settings)
    on_gpu = similarity(model.cuda(), dataset, **settings)
    assert all(matrix.device.type == "cpu" for matrices in on_gpu["grams"].values() for matrix in matrices)
    torch.testing.assert_close(on_gpu["cka"], on_cpu["cka"], atol=1e-4, rtol=0)
    for method, maps in on_cpu["heatmaps"].items():
        assert on_gpu["heatmaps"][method].device.type == "cpu"
        assert (on_gpu["heatmaps"][method].float() - maps.float()).abs().mean() < 1e-2, method
