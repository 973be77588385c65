"""Writing result files so that a crash or a kill never leaves a truncated one behind.

A file is written to a temporary sibling (``.model.<pid>.tmp.pt`` for ``model.pt``) and renamed into
place. A kill between the two leaves the temporary file; the next write of the same file, or
:func:`remove_stale_temporaries` at a job's start, removes it. One job writes a given file at a time
(Snakemake sees to that), so any temporary sibling found then is stale.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _temporary_pattern(path: Path, pid: str) -> str:
    return f".{path.stem}.{pid}.tmp{path.suffix}"


def remove_stale_temporaries(path: str | Path) -> list[Path]:
    """Delete temporary siblings of ``path`` left by a killed writer; return what was removed."""
    path = Path(path)
    stale = sorted(path.parent.glob(_temporary_pattern(path, "*")))
    for temporary in stale:
        temporary.unlink(missing_ok=True)
    return stale


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and rename it into place only if the block succeeds.

    The temporary file keeps ``path``'s suffix, for writers that check it (papermill wants ``.ipynb``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = path.with_name(_temporary_pattern(path, str(os.getpid())))
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    import torch  # here, not at the top: the Snakefile imports this module (through config) at every start

    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def atomic_write_text(text: str, path: str | Path) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def atomic_write_json(obj: Any, path: str | Path) -> None:
    atomic_write_text(json.dumps(obj, indent=2) + "\n", path)


def publish_files(sources: Sequence[str | Path], targets: Sequence[str | Path]) -> None:
    """Put a copy of each of ``sources`` at its target, replacing what was there in one rename.

    A copy, not a hard link: Snakemake touches a job's outputs when it ends, and through a link that would make the
    source newer than what was made from it (a report's PDF), which would then be made again at the next run.
    """
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} files to publish but {len(targets)} places")  # a bug in the rule
    for source, target in zip(sources, targets, strict=True):
        with atomic_path(target) as temporary:
            shutil.copyfile(source, temporary)
