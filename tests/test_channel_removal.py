"""Channel removal: where channels are cut, what ranks them (the attention weight, the gated mean activation, or
chance), how many go, and the per-image probabilities behind every row of the table."""

from collections import OrderedDict

import pytest
import torch
from torch import nn

from cnnlens.errors import CnnlensError
from cnnlens.interpret.channel_removal import RemovalSite, channel_removal, removal_sites, removed_count
from cnnlens.interpret.hooks import capture
from cnnlens.models.attention import ChannelAttention
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
    model: nn.Module,
    site: RemovalSite,
    images: torch.Tensor,
    labels: torch.Tensor,
    criterion: str,
    ranking: str,
    removed: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The experiment written out plainly on the unmodified model: rank each image's channels by the gate's output
    (``weight``) or by the mean of the site's output (``activation``), zero its chosen ones with a forward hook, and
    score it. Per image: whether the model is right, the true class's probability."""
    model.eval()
    with torch.no_grad(), capture(model, [site.module, *([site.gate] if site.gate else [])]) as outputs:
        model(images)
    scores = outputs[site.gate].flatten(1) if criterion == "weight" else outputs[site.module].mean((2, 3))
    chosen = scores.argsort(dim=1, descending=ranking == "highest")[:, :removed]
    kept = torch.ones_like(scores).scatter_(1, chosen, 0.0)

    def zero(module, inputs, output):
        return output * kept[:, :, None, None]

    handle = dict(model.named_modules())[site.module].register_forward_hook(zero)
    try:
        with torch.no_grad():
            probabilities = model(images).softmax(1)
    finally:
        handle.remove()
    correct = (probabilities.argmax(1) == labels).double()
    return correct, probabilities.gather(1, labels[:, None])[:, 0]


def test_sites_are_the_attention_modules_ranked_by_both_criteria_or_each_blocks_relu_by_activation():
    plain = removal_sites(build_model("plain"))
    assert plain == [RemovalSite(f"relu{k}", None) for k in (1, 2, 3)]
    assert all(site.criteria == ("activation",) for site in plain)
    se = removal_sites(build_model("attention"))
    assert se == [RemovalSite(f"ca{k}", f"ca{k}.gate") for k in (1, 2, 3)]
    assert all(site.criteria == ("weight", "activation") for site in se)
    cbam = build_model(Architecture(attention="cbam", blocks=(2, 3)))
    assert removal_sites(cbam) == [RemovalSite("ca2", "ca2.channel.gate"), RemovalSite("ca3", "ca3.channel.gate")]


@pytest.mark.parametrize(
    "architecture", ["plain", "attention", Architecture(attention="cbam")], ids=["plain", "se", "cbam"]
)
def test_every_criterion_and_ranking_matches_a_plain_per_image_experiment_image_by_image(architecture):
    model = random_cnn(architecture)
    images, labels = data(12)
    removal = channel_removal(model, images, labels, fractions=(0.25,), batch_size=30)  # 5 or 7 images a pass
    table = removal.table
    sites = removal_sites(model)
    for site in sites[::2]:  # the first and the last
        rows = table[table["site"] == site.module]
        channels = int(rows["channels"].iloc[0])
        for index, row in rows.iterrows():
            if row["ranking"] == "random":
                continue
            assert row["removed"] == (0 if row["ranking"] == "reference" else channels // 4)
            criterion = row["criterion"] or "activation"  # the reference removes nothing: any criterion
            correct, probability = reference_scores(
                model, site, images, labels, criterion, row["ranking"], int(row["removed"])
            )
            torch.testing.assert_close(removal.probabilities[index], probability, atol=1e-5, rtol=0)
            assert row["accuracy"] == pytest.approx(correct.mean().item())
            assert row["true_class_probability"] == pytest.approx(probability.mean().item(), abs=1e-5)
        by_condition = rows.set_index(["criterion", "ranking"])["true_class_probability"]
        for criterion in site.criteria:  # the rankings differ here
            assert by_condition[criterion, "highest"] != pytest.approx(by_condition[criterion, "lowest"])


def gated_toy(gates: list[float] | None) -> nn.Sequential:
    """conv1 (1x1, identity) -> relu1 [-> ca1, gates fixed for the input of :func:`toy_images`] -> global mean ->
    fc (identity): the logits are the site's channel means, with the removed channels at 0."""
    layers = OrderedDict(conv1=nn.Conv2d(4, 4, 1), relu1=nn.ReLU())
    if gates is not None:
        layers["ca1"] = ChannelAttention(4, reduction=4)  # hidden = relu(0.1 * sum of the channel means) = 1
    layers |= {"pool1": nn.AdaptiveAvgPool2d(1), "flatten": nn.Flatten(), "fc": nn.Linear(4, 4)}
    model = nn.Sequential(layers)
    with torch.no_grad():
        model.conv1.weight.copy_(torch.eye(4)[:, :, None, None])
        model.conv1.bias.zero_()
        model.fc.weight.copy_(torch.eye(4))
        model.fc.bias.zero_()
        if gates is not None:
            model.ca1.excite[0].weight.fill_(0.1)
            model.ca1.excite[2].weight.copy_(torch.logit(torch.tensor(gates))[:, None])
    return model


ACTIVATION = torch.tensor([1.0, 2.0, 3.0, 4.0])  # every channel's value before the gate, summing to 10


def toy_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Four equal images, channel c constant at ACTIVATION[c], labelled 0, 1, 2, 3: the probabilities of a row are
    the softmax of the logits, class by class, so they show which channels were removed."""
    return ACTIVATION[None, :, None, None].expand(4, 4, 5, 5).clone(), torch.arange(4)


def probabilities_without(logits: torch.Tensor, removed: list[int]) -> torch.Tensor:
    logits = logits.clone()
    logits[removed] = 0
    return logits.softmax(0)


def test_the_weight_ranks_by_the_gate_and_the_activation_by_the_sites_gated_output():
    gates = torch.tensor([0.9, 0.2, 0.5, 0.15])
    gated = ACTIVATION * gates  # 0.9, 0.4, 1.5, 0.6
    # highest first: by weight 0, 2, 1, 3; by gated activation 2, 0, 3, 1; before the gate it would be 3, 2, 1, 0
    expected = {
        ("weight", "highest", 0.25): [0],
        ("weight", "lowest", 0.25): [3],
        ("activation", "highest", 0.25): [2],
        ("activation", "lowest", 0.25): [1],
        ("weight", "highest", 0.75): [0, 2, 1],
        ("activation", "highest", 0.75): [2, 0, 3],
        ("", "reference", 0.0): [],
    }
    removal = channel_removal(gated_toy(gates.tolist()), *toy_images(), fractions=(0.25, 0.75))
    table = removal.table
    assert set(table["criterion"]) == {"", "weight", "activation"}
    for index, row in table.iterrows():
        condition = (row["criterion"], row["ranking"], row["fraction"])
        if condition in expected:
            wanted = probabilities_without(gated, expected[condition])
            torch.testing.assert_close(removal.probabilities[index], wanted, msg=str(condition))


def test_without_attention_the_activation_ranks_the_relus_output():
    removal = channel_removal(gated_toy(None), *toy_images(), fractions=(0.25,))
    table = removal.table.set_index("ranking")
    assert list(table.index) == ["reference", "highest", "lowest", "random"]
    assert set(table.loc[["highest", "lowest"], "criterion"]) == {"activation"}
    for ranking, removed in (("highest", [3]), ("lowest", [0])):
        index = table.index.get_loc(ranking)
        torch.testing.assert_close(removal.probabilities[index], probabilities_without(ACTIVATION, removed))


def test_the_table_has_a_reference_and_every_criterion_ranking_and_fraction_per_site():
    model = random_cnn("attention")
    images, labels = data()
    removal = channel_removal(model, images, labels)
    table = removal.table
    assert len(table) == 3 * (1 + 5 * 3)
    ca2 = table[table["site"] == "ca2"]
    assert list(ca2["ranking"]) == ["reference"] + (["highest"] * 3 + ["lowest"] * 3) * 2 + ["random"] * 3
    assert list(ca2["criterion"]) == [""] + ["weight"] * 6 + ["activation"] * 6 + [""] * 3
    assert list(ca2["fraction"]) == [0.0] + [0.1, 0.25, 0.5] * 5
    assert list(ca2["removed"]) == [0] + [6, 16, 32] * 5  # round(fraction * 64)
    assert list(table[table["site"] == "ca3"]["removed"]) == [0] + [13, 32, 64] * 5  # 12.8 rounds up
    assert (ca2["channels"] == 64).all() and (ca2["images"] == 20).all()
    plain = channel_removal(random_cnn("plain"), images, labels).table
    relu1 = plain[plain["site"] == "relu1"]
    assert list(relu1["criterion"]) == [""] + ["activation"] * 6 + [""] * 3
    assert list(relu1["removed"]) == [0] + [3, 8, 16] * 3  # 0.1 of 32 is 3.2: 3 channels, not 10 %


def test_the_probabilities_have_a_row_per_table_row_whose_mean_is_the_tables():
    model = random_cnn(Architecture(attention="cbam"))
    images, labels = data(9)
    removal = channel_removal(model, images, labels, fractions=(0.25, 0.5), batch_size=10)
    assert removal.probabilities.shape == (len(removal.table), 9)
    torch.testing.assert_close(
        removal.probabilities.double().mean(1),
        torch.tensor(removal.table["true_class_probability"].to_numpy()),
        atol=1e-6,
        rtol=0,
    )
    assert removal.probabilities.unique(dim=0).shape[0] > len(removal.table) // 2  # the rows are not all alike


@pytest.mark.parametrize(
    ("fraction", "channels", "removed"),
    [(0.1, 32, 3), (0.1, 128, 13), (0.25, 64, 16), (0.01, 32, 1), (0.5, 3, 2), (1.0, 32, 32), (0.7, 10, 7)],
)
def test_the_removed_count_is_the_nearest_whole_number_of_channels_at_least_one(fraction, channels, removed):
    assert removed_count(fraction, channels) == removed


def test_removing_every_channel_leaves_nothing_to_rank():
    model = random_cnn("attention")
    images, labels = data()
    removal = channel_removal(model, images, labels, fractions=(1.0,))
    table = removal.table
    for _, rows in table[table["ranking"] != "reference"].groupby("site"):
        assert rows["true_class_probability"].nunique() == 1 and rows["accuracy"].nunique() == 1
        assert (removal.probabilities[rows.index] == removal.probabilities[rows.index[0]]).all()


def test_the_random_ranking_is_seeded_and_the_others_do_not_depend_on_the_seed_or_the_batch_size():
    model = random_cnn(Architecture(attention="cbam"))
    images, labels = data(10)
    first = channel_removal(model, images, labels, seed=1, batch_size=1000)
    again = channel_removal(model, images, labels, seed=1, batch_size=13)
    other = channel_removal(model, images, labels, seed=2)
    columns = ["accuracy", "true_class_probability"]
    assert (first.table[columns] - again.table[columns]).abs().max().max() < 1e-6
    torch.testing.assert_close(first.probabilities, again.probabilities, atol=1e-6, rtol=0)
    random = first.table["ranking"] == "random"
    assert (first.table.loc[~random, columns] - other.table.loc[~random, columns]).abs().max().max() < 1e-6
    torch.testing.assert_close(
        first.probabilities[~random.to_numpy()], other.probabilities[~random.to_numpy()], atol=1e-6, rtol=0
    )
    assert not first.table.loc[random, "true_class_probability"].equals(
        other.table.loc[random, "true_class_probability"]
    )


def test_the_model_is_left_as_it_was():
    model = random_cnn("attention").train()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    channel_removal(model, *data(4))
    assert model.training and all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_bad_arguments_raise_a_cnnlens_error():
    model = random_cnn("plain")
    images, labels = data(4)
    with pytest.raises(CnnlensError) as raised:
        channel_removal(model, images, labels, fractions=(0.0,))
    assert "(0, 1]" in str(raised.value) and "[0.0]" in str(raised.value)  # the range, and the fractions given
    with pytest.raises(CnnlensError, match=r"4 images .*3 labels"):
        channel_removal(model, images, labels[:3])
    with pytest.raises(CnnlensError, match=r"flat nn\.Sequential"):
        channel_removal(nn.ModuleList([model]), images, labels)
