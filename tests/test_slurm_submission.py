"""What `--profile profiles/slurm` has the SLURM executor submit for training, read from sbatch's arguments.

Needs no cluster and no GPU: a fake `sbatch` first on PATH writes its arguments to a file and refuses
the job, so the run stops right after submitting; fake `sinfo` and `sacct` answer the plugin's look-ups.
"""

from pathlib import Path

import pytest
import yaml

from cnnlens.layout import Layout

from helpers import REPO, layout_of, snakemake, tiny_workdir

pytestmark = pytest.mark.e2e  # a real Snakemake run up to the submission

PROFILE = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
MODELS = ("plain", "attention")
REFUSED = "SBATCH-REFUSED"  # what the fake sbatch says on stderr, which the plugin reports


def fake_slurm(bin_dir: Path, records: Path) -> Path:
    """``bin_dir`` with the fake commands; each sbatch call leaves one file in ``records``, one argument a line."""
    scripts = {
        "sbatch": f'printf "%s\\n" "$@" > "$(mktemp {records}/sbatch.XXXXXX)"; echo {REFUSED} >&2; exit 1',
        "sinfo": "printf 'PARTITION\\nmain*\\n'",  # the default partition (*), used when the profile names none
        "sacct": "exit 1",  # no job history: the plugin goes on without guessing an account
    }
    bin_dir.mkdir()
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


def value(arguments: list[str], flag: str) -> str:
    """The argument after ``flag``."""
    return arguments[arguments.index(flag) + 1]


@pytest.fixture(params=["auto", "cpu"])
def submissions(request, tmp_path) -> tuple[str, Layout, list[list[str]]]:
    """(train.device, the run's layout, the arguments of every sbatch call) when both models' training is due."""
    workdir = tiny_workdir(tmp_path / "work", models=list(MODELS), train={"device": request.param})
    layout = layout_of(workdir)
    data = workdir / layout.data_cache
    data.parent.mkdir(parents=True)
    data.touch()  # newer than the images: training is all that is due
    records = tmp_path / "sbatch"
    records.mkdir()
    targets = [f"{layout.run_dir(model, 0)}/metrics.json" for model in MODELS]
    # The first status check comes after the plugin's init interval (40 s by default): 1 s ends the run sooner.
    result = snakemake(
        workdir,
        *targets,
        "--profile",
        str(REPO / "profiles" / "slurm"),
        "--slurm-init-seconds-before-status-checks",
        "1",
        cores=None,
        path=(fake_slurm(tmp_path / "bin", records),),
    )
    assert result.returncode != 0 and REFUSED in result.stderr, result.stderr[-3000:]
    return request.param, layout, [path.read_text().splitlines() for path in records.iterdir()]


def test_training_jobs_ask_for_the_profiles_cores_memory_and_time_and_a_gpu_unless_cpu(submissions):
    device, layout, calls = submissions
    train = PROFILE["set-resources"]["train"]
    # Both at once: the default profile's one-GPU-job cap is for one machine, not for the cluster's jobs.
    assert sorted(value(arguments, "--comment") for arguments in calls) == [
        f"rule_train_wildcards_{model}_0_{layout.run_key(model)}" for model in sorted(MODELS)
    ]
    for arguments in calls:
        assert f"--cpus-per-task={PROFILE['set-threads']['train']}" in arguments
        assert value(arguments, "--mem") == str(train["mem_mb"]) and value(arguments, "-t") == str(train["runtime"])
        gpus = [argument for argument in arguments if argument.startswith(("--gpus", "--gres"))]
        assert gpus == (["--gpus=1"] if device == "auto" else [])
