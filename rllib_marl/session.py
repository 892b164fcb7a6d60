"""The process around a run: exit codes, the Ray session, log routing,
interrupts and the hash seed. Shared by the ``train``, ``evaluate`` and
``tune`` entry points (and by console scripts, which behave as ``python -m``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, List, Optional

EXIT_OK, EXIT_NOT_REACHED, EXIT_BAD_INPUT, EXIT_ENV_FAILED = 0, 1, 2, 3
EXIT_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


LIBRARY_LOG = "ray.log"  # Ray's / RLlib's log lines and Python warnings, unless --verbose
# (and our env runner's per-failure tracebacks: the CLI prints a one-line count)
_LIBRARY_LOGGERS = ("ray", "ray.rllib", "ray.tune", "ray.train", "ray.data", "rllib_marl.env_runner")


def route_library_logs(out: Optional[Path]) -> Optional[Path]:
    """Sends Ray's and RLlib's log records and Python warnings to ``out/ray.log``
    instead of the terminal, so the CLI shows our lines. Errors still reach the
    terminal. Called again after Ray starts (``ray.init`` adds its own handler)."""
    import logging

    if out is None:
        return None
    path = (out / LIBRARY_LOG).resolve()
    ours = [h for name in (*_LIBRARY_LOGGERS, "py.warnings") for h in logging.getLogger(name).handlers
            if getattr(h, "_rllib_marl", False)]
    handler = next((h for h in ours if isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path), None)
    if handler is None:  # a new run in this process: drop an earlier run's handlers
        out.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._rllib_marl = True
    errors = logging.StreamHandler(sys.stderr)  # today's stderr (replaced on every call)
    errors.setLevel(logging.ERROR)
    errors._rllib_marl = True
    for name in (*_LIBRARY_LOGGERS, "py.warnings"):
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            if h is not handler and h is not errors:
                lg.removeHandler(h)
                if getattr(h, "_rllib_marl", False) and isinstance(h, logging.FileHandler):
                    h.close()
        if handler not in lg.handlers:
            lg.addHandler(handler)
        if name == "ray" and errors not in lg.handlers:
            lg.addHandler(errors)
        lg.propagate = False
    # Re-installed each time: something may have put warnings.showwarning back
    # while logging still believes it captures.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    return path


def init_ray(num_cpus: Optional[int] = None, address: Optional[str] = None,
             log_dir: Optional[Path] = None) -> None:
    """Starts the embedded local Ray, or joins a cluster.

    Joins when ``address`` is given (``--address auto``: the cluster started with
    ``ray start`` on this node, as under ``ray submit``) or ``RAY_ADDRESS`` is set
    (``ray job submit``). Otherwise always a fresh local Ray: a cluster left
    running on this machine by ``ray start`` is not joined by accident.
    """
    import ray

    if ray.is_initialized():
        return
    route_library_logs(log_dir)
    # Without --verbose, remote workers' output stays in Ray's session logs.
    kwargs = dict(include_dashboard=False, logging_level="WARNING", log_to_driver=log_dir is None)
    if address or os.environ.get("RAY_ADDRESS"):
        from rllib_marl.cluster import ClusterError

        target = address or os.environ["RAY_ADDRESS"]
        try:
            ray.init(address=address or None, **kwargs)
        except ConnectionError as e:
            raise ClusterError(f"cannot join the Ray cluster at {target!r} ({e}); start one with "
                               "`ray start --head`, or leave out --address (and RAY_ADDRESS) to train "
                               "on a local Ray") from None
    else:
        ray.init(address="local", num_cpus=num_cpus, **kwargs)
    route_library_logs(log_dir)
    if sum(1 for n in ray.nodes() if n.get("Alive")) > 1:
        from rllib_marl.cluster import check_nodes

        check_nodes()  # every node on the driver's versions, before anything is built


class Interrupts:
    """SIGINT / SIGTERM during training: the first finishes the iteration in
    progress (the loop then saves a checkpoint and says how to resume); a second
    exits at once. Handlers are Python's own again afterwards."""

    def __init__(self):
        import signal

        self.received: Optional[str] = None
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame):
        import signal

        name = signal.Signals(signum).name
        if self.received is not None:
            print(f"\n{name} again: exiting now without a new checkpoint", file=sys.stderr, flush=True)
            os._exit(EXIT_SIGNAL.get(name, 130))
        self.received = name
        print(f"\n{name}: finishing this iteration, then saving a checkpoint "
              f"({name} again exits at once)", file=sys.stderr, flush=True)

    def restore(self) -> None:
        import signal

        for sig, handler in self._old.items():
            signal.signal(sig, handler)


HASH_SEED = "0"


def pin_hash_seed(argv: Optional[List[str]] = None, module: str = "rllib_marl.train") -> None:
    """Restarts this process with ``PYTHONHASHSEED=0`` unless it already runs with it.

    Some of RLlib's per-agent and per-module iteration follows Python's string
    hashing, which is random per process: the same config and seed gave different
    runs from the second iteration on. With the hash seed pinned (the driver, and
    the local Ray it starts, whose workers inherit the environment), the same
    config and seed give the same progress.csv on CPU.

    ``argv``: what to run again (default: ``python -m <module>`` with this
    process's arguments, which is also what a console script re-runs as);
    scripts that train in-process (benchmarks) pass ``sys.argv``.
    """
    if os.environ.get("PYTHONHASHSEED") == HASH_SEED:
        return
    os.environ["PYTHONHASHSEED"] = HASH_SEED
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, *(argv or ["-m", module, *sys.argv[1:]])])


def console_entry(main: Callable[[], int], module: str) -> Callable[[], None]:
    """A console script's entry point that runs exactly as ``python -m <module>``
    does: the hash seed pinned first, then ``main()``'s exit status."""

    def entry() -> None:
        pin_hash_seed(module=module)
        sys.exit(main())

    entry.__name__ = entry.__qualname__ = "cli"
    return entry
