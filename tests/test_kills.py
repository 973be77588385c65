"""Kills, Ctrl-C and a closed terminal: what a killed writer leaves is removed at the next start, an interrupt
is one line, and the same command runs again."""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from cnnlens.atomic import atomic_path
from cnnlens.cli import interrupted_line, main
from snakemake_logger_plugin_cnnlens.interrupts import STOPPED

from helpers import layout_of, make_image_folder, snakemake, snakemake_command, tiny_workdir

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
    assert job.wait() == 130, output  # on failure, show what the job printed
    assert interrupted_line("train") in output.splitlines()[-1] and "Traceback" not in output


CTRL_C_WHILE_STOPPING = """
import logging, os, signal, subprocess, sys, time
from snakemake.logging import logger
from snakemake_logger_plugin_cnnlens.interrupts import stop_in_one_line

class Console(logging.StreamHandler):
    # Like Snakemake's console handler, it swallows a KeyboardInterrupt raised while it writes a line.
    def emit(self, record):
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C lands while a line is written
            super().emit(record)
        except KeyboardInterrupt:
            pass

logger.addHandler(Console(sys.stderr))
logger.addHandler(logging.FileHandler(sys.argv[1]))  # Snakemake's log file
stop_in_one_line()
try:
    logger.warning("LINE-BEING-WRITTEN")
    time.sleep(20)
except KeyboardInterrupt:  # Snakemake cancels its jobs
    os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again while the run stops
    job = subprocess.run(["sh", "-c", "kill -INT $$; exit 0"])  # a job started now still stops on Ctrl-C
    logger.error(f"JOB-REPORT {job.returncode}")  # as Snakemake reports a cancelled job
raise KeyboardInterrupt  # as when Ctrl-C lands while Snakemake still plans the jobs
"""


def test_after_ctrl_c_snakemake_s_console_says_one_line_and_its_log_file_gets_the_report(tmp_path):
    log = tmp_path / "snakemake.log"
    script = [sys.executable, "-c", CTRL_C_WHILE_STOPPING, str(log)]
    run = subprocess.run(script, capture_output=True, text=True, check=False, timeout=60)
    # The line being written when Ctrl-C came, then no report and no traceback: the one line, naming the log file.
    assert run.stderr == f"LINE-BEING-WRITTEN\n{STOPPED} (Snakemake's full report: {log})\n"
    # The log file gets every record: the first Ctrl-C was not lost in the console's write, the second did not
    # break the clean-up, and a job started after it still stopped on Ctrl-C.
    assert log.read_text() == f"LINE-BEING-WRITTEN\nJOB-REPORT {-signal.SIGINT}\n"
    assert run.returncode == -signal.SIGINT  # an uncaught KeyboardInterrupt still ends as an interrupt


def test_a_run_started_with_ctrl_c_ignored_keeps_ignoring_it():
    """A shell starts a background job (`snakemake ... &`) with Ctrl-C ignored: Ctrl-C is then for another job."""
    script = (
        "import signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "from snakemake_logger_plugin_cnnlens.interrupts import stop_in_one_line; stop_in_one_line()\n"
        "assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN"
    )
    assert subprocess.run([sys.executable, "-c", script], check=False).returncode == 0


CLI_CTRL_C_TWICE = """
import atexit, os, signal, sys
from cnnlens import cli

def interrupted(args):
    raise KeyboardInterrupt

cli.publish = interrupted
atexit.register(os.kill, os.getpid(), signal.SIGINT)  # Ctrl-C again while the command exits
cli.main(["publish", "--files", sys.argv[1], "--to", sys.argv[1] + ".copy"])
"""


def test_a_second_ctrl_c_while_a_cnnlens_command_exits_adds_nothing(tmp_path):
    script = [sys.executable, "-c", CLI_CTRL_C_TWICE, str(tmp_path / "config.yaml")]
    run = subprocess.run(script, capture_output=True, text=True, check=False, timeout=60)
    assert (run.returncode, run.stderr) == (130, f"{interrupted_line('publish')}\n")


LOST_CTRL_C = """
import os, signal, sys, time
from cnnlens import cli, interruption

interruption.GRACE_SECONDS = 1.0

class CtrlCWhileMpmathLooksForGmpy2:
    # torch imports mpmath with torch._dynamo when a training job makes its optimizer; mpmath tries to import
    # gmpy2 inside a bare except
    def find_spec(self, name, path=None, target=None):
        if name == "gmpy2":
            os.kill(os.getpid(), signal.SIGINT)

def swallowing(args):
    sys.meta_path.insert(0, CtrlCWhileMpmathLooksForGmpy2())
    import mpmath
    time.sleep(30)  # the KeyboardInterrupt is lost and the step goes on

def breaking(args):
    try:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C lands in an import, which fails later with another error
        time.sleep(30)
    except KeyboardInterrupt:
        raise AttributeError("partially initialized module 'torch._dynamo' has no attribute 'decorators'")

cli.publish = {"swallowing": swallowing, "breaking": breaking}[sys.argv[2]]
cli.main(["publish", "--files", sys.argv[1], "--to", sys.argv[1] + ".copy"])
"""


@pytest.mark.parametrize("library", ["swallowing", "breaking"])
def test_a_ctrl_c_that_a_library_loses_still_ends_a_cnnlens_command_with_one_line(tmp_path, library):
    script = [sys.executable, "-c", LOST_CTRL_C, str(tmp_path / "config.yaml"), library]
    run = subprocess.run(script, capture_output=True, text=True, check=False, timeout=20)  # steps sleep 30 s
    assert (run.returncode, run.stderr) == (130, f"{interrupted_line('publish')}\n")


def test_a_cnnlens_command_gives_ctrl_c_back_when_it_returns(tmp_path):
    (tmp_path / "report.html").write_text("<html></html>")
    main(["publish", "--files", str(tmp_path / "report.html"), "--to", str(tmp_path / "published.html")])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workflow on tiny data with endless training, its data set already cached (each test copies it)."""
    workdir = tiny_workdir(tmp_path_factory.mktemp("prepared"), train={"epochs": 100000})
    assert snakemake(workdir, layout_of(workdir).data_cache, cores=1).returncode == 0
    shutil.rmtree(workdir / ".snakemake" / "log")  # a test reads the log of its own run only
    return workdir


@pytest.fixture
def training_in_a_terminal(prepared: Path, tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen, BinaryIO]]:
    """The workflow started on a terminal of its own, once a training job trains: its folder, the run, and the
    terminal's side of the pseudo-terminal. Whatever the test did, the run's process group is killed at the end,
    so that no endless training outlives the test."""
    workdir = tmp_path / "run"
    shutil.copytree(prepared, workdir, symlinks=True)
    command, env = snakemake_command(workdir, cores=1)
    terminal_side, job_side = os.openpty()
    terminal = os.fdopen(terminal_side, "rb", buffering=0)  # closing it twice is harmless, unlike os.close
    run = subprocess.Popen(
        command,
        cwd=workdir,
        env=env,
        stdin=job_side,
        stdout=job_side,
        stderr=job_side,
        start_new_session=True,  # a process group of its own, as a shell gives each command it runs
    )
    os.close(job_side)
    try:
        training_logs = workdir / "results" / "logs" / "train"
        deadline = time.monotonic() + 600
        while not any("training " in log.read_text() for log in training_logs.glob("*.log")):
            assert run.poll() is None and time.monotonic() < deadline
            if select.select([terminal], [], [], 0.2)[0]:
                terminal.read(1 << 16)  # the terminal shows what the run prints: read it, or the run blocks
        yield workdir, run, terminal
    finally:
        with contextlib.suppress(ProcessLookupError):  # none left: the test ended the run
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
        terminal.close()


def printed_until_exit(run: subprocess.Popen, terminal: BinaryIO) -> list[str]:
    """The lines ``run`` prints on its ``terminal`` from now until it exits."""
    printed = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([terminal], [], [], 0.2)[0]:
            try:
                printed += terminal.read(1 << 16)
            except OSError:  # EIO: every process on the terminal has closed it
                break
    run.wait(timeout=10)
    return printed.decode().splitlines()


def assert_the_same_command_runs_again(workdir: Path) -> None:
    plan = snakemake(workdir, "--dry-run")  # the half-trained run is planned again, with no error
    assert plan.returncode == 0 and "rule train:" in plan.stdout, plan.stderr[-2000:]
    again = snakemake(workdir, layout_of(workdir).data_cache, cores=1)  # a real run: it must take the lock
    assert again.returncode == 0, again.stderr[-2000:]


@pytest.mark.e2e
def test_ctrl_c_stops_snakemake_with_one_line_and_its_log_keeps_the_report(training_in_a_terminal):
    workdir, run, terminal = training_in_a_terminal
    for _ in range(2):  # Ctrl-C, and again while the run stops: the terminal interrupts its process group
        os.killpg(run.pid, signal.SIGINT)
        time.sleep(0.1)
    printed = printed_until_exit(run, terminal)
    assert printed[-2] == interrupted_line("train")
    assert not [line for line in printed if re.search("Traceback|Error|Terminating", line)]
    assert run.returncode == 1
    (log,) = (workdir / ".snakemake" / "log").glob("*.snakemake.log")
    assert printed[-1] == f"{STOPPED} (Snakemake's full report: {log})"
    assert "Error in rule train" in log.read_text()  # wording is the behaviour: Snakemake's report, kept in its log
    assert not list((workdir / ".snakemake" / "locks").glob("*"))


@pytest.mark.e2e
def test_a_closed_terminal_stops_snakemake_without_leaving_its_lock(training_in_a_terminal):
    """Closing the terminal hangs up Snakemake and its jobs (SIGHUP); the same command must then run again
    without `snakemake --unlock`."""
    workdir, run, terminal = training_in_a_terminal
    terminal.close()  # the terminal window closes: what the run prints now fails with EIO
    os.killpg(run.pid, signal.SIGHUP)  # and its shell hangs up the command: Snakemake and the jobs it runs
    assert run.wait(timeout=120) != 0
    assert not list((workdir / ".snakemake" / "locks").glob("*"))
    assert_the_same_command_runs_again(workdir)


@pytest.mark.e2e
def test_after_kill_9_of_snakemake_the_readme_s_unlock_lets_the_same_command_run(training_in_a_terminal):
    """SIGKILL gives Snakemake no chance to release its lock: after `snakemake --unlock`, what the README says
    to type, the same command works."""
    workdir, run, _ = training_in_a_terminal
    os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    assert list((workdir / ".snakemake" / "locks").glob("*"))
    unlocked = snakemake(workdir, "--unlock")
    assert unlocked.returncode == 0, unlocked.stderr[-2000:]
    assert_the_same_command_runs_again(workdir)


OPEN_PROGRESS_BARS = """
from tqdm import tqdm
from cnnlens.interruption import OneLineCtrlC

with OneLineCtrlC("INTERRUPTED-LINE"):
    epochs = tqdm(total=3, desc="epochs")
    batches = tqdm(total=3, desc="batches", leave=False)  # drawn below, the cursor moved back up
    batches.update(1)
    raise KeyboardInterrupt
"""


@pytest.mark.parametrize("half_built", [False, True])
def test_the_one_line_starts_a_line_of_its_own_where_progress_bars_are_open(half_built):
    """A Ctrl-C right after a nested bar was drawn left the cursor on the line above, behind the bar; one that
    lands inside a bar's constructor leaves a bar registered without its position (tqdm.__new__ registers it)."""
    half = "\n    unfinished = tqdm.__new__(tqdm)" if half_built else ""
    script = [sys.executable, "-c", OPEN_PROGRESS_BARS.replace("    batches.update(1)", f"    batches.update(1){half}")]
    run = subprocess.run(script, capture_output=True, text=True, check=False, timeout=60)
    assert run.returncode == 130
    assert run.stderr.endswith("\nINTERRUPTED-LINE\n"), repr(run.stderr[-200:])
