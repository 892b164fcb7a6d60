"""Runs benchmark work in fresh processes (their own Ray, their own torch threads):
one measurement whose child prints one ``RESULT <json>`` line (:func:`run_child`),
or a pool of long runs side by side (:func:`run_pool`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent


def fresh(run: Path) -> Path:
    """``run`` emptied for a new training run (``rllib_marl.train`` refuses to start
    one in a directory that already holds a run)."""
    if run.exists():
        shutil.rmtree(run)
    return run


def emit(result: Dict[str, Any]) -> None:
    """In the child: hand ``result`` back to the parent."""
    print("RESULT " + json.dumps(result), flush=True)


def run_child(script: str, opts: Dict[str, Any], extra_args: Sequence[str] = ()) -> Dict[str, Any]:
    """Runs ``script --child <opts as JSON> *extra_args`` and returns what it emitted.

    The child imports the repository's packages and ``benchmarks/`` modules; an
    inherited PYTHONPATH is kept after them. Library defaults otherwise, as a user
    runs it: torch uses all cores in the driver, Ray gives remote env runners one
    thread each.
    """
    path = [str(ROOT), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
    cmd = [sys.executable, script, "--child", json.dumps(opts), *extra_args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{opts} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


def run_pool(jobs: List[Tuple[str, int]], parallel: int, command: Callable[[str, int], List[str]],
             log: Optional[Callable[[str, int], Path]] = None) -> None:
    """Runs ``command(name, seed)`` for every ``(name, seed)``, ``parallel`` at a time,
    each with one torch thread (``OMP_NUM_THREADS=1``); stdout and stderr go to
    ``log(name, seed)`` when given."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    jobs, running = list(jobs), []
    while jobs or running:
        while jobs and len(running) < parallel:
            name, seed = jobs.pop(0)
            print(f"start {name} seed {seed}", flush=True)
            out = {} if log is None else {"stdout": open(log(name, seed), "w"), "stderr": subprocess.STDOUT}
            running.append(((name, seed), subprocess.Popen(command(name, seed), cwd=ROOT, env=env, **out)))
        time.sleep(5)
        for item in list(running):
            (name, seed), proc = item
            if proc.poll() is not None:
                print(f"done {name} seed {seed}: exit {proc.returncode}", flush=True)
                running.remove(item)
