"""One function per analysis of a trained run (each named by its entry in the registry's ANALYSES), and the
job that runs one: load the data and the trained model, compute, save the artifact a notebook plots.

A step's keyword arguments are the ``visualise`` keys its registry entry names, so the config reaches it
unchanged. Notebooks never run a model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from torch import nn

from cnnlens.artifacts import RunArtifact
from cnnlens.data.dataset import Dataset, normalize
from cnnlens.errors import CnnlensError
from cnnlens.interpret import depth_stats
from cnnlens.interpret.activations import extract, select_images
from cnnlens.interpret.channel_removal import channel_removal
from cnnlens.interpret.deconvnet import deconv_project
from cnnlens.interpret.deletion_insertion import Curves, evaluate_faithfulness
from cnnlens.interpret.gradcam import grad_cam
from cnnlens.interpret.hooks import capture
from cnnlens.interpret.sanity import cascading_randomisation
from cnnlens.interpret.spatial_attention import spatial_gates
from cnnlens.models.cnn import Architecture, CifarCNN, attention_gates, build_model
from cnnlens.models.modes import eval_mode
from cnnlens.training.recipe import pick_device

BATCH = 500
GALLERY_IMAGES = 2  # images whose maps the report shows before and after each randomisation step


def _test_batches(dataset: Dataset) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The test set, normalised, in batches of ``BATCH`` (the full set at once would not fit for conv1)."""
    for start in range(0, len(dataset.test_labels), BATCH):
        yield normalize(dataset.test_images[start : start + BATCH]), dataset.test_labels[start : start + BATCH]


def activations(
    model: nn.Module, dataset: Dataset, *, layers: Sequence[str], images_per_class: int, max_images: int
) -> dict:
    """Layer outputs and attention weights of the visualised test images (:func:`.activations.extract`)."""
    return extract(model, dataset, list(layers), images_per_class, max_images)


@torch.no_grad()
def depth(model: nn.Module, dataset: Dataset, *, depth_layers: Sequence[str], top_fraction: float = 0.1) -> dict:
    """Sparsity and spatial concentration of each layer's output over the whole test set.

    Statistics are per image, so the test set runs in batches and only the per-image numbers are kept.
    """
    layers = list(depth_layers)
    statistics: dict[str, depth_stats.LayerStatistics] = {}
    with eval_mode(model), capture(model, layers) as outputs:
        for images, _ in _test_batches(dataset):
            model(images)
            for name in layers:
                batch = depth_stats.measure(outputs[name], top_fraction=top_fraction, layer=name)
                statistics[name] = statistics[name] + batch if name in statistics else batch
    table = depth_stats.summary_table(statistics).assign(images=len(dataset.test_labels))
    return {"table": table.to_dict(orient="list")}


@torch.no_grad()
def attention(model: nn.Module, dataset: Dataset) -> dict:
    """Every attention module's channel weights (sigmoid outputs) for every test image, and each CBAM block's
    spatial attention map averaged over each class's test images."""
    gates = attention_gates(model)
    if not gates:
        raise CnnlensError("the model has no attention modules: its variant has attention: none")
    spatial = spatial_gates(model)
    collected: dict[str, list[torch.Tensor]] = {name: [] for name in gates}
    sums: dict[str, torch.Tensor] = {}
    classes = len(dataset.classes)
    with eval_mode(model), capture(model, [*gates.values(), *spatial.values()]) as outputs:
        for images, labels in _test_batches(dataset):
            model(images)
            for name, path in gates.items():
                collected[name].append(outputs[path])
            for block, path in spatial.items():
                maps = outputs[path][:, 0]
                totals = torch.zeros(classes, *maps.shape[1:]).index_add_(0, labels, maps)
                sums[block] = sums[block] + totals if block in sums else totals
    counts = torch.bincount(dataset.test_labels, minlength=classes).clamp(min=1).view(-1, 1, 1)
    return {
        "weights": {name: torch.cat(chunks) for name, chunks in collected.items()},
        "labels": dataset.test_labels,
        "classes": dataset.classes,
        "spatial": {block: total / counts for block, total in sums.items()},
    }


def explain(
    model: nn.Sequential,
    dataset: Dataset,
    *,
    layers: Sequence[str],
    images_per_class: int,
    max_images: int | None,
    gradcam_layer: str,
    zfnet_channels: int,
    zfnet_images: int,
) -> dict:
    """Grad-CAM and deconvnet projections for the visualised test images, and ZFNet's top images per channel.

    - Grad-CAM of ``gradcam_layer`` for the predicted and for the true class of each visualised image.
    - Per layer, each visualised image's strongest activation projected back to pixels.
    - Per layer, for its first ``zfnet_channels`` channels, the ``zfnet_images`` test images that excite the
      channel most, each with the projection of that channel's strongest activation.
    """
    index = select_images(dataset.test_labels, images_per_class, max_images)
    images = normalize(dataset.test_images[index])
    with eval_mode(model), torch.no_grad():
        predictions = model(images).argmax(1)
    labels = dataset.test_labels[index]
    peaks = _channel_peaks(model, dataset, layers)
    projections, strongest, zfnet = {}, {}, {}
    for layer in layers:
        result = deconv_project(model, images, layer)
        projections[layer] = result.projection
        strongest[layer] = {"channel": result.channel, "position": result.position}
        zfnet[layer] = _top_images_per_channel(model, dataset, layer, peaks[layer], zfnet_channels, zfnet_images)
    return {
        "image_indices": index,
        "labels": labels,
        "predictions": predictions,
        "classes": dataset.classes,
        "gradcam_layer": gradcam_layer,
        "gradcam_predicted": grad_cam(model, images, gradcam_layer, predictions),
        "gradcam_true": grad_cam(model, images, gradcam_layer, labels),
        "deconv": projections,
        "deconv_strongest": strongest,
        "zfnet": zfnet,
    }


@torch.no_grad()
def _channel_peaks(model: nn.Module, dataset: Dataset, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Each test image's maximum activation per channel, ``(N, C)`` per layer, from one pass over the test set."""
    peaks: dict[str, list[torch.Tensor]] = {layer: [] for layer in layers}
    with eval_mode(model), capture(model, layers) as outputs:
        for images, _ in _test_batches(dataset):
            model(images)
            for layer in layers:
                peaks[layer].append(outputs[layer].amax((2, 3)))
    return {layer: torch.cat(chunks) for layer, chunks in peaks.items()}


def _top_images_per_channel(
    model: nn.Sequential, dataset: Dataset, layer: str, peaks: torch.Tensor, channels: int, count: int
) -> dict:
    """ZFNet's view of the first ``channels`` channels: the test images that excite each most, projected."""
    chosen = peaks[:, :channels].topk(min(count, len(peaks)), dim=0).indices.T  # (channels, count) image indices
    projections = torch.stack(
        [
            deconv_project(model, normalize(dataset.test_images[top]), layer, channel).projection
            for channel, top in enumerate(chosen)
        ]
    )
    return {
        "channels": list(range(chosen.shape[0])),
        "images": chosen,
        "test_images": dataset.test_images[chosen],
        "projections": projections,
    }


def faithfulness(
    model: nn.Module,
    dataset: Dataset,
    *,
    images: int | str,
    steps: int,
    baseline: str,
    removal_fractions: Sequence[float],
    sanity_images: int,
) -> dict:
    """How faithful each heatmap method is on this run, image by image: deletion and insertion with their controls,
    Average Drop and Increase in Confidence (:mod:`~cnnlens.interpret.deletion_insertion`), channel removal
    (:mod:`~cnnlens.interpret.channel_removal`) and cascading randomisation (:mod:`~cnnlens.interpret.sanity`), all on
    the same fixed random sample of the test split (``images``, or ``"all"``). The report draws the verdicts."""
    chosen = scored_images(len(dataset.test_labels), images)
    inputs, labels = normalize(dataset.test_images[chosen]), dataset.test_labels[chosen]
    evaluation = evaluate_faithfulness(model, inputs, steps=steps, baseline=baseline)
    scores = evaluation.scores
    sanity_inputs = inputs[:sanity_images]
    gallery = min(GALLERY_IMAGES, len(sanity_inputs))  # the first of the sanity checks' images
    sanity = cascading_randomisation(model, sanity_inputs, list(scores), gallery=gallery)
    removal = channel_removal(model, inputs, labels, fractions=removal_fractions)
    return {
        "baseline": baseline,
        "steps": steps,
        "image_indices": chosen,
        "fractions": next(iter(scores.values())).curves.fractions,
        "aucs": {method: _aucs(result.curves) for method, result in scores.items()},
        "inverted_aucs": {method: _aucs(curves) for method, curves in evaluation.inverted.items()},
        "knob_aucs": {
            knob: {method: _aucs(curves) for method, curves in by_method.items()}
            for knob, by_method in evaluation.knobs.items()
        },
        "knobs": {knob: {"baseline": fill, "steps": count} for knob, (fill, count) in evaluation.knob_settings.items()},
        "average_drop": {method: result.average_drop for method, result in scores.items()},
        "increase": {method: result.increase for method, result in scores.items()},
        "tied_share": {method: result.tied_share for method, result in scores.items()},
        "curves": {
            method: {"deletion": result.curves.deletion.mean(0), "insertion": result.curves.insertion.mean(0)}
            for method, result in scores.items()
        },
        "removal": removal.table.to_dict(orient="list"),
        "removal_probabilities": removal.probabilities,
        "sanity": sanity.steps.to_dict(orient="list"),
        "sanity_reference": sanity.reference.to_dict(orient="list"),
        "gallery_images": dataset.test_images[chosen[:gallery]],
        "gallery": sanity.gallery,
        "gallery_steps": sanity.gallery_steps,
    }


def _aucs(curves: Curves) -> dict[str, torch.Tensor]:
    return {"deletion": curves.deletion_auc, "insertion": curves.insertion_auc}


def scored_images(count: int, images: int | str) -> torch.Tensor:
    """A fixed random sample of ``images`` of the ``count`` test images (all of them for ``"all"``), the same every
    run: an ImageFolder test split is sorted by class, so its first images would be of one class."""
    order = torch.randperm(count, generator=torch.Generator().manual_seed(0))
    return order if images == "all" else order[: int(images)]


def run_analysis(
    step: Callable[..., dict],
    artifact_type: type[RunArtifact],
    data: str | Path,
    checkpoint: str | Path,
    variant: str,
    architecture: Architecture,
    seed: int,
    settings: dict,
    out: str | Path,
    device: str = "cpu",
) -> RunArtifact:
    """The analysis job: one trained run's model on ``device`` (``train.device``'s forms; the data stay on the CPU
    and each step moves what it computes on), its ``step``, the artifact it fills saved to ``out``."""
    dataset = Dataset.load(data)
    model = load_trained_model(checkpoint, architecture, dataset, variant).to(pick_device(device))
    artifact = artifact_type(model=variant, seed=seed, **step(model, dataset, **settings))
    artifact.save(out)
    return artifact


def load_trained_model(checkpoint: str | Path, architecture: Architecture, dataset: Dataset, variant: str) -> CifarCNN:
    """The variant's model with the weights the train rule saved, for this data set's image size and classes."""
    model = build_model(architecture, dataset.train_images.shape[-1], len(dataset.classes))
    try:
        model.load_state_dict(torch.load(checkpoint, weights_only=True, map_location="cpu"))
    except FileNotFoundError:
        raise CnnlensError(f"checkpoint {checkpoint} does not exist: run the train rule first") from None
    except RuntimeError as error:  # another architecture, or another number of classes than the data's
        detail = str(error).strip().splitlines()[-1].strip()
        raise CnnlensError(
            f"checkpoint {checkpoint} does not fit variant '{variant}' on this data set "
            f"({detail}): rebuild it with the train rule"
        ) from None
    return model
