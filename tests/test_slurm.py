"""The tiny pipeline through `--profile profiles/slurm` on a real SLURM: start a single-node one with
`tests/slurm/start-local-slurm.sh` (root, Debian; `.ci/run` does). Skipped where there is no sbatch.

That SLURM has no GPU and no accounting database: the runs train on the CPU and the executor reads job
states from squeue, which keeps finished jobs (MinJobAge) where sacct would need the database.
"""

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, layout_of, snakemake, tiny_workdir

pytestmark = pytest.mark.slurm

THREADS = 2  # of a training job, here and in the local run; the profile's 8 would not fit a 2-core node
SLURM = (
    "--profile",
    str(REPO / "profiles" / "slurm"),
    "--slurm-status-command",
    "squeue",
    # status checks every second or two, not every 10 to 40 s: the tiny jobs take seconds
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "1",
    "--set-threads",
    f"train={THREADS}",
)
TINY = {"models": ["plain"], "train": {"device": "cpu"}}  # one model, one seed
SUBMITTED = re.compile(r"has been submitted with SLURM jobid (\d+) \(log: (\S+)\)")


@pytest.fixture(scope="module", autouse=True)
def cluster():
    if shutil.which("sbatch") is None:
        pytest.skip("no sbatch: start a local SLURM with tests/slurm/start-local-slurm.sh (as root)")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, check=False)  # the assert says why
    assert " is UP" in ping.stdout, f"sbatch is here but no slurmctld answers: {ping.stdout}{ping.stderr}"


def submitted(result: subprocess.CompletedProcess) -> dict[str, str]:
    """SLURM job id -> SLURM log file, for every job the run submitted."""
    return dict(SUBMITTED.findall(result.stderr))


def rule(log: str) -> str:
    """The rule of the job that wrote this SLURM log (.snakemake/slurm_logs/rule_<rule>/...)."""
    return re.search(r"/rule_(\w+)/", log)[1]


def squeue(job_ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """State, CPUs and comment (the rule the executor named) of each job, as SLURM keeps them."""
    lines = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%i|%T|%C|%k", "--jobs", ",".join(job_ids)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {job_id: tuple(rest) for job_id, *rest in (line.split("|") for line in lines)}


def targets(workdir: Path) -> list[str]:
    """The smallest run with a job of each kind SLURM runs (a `cnnlens` command: the data and the training; a
    notebook) and one that runs here (compare): the training curves' notebook and the comparison. The analysis
    and VGG16 jobs are `cnnlens` commands like training: their rules run on SLURM the same way."""
    layout = layout_of(workdir)
    return [layout.notebook_file("training"), f"{layout.comparison_dir}/tests.csv"]


def crashing_cnnlens(folder: Path) -> Path:
    """A `cnnlens` to put first on PATH (SLURM jobs inherit it) whose training crashes."""
    folder.mkdir()
    (folder / "cnnlens").write_text(
        f'#!/bin/sh\n[ "$1" = train ] && {{ echo "training crashed" >&2; exit 3; }}\n'
        f'exec {Path(sys.executable).parent / "cnnlens"} "$@"\n'
    )
    (folder / "cnnlens").chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def slurm_runs(tmp_path_factory):
    """The run through SLURM twice: first with a training job that crashes, then again as it is."""
    workdir = tiny_workdir(tmp_path_factory.mktemp("slurm"), **TINY)
    crash = crashing_cnnlens(tmp_path_factory.mktemp("crash") / "bin")
    failed = snakemake(workdir, *targets(workdir), *SLURM, "--slurm-keep-successful-logs", cores=None, path=(crash,))
    data = workdir / layout_of(workdir).data_cache
    made = data.stat().st_mtime_ns
    again = snakemake(workdir, *targets(workdir), *SLURM, "--slurm-keep-successful-logs", cores=None)
    assert again.returncode == 0, again.stderr[-3000:]
    return workdir, failed, again, data.stat().st_mtime_ns == made


def test_a_failed_training_job_fails_the_run_with_its_log_and_the_rerun_goes_on(slurm_runs):
    workdir, failed, again, data_kept = slurm_runs
    assert failed.returncode != 0
    [(job_id, log)] = [(job, log) for job, log in submitted(failed).items() if rule(log) == "train"]
    # the error names the SLURM job and, beside the rule's log, the job's SLURM log: what it printed
    error = failed.stderr[failed.stderr.index(f"SLURM-job '{job_id}' failed") :]
    layout = layout_of(workdir)
    train_log = layout.log(f"train/plain-seed0-{layout.run_key('plain')}")
    assert re.search(rf"log: {re.escape(train_log)}, {re.escape(log)} ", error)
    assert "training crashed" in Path(log).read_text()
    assert "prepare_data" not in {rule(log) for log in submitted(again).values()} and data_kept  # stays done


def test_jobs_ran_as_slurm_jobs_and_tiny_ones_locally(slurm_runs):
    workdir, failed, again, _ = slurm_runs
    jobs = submitted(failed) | submitted(again)
    assert {rule(log) for log in jobs.values()} == {"prepare_data", "train", "notebook"}
    states = squeue(jobs)
    [crashed] = [job for job, log in submitted(failed).items() if rule(log) == "train"]
    for job, log in jobs.items():  # each job's output, written by SLURM (--output)
        assert states[job][0] == ("FAILED" if job == crashed else "COMPLETED")
        assert job == crashed or "Finished jobid: 0" in Path(log).read_text()
    [train] = [job for job, log in submitted(again).items() if rule(log) == "train"]
    key = layout_of(workdir).run_key("plain")  # the run's folder key is a wildcard of the job too
    assert states[train][1:] == (str(THREADS), f"rule_train_wildcards_plain_0_{key}")
    assert "localrule compare:" in again.stderr
    notebook = workdir / layout_of(workdir).notebook_file("training")
    assert json.loads(notebook.read_text())["cells"]  # the executed notebook


def test_metrics_match_a_local_run_with_the_same_threads(slurm_runs, tmp_path):
    workdir, *_ = slurm_runs
    local = tiny_workdir(tmp_path, **TINY)
    run = layout_of(local).run_dir("plain", 0)
    assert run == layout_of(workdir).run_dir("plain", 0)
    assert snakemake(local, f"{run}/metrics.json", cores=THREADS).returncode == 0
    timing = ("seconds_per_epoch", "seconds_total")
    on_slurm, here = (json.loads((path / run / "metrics.json").read_text()) for path in (workdir, local))
    assert {k: v for k, v in on_slurm.items() if k not in timing} == {k: v for k, v in here.items() if k not in timing}
    assert on_slurm["device"] == f"cpu ({THREADS} threads)"
    pd.testing.assert_frame_equal(
        pd.read_csv(workdir / run / "history.csv").drop(columns="seconds"),
        pd.read_csv(local / run / "history.csv").drop(columns="seconds"),
    )
    pd.testing.assert_frame_equal(
        pd.read_csv(workdir / run / "iterations.csv"), pd.read_csv(local / run / "iterations.csv")
    )
