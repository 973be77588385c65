"""The state after a training job's last finished epoch, so that a killed job resumes there.

It holds everything the next epoch depends on (weights, Adam's moments, the scheduler, the random
streams of dropout, shuffling and augmentation, the history so far), so a resumed CPU run ends
bitwise equal to an uninterrupted one. It is written atomically and carries a key naming the run;
a checkpoint left by another run (other recipe, seed, data, precision or device) is ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from cnnlens.atomic import atomic_torch_save
from cnnlens.errors import CnnlensError, one_line


class EpochCheckpoint:
    def __init__(self, path: str | Path, key: dict[str, Any]) -> None:
        self.path = Path(path)
        self.key = key

    def load(self) -> dict | None:
        """The saved state of this run, or None when there is none (or it belongs to another run). Loaded to
        the CPU, so that a CUDA run's checkpoint on a host without that device is told apart by its key rather
        than failing to load; resuming moves the state to the training device."""
        if not self.path.exists():
            return None
        try:
            state = torch.load(self.path, weights_only=True, map_location="cpu")
        except Exception as error:
            raise CnnlensError(
                f"cannot read the resume checkpoint {self.path} ({one_line(error)}): delete it to train from the start"
            ) from None
        if state.get("key") != self.key:
            print(f"ignoring {self.path}: it was written by a run with other settings")
            return None
        return state

    def save(self, state: dict) -> None:
        atomic_torch_save({**state, "key": self.key}, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
