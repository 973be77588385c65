import pandas as pd
import pytest
import torch

from cnnlens.artifacts import Faithfulness
from cnnlens.data.dataset import normalize
from cnnlens.data.sources import load_image_folder
from cnnlens.errors import CnnlensError
from cnnlens.interpret import depth_stats, steps
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.models.cnn import Architecture, build_model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    from helpers import make_image_folder

    return load_image_folder(make_image_folder(tmp_path_factory.mktemp("images"), {"train": 1, "test": 4}))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(Architecture(attention="cbam", blocks=(2, 3))).eval()


def test_depth_summary_equals_statistics_of_one_pass_over_the_test_set(dataset, model, monkeypatch):
    monkeypatch.setattr(steps, "BATCH", 5)  # several batches: per-image numbers must be gathered across them
    table = pd.DataFrame(steps.depth(model, dataset, depth_layers=["relu1", "relu3"])["table"]).set_index("layer")
    with capture(model, ["relu1", "relu3"]) as outputs, torch.no_grad():
        model(normalize(dataset.test_images))
    expected = depth_stats.summarize(outputs).set_index("layer")
    assert table.loc["relu3", "channels"] == 128 and table["images"].tolist() == [12, 12]
    for column in ["sparsity_mean", "sparsity_std", "concentration_mean", "concentration_std"]:
        assert table[column].tolist() == pytest.approx(expected[column].tolist(), abs=1e-6)


def test_attention_weights_cover_every_test_image_and_module(dataset, model):
    stored = steps.attention(model, dataset)
    assert list(stored["weights"]) == ["ca2", "ca3"]
    assert stored["weights"]["ca3"].shape == (12, 128)
    with capture(model, ["ca3.channel.gate"]) as outputs, torch.no_grad():
        model(normalize(dataset.test_images))
    torch.testing.assert_close(stored["weights"]["ca3"], outputs["ca3.channel.gate"])
    with pytest.raises(CnnlensError, match="attention: none"):  # the variant's setting that leaves them out
        steps.attention(build_model("plain"), dataset)


def test_explain_picks_the_most_exciting_test_images_per_channel(dataset, model):
    stored = steps.explain(
        model,
        dataset,
        layers=["conv1", "conv3"],
        images_per_class=1,
        max_images=None,
        gradcam_layer="conv3",
        zfnet_channels=2,
        zfnet_images=3,
    )
    assert stored["image_indices"].tolist() == [0, 4, 8]
    assert stored["gradcam_predicted"].shape == stored["gradcam_true"].shape == (3, 32, 32)
    assert stored["deconv"]["conv3"].shape == (3, 3, 32, 32)
    zfnet = stored["zfnet"]["conv3"]
    assert zfnet["channels"] == [0, 1] and zfnet["images"].shape == (2, 3)
    assert zfnet["projections"].shape == (2, 3, 3, 32, 32)
    with capture(model, ["conv3"]) as outputs, torch.no_grad():
        model(normalize(dataset.test_images))
    peaks = outputs["conv3"].amax((2, 3))
    for channel in (0, 1):
        expected = peaks[:, channel].topk(3).indices
        assert set(zfnet["images"][channel].tolist()) == set(expected.tolist())
    # the stored maps are those of the library functions on the visualised images
    visualised = normalize(dataset.test_images[stored["image_indices"]])
    torch.testing.assert_close(stored["gradcam_true"], grad_cam(model, visualised, "conv3", stored["labels"]))
    torch.testing.assert_close(stored["deconv"]["conv1"], deconv_project(model, visualised, "conv1").projection)
    top = zfnet["images"][1]
    torch.testing.assert_close(
        zfnet["projections"][1], deconv_project(model, normalize(dataset.test_images[top]), "conv3", 1).projection
    )


def hook_count(model) -> int:
    return sum(len(module._forward_hooks) for module in model.modules())


def test_no_hooks_remain_after_any_analysis_also_one_that_raised(dataset, model):
    settings = {"layers": ["conv2"], "images_per_class": 1, "max_images": None, "zfnet_channels": 1, "zfnet_images": 1}
    steps.depth(model, dataset, depth_layers=["relu2"])
    steps.attention(model, dataset)
    steps.explain(model, dataset, gradcam_layer="conv3", **settings)
    assert hook_count(model) == 0 and not model.training
    with pytest.raises(CnnlensError):
        steps.depth(model, dataset, depth_layers=["relu2", "fc9"])
    with pytest.raises(CnnlensError):
        steps.explain(model, dataset, gradcam_layer="fc2", **settings)  # Grad-CAM needs a conv layer
    assert hook_count(model) == 0


@pytest.mark.parametrize("sanity_images", [1, 3])
def test_faithfulness_keeps_a_gallery_of_the_first_images_it_has_maps_of(dataset, model, sanity_images):
    stored = steps.faithfulness(
        model, dataset, images=3, steps=2, baseline="blur", removal_fractions=[0.5], sanity_images=sanity_images
    )
    shown = min(steps.GALLERY_IMAGES, sanity_images)
    assert torch.equal(stored["gallery_images"], dataset.test_images[stored["image_indices"][:shown]])
    assert {maps.shape[1] for maps in stored["gallery"].values()} == {shown}


def test_faithfulness_stores_every_images_aucs_of_each_method_its_inversion_and_each_knob(dataset, model, tmp_path):
    stored = steps.faithfulness(
        model, dataset, images=3, steps=2, baseline="mean", removal_fractions=[0.5], sanity_images=2
    )
    methods = list(stored["curves"])
    assert list(stored["aucs"]) == methods == list(stored["tied_share"]) == list(stored["average_drop"])
    assert list(stored["inverted_aucs"]) == [method for method in methods if method not in ("random", "gaussian")]
    assert stored["knobs"] == {"fill": {"baseline": "blur", "steps": 2}, "steps": {"baseline": "mean", "steps": 4}}
    assert all(list(by_method) == methods for by_method in stored["knob_aucs"].values())
    assert {auc.shape for aucs in stored["aucs"].values() for auc in aucs.values()} == {(3,)}
    removal = pd.DataFrame(stored["removal"])
    assert stored["removal_probabilities"].shape == (len(removal), 3)
    assert list(pd.DataFrame(stored["sanity_reference"])["method"]) == methods
    Faithfulness(model="plain", seed=0, **stored).save(tmp_path / "faithfulness.pt")  # every field is the artifact's
    assert torch.equal(Faithfulness.load(tmp_path / "faithfulness.pt").image_indices, stored["image_indices"])
