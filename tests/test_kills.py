"""Kills and Ctrl-C: what a killed writer leaves is removed at the next start, and an interrupt is one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from cnnlens.atomic import atomic_path
from cnnlens.cli import main

from helpers import make_image_folder

KILLED_WRITER = """
import os, signal, sys
from cnnlens.atomic import atomic_path
with atomic_path(sys.argv[1]) as temporary:
    temporary.write_bytes(b"half a checkpoint")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def kill_while_writing(path: Path) -> list[Path]:
    """Kill a process in the middle of an atomic write of ``path``; return the temporary files it left."""
    writer = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)  # it dies by SIGKILL
    assert writer.returncode == -signal.SIGKILL
    return list(path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"))


def test_a_kill_during_a_write_leaves_only_a_temporary_file_which_the_next_write_removes(tmp_path):
    target = tmp_path / "model.pt"
    left = kill_while_writing(target)
    assert len(left) == 1 and not target.exists()
    with atomic_path(target) as temporary:
        temporary.write_text("whole")
    assert target.read_text() == "whole" and not any(path.exists() for path in left)


def test_the_next_training_job_removes_a_half_written_checkpoint_and_ctrl_c_is_one_line(tmp_path):
    images = make_image_folder(tmp_path / "images", {"train": 200, "test": 10})
    cache = tmp_path / "dataset.pt"
    main(["prepare-data", "--source", "imagefolder", "--path", str(images), "--out", str(cache)])
    run = tmp_path / "run"
    run.mkdir()
    left = kill_while_writing(run / "resume.pt")
    assert left
    job = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnlens.cli",
            "train",
            "--data",
            str(cache),
            "--model",
            "plain",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--recipe",
            '{"epochs": 50}',
            "--out-dir",
            str(run),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert job.stdout.readline().startswith("training plain")  # printed after the job's start-up checks
    assert not any(path.exists() for path in left)
    job.send_signal(signal.SIGINT)
    output = job.stdout.read()
    assert job.wait() == 130
    assert "cnnlens train: interrupted" in output.splitlines()[-1] and "Traceback" not in output
