#!/usr/bin/env bash
# Creates the virtual environment (default .venv) with rllib_marl and its test
# dependencies. Idempotent: does nothing when pyproject.toml has not changed.
#
# torch: on a machine without an NVIDIA GPU only a CPU build is installed. pip
# is first asked (dry run) which torch wheel it would take; if that is not a CPU
# build, the CPU wheel index (TORCH_CPU_INDEX_URL) is used instead, so a
# multi-GB CUDA build is never downloaded by accident.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
STAMP="$VENV/.rllib_marl-installed"

if [ -f "$STAMP" ] && [ "$STAMP" -nt pyproject.toml ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
VPY="$VENV/bin/python"
pip_q() { "$VPY" -m pip install -q --disable-pip-version-check "$@" 2>&1 | grep -v "^WARNING: Location" || true; }

pip_q --upgrade pip
if ! "$VPY" -c "import torch" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    echo "setup: NVIDIA GPU found, installing torch==$TORCH_VERSION (CUDA build)"
    pip_q "torch==$TORCH_VERSION"
  elif [ "$(uname -s)" = "Darwin" ]; then
    pip_q "torch==$TORCH_VERSION"  # macOS wheels are CPU/MPS builds
  else
    report=$(mktemp)
    "$VPY" -m pip install -q --dry-run --no-deps --report "$report" "torch==$TORCH_VERSION" \
      2>&1 | grep -v "^WARNING: Location" || true
    ver=$("$VPY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["install"][0]["metadata"]["version"])' "$report" 2>/dev/null || echo unknown)
    rm -f "$report"
    if [[ "$ver" == *+cpu ]]; then
      echo "setup: no GPU, installing torch $ver (CPU build)"
      pip_q "torch==$TORCH_VERSION"
    else
      index=${TORCH_CPU_INDEX_URL:-https://download.pytorch.org/whl/cpu}
      echo "setup: no GPU and pip would take torch $ver; installing the CPU build from $index"
      pip_q "torch==$TORCH_VERSION" --index-url "$index"
    fi
  fi
fi
"$VPY" -c "import torch, sys; print('setup: torch', torch.__version__, 'cuda', torch.version.cuda)"
# The same pinned versions as every node of a cluster (rllib_marl/cluster.py),
# with the cluster extra (the multi-node test submits a job with `ray job submit`),
# the export extra (the tests check exported ONNX policies), the butterfly
# extra (pistonball's tuned example needs pymunk) and the Gymnasium suites
# (lbforaging, rware: the env-source tests and the LBF learning test), and
# OpenSpiel (its poker games and exact exploitability are tested), and VMAS
# (the batched env runner is tested against one env at a time).
constraints=$(mktemp)
"$VPY" rllib_marl/cluster.py constraints > "$constraints"
pip_q -c "$constraints" -e ".[test,cluster,export,butterfly,lbforaging,rware,openspiel,vmas]"
rm -f "$constraints"
"$VPY" -c "import rllib_marl.envs, rllib_marl.policies" 
touch "$STAMP"
echo "setup: ready ($VENV)"
