"""The wheel holds one package: envs/ and policies/ ship inside rllib_marl."""

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_installs_only_rllib_marl(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )
    (whl,) = tmp_path.glob("rllib_marl-*.whl")
    names = zipfile.ZipFile(whl).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"rllib_marl", whl.name.split("-")[0] + "-" + whl.name.split("-")[1] + ".dist-info"}
    assert "rllib_marl/envs/adapter.py" in names
    assert "rllib_marl/policies/actor_critic.py" in names
    assert "rllib_marl/envs/games/two_step.py" in names
    for sub in ("algorithms/offpolicy/replay.py", "algorithms/maddpg/maddpg.py",
                "algorithms/qmix/qmix.py", "policies/maddpg.py", "policies/defaults.py"):
        assert f"rllib_marl/{sub}" in names, sub
