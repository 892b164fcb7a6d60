"""Shows that the option tests fail when the option they name is broken.

For each (test, file, original text, broken text): the file is patched, the
test is run, the file is restored from git. A test that still passes with its
option broken is a test that checks nothing; the table says which.

Usage (from a clean checkout, nothing else importing the working tree):
    python benchmarks/sabotage.py            # all
    python benchmarks/sabotage.py --only mask
Writes docs/data/sabotage.md.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    # name: (test node, file, text, broken text, what is broken)
    "sharing": ("tests/test_smoke.py::test_sharing_builds_the_expected_modules",
                "rllib_marl/config.py", '        return {a: a for a in agents}',
                '        return {a: "shared" for a in agents}', "per_agent builds one shared module"),
    "mask": ("tests/test_smoke.py::test_masked_actions_are_never_taken",
             "policies/actor_critic.py",
             "            logits = logits.masked_fill(obs[ACTION_MASK] < 0.5, MASKED_LOGIT)",
             "            pass", "the actor ignores action masks"),
    "gru": ("tests/test_smoke.py::test_gru_state_is_carried_from_step_to_step",
            "rllib_marl/env_runner.py",
            "                    self._rnn_state[i][aid] = row[Columns.STATE_OUT]",
            "                    pass", "the env runner drops the GRU state after each step"),
    "mix": ("tests/test_smoke.py::test_mixed_reward_is_the_formula_and_returns_stay_the_envs",
            "envs/adapter.py",
            "        return {a: (1.0 - w) * float(r) + w * team for a, r in rewards.items()}",
            "        return {a: (1.0 - w) * float(r) + w * team / 2 for a, r in rewards.items()}",
            "the mixed reward uses half the team term"),
    "ddp": ("tests/test_smoke.py::test_two_learners_hold_the_same_weights_after_an_update",
            "rllib_marl/build.py", "        num_learners=scale.num_learners,",
            "        num_learners=0,", "--num-learners is ignored (one local learner)"),
    "mixer": ("tests/test_qmix.py::test_qmix_family_builds_what_it_is_asked_for",
              "rllib_marl/algorithms/qmix/build.py", '    if tr.mixer == "qmix":',
              '    if tr.mixer == "never":', "qmix builds no mixer"),
    "fused": ("tests/test_smoke.py::test_learners_step_with_fused_adam",
              "rllib_marl/algorithms/optim.py", '        kwargs = {"fused": True} if self.fused_adam and params else {}',
              "        kwargs = {}", "Adam is not fused"),
    "grid": ("tests/test_tune.py::test_tiny_grid_search_end_to_end",
             "rllib_marl/tune.py", "        return tune.grid_search(list(vals))",
             "        return tune.grid_search(list(vals)[:1])", "a grid search tries only its first value"),
    "connectors": ("tests/test_env_runner.py::test_custom_connectors_fall_back_to_the_stock_loop_and_run",
                   "rllib_marl/env_runner.py", "        self._fast = (\n",
                   "        self._fast = True or (\n", "custom connectors are skipped by the fast loop"),
}


def run(name: str) -> str:
    test, path, text, broken, what = CASES[name]
    f = ROOT / path
    src = f.read_text()
    if src.count(text) != 1:
        return f"| {name} | {what} | `{test}` | patch does not apply |"
    f.write_text(src.replace(text, broken))
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", test],
                              cwd=ROOT, capture_output=True, text=True)
    finally:
        f.write_text(src)
    last = [ln for ln in proc.stdout.splitlines() if ln.strip()][-1:] or ["?"]
    verdict = "fails (good)" if proc.returncode != 0 else "STILL PASSES"
    return f"| {name} | {what} | `{test}` | {verdict}: {last[0]} |"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default="")
    args = p.parse_args()
    names = args.only.split(",") if args.only else list(CASES)
    rows = []
    for n in names:
        rows.append(run(n))
        print(rows[-1], flush=True)
    dirty = subprocess.run(["git", "status", "--porcelain", *{CASES[n][1] for n in names}], cwd=ROOT,
                           capture_output=True, text=True).stdout
    assert not dirty.strip(), f"files not restored: {dirty}"
    text = "\n".join(["# Option tests with their option broken",
                      "", "Made by `python benchmarks/sabotage.py`: each row patches one line, runs the test, "
                      "restores the file.", "", "| case | what is broken | test | result |",
                      "|---|---|---|---|", *rows, ""])
    if not args.only:
        (ROOT / "docs" / "data" / "sabotage.md").write_text(text)
    return 0 if all("fails (good)" in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
