"""A run directory: where a training run keeps its config, checkpoints and results.

::

    <run>/run_config.yaml          the experiment as it was run (``--resume`` reads it)
    <run>/checkpoints/iter_000010  interval checkpoints (the newest ``checkpoint.keep``)
    <run>/checkpoints/final        the last one
    <run>/progress.csv, summary.json, learning_curve.png, ray.log, tb/

A checkpoint is an RLlib ``Algorithm`` checkpoint (a league run's holds its
``league.json``, see ``league.callback.LeagueCheckpoints``) plus ``iteration.txt``
and, written last, ``manifest.json``: every file's size and SHA-256. It is
written into ``<tag>.partial`` and renamed into place, so a kill during a save
never leaves a run without its previous complete checkpoint. Readers
(``--resume``, ``evaluate``, ``--export``) verify the manifest and take the
newest intact checkpoint, naming the ones they skipped and why (a checkpoint
written before manifests existed is taken unverified). No Ray import here.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from rllib_marl.schema import ConfigError

RUN_CONFIG = "run_config.yaml"
CHECKPOINTS = "checkpoints"
FINAL = "final"
PARTIAL = ".partial"  # a checkpoint being written
ITERATION = "iteration.txt"
MANIFEST = "manifest.json"  # {"files": {relative path: {"size": bytes, "sha256": hex}}}, written last


def _with_path(e: OSError, path: Path) -> OSError:
    """``e`` itself when it names a file (or has no errno), else the same error naming ``path``."""
    if e.errno is None or e.filename:
        return e
    return OSError(e.errno, os.strerror(e.errno), str(path))


def write_text_atomic(path: Path, text: str) -> None:
    """Writes ``path`` through a temporary file renamed into place: a write that
    fails (a full disk) leaves the previous complete file, never a cut one."""
    path = Path(path)
    tmp = path.with_name(path.name + PARTIAL)
    try:
        with open(tmp, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        err = _with_path(e, path)
        if err is e:
            raise
        raise err from e
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


IO_HINTS = {
    errno.ENOSPC: "the filesystem is full: free space there or choose another --output",
    errno.EDQUOT: "the disk quota is used up: free space there or choose another --output",
    errno.EROFS: "the filesystem is read-only: choose another --output",
    errno.EACCES: "no permission to write there: choose another --output (or fix its permissions)",
    errno.EPERM: "no permission to write there: choose another --output (or fix its permissions)",
}


def io_problem(e: OSError) -> Optional[str]:
    """One line for a write that failed for a reason of the machine's (a full
    disk, a read-only or forbidden directory), or None for other OS errors."""
    hint = IO_HINTS.get(e.errno)
    if hint is None:
        return None
    where = f" writing {e.filename}" if e.filename else ""
    return f"{e.strerror or os.strerror(e.errno)}{where}; {hint}"


def check_writable(path: Path, what: str) -> None:
    """Refuses an output directory that cannot be written, before anything runs:
    a byte is written to disk and removed in it (or in its nearest existing
    parent), so a full filesystem is found too."""
    import tempfile

    path = Path(path).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise ConfigError(what, f"{probe} is a file, not a directory")
    try:
        fd, name = tempfile.mkstemp(prefix=".rllib_marl_write_test", dir=probe)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as e:
        why = os.strerror(e.errno) if e.errno else str(e)
        hint = IO_HINTS.get(e.errno)
        raise ConfigError(what, f"{path} cannot be written ({why}{'; ' + hint if hint else ''})") from e


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(directory: Path) -> List[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path, paths: Optional[List[Path]] = None) -> None:
    """Records every file under ``directory`` (or just ``paths``: size and
    SHA-256) in its ``manifest.json``, through a temporary file renamed into
    place: the manifest exists only once everything it lists was written."""
    directory = Path(directory)
    files = {p.relative_to(directory).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)}
             for p in (paths if paths is not None else _files(directory))}
    tmp = directory / (MANIFEST + PARTIAL)
    with open(tmp, "w") as f:
        json.dump({"files": files}, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, directory / MANIFEST)


def manifest_problem(directory: Path, *, hashes: bool = True) -> Optional[str]:
    """What is damaged in ``directory`` by its manifest (a missing file, a size
    or checksum that differs), or None; None also for a directory without a
    manifest (written before manifests existed, or not by us)."""
    directory = Path(directory)
    path = directory / MANIFEST
    if not path.is_file():
        return None
    try:
        files: Dict[str, Dict] = json.loads(path.read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"its {MANIFEST} cannot be read ({type(e).__name__})"
    for rel, want in files.items():
        p = directory / rel
        if not p.is_file():
            return f"{rel} is missing"
        size = p.stat().st_size
        if size != want["size"]:
            return f"{rel} is {size:,} bytes, {want['size']:,} when written (truncated or overwritten)"
        if hashes and _sha256(p) != want["sha256"]:
            return f"{rel} differs from the file written (checksum mismatch)"
    return None


def is_checkpoint(path: Path) -> bool:
    """An RLlib algorithm checkpoint (``algorithm_state.*`` inside)."""
    return path.is_dir() and any(path.glob("algorithm_state*"))


def _iteration(d: Path) -> Optional[int]:
    try:
        return int((d / ITERATION).read_text())
    except (OSError, ValueError):
        return None


def checkpoints(run_dir: Path, first_only: bool = False) -> Tuple[List[Path], List[Tuple[Path, str]]]:
    """A run's checkpoints, ``(intact, damaged)``: the intact ones newest first
    (``final`` first on a tie), the damaged ones with what is wrong. Half-written
    ones (``.partial``, ``.old``) are neither. With ``first_only``, checking stops
    at the newest intact one (the damaged are then those newer than it)."""
    ck = Path(run_dir) / CHECKPOINTS
    if not ck.is_dir():
        return [], []
    dirs = [d for d in ck.iterdir() if d.is_dir() and not d.name.endswith((PARTIAL, ".old"))]
    # Newest first; one without a readable iteration sorts first (it is reported, not taken).
    dirs.sort(key=lambda d: (_iteration(d) if _iteration(d) is not None else float("inf"), d.name == FINAL),
              reverse=True)
    intact, damaged = [], []
    for d in dirs:
        problem = (manifest_problem(d) if is_checkpoint(d) and _iteration(d) is not None
                   else f"no {ITERATION}" if is_checkpoint(d) else "no algorithm_state")
        if problem:
            damaged.append((d, problem))
        else:
            intact.append(d)
            if first_only:
                break
    damaged.sort(key=lambda t: t[0].name)
    return intact, damaged


def skipped_lines(damaged: List[Tuple[Path, str]], newer_than: Optional[Path] = None) -> List[str]:
    """One warning line per damaged checkpoint newer than the one taken."""
    floor = _iteration(newer_than) if newer_than is not None else None
    out = []
    for d, problem in damaged:
        it = _iteration(d)
        if floor is None or it is None or it >= floor:
            out.append(f"warning: skipped checkpoint {d}: {problem}")
    return out


def latest_checkpoint(run_dir: Path) -> Optional[Path]:
    """The newest intact checkpoint of a run (``final`` wins a tie), or None."""
    return (checkpoints(run_dir, first_only=True)[0] or [None])[0]


def newest_intact(run_dir: Path, what: str) -> Path:
    """The newest intact checkpoint of a run, saying on stderr which newer ones
    were skipped and why; :class:`ConfigError` naming them when none is intact."""
    import sys

    intact, damaged = checkpoints(run_dir, first_only=True)
    if not intact:
        if damaged:
            raise ConfigError(what, f"no intact checkpoint in {Path(run_dir) / CHECKPOINTS}: " + "; ".join(
                f"{d.name}: {p}" for d, p in damaged))
        raise ConfigError(what, f"no checkpoint in {Path(run_dir) / CHECKPOINTS}")
    for line in skipped_lines(damaged, intact[0]):
        print(line, file=sys.stderr, flush=True)
    return intact[0]


def check_intact(ck: Path, what: str) -> None:
    """Refuses a damaged checkpoint named by the user, pointing at the newest
    intact one of its run where there is one."""
    problem = manifest_problem(ck)
    if problem is None:
        return
    hint = ""
    if ck.parent.name == CHECKPOINTS:
        intact = checkpoints(ck.parent.parent, first_only=True)[0]
        hint = f"; the newest intact checkpoint of this run is {intact[0]}" if intact else \
            "; this run has no intact checkpoint"
    raise ConfigError(what, f"checkpoint {ck} is damaged: {problem}{hint}")


def resolve_checkpoint(path: str, what: str) -> Tuple[Optional[Path], Path]:
    """``(run_dir, checkpoint_dir)`` for a run directory or a checkpoint directory;
    ``run_dir`` is None for a checkpoint saved outside a run (``algo.save_to_path``)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ConfigError(what, f"{p} does not exist")
    if (p / RUN_CONFIG).is_file():
        return p, newest_intact(p, what)
    if is_checkpoint(p):
        check_intact(p, what)
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
    try:
        algo.save_to_path(str(tmp.resolve()))
        (tmp / ITERATION).write_text(str(iteration))
        write_manifest(tmp)
    except OSError as e:  # a full disk: nothing half-written stays behind; say where it failed
        shutil.rmtree(tmp, ignore_errors=True)
        err = _with_path(e, path)
        if err is e:
            raise
        raise err from e
    except BaseException:  # an interrupt
        shutil.rmtree(tmp, ignore_errors=True)
        raise
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
