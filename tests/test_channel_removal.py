import pytest
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_removal import RemovalSite, channel_removal, removal_sites
from cnnlens.interpret.hooks import capture
from cnnlens.models.cnn import Architecture, build_model


def random_cnn(architecture: str | Architecture) -> nn.Module:
    """Random weights, BatchNorm that is not the identity, and attention weights spread out (no saturated ties)."""
    torch.manual_seed(0)
    model = build_model(architecture)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm2d):
                module.get_buffer("running_mean").uniform_(-0.5, 0.5)
                module.get_buffer("running_var").uniform_(0.5, 2)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
            if name.endswith(("excite.0", "excite.2")):
                module.weight.normal_(0, 1)
    return model


def data(count: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    return torch.randn(count, 3, 32, 32), torch.randint(0, 10, (count,))


def reference_scores(
    model: nn.Module, site: RemovalSite, images: torch.Tensor, labels: torch.Tensor, ranking: str, removed: int
) -> tuple[float, float]:
    """The experiment written out plainly: per image, rank the channels, zero the chosen ones with a forward hook
    on the unmodified model, and score it."""
    model.eval()
    correct, probability = 0.0, 0.0
    for image, label in zip(images, labels, strict=True):
        with torch.no_grad(), capture(model, [site.score]) as outputs:
            model(image[None])
        weights = outputs[site.score].flatten(1)[0]
        if site.score == site.module:  # the plain CNN: mean activation
            weights = outputs[site.score][0].mean((1, 2))
        order = weights.argsort(descending=ranking == "highest")
        chosen = order[:removed]

        def zero(module, inputs, output, chosen=chosen):
            output = output.clone()
            output[:, chosen] = 0
            return output

        handle = dict(model.named_modules())[site.module].register_forward_hook(zero)
        try:
            with torch.no_grad():
                scores = model(image[None]).softmax(1)[0]
        finally:
            handle.remove()
        correct += float(scores.argmax() == label)
        probability += scores[label].item()
    return correct / len(images), probability / len(images)


def test_sites_are_the_attention_modules_or_each_blocks_relu():
    assert removal_sites(build_model("plain")) == [RemovalSite(f"relu{k}", f"relu{k}") for k in (1, 2, 3)]
    assert removal_sites(build_model("attention")) == [RemovalSite(f"ca{k}", f"ca{k}.gate") for k in (1, 2, 3)]
    cbam = build_model(Architecture(attention="cbam", blocks=(2, 3)))
    assert removal_sites(cbam) == [RemovalSite("ca2", "ca2.channel.gate"), RemovalSite("ca3", "ca3.channel.gate")]
    assert removal_sites(build_model("plain"))[0].ranked_by == "mean activation"
    assert removal_sites(cbam)[0].ranked_by == "attention weight"


@pytest.mark.parametrize(
    "architecture", ["plain", "attention", Architecture(attention="cbam")], ids=["plain", "se", "cbam"]
)
def test_highest_and_lowest_removal_match_a_plain_per_image_experiment(architecture):
    model = random_cnn(architecture)
    images, labels = data(12)
    table = channel_removal(model, images, labels, fractions=(0.25,), batch_size=7)
    sites = removal_sites(model)
    assert len(table) == len(sites) * 4
    for site in sites[::2]:  # the first and the last
        rows = table[table["site"] == site.module].set_index("ranking")
        channels = int(rows.loc["reference", "channels"])
        assert rows.loc["highest", "removed"] == channels // 4
        for ranking in ("highest", "lowest"):
            accuracy, probability = reference_scores(model, site, images, labels, ranking, channels // 4)
            assert rows.loc[ranking, "accuracy"] == pytest.approx(accuracy)
            assert rows.loc[ranking, "true_class_probability"] == pytest.approx(probability, abs=1e-5)
        accuracy, probability = reference_scores(model, site, images, labels, "highest", 0)
        assert rows.loc["reference", "accuracy"] == pytest.approx(accuracy)
        assert rows.loc["reference", "true_class_probability"] == pytest.approx(probability, abs=1e-5)
        probabilities = rows["true_class_probability"]
        assert probabilities["highest"] != pytest.approx(probabilities["lowest"])  # the rankings differ here


def test_the_table_has_a_reference_and_every_ranking_and_fraction_per_site():
    model = random_cnn("attention")
    images, labels = data()
    table = channel_removal(model, images, labels)
    assert len(table) == 3 * (1 + 3 * 3)
    ca2 = table[table["site"] == "ca2"]
    assert list(ca2["ranking"]) == ["reference"] + ["highest"] * 3 + ["lowest"] * 3 + ["random"] * 3
    assert list(ca2["fraction"]) == [0.0] + [0.1, 0.25, 0.5] * 3
    assert list(ca2["removed"]) == [0] + [6, 16, 32] * 3  # max(1, round(fraction * 64))
    assert list(table[table["site"] == "ca3"]["removed"]) == [0] + [13, 32, 64] * 3  # 12.8 rounds up
    assert (ca2["channels"] == 64).all() and (ca2["images"] == 20).all()
    assert (table["ranked_by"] == "attention weight").all()


def test_removing_every_channel_leaves_nothing_to_rank():
    model = random_cnn("attention")
    images, labels = data()
    table = channel_removal(model, images, labels, fractions=(1.0,))
    for _, rows in table[table["ranking"] != "reference"].groupby("site"):
        assert rows["true_class_probability"].nunique() == 1 and rows["accuracy"].nunique() == 1


def test_the_random_ranking_is_seeded_and_the_others_do_not_depend_on_the_seed_or_the_batch_size():
    model = random_cnn(Architecture(attention="cbam"))
    images, labels = data()
    first = channel_removal(model, images, labels, seed=1, batch_size=1000)
    again = channel_removal(model, images, labels, seed=1, batch_size=13)
    other = channel_removal(model, images, labels, seed=2)
    columns = ["accuracy", "true_class_probability"]
    assert (first[columns] - again[columns]).abs().max().max() < 1e-6
    random = first["ranking"] == "random"
    assert (first.loc[~random, columns] - other.loc[~random, columns]).abs().max().max() < 1e-6
    assert not first.loc[random, "true_class_probability"].equals(other.loc[random, "true_class_probability"])


def test_the_model_is_left_as_it_was():
    model = random_cnn("attention").train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    channel_removal(model, *data(4))
    assert model.training and all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_bad_arguments_raise_a_cnnlens_error():
    model = random_cnn("plain")
    images, labels = data(4)
    with pytest.raises(CnnlensError, match=r"fractions of channels must lie in \(0, 1\]"):
        channel_removal(model, images, labels, fractions=(0.0,))
    with pytest.raises(CnnlensError, match="4 images but 3 labels"):
        channel_removal(model, images, labels[:3])
    with pytest.raises(CnnlensError, match=r"flat nn\.Sequential"):
        channel_removal(nn.ModuleList([model]), images, labels)
