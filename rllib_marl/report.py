"""Run artefacts: progress rows, the summary table, the learning-curve PNG, TensorBoard."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from rllib_marl.metrics import (
    AGENT_RETURN,
    CONVENTION,
    ENV_METRICS,
    ENV_STEPS,
    EPISODE_LEN,
    EVAL_AGENT_RETURN,
    EVAL_ENV_METRICS,
    EVAL_TEAM_RETURN,
    EVAL_TEAM_RETURNS,
    TEAM_RETURN,
    TEAM_RETURNS,
)

MODULE_STATS = ("entropy", "mean_kl_loss", "vf_loss", "policy_loss", "vf_explained_var",
                # learned communication (policies/comm.py), when on
                "comm_senders_heard", "comm_message_norm", "comm_attention_entropy")


def _f(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def eval_columns(result: Dict[str, Any]) -> Dict[str, float]:
    """``eval/team_return`` and ``eval/return/<agent>`` from a lifted result."""
    if EVAL_TEAM_RETURN not in result:
        return {}
    cols = {"eval/team_return": _f(result[EVAL_TEAM_RETURN])}
    for team, r in sorted(result.get(EVAL_TEAM_RETURNS, {}).items()):
        cols[f"eval/team_return/{team}"] = _f(r)
    for aid, r in sorted(result.get(EVAL_AGENT_RETURN, {}).items()):
        cols[f"eval/return/{aid}"] = _f(r)
    for name, v in sorted(result.get(EVAL_ENV_METRICS, {}).items()):
        cols[f"eval/env/{name}"] = _f(v)
    return cols


LEAGUE = "marl_league"  # rllib_marl.league.callback.LEAGUE_KEY (no Ray import here)


def progress_row(result: Dict[str, Any], wall_s: float, evaluated: bool = False) -> Dict[str, Any]:
    """One flat row of the run's progress from an RLlib result dict.

    ``evaluated``: an evaluation ran in this iteration (RLlib repeats the last
    evaluation's results in later results; only fresh ones become columns).
    """
    row: Dict[str, Any] = {
        "iteration": int(result.get("training_iteration", 0)),
        "env_steps": int(result.get(ENV_STEPS, 0)),
        "wall_s": round(wall_s, 2),
        "team_return": _f(result.get(TEAM_RETURN)),
        "episode_len": _f(result.get(EPISODE_LEN)),
        # Sub-env step() failures so far (each rebuilt the sub-envs and dropped their episodes).
        "env_step_failures": int((result.get("env_runners") or {}).get("num_env_step_failures", 0) or 0),
    }
    for team, r in sorted(result.get(TEAM_RETURNS, {}).items()):
        row[f"team_return/{team}"] = _f(r)
    for aid, r in sorted(result.get(AGENT_RETURN, {}).items()):
        row[f"return/{aid}"] = _f(r)
    for name, v in sorted(result.get(ENV_METRICS, {}).items()):
        row[f"env/{name}"] = _f(v)
    for mid, stats in sorted(result.get("learners", {}).items()):
        if mid.startswith("__") or not isinstance(stats, dict):
            continue
        for k in MODULE_STATS:
            if k in stats:
                row[f"{mid}/{k}"] = _f(stats[k])
    for k, v in (result.get(LEAGUE) or {}).items():  # league runs: pool, Elo, win rates
        if isinstance(v, (int, float)):
            row[f"league/{k}"] = _f(v) if isinstance(v, float) else v
    if evaluated:
        row.update(eval_columns(result))
    return row


class ProgressLog:
    """progress.csv + TensorBoard scalars of one run (appends on resume)."""

    def __init__(self, out: Path, resume_iteration: Optional[int] = None):
        self.path = out / "progress.csv"
        self.rows: List[Dict[str, Any]] = []
        if resume_iteration is not None and self.path.exists():
            with self.path.open() as f:
                self.rows = [
                    {k: _parse(v) for k, v in r.items()}
                    for r in csv.DictReader(f)
                    if int(r["iteration"]) <= resume_iteration
                ]
        self._tb = None
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(out / "tb"))
        except ImportError:  # pragma: no cover - tensorboardX ships with ray[tune]
            pass

    def add(self, row: Dict[str, Any]) -> None:
        self.rows.append(row)
        self._write()
        if self._tb is not None:
            step = row["env_steps"]
            for k, v in row.items():
                if k in ("iteration", "env_steps") or not isinstance(v, (int, float)):
                    continue
                if math.isfinite(v):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()

    def _write(self) -> None:
        import io

        from rllib_marl.rundir import write_text_atomic

        keys: List[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        w.writerows(self.rows)
        write_text_atomic(self.path, buf.getvalue())  # a full disk keeps the previous complete file

    def update_last(self, cols: Dict[str, Any]) -> None:
        """Adds columns to the last row (e.g. the end-of-run evaluation)."""
        if not self.rows:
            return
        self.rows[-1].update(cols)
        self._write()
        if self._tb is not None:
            for k, v in cols.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self._tb.add_scalar(k, v, self.rows[-1]["env_steps"])
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _parse(v: str):
    try:
        f = float(v)
    except ValueError:
        return v
    return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f


def format_table(headers: List[str], rows: Iterable[List[Any]]) -> str:
    rows = [[_cell(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def _cell(c) -> str:
    if isinstance(c, float):
        if math.isnan(c):
            return "nan"
        if c != 0 and abs(c) < 0.01:
            return f"{c:.3g}"
        return f"{c:,.2f}"
    if isinstance(c, int):
        return f"{c:,}"
    return str(c)


def summary(result: Dict[str, Any], env_name: str, wall_s: float) -> str:
    """The end-of-run table: team return and per-agent returns."""
    conv = result.get(CONVENTION, "sum")
    has_eval = EVAL_TEAM_RETURN in result
    evals = result.get(EVAL_AGENT_RETURN, {})
    per_team = result.get(TEAM_RETURNS)
    ev_teams = result.get(EVAL_TEAM_RETURNS, {})
    if per_team:  # competitive / mixed: one row per team, no sum over opponents
        rows = [[f"team {t}", _f(r)] + ([_f(ev_teams.get(t))] if has_eval else [])
                for t, r in sorted(per_team.items())]
    elif LEAGUE in result:  # two-sided league game: each learner's return, no sum over seats
        rows = [[f"{k[7:]} (learner)", _f(v)] + ([math.nan] if has_eval else [])
                for k, v in sorted(result[LEAGUE].items()) if k.startswith("return/")]
    else:
        rows = [["team", _f(result.get(TEAM_RETURN))]]
        if has_eval:
            rows[0].append(_f(result[EVAL_TEAM_RETURN]))
    for aid, r in sorted(result.get(AGENT_RETURN, {}).items()):
        rows.append([aid, _f(r)] + ([_f(evals.get(aid))] if has_eval else []))
    ev_env = result.get(EVAL_ENV_METRICS, {})
    for name, v in sorted(result.get(ENV_METRICS, {}).items()):  # the env's own, per episode
        rows.append([f"env: {name}", _f(v)] + ([_f(ev_env.get(name))] if has_eval else []))
    head = (
        f"env {env_name} | {int(result.get(ENV_STEPS, 0)):,} env steps | "
        f"{int(result.get('training_iteration', 0))} iterations | {wall_s:,.0f} s\n"
        "returns: env rewards per episode, mean over the last episodes; "
        + ("league game: a learner's return is its seat's, whoever it played; per-agent rows mix "
           "learners and snapshots" if LEAGUE in result and not per_team
           else f"team = {conv} over each team's agents" if per_team else f"team = {conv} over agents")
        + (" (teams by agent-name prefix; no sum over opponents)" if per_team else "")
    )
    cols = ["", "return"]
    if has_eval:
        cols.append("evaluation")
        head += f"\nevaluation: {result.get('eval_note', '')}"
    return head + "\n" + format_table(cols, rows)


def plot_curve(rows: List[Dict[str, Any]], path: Path, title: str, convention: str) -> None:
    """Team and per-agent return against env steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["env_steps"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    teams = sorted({k for r in rows for k in r if k.startswith("team_return/")})
    league = sorted({k for r in rows for k in r if k.startswith(("league/return/", "league/win/"))})
    if league and not teams:  # a league game: each learner's return and win rate, no seats
        for k in league:
            ax.plot(xs, [r.get(k, float("nan")) for r in rows], lw=1.8,
                    label=k[7:].replace("return/", "return ").replace("win/", "win rate "))
        ax.set_ylabel("per iteration")
    else:
        if teams:  # competitive / mixed: one line per team
            for k in teams:
                ax.plot(xs, [r.get(k, float("nan")) for r in rows], lw=2.2, label=f"{k[12:]} ({convention})")
        else:
            ax.plot(xs, [r["team_return"] for r in rows], lw=2.2, label=f"team ({convention})")
        for k in sorted({k for r in rows for k in r if k.startswith("return/")}):
            ax.plot(xs, [r.get(k, float("nan")) for r in rows], lw=1, alpha=0.8, label=k[7:])
        ax.set_ylabel("episode return (env rewards)")
    ax.set_xlabel("env steps")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_json(path: Path, data: Dict[str, Any]) -> None:
    from rllib_marl.rundir import write_text_atomic

    write_text_atomic(Path(path), json.dumps(data, indent=2, default=float))


def env_version(name) -> str:
    """``"mpe2 1.1.1"`` for an env import path (or class, or function); our games
    report rllib_marl's version; ``gymnasium:<id>`` the package that registers it."""
    from importlib import metadata

    import rllib_marl
    from rllib_marl.envs.spec import env_label

    name = env_label(name)
    if name.startswith("gymnasium:"):
        from rllib_marl.envs.sources import GYM_PACKAGES

        env_id = name[len("gymnasium:"):]
        name = env_id if ":" in env_id else GYM_PACKAGES.get(env_id.split("-", 1)[0], "gymnasium") + ":"
    if name.startswith("openspiel:"):
        name = "open_spiel:" + name[len("openspiel:"):]
    pkg = name.split(":")[0].split(".")[0]
    if pkg == "__main__":
        return "an env of the user's script"
    if "." not in name and ":" not in name:
        try:
            from rllib_marl.envs.registry import BUILTIN_ENVS

            if name not in BUILTIN_ENVS:
                return "an env registered with register_env"
        except ImportError:  # pragma: no cover
            pass
        return f"rllib_marl {rllib_marl.__version__}"
    try:
        return f"{pkg} {metadata.version(pkg)}"
    except metadata.PackageNotFoundError:
        return f"{pkg} (version unknown)"
