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


def refused(kind, path) -> str:
    """The ArtifactError of loading ``path`` as ``kind``: one line that names the file (the test checks the rest)."""
    with pytest.raises(ArtifactError) as raised:
        kind.load(path)
    message = str(raised.value)
    assert "\n" not in message and str(path) in message
    return message


def test_an_artifact_loads_as_it_was_saved(tmp_path):
    saved = attention_weights()
    saved.save(tmp_path / "attention.pt")
    loaded = AttentionWeights.load(tmp_path / "attention.pt")
    assert loaded.model == "attention" and loaded.seed == 1 and loaded.classes == saved.classes
    assert torch.equal(loaded.weights["ca1"], saved.weights["ca1"]) and torch.equal(loaded.labels, saved.labels)


def test_an_outdated_artifact_names_the_file_and_the_rule(tmp_path, monkeypatch):
    attention_weights().save(tmp_path / "attention.pt")
    monkeypatch.setattr(AttentionWeights, "VERSION", AttentionWeights.VERSION + 1)
    message = refused(AttentionWeights, tmp_path / "attention.pt")
    current = AttentionWeights.VERSION
    assert f"AttentionWeights version {current - 1}" in message and f"AttentionWeights version {current}" in message
    assert f"{AttentionWeights.RULE} rule" in message


def test_another_artifact_or_a_plain_torch_file_is_refused(tmp_path):
    attention_weights().save(tmp_path / "attention.pt")
    refusal = refused(DepthStatistics, tmp_path / "attention.pt")
    assert "AttentionWeights version 2" in refusal and "DepthStatistics version 1" in refusal
    torch.save({"weights": {}}, tmp_path / "old.pt")  # what the rules wrote before artifacts had a format
    assert "cnnlens format" in refused(AttentionWeights, tmp_path / "old.pt")
    (tmp_path / "text.pt").write_text("not torch")
    assert f"{AttentionWeights.RULE} rule" in refused(AttentionWeights, tmp_path / "text.pt")
    assert f"{AttentionWeights.RULE} rule" in refused(AttentionWeights, tmp_path / "missing.pt")


def test_a_record_round_trips_and_checks_format_version_and_keys(tmp_path):
    record = Record("numbers", "count", keys=("a", "b"), version=3)
    record.save({"a": 1, "b": [2, 3], "extra": "kept"}, tmp_path / "n.json")
    assert record.load(tmp_path / "n.json") == {"a": 1, "b": [2, 3], "extra": "kept"}
    assert json.loads((tmp_path / "n.json").read_text())["version"] == 3
    newer = refused(Record("numbers", "count", keys=("a",), version=4), tmp_path / "n.json")
    assert "numbers record" in newer and "version 4" in newer and "count rule" in newer
    assert "numbers record" in refused(Record("numbers", "count", keys=("a", "c"), version=3), tmp_path / "n.json")
    with pytest.raises(ValueError, match="lacks"):
        record.save({"a": 1}, tmp_path / "m.json")


def test_metrics_written_before_records_had_a_format_are_refused(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"model": "plain", "seed": 0}))
    refusal = refused(RUN_METRICS, tmp_path / "metrics.json")
    assert "run_metrics record" in refusal and "version 1" in refusal and "train rule" in refusal


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
    refusal = refused(HISTORY, tmp_path / "old.csv")
    assert "history table" in refusal and "['lr']" in refusal and "train rule" in refusal
    confusion = Table("confusion", "train", (), index="true \\ predicted")
    confusion.save(pd.DataFrame([[1, 0], [0, 1]], index=["a", "b"], columns=["a", "b"]), tmp_path / "c.csv")
    assert confusion.load(tmp_path / "c.csv").to_numpy().tolist() == [[1, 0], [0, 1]]
