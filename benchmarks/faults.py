"""Fault injection: what a training run survives, for MAPPO and QMIX.

Each case starts ``python -m rllib_marl.train`` on a small simple_spread config
(one checkpoint per iteration) in its own process group, injects one fault,
and checks what survived:

* ``driver_sigkill``: SIGKILL to the whole process group (driver and its
  embedded Ray) after iteration 3's checkpoint; then ``--resume``.
* ``sigint`` / ``sigterm``: the signal to the driver alone; the run must save a
  checkpoint and exit 130 / 143; then ``--resume``.
* ``kill_during_save``: SIGKILL to the process group while a checkpoint is being
  written (its ``.partial`` directory exists); then ``--resume`` from the
  previous complete checkpoint.
* ``runner_sigkill``: with 2 remote env runners, SIGKILL to one of them after
  iteration 2; the run must finish on its own (RLlib restarts the runner).
* ``env_raises``: a sub-env that raises in ``step()`` once (tests/fixture_envs.py
  ``flaky``): rebuilt, counted in ``env_step_failures``, the run finishes.

Every resumed or finished run must end with one ``progress.csv`` row per
iteration (1..N, no gaps, no repeats). For QMIX the replay buffer must come back
intact: after each kill, the buffer restored from the checkpoint the resume uses
is compared with the one stored in it (same number of env steps, same contents
by a digest of every array).

Usage:
    python benchmarks/faults.py                        # all cases, both algorithms; writes docs/faults.md
    python benchmarks/faults.py --algorithms mappo --cases driver_sigkill,env_raises --no-doc
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ITERATIONS = 6
SPREAD = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 2, "max_cycles": 25}}
CONFIGS: Dict[str, Dict[str, Any]] = {
    "mappo": {"algorithm": "mappo", "env": SPREAD,
              "training": {"train_batch_size": 400, "minibatch_size": 200, "num_epochs": 2}},
    "qmix": {"algorithm": "qmix", "env": SPREAD,
             "model": {"hidden": [32], "gru_hidden": 16, "max_seq_len": 10},
             "training": {"learning_starts": 200, "env_steps_per_iteration": 400, "train_batch_size": 8,
                          "replay_capacity": 20000}},
}
CONFIGS["maddpg"] = {"algorithm": "maddpg", "env": {**SPREAD, "kwargs": {**SPREAD["kwargs"], "continuous_actions": True}},
                     "model": {"hidden": [32]},
                     "training": {"learning_starts": 200, "env_steps_per_iteration": 400, "env_steps_per_update": 100,
                                  "train_batch_size": 64, "replay_capacity": 20000}}
CONFIGS["league"] = {"algorithm": "ippo", "env": {"name": "rps"},
                     "training": {"train_batch_size": 256, "minibatch_size": 128, "num_epochs": 1},
                     "league": {"mains": 1, "self_play": 0.0, "pfsp": 1.0, "verification": 0.0,
                                "pfsp_weighting": "uniform", "snapshot_every": 1}}
CASES = ("driver_sigkill", "sigint", "sigterm", "kill_during_save", "runner_sigkill", "env_raises",
         "damaged_weights", "missing_file", "all_damaged", "disk_full", "export_damaged")
# Cases that need an env of the algorithm's own (the league's game has no flaky twin).
ENV_CASES = ("env_raises",)


def _config(algorithm: str, work: Path, env: Optional[Dict[str, Any]] = None) -> Path:
    cfg = json.loads(json.dumps(CONFIGS[algorithm]))
    if env is not None:
        cfg["env"] = env
    cfg["stop"] = {"iterations": ITERATIONS}
    cfg["checkpoint"] = {"interval": 1, "keep": 3}
    path = work / f"{algorithm}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _start(out: Path, *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "rllib_marl.train", "--output", str(out), "--num-cpus", "2", *args]
    log = open(str(out) + ".log", "a")
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=_env(),
                            start_new_session=True)


def _wait(pred: Callable[[], bool], timeout: float, poll: float = 0.05) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(poll)
    return False


def _iterations(out: Path) -> List[int]:
    path = out / "progress.csv"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()[1:]
    return [int(line.split(",")[0]) for line in lines if line]


def _checkpoint(out: Path, it: int) -> Path:
    return out / "checkpoints" / f"iter_{it:06d}"


def _resume(out: Path, timeout: float = 600) -> int:
    proc = _start(out, "--resume", str(out), "--quiet")
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return -1


def digest(obj: Any) -> str:
    """A digest of a nested state: every array's dtype, shape and bytes, in order."""
    import numpy as np

    h = hashlib.sha256()

    def walk(x):
        if isinstance(x, dict):
            for k in sorted(x, key=str):
                h.update(repr(k).encode())
                walk(x[k])
        elif isinstance(x, (list, tuple)):
            h.update(f"[{len(x)}".encode())
            for v in x:
                walk(v)
        elif isinstance(x, np.ndarray):
            h.update(f"{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        elif hasattr(x, "__dict__") and not isinstance(x, type) and type(x).__repr__ is object.__repr__:
            h.update(type(x).__qualname__.encode())  # e.g. a mapping function: its fields, not its address
            walk(vars(x))
        else:
            h.update(repr(x).encode())

    walk(obj)
    return h.hexdigest()[:16]


def replay_check(out: Path) -> str:
    """The QMIX checkpoint the resume will use: its stored buffer against the
    buffer an algorithm restored from it holds."""
    from rllib_marl.algorithms.offpolicy.algorithm import _STEPS_OWED, REPLAY_BUFFER_STATE
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import load_experiment
    from rllib_marl.rundir import RUN_CONFIG, latest_checkpoint
    from rllib_marl.session import init_ray

    ck = latest_checkpoint(out)
    with open(ck / "algorithm_state.pkl", "rb") as f:
        stored = dict(pickle.load(f)[REPLAY_BUFFER_STATE])
    stored.pop(_STEPS_OWED, None)
    init_ray(num_cpus=2)
    config, _ = build_algo_config(load_experiment(out / RUN_CONFIG))
    algo = config.build_algo()
    try:
        algo.restore_from_path(str(ck.resolve()))
        live = algo.replay_buffer.get_state()
        n_live, n_stored = algo.replay_buffer.num_env_steps(), len(stored.get("_indices", []))
    finally:
        algo.stop()
    same = digest(live) == digest(stored)
    return (f"replay {'intact' if same and n_live == n_stored else 'CHANGED'} "
            f"({n_live:,} env steps, digest {digest(live)}{'' if same else ' != ' + digest(stored)})")


def _finish(out: Path, what: List[str], rc_resume: int) -> Dict[str, Any]:
    its = _iterations(out)
    # A replay check that found the buffer changed (replay_check's text) fails the case too.
    ok = rc_resume == 0 and its == list(range(1, ITERATIONS + 1)) and not any("CHANGED" in w for w in what)
    what.append(f"resume exit {rc_resume}; progress rows {its[0] if its else '-'}..{its[-1] if its else '-'} "
                f"({len(its)} rows, {'contiguous' if its == list(range(1, len(its) + 1)) else 'GAPS/REPEATS'})")
    return {"ok": ok, "what": what}


def case_driver_kill(algorithm: str, work: Path) -> Dict[str, Any]:
    out = work / "run"
    proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet")
    if not _wait(lambda: (_checkpoint(out, 3) / "iteration.txt").exists(), 600):
        proc.kill()
        return {"ok": False, "what": ["no checkpoint at iteration 3"]}
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    what = [f"killed after iteration {max(_iterations(out) or [0])}'s row"]
    if algorithm == "qmix":
        what.append(replay_check(out))
    return _finish(out, what, _resume(out))


def case_signal(algorithm: str, work: Path, sig: signal.Signals) -> Dict[str, Any]:
    out = work / "run"
    proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet")
    if not _wait(lambda: (_checkpoint(out, 2) / "iteration.txt").exists(), 600):
        proc.kill()
        return {"ok": False, "what": ["no checkpoint at iteration 2"]}
    os.kill(proc.pid, sig)
    rc = proc.wait(timeout=300)
    want = {signal.SIGINT: 130, signal.SIGTERM: 143}[sig]
    last = max(_iterations(out) or [0])
    saved = (_checkpoint(out, last) / "iteration.txt").exists()
    what = [f"exit {rc} (want {want}); checkpoint of its last iteration ({last}) {'saved' if saved else 'MISSING'}"]
    if algorithm == "qmix":
        what.append(replay_check(out))
    res = _finish(out, what, _resume(out))
    res["ok"] = res["ok"] and rc == want and saved
    return res


def case_kill_during_save(algorithm: str, work: Path, tries: int = 3) -> Dict[str, Any]:
    for attempt in range(1, tries + 1):
        out = work / f"run{attempt}"
        proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet")
        ck = out / "checkpoints"
        caught = _wait(lambda: ck.is_dir() and any(p.name.endswith(".partial") and
                                                      p.name.startswith("iter_00000") and p.name > "iter_000002"
                                                      for p in ck.iterdir()), 600, poll=0.002)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if not caught:
            continue
        partial = sorted(p.name for p in ck.iterdir() if p.name.endswith(".partial"))
        from rllib_marl.rundir import latest_checkpoint

        latest = latest_checkpoint(out)
        what = [f"killed while writing {', '.join(partial)} (attempt {attempt}); resumes from {latest.name}"]
        if algorithm == "qmix":
            what.append(replay_check(out))
        return _finish(out, what, _resume(out))
    return {"ok": False, "what": [f"no save caught in {tries} attempts"]}


def _runner_pids(root: int) -> List[int]:
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{d}/cmdline").read_bytes().decode(errors="ignore")
            sid = os.getsid(int(d))
        except OSError:
            continue
        if sid == root and "EnvRunner" in cmd:
            pids.append(int(d))
    return pids


def case_runner_kill(algorithm: str, work: Path) -> Dict[str, Any]:
    out = work / "run"
    proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet", "--num-env-runners", "2",
                  "--num-envs-per-env-runner", "2")
    if not _wait(lambda: len(_iterations(out)) >= 2, 600):
        os.killpg(proc.pid, signal.SIGKILL)
        return {"ok": False, "what": ["no second iteration"]}
    pids = _runner_pids(proc.pid)
    if not pids:
        os.killpg(proc.pid, signal.SIGKILL)
        return {"ok": False, "what": ["no env runner process found"]}
    os.kill(pids[0], signal.SIGKILL)
    try:
        rc = proc.wait(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        rc = -1
    its = _iterations(out)
    return {"ok": rc == 0 and its == list(range(1, ITERATIONS + 1)),
            "what": [f"killed runner pid {pids[0]} of {len(pids)} after iteration 2",
                     f"exit {rc}; progress rows 1..{its[-1] if its else '-'} ({len(its)} rows)"]}


def case_env_raises(algorithm: str, work: Path) -> Dict[str, Any]:
    out = work / "run"
    env = {"name": "fixture_envs:flaky", "kwargs": {"fail_at": 30, "marker": str(work / "failed")}}
    proc = _start(out, "--config", str(_config(algorithm, work, env=env)), "--quiet")
    rc = proc.wait(timeout=600)
    rows = (out / "progress.csv").read_text().splitlines() if (out / "progress.csv").exists() else []
    header = rows[0].split(",") if rows else []
    fails = rows[-1].split(",")[header.index("env_step_failures")] if "env_step_failures" in header else "?"
    its = _iterations(out)
    warned = "the env raised in step()" in Path(str(out) + ".log").read_text()
    return {"ok": rc == 0 and its == list(range(1, ITERATIONS + 1)) and fails == "1" and warned,
            "what": [f"exit {rc}; env_step_failures {fails}; warning printed: {warned}; "
                     f"progress rows 1..{its[-1] if its else '-'}"]}


def _cli(module: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          env=_env(), timeout=timeout)


def _one_line(proc: subprocess.CompletedProcess, *words: str) -> str:
    """'' when the run ended with exit 2 and one stderr line holding ``words``;
    else what was seen instead."""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    if proc.returncode == 2 and len(lines) == 1 and all(w in lines[0] for w in words) \
            and "Traceback" not in proc.stderr:
        return ""
    return f"exit {proc.returncode}, {len(lines)} stderr lines: {(lines or [''])[-1][:160]!r}"


def _last_error(proc: subprocess.CompletedProcess) -> str:
    """The last line of stderr of a command that failed ('' when it did not)."""
    if proc.returncode == 0:
        return ""
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return f" ({lines[-1][:160]})" if lines else ""


def _trained(algorithm: str, work: Path) -> Optional[Path]:
    """A finished run (checkpoints after every iteration, the newest 3 kept, and final)."""
    out = work / "run"
    proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet")
    return out if proc.wait(timeout=900) == 0 else None


def _module_state(ck: Path) -> Path:
    return sorted(ck.rglob("module_state*"))[0]


def _evaluates_and_resumes(out: Path, what: List[str], skipped: Optional[str]) -> bool:
    """The run evaluates from its newest intact checkpoint (saying which one was
    skipped, when ``skipped``) and resumes to iteration ITERATIONS."""
    ev = _cli("rllib_marl.evaluate", str(out), "--episodes", "2")
    said = skipped is None or f"skipped checkpoint {skipped}" in ev.stderr
    took = next((ln.split("evaluating ", 1)[1].split(" |")[0] for ln in ev.stdout.splitlines()
                 if ln.startswith("evaluating ")), "?")
    what.append(f"evaluate exit {ev.returncode} from {Path(took).name}"
                + (f", skip named: {said}" if skipped else "") + _last_error(ev))
    res = _cli("rllib_marl.train", "--resume", str(out), "--quiet", "--num-cpus", "2")
    its = _iterations(out)
    what.append(f"resume exit {res.returncode}; progress rows 1..{its[-1] if its else '-'} ({len(its)} rows)"
                + _last_error(res))
    return ev.returncode == 0 and said and res.returncode == 0 and its == list(range(1, ITERATIONS + 1))


def case_damaged_weights(algorithm: str, work: Path) -> Dict[str, Any]:
    """The newest checkpoint's module weights cut short (a disk that failed under them)."""
    out = _trained(algorithm, work)
    if out is None:
        return {"ok": False, "what": ["the run to damage did not finish"]}
    final = out / "checkpoints" / "final"
    victim = _module_state(final)
    with open(victim, "r+b") as f:
        f.truncate(max(1, victim.stat().st_size // 3))
    what = [f"{victim.relative_to(final)} truncated to a third in final"]
    direct = _one_line(_cli("rllib_marl.evaluate", str(final), "--episodes", "1"), "is damaged", victim.name)
    what.append("evaluate final: one line, exit 2" if not direct else f"evaluate final: {direct}")
    ok = _evaluates_and_resumes(out, what, str(final)) and not direct
    return {"ok": ok, "what": what}


def case_missing_file(algorithm: str, work: Path) -> Dict[str, Any]:
    """A file of the newest checkpoint deleted (the league state for a league run)."""
    out = _trained(algorithm, work)
    if out is None:
        return {"ok": False, "what": ["the run to damage did not finish"]}
    final = out / "checkpoints" / "final"
    victim = final / "league.json" if algorithm == "league" else _module_state(final).parent / "metadata.json"
    if not victim.is_file():
        victim = _module_state(final)
    victim.unlink()
    what = [f"{victim.relative_to(final)} deleted from final"]
    direct = _one_line(_cli("rllib_marl.train", "--resume", str(final), "--quiet"), "is missing")
    what.append("resume final: one line, exit 2" if not direct else f"resume final: {direct}")
    ok = _evaluates_and_resumes(out, what, str(final)) and not direct
    return {"ok": ok, "what": what}


def case_all_damaged(algorithm: str, work: Path) -> Dict[str, Any]:
    """Every checkpoint damaged: nothing to fall back to, one line each."""
    out = _trained(algorithm, work)
    if out is None:
        return {"ok": False, "what": ["the run to damage did not finish"]}
    cks = [d for d in (out / "checkpoints").iterdir() if d.is_dir()]
    for ck in cks:
        _module_state(ck).write_bytes(b"\0" * 64)
    what = [f"module weights overwritten in all {len(cks)} checkpoints"]
    ev = _one_line(_cli("rllib_marl.evaluate", str(out), "--episodes", "1"), "no intact checkpoint")
    res = _one_line(_cli("rllib_marl.train", "--resume", str(out), "--quiet"), "no intact checkpoint")
    what.append("evaluate: one line, exit 2" if not ev else f"evaluate: {ev}")
    what.append("resume: one line, exit 2" if not res else f"resume: {res}")
    return {"ok": not ev and not res, "what": what}


def _mount_tmpfs(path: Path, size_kb: int) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def case_disk_full(algorithm: str, work: Path) -> Dict[str, Any]:
    """A run into a small filesystem that fills up between two checkpoints (a
    tmpfs where this machine lets us mount one): one line naming the path, exit
    2, the last complete checkpoint kept; then the run copied to a roomy disk
    evaluates and resumes. And a run into an already full one: refused before Ray."""
    import shutil

    small = work / "small"
    if not _mount_tmpfs(small, 4096):
        return {"ok": True, "what": ["skipped: mounting a tmpfs is not permitted here"], "skipped": True}
    try:
        # Size the filesystem from one checkpoint: room for about two and a half.
        probe = _trained(algorithm, work)
        if probe is None:
            return {"ok": False, "what": ["the run to size the filesystem did not finish"]}
        ck_bytes = sum(p.stat().st_size for p in (probe / "checkpoints" / "final").rglob("*") if p.is_file())
        subprocess.run(["umount", str(small)], check=True)
        _mount_tmpfs(small, int(2.6 * ck_bytes / 1024) + 64)
        out = small / "run"
        proc = _start(out, "--config", str(_config(algorithm, work)), "--quiet")
        rc = proc.wait(timeout=900)
        log = Path(str(out) + ".log").read_text().strip().splitlines()
        said = next((ln for ln in log if ln.startswith("I/O error:")), "")
        kept = sorted(p.name for p in (out / "checkpoints").iterdir())
        what = [f"exit {rc}; {said[:140] or 'no I/O error line'}; left: {', '.join(kept)}"]
        ok = rc == 2 and "No space left" in said and not any(k.endswith(".partial") for k in kept) \
            and "Traceback" not in "\n".join(log)
        roomy = work / "copied"
        shutil.copytree(out, roomy)
        ok = _evaluates_and_resumes(roomy, what, None) and ok
        filler = small / "fill"
        with open(filler, "wb") as f:  # now fill it up: a new run is refused before Ray starts
            try:
                while True:
                    f.write(b"\0" * 65536)
            except OSError:
                pass
        early = _one_line(_cli("rllib_marl.train", "--config", str(_config(algorithm, work)), "--output",
                               str(small / "run2"), "--quiet"), "--output", "No space left")
        what.append("full filesystem: refused before Ray, one line" if not early else f"full filesystem: {early}")
        return {"ok": ok and not early, "what": what}
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


def case_export_damaged(algorithm: str, work: Path) -> Dict[str, Any]:
    """An export with a file deleted, and one with a model cut short."""
    import shutil

    out = _trained(algorithm, work)
    if out is None:
        return {"ok": False, "what": ["the run to export did not finish"]}
    exp = work / "export"
    ex = _cli("rllib_marl.evaluate", str(out), "--episodes", "1", "--export", str(exp))
    if ex.returncode != 0:
        return {"ok": False, "what": [f"export exit {ex.returncode}: {ex.stderr.strip()[-200:]}"]}
    good = _cli("rllib_marl.deploy", str(exp), "--episodes", "1")
    onnx = sorted(exp.glob("*.onnx"))[0]
    cut = work / "cut"
    shutil.copytree(exp, cut)
    (cut / onnx.name).write_bytes(onnx.read_bytes()[:100])
    onnx.unlink()
    missing = _one_line(_cli("rllib_marl.deploy", str(exp)), "is missing", onnx.name)
    damaged = _one_line(_cli("rllib_marl.deploy", str(cut)), "is damaged", onnx.name)
    what = [f"deploy of the intact export exit {good.returncode}",
            f"{onnx.name} deleted: " + ("one line, exit 2" if not missing else missing),
            f"{onnx.name} cut to 100 bytes: " + ("one line, exit 2" if not damaged else damaged)]
    return {"ok": good.returncode == 0 and not missing and not damaged, "what": what}


RUNNERS = {
    "driver_sigkill": case_driver_kill,
    "sigint": lambda a, w: case_signal(a, w, signal.SIGINT),
    "sigterm": lambda a, w: case_signal(a, w, signal.SIGTERM),
    "kill_during_save": case_kill_during_save,
    "runner_sigkill": case_runner_kill,
    "env_raises": case_env_raises,
    "damaged_weights": case_damaged_weights,
    "missing_file": case_missing_file,
    "all_damaged": case_all_damaged,
    "disk_full": case_disk_full,
    "export_damaged": case_export_damaged,
}


def run_case(algorithm: str, case: str, iterations: int = ITERATIONS) -> Dict[str, Any]:
    """One case; ``iterations`` (at least 4: the cases kill after the third) is the
    run's length (the table in docs/faults.md uses 6; CI's quick cases 4)."""
    global ITERATIONS
    if iterations < 4:
        raise ValueError("the fault cases need at least 4 iterations")
    saved, ITERATIONS = ITERATIONS, iterations
    try:
        with tempfile.TemporaryDirectory(prefix=f"fault-{algorithm}-{case}-") as d:
            t0 = time.time()
            res = RUNNERS[case](algorithm, Path(d))
            res.update(algorithm=algorithm, case=case, wall_s=round(time.time() - t0, 1))
            return res
    finally:
        ITERATIONS = saved


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--algorithms", default="mappo,qmix,maddpg,league")
    p.add_argument("--cases", default=",".join(CASES))
    p.add_argument("--doc", default=str(ROOT / "docs" / "faults.md"))
    p.add_argument("--no-doc", action="store_true")
    args = p.parse_args(argv)
    results = []
    for algorithm in args.algorithms.split(","):
        for case in args.cases.split(","):
            if algorithm == "league" and case in ENV_CASES:
                continue
            res = run_case(algorithm, case)
            results.append(res)
            print(f"{algorithm:6s} {case:17s} {'survived' if res['ok'] else 'FAILED':8s} "
                  f"{res['wall_s']:6.1f} s | " + " | ".join(res["what"]), flush=True)
    table = ["| algorithm | fault | result | what happened | wall s |", "|---|---|---|---|---|"]
    table += [f"| {r['algorithm']} | {r['case']} | {'survived' if r['ok'] else '**failed**'} | "
              f"{'; '.join(r['what'])} | {r['wall_s']} |" for r in results]
    print("\n" + "\n".join(table))
    if not args.no_doc:
        doc = Path(args.doc)
        head = doc.read_text().split("<!-- results -->")[0] if doc.exists() else ""
        doc.write_text(head + "<!-- results -->\n" + time.strftime("Run of %Y-%m-%d:\n\n") + "\n".join(table) + "\n")
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
