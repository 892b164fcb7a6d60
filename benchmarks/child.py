"""Runs a benchmark measurement in a fresh process (its own Ray, its own torch
threads) and reads back its result: the child prints one ``RESULT <json>`` line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Sequence

ROOT = Path(__file__).resolve().parent.parent


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
