"""What the similarity analysis costs, and how many images give a stable CKA.

For the trained runs of a config (every model and seed, as the workflow plans them) it times the analysis job's
step on each run at the config's settings, then the comparisons the report's section computes from the runs'
files (same-layer CKA of every pair, the layer-identification check, heatmap agreement and its references), in all
and per pair of runs. Then, for the baseline's first two seeds, same-layer CKA at each of ``--images`` against the
estimate from ``--reference-images``: the largest gap over the layers and the largest jackknife standard error,
which is what the default number of images is chosen by.

    python benchmarks/similarity.py --config config.yaml my-run.yaml \\
        [--images 128 256 512 1024 2048] [--reference-images 4096]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from cnnlens.artifacts import Similarity
from cnnlens.data.dataset import Dataset, normalize
from cnnlens.interpret.cka import cross_cka
from cnnlens.interpret.similarity import layer_grams, measured_layers, similarity
from cnnlens.interpret.steps import load_trained_model, scored_images
from cnnlens.layout import planned_layout
from cnnlens.models.architecture import Architecture
from cnnlens.views import similarity as views


def seconds_of(work, *arguments, **options):
    """``work``'s result and its wall seconds."""
    start = time.perf_counter()
    result = work(*arguments, **options)
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", nargs="+", required=True, help="the run's config files, merged in order")
    parser.add_argument("--images", type=int, nargs="+", default=[128, 256, 512, 1024, 2048])
    parser.add_argument("--reference-images", type=int, default=4096)
    args = parser.parse_args()
    layout = planned_layout(args.config)
    dataset = Dataset.load(layout.data_cache)
    settings = layout.analysis_settings("similarity")
    print(f"settings {settings}; cpu, {torch.get_num_threads()} threads, torch {torch.__version__}\n")

    models, runs = {}, []
    for model, seed in layout.analysis_runs("similarity"):
        architecture = Architecture(**layout.config["variants"][model])
        network = load_trained_model(f"{layout.run_dir(model, seed)}/model.pt", architecture, dataset, model)
        fields, seconds = seconds_of(similarity, network, dataset, **settings)
        runs.append(Similarity(model=model, seed=seed, **fields))
        models[model, seed] = network
        print(f"step {model} seed {seed}: {seconds:.1f} s ({len(fields['layers'])} layers)")

    pairs = len(runs) * (len(runs) - 1) // 2
    total = 0.0
    for name, work in [
        ("same-layer CKA", views.same_layer_cka),
        ("layer identification", views.layer_identification),
        ("heatmap agreement", views.heatmap_agreement),
        ("centre-only reference", views.centre_agreement),
    ]:
        _, seconds = seconds_of(work, runs)
        total += seconds
        print(f"{name:<24} {seconds:6.2f} s")
    print(f"{'the section, ' + str(len(runs)) + ' runs':<24} {total:6.2f} s ({total / max(pairs, 1):.2f} s per pair)\n")
    _, one_pair = seconds_of(lambda: [work(runs[:2]) for work in (views.same_layer_cka, views.heatmap_agreement)])
    print(f"one pair alone (CKA and heatmaps): {one_pair:.2f} s\n")

    baseline = layout.config["compare"]["baseline"]
    seeds = [models[run] for run in models if run[0] == baseline]
    if len(seeds) < 2:
        raise SystemExit(f"the stability check needs two seeds of {baseline}: give a config with seeds: [0, 1]")
    first, second = seeds[:2]
    layers = measured_layers(first, settings["layers"])

    def same_layer(count: int) -> tuple[np.ndarray, np.ndarray]:
        images = normalize(dataset.test_images[scored_images(len(dataset.test_labels), count)])
        grams = [layer_grams(network, images, layers, settings["minibatch"])["grams"] for network in (first, second)]
        values, errors = cross_cka(*grams)
        return np.diag(values), np.diag(errors)

    reference, _ = same_layer(args.reference_images)
    print(f"same-layer CKA of {baseline}'s first two seeds, layers {layers}")
    print(f"at {args.reference_images} images: {np.round(reference, 3).tolist()}")
    for count in args.images:
        (values, errors), seconds = seconds_of(same_layer, count)
        gap, error = np.abs(values - reference).max(), np.nanmax(errors)
        print(f"{count:5d} images: largest gap {gap:.3f}, largest standard error {error:.3f} ({seconds:.1f} s)")


if __name__ == "__main__":
    main()
