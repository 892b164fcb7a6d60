import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
# Ray workers (remote env runners) import the test envs too.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT / "tests"), *filter(None, [os.environ.get("PYTHONPATH")])]
)

# Quiet, small Ray for tests; token authentication (Ray's default for local
# clusters) stays on.
os.environ.setdefault("RAY_DEDUP_LOGS", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def pytest_collection_modifyitems(config, items):
    # Cheap tests first, slow ones (learning, cluster) last.
    items.sort(key=lambda it: 1 if it.get_closest_marker("slow") else 0)
