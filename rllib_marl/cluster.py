"""One set of package versions on every node of a Ray cluster.

A cluster whose nodes run different versions of Ray, torch or the env packages
fails late and obscurely (an unpickling error in an env runner, a module whose
weights do not load). Three guards, from earliest to latest:

* ``python rllib_marl/cluster.py constraints`` prints :data:`PINS` as a pip
  constraints file: cluster.yaml installs every node with it, so nodes set up
  hours apart (autoscaling) still get the same versions.
* ``python rllib_marl/cluster.py check`` compares this node's installed
  versions with :data:`PINS` and exits 1 with a sentence per difference:
  cluster.yaml runs it before ``ray start`` on every node, so a node that
  differs never joins. (Ray itself refuses a node whose Ray or Python version
  differs from the head's.)
* :func:`check_nodes`: when a training run joins an existing cluster, one task
  per alive node reports its versions and the run stops before building
  anything if a node differs from the driver.

This file imports only the standard library at the top, so it runs from the
repository before the package is installed.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib import metadata
from typing import Dict, List, Optional

# The versions CI tests with; cluster nodes are installed with exactly these.
PINS = {
    "ray": "2.60.0",
    "torch": "2.13.0",
    "numpy": "2.4.6",
    "gymnasium": "1.2.2",
    "pettingzoo": "1.27.0",
    "mpe2": "1.1.1",
    "supersuit": "3.11.0",
    "pymunk": "7.3.1",
}
# Compared between the driver and every node by check_nodes (beyond the pins).
COMPARED = ("python", *PINS, "rllib_marl")


class ClusterError(RuntimeError):
    """A cluster that a run cannot use: not reachable, or its nodes differ."""


class ClusterVersionError(ClusterError):
    """Nodes of one cluster run different versions."""


def _base(version: str) -> str:
    """``2.13.0+cu126`` → ``2.13.0``: builds for CPU and GPU nodes differ only there."""
    return version.split("+", 1)[0]


def versions() -> Dict[str, str]:
    """This process's Python and package versions (``missing`` if not installed)."""
    out = {"python": platform.python_version()}
    for pkg in COMPARED[1:]:
        try:
            out[pkg] = _base(metadata.version(pkg))
        except metadata.PackageNotFoundError:
            out[pkg] = "missing"
    return out


def pin_differences(installed: Dict[str, str], pins: Dict[str, str] = PINS) -> List[str]:
    """One sentence per installed package that differs from its pin."""
    return [f"{pkg} {installed.get(pkg, 'missing')} is installed, the cluster pins {want}"
            for pkg, want in pins.items() if installed.get(pkg) != want]


def node_differences(reference: Dict[str, str], nodes: Dict[str, Dict[str, str]]) -> List[str]:
    """One sentence per (node, package) whose version differs from ``reference``."""
    lines = []
    for node, got in sorted(nodes.items()):
        for key in COMPARED:
            if got.get(key) != reference.get(key):
                lines.append(f"node {node}: {key} {got.get(key, 'missing')}, "
                             f"the driver has {reference.get(key, 'missing')}")
    return lines


def check_nodes() -> None:
    """Raises :class:`ClusterVersionError` if an alive node's versions differ from
    this driver's (call after ``ray.init`` joined a cluster)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    @ray.remote(num_cpus=0)
    def report():
        return versions()

    alive = [n for n in ray.nodes() if n.get("Alive")]
    refs = {
        n["NodeManagerAddress"] + " (" + n["NodeID"][:8] + ")": report.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
        for n in alive
    }
    got = dict(zip(refs, ray.get(list(refs.values()), timeout=120)))
    lines = node_differences(versions(), got)
    if lines:
        raise ClusterVersionError(
            "the cluster's nodes run different versions; install every node with "
            "`pip install -c <(python rllib_marl/cluster.py constraints) -e .[cluster]` "
            "(as cluster.yaml does):\n  " + "\n  ".join(lines))


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python rllib_marl/cluster.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("constraints", help="print the pins as a pip constraints file")
    sub.add_parser("check", help="exit 1 if this node's versions differ from the pins")
    sub.add_parser("versions", help="print this node's versions")
    args = p.parse_args(argv)
    if args.cmd == "constraints":
        print("\n".join(f"{pkg}=={v}" for pkg, v in PINS.items()))
        return 0
    if args.cmd == "versions":
        print(" ".join(f"{k}={v}" for k, v in versions().items()))
        return 0
    lines = pin_differences(versions())
    if lines:
        print("rllib_marl: this node does not match the cluster's pinned versions and will not join:\n  "
              + "\n  ".join(lines)
              + "\nreinstall it with `pip install -c <(python rllib_marl/cluster.py constraints) "
                "-e .[cluster]`", file=sys.stderr)
        return 1
    print("rllib_marl: versions match the cluster's pins (" + ", ".join(f"{k} {v}" for k, v in PINS.items()) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
