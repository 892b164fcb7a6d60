"""Holds every tuned example to its word: runs each ``tuned_examples/**/*.yaml`` with
``python -m rllib_marl.train --as-test`` over several seeds, at the budget the example
itself sets (its ``stop`` block), and writes a pass/fail table with the reached values.

A run passes when its reached values meet every ``expected`` value as ``--as-test``
checks them: a team return (or each named team's return) is the mean over the last
100 training episodes at the end of the run, the number the run's summary prints;
a league's exploitability is the main agent's at the end, at most the expected.

Usage:
    python benchmarks/tuned_examples.py --seeds 0,1,2 --jobs 2        # run all, then report
    python benchmarks/tuned_examples.py --max-env-steps 300000          # leave out longer ones
    python benchmarks/tuned_examples.py --only qmix/simple_spread,mappo/two_step
    python benchmarks/tuned_examples.py --report                        # table from OUT only

Each run's directory (progress.csv, summary.json, the train log) is kept under
``OUT/runs/<example>_seed<k>``, and its ``summary.json`` is copied to
``docs/data/tuned_examples/``, from which ``--report`` builds the table, so runs
made in several sittings (or on another machine) add up to one table. ``--stored NAME=PATH``
(e.g. ``maddpg/simple_spread=docs/data/learning_1m/maddpg-cont_seed{seed}.csv``) takes
the final row of a learning curve written by ``benchmarks/learning.py`` for a run made
there with exactly the example's config (the 1M-step MADDPG examples), or the
``summary.json`` of a run of the example made by another benchmark
(``benchmarks/tictactoe.py`` copies them to docs/data), and the table names that file.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
from pathlib import Path

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
TUNED = ROOT / "tuned_examples"
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "tuned_examples"
DOC = ROOT / "docs" / "tuned_examples.md"
DATA = ROOT / "docs" / "data" / "tuned_examples"  # each run's summary.json, kept


def examples() -> dict:
    """``{"mappo/two_step": Path, ...}`` for every tuned example, sorted."""
    return {str(p.relative_to(TUNED).with_suffix("")): p for p in sorted(TUNED.rglob("*.yaml"))}


def load(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text())


def budget(cfg: dict) -> str:
    stop = cfg.get("stop") or {}
    parts = [f"{v:,} {k.replace('_', ' ')}" for k, v in stop.items() if v is not None]
    return ", ".join(parts) or "default"


def expectation(cfg: dict) -> list:
    """``[(label, threshold, "at least" | "at most"), ...]`` the way ``--as-test``
    checks them."""
    exp = cfg.get("expected") or {}
    out = []
    if exp.get("team_return") is not None:
        out.append(("team", float(exp["team_return"]), "at least"))
    for t, v in sorted((exp.get("team_returns") or {}).items()):
        out.append((t, float(v), "at least"))
    if exp.get("exploitability") is not None:
        out.append(("exploitability", float(exp["exploitability"]), "at most"))
    for m, v in sorted((exp.get("win_rate") or {}).items()):
        out.append((f"win_rate/{m}", float(v), "at least"))
    return out


def run_dir(out: Path, name: str, seed: int) -> Path:
    return out / "runs" / f"{name.replace('/', '__')}_seed{seed}"


def command(name: str, seed: int, out: Path) -> list:
    d = run_dir(out, name, seed)
    return [sys.executable, "-m", "rllib_marl.train", "--config", str(examples()[name]),
            "--seed", str(seed), "--output", str(fresh(d)), "--quiet", "--as-test",
            "--set", "checkpoint.interval=0", "--num-cpus", "1"]


def reached(name: str, seed: int, out: Path, stored: dict):
    """``({label: value}, source)`` for one run, or ``(None, why)``."""
    summary = run_dir(out, name, seed) / "summary.json"
    if name in stored:
        path = ROOT / stored[name].format(seed=seed)
        if not path.exists():
            return None, f"no {path.relative_to(ROOT)}"
        if path.name.endswith("summary.json"):  # a run of the example made elsewhere, same command
            return _from_summary(path)[0], f"stored: {stored[name]}"
        with path.open() as f:
            last = list(csv.DictReader(f))[-1]
        return {"team": float(last["team_return"])}, f"stored: {stored[name]}"
    kept = DATA / f"{name.replace('/', '__')}_seed{seed}.json"
    if summary.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        kept.write_text(summary.read_text())
    if not kept.exists():
        return None, "not run"
    return _from_summary(kept)


def _from_summary(summary: Path):
    s = json.loads(summary.read_text())
    vals = {"team": float(s["team_return"]) if s.get("team_return") is not None else math.nan}
    for t, v in (s.get("team_returns") or {}).items():
        vals[t] = float(v)
    if "exploitability/main_0" in (s.get("league") or {}):
        vals["exploitability"] = float(s["league"]["exploitability/main_0"])
    for k, v in (s.get("league") or {}).items():
        if k.startswith("win_rate/") and v is not None:
            vals[k] = float(v)
    return vals, f"{s['env_steps']:,} env steps"


def report(out: Path, seeds: list, stored: dict, doc: Path, cmdline: str, note: str = "") -> bool:
    rows = []
    all_pass = True
    for name, path in examples().items():
        cfg = load(path)
        checks = expectation(cfg)
        if not checks:
            rows.append(f"| `{name}` | {budget(cfg)} | none | — | — | not held | no `expected` block: "
                        f"{(cfg.get('name') or name)} is scored by its own benchmark |")
        for label, want, how in checks:
            got = []
            notes = set()
            for s in seeds:
                vals, src = reached(name, s, out, stored)
                if vals is None:
                    got.append(None)
                    notes.add(src)
                else:
                    got.append(vals.get(label, math.nan))
                    if src.startswith("stored"):
                        notes.add(src)
            ok = [g is not None and math.isfinite(g) and (g >= want if how == "at least" else g <= want)
                  for g in got]
            done = [g for g in got if g is not None]
            verdict = ("pass" if all(ok) else
                       f"FAIL ({sum(ok)}/{len(ok)})" if done else "not run")
            all_pass = all_pass and all(ok)
            vals_txt = ", ".join("—" if g is None else f"{g:.2f}" for g in got)
            mean = (f"{statistics.mean(done):.2f}" if done else "—")
            what = ("team return" if label == "team" else "main agent's exploitability"
                    if label == "exploitability" else f"`{label[9:]}` win rate over the league"
                    if label.startswith("win_rate/") else f"team `{label}`")
            rows.append(f"| `{name}` | {budget(cfg)} | {what} {'≥' if how == 'at least' else '≤'} {want:g} | {vals_txt} | {mean} | "
                        f"{verdict} | {'; '.join(sorted(notes))} |")
    text = "\n".join([
        "# Tuned examples held to their expectation",
        "",
        "Every tuned example run with `--as-test` at the budget it sets, seeds "
        + ", ".join(map(str, seeds)) + ". A value is the example's own `--as-test` number: "
        "the mean return over the last 100 training episodes at the end of the run "
        "(team return summed over the team's agents). Made by:",
        "",
        "```",
        cmdline,
        "```",
        "",
        *([note, ""] if note else []),
        "| example | budget | expected | reached per seed | mean | verdict | note |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
    ])
    doc.write_text(text)
    print(text)
    return all_pass


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--jobs", type=int, default=1, help="runs side by side (one core each)")
    p.add_argument("--only", default="", help="comma-separated example names (e.g. mappo/two_step)")
    p.add_argument("--max-env-steps", type=int, default=None,
                   help="leave out examples whose stop.env_steps is larger")
    p.add_argument("--stored", action="append", default=[],
                   help="NAME=PATH: take seed k from the last row of PATH with {seed} = k, a CSV of "
                        "benchmarks/learning.py")
    p.add_argument("--report", action="store_true", help="only write the table")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--doc", type=Path, default=DOC)
    p.add_argument("--note", default="", help="a paragraph put above the table (how the runs were made)")
    args = p.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    stored = dict(item.split("=", 1) for item in args.stored)
    names = list(examples())
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in names]
        if unknown:
            p.error(f"unknown examples {unknown}; known: {names}")
        names = wanted
    if not args.report:
        todo = []
        for name in names:
            if name in stored:
                continue
            cfg = load(examples()[name])
            if not expectation(cfg):
                print(f"leaving out {name} (no expected block)")
                continue
            steps = (cfg.get("stop") or {}).get("env_steps")
            if args.max_env_steps is not None and (steps is None or steps > args.max_env_steps):
                print(f"leaving out {name} ({steps} env steps)")
                continue
            todo += [(name, s) for s in seeds
                     if not (run_dir(args.out, name, s) / "summary.json").exists()]
        for name, s in todo:
            run_dir(args.out, name, s).mkdir(parents=True, exist_ok=True)
        run_pool(todo, args.jobs, lambda n, s: command(n, s, args.out),
                 log=lambda n, s: run_dir(args.out, n, s) / "train.log")
    argv, skip = [], False
    for a in sys.argv[1:]:  # the note is shown as itself, not inside the command
        if skip or a == "--note":
            skip = a == "--note"
            continue
        argv.append(a if " " not in a else repr(a))
    cmdline = "python benchmarks/tuned_examples.py " + " ".join(argv) + (" --note ..." if args.note else "")
    ok = report(args.out, seeds, stored, args.doc, cmdline.strip(), args.note)
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
