"""League cost against pool size (issue #28): seconds per training iteration as
the pool of frozen snapshots grows.

One ``python -m rllib_marl.train`` run of ``tuned_examples/league/rps.yaml``
(rock-paper-scissors, fictitious self-play, a snapshot every iteration, 512 env
steps an iteration) for ``--iterations`` iterations, so that after iteration
``k`` the league holds ``k`` snapshots. ``--pool-size P`` bounds matchmaking to
the ``P`` most recent snapshots (``league.pool_size``; older ones are retired).
The table gives the median wall seconds of the iterations around each snapshot
count (``--at``, +-``--window`` iterations), from the run's ``progress.csv``.

Usage:
    python benchmarks/league_pool.py --iterations 510 --at 10,100,500
    python benchmarks/league_pool.py --iterations 510 --pool-size 10
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RPS = ROOT / "tuned_examples" / "league" / "rps.yaml"


def run(iterations: int, pool_size: int, out: Path) -> list:
    exp = yaml.safe_load(RPS.read_text())
    exp["stop"] = {"iterations": iterations}
    exp.pop("expected", None)
    exp["league"]["pool_size"] = pool_size
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(exp))
    cmd = [sys.executable, "-m", "rllib_marl.train", "--config", str(out / "config.yaml"), "--output",
           str(out / "run"), "--quiet", "--num-cpus", "2"]
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(out / "stderr.txt", "w"),
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    with open(out / "run" / "progress.csv") as f:
        rows = list(csv.DictReader(f))
    return [float(r["wall_s"]) for r in rows]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=510)
    p.add_argument("--pool-size", type=int, default=0, help="league.pool_size (0: every snapshot in matchmaking)")
    p.add_argument("--at", default="10,100,500", help="snapshot counts to report")
    p.add_argument("--window", type=int, default=5)
    p.add_argument("--out", default="/tmp/league_pool")
    args = p.parse_args()
    out = Path(args.out) / f"pool{args.pool_size}"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    wall = run(args.iterations, args.pool_size, out)
    per_iter = [wall[0]] + [b - a for a, b in zip(wall, wall[1:])]  # per_iter[k-1]: iteration k
    print(f"league pool_size {args.pool_size or 'all'}: {len(wall)} iterations in {wall[-1]:.0f} s")
    print("| snapshots held | seconds per iteration (median) |")
    print("|---:|---:|")
    for k in [int(x) for x in args.at.split(",")]:
        lo, hi = max(1, k - args.window), min(len(per_iter), k + args.window)
        if lo > len(per_iter):
            continue
        print(f"| {k} | {statistics.median(per_iter[lo - 1:hi]):.3f} |")


if __name__ == "__main__":
    main()
