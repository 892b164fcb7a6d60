"""A run directory: where a training run keeps its config, checkpoints and results.

::

    <run>/run_config.yaml          the experiment as it was run (``--resume`` reads it)
    <run>/checkpoints/iter_000010  interval checkpoints (the newest ``checkpoint.keep``)
    <run>/checkpoints/final        the last one
    <run>/progress.csv, summary.json, learning_curve.png, ray.log, tb/

A checkpoint is an RLlib ``Algorithm`` checkpoint (a league run's holds its
``league.json``, see ``league.callback.LeagueCheckpoints``) plus ``iteration.txt``, written into ``<tag>.partial`` and renamed
into place, so a kill during a save never leaves a run without its previous
complete checkpoint. No Ray import here.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Tuple

from rllib_marl.schema import ConfigError

RUN_CONFIG = "run_config.yaml"
CHECKPOINTS = "checkpoints"
FINAL = "final"
PARTIAL = ".partial"  # a checkpoint being written
ITERATION = "iteration.txt"


def is_checkpoint(path: Path) -> bool:
    """An RLlib algorithm checkpoint (``algorithm_state.*`` inside)."""
    return path.is_dir() and any(path.glob("algorithm_state*"))


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    """The newest complete checkpoint of a run (``final`` wins a tie), or None."""
    ck = Path(run_dir) / CHECKPOINTS
    if not ck.is_dir():
        return None
    # A checkpoint is complete once its iteration.txt exists (written last, before
    # the directory is renamed into place); half-written ones end in ".partial".
    cands = [d for d in ck.iterdir() if not d.name.endswith(PARTIAL) and (d / ITERATION).is_file()
             and is_checkpoint(d)]
    if not cands:
        return None
    return max(cands, key=lambda d: (int((d / ITERATION).read_text()), d.name == FINAL))


def resolve_checkpoint(path: str, what: str) -> Tuple[Optional[Path], Path]:
    """``(run_dir, checkpoint_dir)`` for a run directory or a checkpoint directory;
    ``run_dir`` is None for a checkpoint saved outside a run (``algo.save_to_path``)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(what, f"{p} does not exist")
    if (p / RUN_CONFIG).is_file():
        ck = latest_checkpoint(p)
        if ck is None:
            raise ConfigError(what, f"no complete checkpoint in {p / CHECKPOINTS}")
        return p, ck
    if is_checkpoint(p):
        run_dir = p.parent.parent
        return (run_dir if (run_dir / RUN_CONFIG).is_file() else None), p
    raise ConfigError(what, f"{p} is neither a run directory (with {RUN_CONFIG}) nor a checkpoint "
                            "(with algorithm_state.pkl)")


def save_checkpoint(algo, out: Path, tag: str, iteration: int, keep: int) -> Path:
    """Writes ``checkpoints/<tag>`` atomically (see module docstring); keeps the
    newest ``keep`` interval checkpoints."""
    ck_root = out / CHECKPOINTS
    path = ck_root / tag
    tmp = ck_root / (tag + PARTIAL)
    if tmp.exists():
        shutil.rmtree(tmp)
    ck_root.mkdir(parents=True, exist_ok=True)
    algo.save_to_path(str(tmp.resolve()))
    (tmp / ITERATION).write_text(str(iteration))
    if path.exists():  # re-saving a tag (e.g. final after a resume): swap, then drop the old
        old = ck_root / (tag + ".old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, path)
    if tag != FINAL:
        olds = sorted(d for d in ck_root.iterdir() if d.name.startswith("iter_") and d.name[5:].isdigit())
        for d in olds[:-keep]:
            shutil.rmtree(d, ignore_errors=True)
    return path
