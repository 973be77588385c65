"""The files rules write: they load as they were saved, and a missing, foreign or outdated file is one line that
names the file and the rule that rebuilds it."""

import json

import pandas as pd
import pytest
import torch

from cnnlens.artifacts import HISTORY, RUN_METRICS, ArtifactError, AttentionWeights, DepthStatistics, Record, Table


def attention_weights() -> AttentionWeights:
    return AttentionWeights(
        model="attention",
        seed=1,
        weights={"ca1": torch.rand(4, 32)},
        labels=torch.arange(4),
        classes=["a", "b", "c", "d"],
        spatial={},
    )


def test_an_artifact_loads_as_it_was_saved(tmp_path):
    saved = attention_weights()
    saved.save(tmp_path / "attention.pt")
    loaded = AttentionWeights.load(tmp_path / "attention.pt")
    assert loaded.model == "attention" and loaded.seed == 1 and loaded.classes == saved.classes
    assert torch.equal(loaded.weights["ca1"], saved.weights["ca1"]) and torch.equal(loaded.labels, saved.labels)


def test_an_outdated_artifact_names_the_file_and_the_rule(tmp_path, monkeypatch):
    attention_weights().save(tmp_path / "attention.pt")
    monkeypatch.setattr(AttentionWeights, "VERSION", AttentionWeights.VERSION + 1)
    with pytest.raises(ArtifactError) as raised:
        AttentionWeights.load(tmp_path / "attention.pt")
    message = str(raised.value)
    assert "\n" not in message and str(tmp_path / "attention.pt") in message
    current = AttentionWeights.VERSION
    assert f"AttentionWeights version {current - 1}, not AttentionWeights version {current}" in message
    assert "rebuild it with the analysis (attention) rule" in message


def test_another_artifact_or_a_plain_torch_file_is_refused(tmp_path):
    attention_weights().save(tmp_path / "attention.pt")
    with pytest.raises(ArtifactError, match="holds AttentionWeights version 2, not DepthStatistics version 1"):
        DepthStatistics.load(tmp_path / "attention.pt")
    torch.save({"weights": {}}, tmp_path / "old.pt")  # what the rules wrote before artifacts had a format
    with pytest.raises(ArtifactError, match="holds no cnnlens format"):
        AttentionWeights.load(tmp_path / "old.pt")
    (tmp_path / "text.pt").write_text("not torch")
    with pytest.raises(ArtifactError, match=r"cannot read .*text.pt"):
        AttentionWeights.load(tmp_path / "text.pt")
    with pytest.raises(ArtifactError, match=r"missing.pt does not exist: rebuild it with the analysis \(attention\)"):
        AttentionWeights.load(tmp_path / "missing.pt")


def test_a_record_round_trips_and_checks_format_version_and_keys(tmp_path):
    record = Record("numbers", "count", keys=("a", "b"), version=3)
    record.save({"a": 1, "b": [2, 3], "extra": "kept"}, tmp_path / "n.json")
    assert record.load(tmp_path / "n.json") == {"a": 1, "b": [2, 3], "extra": "kept"}
    assert json.loads((tmp_path / "n.json").read_text())["version"] == 3
    with pytest.raises(ArtifactError, match=r"n.json is not a numbers record of version 4: rebuild it with the count"):
        Record("numbers", "count", keys=("a",), version=4).load(tmp_path / "n.json")
    with pytest.raises(ArtifactError, match="is not a numbers record"):
        Record("numbers", "count", keys=("a", "c"), version=3).load(tmp_path / "n.json")
    with pytest.raises(ValueError, match="lacks"):
        record.save({"a": 1}, tmp_path / "m.json")


def test_metrics_written_before_records_had_a_format_are_refused(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "plain", "seed": 0}))
    with pytest.raises(ArtifactError, match="is not a run_metrics record of version 1: rebuild it with the train rule"):
        RUN_METRICS.load(tmp_path / "metrics.json")


def test_a_table_needs_its_columns(tmp_path):
    frame = pd.DataFrame(
        {
            "epoch": [1],
            "train_loss": [1.0],
            "train_accuracy": [0.5],
            "test_loss": [1.0],
            "test_accuracy": [0.5],
            "lr": [0.001],
            "seconds": [2.0],
        }
    )
    HISTORY.save(frame, tmp_path / "history.csv")
    pd.testing.assert_frame_equal(HISTORY.load(tmp_path / "history.csv"), frame)
    frame.drop(columns="lr").to_csv(tmp_path / "old.csv", index=False)
    with pytest.raises(
        ArtifactError,
        match=r"old.csv is not a history table \(it lacks \['lr'\]\): rebuild it with the "
        "train rule",
    ):
        HISTORY.load(tmp_path / "old.csv")
    confusion = Table("confusion", "train", (), index="true \\ predicted")
    confusion.save(pd.DataFrame([[1, 0], [0, 1]], index=["a", "b"], columns=["a", "b"]), tmp_path / "c.csv")
    assert confusion.load(tmp_path / "c.csv").to_numpy().tolist() == [[1, 0], [0, 1]]
