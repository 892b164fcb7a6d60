# One command each, on a fresh clone: `make train` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# The main job's budget (env steps); the tuned example itself runs 300k.
TRAIN_STEPS ?= 60000
TRAIN_ARGS ?=

.PHONY: setup train test test-fast bench-learning clean

setup:
	@VENV=$(VENV) bash .ci/setup.sh

# MAPPO on mpe2 simple_spread_v3 with an embedded local Ray; each `make train`
# starts afresh in the same directory (train refuses a fresh run into an old one).
train: setup
	rm -rf results/mappo-simple_spread
	$(PY) -m rllib_marl.train --config tuned_examples/mappo/simple_spread.yaml \
	  --set stop.env_steps=$(TRAIN_STEPS) --output results/mappo-simple_spread $(TRAIN_ARGS)

# Unit, smoke and learning tests (what CI runs).
test: setup
	$(PY) -m pytest -q -ra tests

test-fast: setup
	$(PY) -m pytest -q -ra -m "not slow" tests

bench-learning: setup
	$(PY) benchmarks/learning.py

clean:
	rm -rf $(VENV) results .pytest_cache
