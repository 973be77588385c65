"""The files that rules write and notebooks or other rules read: one definition each, checked on load.

Three kinds, each naming the rule that writes it:

- :class:`Artifact`: a dataclass saved with torch as ``{"format": <class name>, "version": N, "fields": ...}``;
- :class:`Record`: a JSON object that carries ``format`` and ``version`` keys beside its values;
- :class:`Table`: a CSV file, whose columns are its format.

A file of another format or version, or a table without the columns its readers need, stops the
reader with one line naming the file and the rule that rebuilds it (an old ``results/`` folder after
an upgrade, say), instead of a ``KeyError`` deep inside a notebook.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd
import torch

from cnnlens.atomic import atomic_torch_save, atomic_write_text
from cnnlens.errors import CnnlensError, one_line

ArtifactType = TypeVar("ArtifactType", bound="Artifact")


class ArtifactError(CnnlensError):
    """A file that a rule wrote is missing, unreadable, or of another format than its reader expects."""


def _rebuild(rule: str) -> str:
    return f"rebuild it with the {rule} rule (delete the file, then run snakemake again)"


def _check_exists(path: Path, rule: str) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist: {_rebuild(rule)}")


@dataclass
class Artifact:
    """Base of the torch artifacts: subclasses are dataclasses that set ``RULE`` and ``VERSION``.

    Bump ``VERSION`` whenever the fields change meaning or shape, so that old files are refused.
    """

    RULE: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def save(self, path: str | Path) -> None:
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        atomic_torch_save({"format": type(self).__name__, "version": self.VERSION, "fields": values}, path)

    @classmethod
    def load(cls: type[ArtifactType], path: str | Path) -> ArtifactType:
        path = Path(path)
        _check_exists(path, cls.RULE)
        try:
            stored = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as error:  # a truncated zip, a pickled object, another file type...
            raise ArtifactError(f"cannot read {path} ({one_line(error)}): {_rebuild(cls.RULE)}") from None
        found = (stored.get("format"), stored.get("version")) if isinstance(stored, dict) else (None, None)
        if found != (cls.__name__, cls.VERSION):
            what = f"{found[0]} version {found[1]}" if found[0] else "no cnnlens format"
            raise ArtifactError(f"{path} holds {what}, not {cls.__name__} version {cls.VERSION}: {_rebuild(cls.RULE)}")
        return cls(**stored["fields"])


@dataclass(frozen=True)
class Record:
    """A JSON file of named values (for example a run's metrics), with its format and version inside."""

    name: str
    rule: str
    keys: tuple[str, ...]  # what every reader may rely on
    version: int = 1

    def save(self, values: dict[str, Any], path: str | Path) -> None:
        missing = [key for key in self.keys if key not in values]
        if missing:
            raise ValueError(f"{self.name} record lacks {missing}")  # a bug in the writer, not bad input
        text = json.dumps({"format": self.name, "version": self.version, **values}, indent=2)
        atomic_write_text(text + "\n", path)

    def load(self, path: str | Path) -> dict[str, Any]:
        path = Path(path)
        _check_exists(path, self.rule)
        try:
            stored = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ArtifactError(f"cannot read {path} ({one_line(error)}): {_rebuild(self.rule)}") from None
        found = (stored.get("format"), stored.get("version")) if isinstance(stored, dict) else (None, None)
        if found != (self.name, self.version) or any(key not in stored for key in self.keys):
            raise ArtifactError(f"{path} is not a {self.name} record of version {self.version}: {_rebuild(self.rule)}")
        return {key: value for key, value in stored.items() if key not in ("format", "version")}


@dataclass(frozen=True)
class Table:
    """A CSV table. Its columns are its format: a reader checks that those it needs are there."""

    name: str
    rule: str
    columns: tuple[str, ...]
    index: str | None = None  # the name of an index column that rows are labelled by (confusion matrices)

    def save(self, frame: pd.DataFrame, path: str | Path) -> None:
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise ValueError(f"{self.name} table lacks columns {missing}")  # a bug in the writer
        if self.index:
            atomic_write_text(frame.rename_axis(self.index).to_csv(), path)
        else:
            atomic_write_text(frame.to_csv(index=False), path)

    def load(self, path: str | Path) -> pd.DataFrame:
        path = Path(path)
        _check_exists(path, self.rule)
        try:
            frame = pd.read_csv(path, index_col=0 if self.index else None)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
            raise ArtifactError(f"cannot read {path} ({one_line(error)}): {_rebuild(self.rule)}") from None
        missing = [column for column in self.columns if column not in frame.columns]
        if missing or (self.index and frame.index.name != self.index):
            raise ArtifactError(
                f"{path} is not a {self.name} table (it lacks {missing or [self.index]}): {_rebuild(self.rule)}"
            )
        return frame


# What a training run writes beside model.pt (the weights, checked against the model when loaded).
RUN_METRICS = Record(
    "run_metrics",
    "train",
    keys=(
        "model",
        "seed",
        "epochs",
        "final_test_accuracy",
        "final_test_loss",
        "best_test_accuracy",
        "best_epoch",
        "parameters",
        "device",
        "seconds_per_epoch",
        "seconds_total",
        "recipe",
        "engine",
        "architecture",
        "torch",
    ),
)
HISTORY = Table(
    "history", "train", ("epoch", "train_loss", "train_accuracy", "test_loss", "test_accuracy", "lr", "seconds")
)
ITERATIONS = Table("iterations", "train", ("iteration", "loss"))
CONFUSION = Table("confusion", "train", (), index="true \\ predicted")  # columns: the predicted classes
# The final model's prediction for every test image, in the test split's order: the per-image paired tests of the
# compare rule read them.
PREDICTIONS = Table("predictions", "train", ("image", "label", "predicted"))

# The comparison of variants over seeds.
RUNS = Table(
    "runs",
    "compare",
    (
        "variant",
        "seed",
        "final_test_accuracy",
        "best_test_accuracy",
        "final_test_loss",
        "parameters",
        "seconds_per_epoch",
    ),
)
SUMMARY = Table(
    "summary",
    "compare",
    (
        "variant",
        "seeds",
        "accuracy_mean",
        "accuracy_std",
        "best_accuracy_mean",
        "test_loss_mean",
        "parameters",
        "seconds_per_epoch",
    ),
)
# Each variant against the baseline over the seeds both trained (reporting.comparison.seed_tests): differences in
# points, the interval and the smallest detectable difference at the level 1 - alpha, Holm over the variants; the
# baseline's own seed-to-seed noise floor beside them.
TESTS = Table(
    "tests",
    "compare",
    (
        "variant",
        "baseline",
        "seeds",
        "difference_mean",
        "difference_std",
        "interval_low",
        "interval_high",
        "p_value",
        "p_holm",
        "detectable",
        "noise_floor",
        "significant",
        "verdict",
    ),
)
# Each variant against the baseline of the same seed on the same test images (reporting.comparison.image_tests):
# McNemar's exact test on the images only one of the two gets right, Holm over every row.
IMAGE_TESTS = Table(
    "image_tests",
    "compare",
    (
        "variant",
        "baseline",
        "seed",
        "images",
        "difference",
        "interval_low",
        "interval_high",
        "variant_only",
        "baseline_only",
        "mcnemar_p",
        "p_holm",
        "significant",
    ),
)
# Every two seeds of the baseline on the same test images (reporting.comparison.noise_floor): how far apart two
# runs of one recipe land, measured; McNemar's test as above, Holm over every pair.
NOISE_FLOOR = Table(
    "noise_floor",
    "compare",
    (
        "baseline",
        "seed",
        "other_seed",
        "images",
        "difference",
        "interval_low",
        "interval_high",
        "seed_only",
        "other_only",
        "mcnemar_p",
        "p_holm",
        "significant",
    ),
)


@dataclass
class RunArtifact(Artifact):
    """Base of the artifacts of one trained run's analyses: which variant and seed they describe. Each is written by
    the analysis rule, whose registry entry names the class."""

    RULE: ClassVar[str] = "analysis"

    model: str  # the variant's name
    seed: int


@dataclass
class Activations(RunArtifact):
    """Layer outputs of the visualised test images (the first ``images_per_class`` of each class)."""

    VERSION: ClassVar[int] = 2  # 2: CBAM's spatial attention maps among the layers

    image_indices: torch.Tensor  # (N,) indices into the test split
    images: torch.Tensor  # (N, 3, H, W) uint8
    labels: torch.Tensor  # (N,)
    classes: list[str]
    logits: torch.Tensor  # (N, classes)
    predictions: torch.Tensor  # (N,)
    # layer -> (N, C, h, w); attention module (ca1) -> (N, C) channel weights; CBAM block (ca1.spatial) -> (N, h, w)
    layers: dict[str, torch.Tensor]


@dataclass
class Explanations(RunArtifact):
    """Grad-CAM and deconvnet projections of the visualised images, and ZFNet's top test images per channel."""

    image_indices: torch.Tensor
    labels: torch.Tensor
    predictions: torch.Tensor
    classes: list[str]
    gradcam_layer: str
    gradcam_predicted: torch.Tensor  # (N, H, W) in [0, 1]
    gradcam_true: torch.Tensor
    deconv: dict[str, torch.Tensor]  # layer -> (N, 3, H, W) projection of the image's strongest activation
    deconv_strongest: dict[str, dict[str, torch.Tensor]]  # layer -> channel (N,), position (N, 2)
    zfnet: dict[str, dict[str, Any]]  # layer -> channels, images (C, k), test_images, projections (C, k, 3, H, W)


@dataclass
class AttentionWeights(RunArtifact):
    """Every attention module's channel weights (sigmoid outputs) for every test image, and CBAM's spatial gates
    averaged per class."""

    VERSION: ClassVar[int] = 2  # 2: CBAM's spatial maps, averaged per class

    weights: dict[str, torch.Tensor]  # module (ca1) -> (N, C)
    labels: torch.Tensor  # (N,)
    classes: list[str]
    spatial: dict[str, torch.Tensor]  # CBAM block (ca1) -> (classes, h, w) mean spatial map of each class's images


@dataclass
class DepthStatistics(RunArtifact):
    """Sparsity and spatial concentration per layer over the whole test split (one row per layer)."""

    table: dict[str, list]  # column -> values, the columns of depth_stats.summary_table plus "images"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.table).assign(model=self.model, seed=self.seed)


@dataclass
class VggDepth(Artifact):
    """VGG16 on photos: top-5 classes, channel-mean maps by depth, deconvnet projections."""

    RULE: ClassVar[str] = "vgg"

    weights: dict[str, Any]  # kind, source, degraded, banner
    photos: list[str]
    images: torch.Tensor  # (P, 224, 224, 3) uint8, as the network saw them
    top5: list[list[tuple[str, float]]]
    indices: list[int]  # the compared features indices (shallow, middle, deep)
    conv_indices: list[int]
    layer_names: dict[int, str]
    channel_means: dict[int, torch.Tensor]  # index -> (P, h, w)
    deconv: dict[int, torch.Tensor]  # index -> (P, 3, 224, 224)


@dataclass
class Faithfulness(RunArtifact):
    """How faithful each heatmap method is on one run, image by image, with the controls that say how far to trust
    it: deletion and insertion AUCs of every method, of each method's inverted map, and with the fill and the steps
    changed; Average Drop and Increase in Confidence; channel removal; and the cascading-randomisation checks. The
    verdicts are drawn from these by the report, over every seed."""

    # 3: per-image AUCs (of the maps, their inversions and the knobs) instead of means and per-run tests; tie groups
    # scored whole; channel removal by weight and by activation, per image; sanity curves with the target kept fixed
    VERSION: ClassVar[int] = 3

    baseline: str  # what deleted pixels became: blur or mean
    steps: int  # deletion and insertion steps
    image_indices: torch.Tensor  # (N,) the scored test images
    fractions: torch.Tensor  # (steps + 1,) fraction of the pixels deleted (inserted) at each point
    aucs: dict[str, dict[str, torch.Tensor]]  # method -> "deletion", "insertion": (N,) AUC per image
    inverted_aucs: dict[str, dict[str, torch.Tensor]]  # model-based method -> the same for its inverted map
    knob_aucs: dict[str, dict[str, dict[str, torch.Tensor]]]  # knob ("fill", "steps") -> method -> the same
    knobs: dict[str, dict[str, Any]]  # knob -> "baseline" and "steps" it was measured with
    average_drop: dict[str, torch.Tensor]  # method -> (N,) torch-cam's drop per image
    increase: dict[str, torch.Tensor]  # method -> (N,) bool: the masked image raised the confidence
    tied_share: dict[str, torch.Tensor]  # method -> (N,) share of each map's pixels that tie with another
    curves: dict[str, dict[str, torch.Tensor]]  # method -> deletion and insertion: (steps + 1,) mean over the images
    removal: dict[str, list]  # channel removal (interpret.channel_removal.Removal.table), as table columns
    removal_probabilities: torch.Tensor  # (removal rows, N) the true class's probability per row and image
    sanity: dict[str, list]  # similarity of each method's maps after each randomisation step, as table columns
    sanity_reference: dict[str, list]  # per method: the similarity of two unrelated images' maps
    gallery_images: torch.Tensor  # (G, 3, H, W) uint8 test images shown with their maps
    gallery: dict[str, torch.Tensor]  # method -> (steps + 1, G, H, W): the maps, then after each randomisation step
    gallery_steps: list[str]  # "original", then the layers randomised so far at each step


@dataclass
class Similarity(RunArtifact):
    """What comparisons across runs need of one run, on a fixed random sample of test images the same in every run:
    each layer's Gram matrices per minibatch (CKA between runs), the run's own layer × layer CKA, and each
    model-based heatmap of the images."""

    VERSION: ClassVar[int] = 2  # 2: no standard errors of the run's own table (nothing read them)

    image_indices: torch.Tensor  # (N,) the test images, in the order of the minibatches
    layers: list[str]  # in forward order, the attention outputs included
    grams: dict[str, list[torch.Tensor]]  # layer -> one (n_b, n_b) float64 Gram matrix per minibatch
    cka: torch.Tensor  # (layers, layers) linear CKA, NaN for a layer that does not vary
    heatmaps: dict[str, torch.Tensor]  # method -> (N, H, W) float16 in [0, 1]; Grad-CAM's explain the true class
