"""League self-play inside RLlib: an ``RLlibCallback`` and the helpers it uses.

How a league run goes (``league:`` block of an experiment, see ``League``):

* The learners (``main_0``, exploiters) are the algorithm's trained modules; the
  agent → module mapping is a :class:`LeagueMapping` that decides each episode's
  match-up from the episode id and the league state, the same on every runner.
* Env runners report each finished game through the metrics logger
  (``on_episode_end``): which module sat in each seat and who won (the seat with
  the higher return in the env's own rewards; equal returns are a draw).
* ``on_train_result`` (driver) records the games in the payoff table and the Elo
  ratings, takes snapshots that are due, resets exploiters, and pushes the new
  mapping. Results come from the evaluation episodes when an evaluation is
  configured (``evaluation.interval > 0``), else from the training episodes.
* A snapshot is a frozen copy of a learner: added to the learners (never trained:
  it is not in ``policies_to_train``) and installed on every env runner by
  :func:`push_league` — built inference-only, in eval mode, with the
  source's weights loaded — before the mapping that uses it is set; a runner
  that lacks any earlier snapshot (restarted by Ray) gets those too.
  (``Algorithm.add_module`` alone syncs weights to the runners before a caller
  could copy the source's in, so a runner could play a rollout against random
  weights.)
* The league state travels in the algorithm's own checkpoints (``league.json``
  inside each one, :class:`LeagueCheckpoints`), so ``Algorithm.from_checkpoint``,
  ``restore_from_path`` and Tune's trial restore bring the pool back:
  :func:`restore_league` re-adds the snapshot modules before the weights load.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from rllib_marl import rllib_compat
from rllib_marl.envs.adapter import ENV_RETURN_INFO
from rllib_marl.league.exploitability import exploitability
from rllib_marl.league.league import League
from rllib_marl.league.mapping import LeagueMapping
from rllib_marl.metrics import smoothing_window

LEAGUE_KEY = "marl_league"  # under result["env_runners"] (games) and top-level result
OUTCOMES = ("win", "draw", "loss")  # from the first-named module's side
ATTR = "_rllib_marl_league"  # the League object on the Algorithm (driver)
LEAGUE_FILE = "league.json"  # the league state, inside a checkpoint and in a run directory


def league_of(algorithm) -> Optional[League]:
    return getattr(algorithm, ATTR, None)


def _mapping(config) -> Optional[LeagueMapping]:
    fn = getattr(config, "policy_mapping_fn", None)
    return fn if isinstance(fn, LeagueMapping) else None


def game_outcome(episode, seats: Dict[str, int]):
    """``(module of seat 0, module of seat 1, score of seat 0, (return of seat 0,
    return of seat 1))`` of a finished episode, or None when returns are
    missing. Score 1 / 0.5 / 0; returns in the env's own rewards."""
    side = [0.0, 0.0]
    modules: List[Optional[str]] = [None, None]
    for aid, sa_ep in episode.agent_episodes.items():
        if len(sa_ep) == 0 or aid not in seats:
            continue
        info = sa_ep.get_infos(-1)
        if ENV_RETURN_INFO not in info:
            continue
        s = seats[aid]
        side[s] += float(info[ENV_RETURN_INFO])
        modules[s] = episode.module_for(aid)
    if modules[0] is None or modules[1] is None:
        return None
    score = 1.0 if side[0] > side[1] else 0.0 if side[0] < side[1] else 0.5
    return modules[0], modules[1], score, (side[0], side[1])


def install_frozen_modules(env_runner, names: List[str], weights: Dict[str, Any], spec, mapping,
                           trained: List[str]) -> bool:
    """On one env runner: adds each snapshot in ``weights`` that it lacks (built
    inference-only, on the runner's device, the given weights loaded), puts every
    snapshot in ``names`` in eval mode (also those RLlib's restore rebuilt), then
    switches to ``mapping``."""
    import torch

    ref = next(iter(env_runner.module.values()), None)
    params = list(ref.parameters()) if isinstance(ref, torch.nn.Module) else []
    for module_id, w in weights.items():
        if module_id not in env_runner.module:
            sub = copy.deepcopy(spec)
            sub.inference_only = True
            module = sub.build()
            if params and isinstance(module, torch.nn.Module):
                module.to(params[0].device)
            env_runner.module.add_module(module_id=module_id, module=module)
        env_runner.module[module_id].set_state(w)
    for module_id in names:
        if isinstance(env_runner.module[module_id], torch.nn.Module):
            env_runner.module[module_id].eval()
    set_runner_mapping(env_runner, mapping, trained)
    return True


def set_runner_mapping(env_runner, mapping, trained: List[str]) -> bool:
    with rllib_compat.unfrozen(env_runner.config) as cfg:
        cfg.multi_agent(policy_mapping_fn=mapping, policies_to_train=list(trained))
    return True


def _runner_groups(algorithm):
    groups = [algorithm.env_runner_group]
    if getattr(algorithm, "eval_env_runner_group", None) is not None:
        groups.append(algorithm.eval_env_runner_group)
    return groups


def _set_driver_config(algorithm, mapping, trained) -> None:
    for cfg in (algorithm.config, getattr(algorithm, "evaluation_config", None)):
        if cfg is not None:
            with rllib_compat.unfrozen(cfg):
                cfg.multi_agent(policy_mapping_fn=mapping, policies_to_train=list(trained))


def push_league(algorithm, league: League, seats: Dict[str, int], groups=None,
                remote_ids: Optional[List[int]] = None) -> None:
    """Brings the driver's config and every env runner (or ``remote_ids`` of
    ``groups``) to the league as it is: first each runner says which snapshots it
    lacks (a runner Ray restarted between two calls comes back with the modules
    it was first built with), those are installed with the learners' frozen
    weights, and only then is the new mapping set, so no runner is ever handed a
    mapping to a module it does not hold."""
    mapping = LeagueMapping(league.matchmaking_state(), seats)
    trained = list(league.learners)
    names = list(league.pool)  # what matchmaking draws (retired ones are on their way out)
    spec = algorithm.config.rl_module_spec.rl_module_specs[league.learners[0]]
    _set_driver_config(algorithm, mapping, trained)
    weights: Dict[str, Any] = {}
    for group in groups or _runner_groups(algorithm):
        lacking = group.foreach_env_runner(
            lambda er, names=names: (er.worker_index or 0, [n for n in names if n not in er.module]),
            local_env_runner=remote_ids is None, remote_worker_ids=remote_ids)
        for idx, missing in lacking:
            for n in missing:
                if n not in weights:
                    weights[n] = _inference_weights(algorithm, n)
            def install(er, w={n: weights[n] for n in missing}):
                return install_frozen_modules(er, names, w, spec, mapping, trained)

            if idx == 0:  # the local runner, in this process
                install(group.local_env_runner)
            else:
                group.foreach_env_runner(install, local_env_runner=False, remote_worker_ids=[idx])


def drop_unused_modules(env_runner, names: List[str]) -> List[str]:
    """On one env runner: removes the modules in ``names`` that no episode in flight
    plays (an episode keeps the modules it started with to its end); returns those
    of ``names`` it no longer holds."""
    in_use = set()
    for episode in getattr(env_runner, "_ongoing_episodes", None) or []:
        if episode is not None:
            in_use.update(sa.module_id for sa in episode.agent_episodes.values())
    for name in names:
        if name in env_runner.module and name not in in_use:
            env_runner.module.remove_module(module_id=name)
    return [n for n in names if n not in env_runner.module]


def remove_retired(algorithm, league: League) -> List[str]:
    """Removes retired snapshots (``pool_size``) from every env runner that no longer
    plays them in an episode, and then, once no runner holds one, from the learners
    and the config; the rest are tried again after the next iteration. Call after
    :func:`push_league` (no mapping draws them). Returns the snapshots removed."""
    names = league.retired_loaded
    if not names:
        return []
    held = set()
    for group in _runner_groups(algorithm):
        for left in group.foreach_env_runner(lambda er, names=names: drop_unused_modules(er, names)):
            held.update(set(names) - set(left))
    removed = [n for n in names if n not in held]
    for name in removed:
        # RLlib's own removal from the env runners restarts every episode in flight;
        # those were handled above, episode by episode. The config's mapping is the one
        # push_league set: it never drew a retired snapshot (matchmaking_state).
        algorithm.remove_module(name, new_should_module_be_updated=list(league.learners),
                                remove_from_env_runners=False, remove_from_eval_env_runners=False)
        league.players[name].loaded = False
    return removed


def add_frozen_module(algorithm, league: League, seats, name: str, source: Optional[str]) -> None:
    """Adds snapshot ``name`` to the learners with ``source``'s weights (None:
    leave them to a checkpoint restore that follows)."""
    lg = algorithm.learner_group
    if name not in algorithm.config.policies:
        spec = copy.deepcopy(algorithm.config.rl_module_spec.rl_module_specs[league.learners[0]])
        algorithm.add_module(
            name, spec, add_to_learners=True, add_to_env_runners=False, add_to_eval_env_runners=False,
            new_agent_to_module_mapping_fn=LeagueMapping(league.matchmaking_state(), seats),
            new_should_module_be_updated=list(league.learners),
        )
    if source is not None:
        lg.set_weights({name: lg.get_weights([source])[source]})


def _inference_weights(algorithm, module_id: str):
    from ray.rllib.core import COMPONENT_LEARNER, COMPONENT_RL_MODULE

    state = algorithm.learner_group.get_state(
        components=f"{COMPONENT_LEARNER}/{COMPONENT_RL_MODULE}/{module_id}", inference_only=True)
    return state[COMPONENT_LEARNER][COMPONENT_RL_MODULE][module_id]


def restore_league(algorithm, state: dict) -> League:
    """Before ``restore_from_path``: the saved league and its snapshot modules
    (weights come from the checkpoint)."""
    league = League.from_state(state)
    setattr(algorithm, ATTR, league)
    seats = _mapping(algorithm.config).seats
    for name in league.snapshots:
        add_frozen_module(algorithm, league, seats, name, None)
    push_league(algorithm, league, seats)
    return league


class LeagueCallback(RLlibCallback):
    """Reports games on the env runners; runs the league on the driver."""

    # ----- env runners -----------------------------------------------------------------

    def on_episode_end(self, *, episode, env_runner=None, metrics_logger=None, **kwargs):
        mapping = _mapping(getattr(env_runner, "config", None))
        if mapping is None or metrics_logger is None:
            return
        game = game_outcome(episode, mapping.seats)
        if game is None:
            return
        a, b, score, seat_returns = game
        # Each module's return in this game (its seat's env rewards), and the
        # learners' results whoever they played (self-play included).
        win = smoothing_window(env_runner.config)
        for module, s, ret in ((a, score, seat_returns[0]), (b, 1.0 - score, seat_returns[1])):
            metrics_logger.log_value((LEAGUE_KEY, "return", module), ret, window=win)
            if "@" not in module:
                out = OUTCOMES[0] if s == 1.0 else OUTCOMES[1] if s == 0.5 else OUTCOMES[2]
                metrics_logger.log_value((LEAGUE_KEY, "results", module, out), 1, reduce="sum")
        if a == b:
            metrics_logger.log_value((LEAGUE_KEY, "self_play_games"), 1, reduce="sum")
            return
        outcome = OUTCOMES[0] if score == 1.0 else OUTCOMES[1] if score == 0.5 else OUTCOMES[2]
        metrics_logger.log_value((LEAGUE_KEY, "games", f"{a}|{b}", outcome), 1, reduce="sum")

    # ----- driver ----------------------------------------------------------------------

    def on_algorithm_init(self, *, algorithm, **kwargs):
        mapping = _mapping(algorithm.config)
        if mapping is None:
            return
        if league_of(algorithm) is None:
            setattr(algorithm, ATTR, League.from_state(mapping.league_state))
        league = league_of(algorithm)
        # Initial weights of each learner, for exploiter resets.
        algorithm._rllib_marl_initial_weights = algorithm.learner_group.get_weights(league.learners)
        algorithm._rllib_marl_matrix = _zero_sum_matrix(algorithm.config.env_config)
        from rllib_marl.league.openspiel_eval import evaluator_for

        algorithm._rllib_marl_openspiel = evaluator_for(algorithm.config.env_config)

    def on_env_runners_recreated(self, *, algorithm, env_runner_group, env_runner_indices, **kwargs):
        league = league_of(algorithm)
        mapping = _mapping(algorithm.config)
        if league is None or mapping is None:
            return
        # A restarted runner may come back with the modules and mapping it was
        # first built with: the missing snapshots are installed again (the
        # learners' frozen weights) and the current mapping set.
        push_league(algorithm, league, mapping.seats, groups=[env_runner_group],
                    remote_ids=list(env_runner_indices))

    def on_train_result(self, *, algorithm, result: Dict[str, Any], **kwargs):
        league = league_of(algorithm)
        mapping = _mapping(algorithm.config)
        if league is None or mapping is None:
            return
        it = int(result.get("training_iteration", 0))
        use_eval = bool(getattr(algorithm.config, "evaluation_interval", 0))
        source = (result.get("evaluation") or {}) if use_eval else result
        fresh = not use_eval or it % int(algorithm.config.evaluation_interval) == 0
        games = ((source.get("env_runners") or {}).get(LEAGUE_KEY) or {}).get("games") or {}
        played = 0
        if fresh:
            for pair in sorted(games):
                a, b = pair.split("|")
                counts = games[pair]
                for outcome, score in zip(OUTCOMES, (1.0, 0.5, 0.0)):
                    n = float(counts.get(outcome, 0) or 0)
                    for _ in range(int(round(n)) if math.isfinite(n) else 0):
                        league.record(a, b, score)
                        played += 1
        snapshots_taken = False
        for learner in list(league.learners):
            if league.snapshot_due(learner, it):
                name, reset = league.add_snapshot(learner, it)
                add_frozen_module(algorithm, league, mapping.seats, name, learner)
                if reset:
                    self._reset(algorithm, learner)
                snapshots_taken = True
        if snapshots_taken:
            push_league(algorithm, league, mapping.seats)  # the new snapshots reach the runners first
            if league.wants_meta:
                # Solved from the runners' copies of the pool (the local runner holds every
                # snapshot once pushed), then pushed again: matchmaking draws from it.
                league.meta = meta_strategy(league, algorithm)
                push_league(algorithm, league, mapping.seats)
        elif played and league.pool:
            # The games just recorded move PFSP's win rates: the runners draw from them next.
            push_league(algorithm, league, mapping.seats)
        remove_retired(algorithm, league)
        result[LEAGUE_KEY] = league_metrics(league, algorithm, played, use_eval)
        er = (result.get("env_runners") or {}).get(LEAGUE_KEY) or {}
        for module, r in sorted((er.get("return") or {}).items()):
            if "@" not in module:  # learners only: snapshot returns are in the payoff table
                result[LEAGUE_KEY][f"return/{module}"] = float(r)
        for module, counts in sorted((er.get("results") or {}).items()):
            n = {o: float(counts.get(o, 0) or 0) for o in OUTCOMES}
            n = {o: (v if math.isfinite(v) else 0.0) for o, v in n.items()}
            total = sum(n.values())
            for o in OUTCOMES:
                result[LEAGUE_KEY][f"{o}/{module}"] = n[o] / total if total else math.nan

    @staticmethod
    def _reset(algorithm, learner: str) -> None:
        lg = algorithm.learner_group
        lg.set_weights({learner: algorithm._rllib_marl_initial_weights[learner]})
        for group in _runner_groups(algorithm):
            group.sync_weights(from_worker_or_learner_group=lg, inference_only=True)


def meta_strategy(league: League, algorithm) -> Dict[str, float]:
    """The pool's Nash meta-strategy (PSRO): from the exact meta-game for an
    OpenSpiel game, else from the payoff table's win rates."""
    from rllib_marl.league.meta import symmetric_nash

    pool = league.pool
    if not pool:
        return {}
    game = getattr(algorithm, "_rllib_marl_openspiel", None)
    if game is not None and game.game.num_players() == 2:
        M = game.meta_game(np.stack([game.probs(algorithm.get_module(s)) for s in pool]))
    else:
        M = league.payoff_meta_game(pool)
    M = 0.5 * (M - M.T)  # the payoff table's decayed counts are antisymmetric only up to rounding
    return {s: float(x) for s, x in zip(pool, symmetric_nash(M))}


def league_metrics(league: League, algorithm, played: int, from_eval: bool) -> Dict[str, Any]:
    """Flat league scalars for progress.csv / TensorBoard (``league/...``)."""
    out: Dict[str, Any] = {
        "pool": len(league.pool),
        "snapshots": len(league.players) - len(league.learners),  # taken so far
        "snapshots_loaded": len(league.snapshots),  # modules on the learners and runners
        "version": league.version,
        "games": played,
        "results_from": "evaluation" if from_eval else "training",
    }
    for name in league.learners + league.pool:  # retired snapshots: in the league table, not per iteration
        out[f"elo/{name}"] = league.elo.rating(name)
    for learner in league.learners:
        rate, games = league.win_rate_against_pool(learner)
        out[f"win_rate/{learner}"] = rate if games else math.nan
    matrix = getattr(algorithm, "_rllib_marl_matrix", None)
    if matrix is not None:
        A, obs = matrix
        for learner in league.learners:
            x = policy_probs(algorithm.get_module(learner), obs[0])
            y = policy_probs(algorithm.get_module(learner), obs[1])
            out[f"exploitability/{learner}"] = exploitability(A, x, y)
            for i, p in enumerate(x):
                out[f"policy/{learner}/{i}"] = float(p)
    game = getattr(algorithm, "_rllib_marl_openspiel", None)
    if game is not None:  # OpenSpiel games: exact, over every information state
        for learner in league.learners:
            out[f"exploitability/{learner}"] = game.exploitability(algorithm.get_module(learner))
            own = [p.name for p in league.players.values() if not p.learner and p.active and p.source == learner]
            if own:  # its snapshots as one policy: uniformly mixed (fictitious play) and PSRO's Nash mixture
                pool = game.pool_metrics([algorithm.get_module(s) for s in own])
                out[f"exploitability_pool/{learner}"] = pool["uniform"]
                if "nash" in pool:
                    out[f"exploitability_meta/{learner}"] = pool["nash"]
                    out[f"meta_support/{learner}"] = pool["nash_support"]
    return out


def policy_probs(module, obs) -> np.ndarray:
    """The module's action probabilities (softmax of its logits) at one observation."""
    import torch
    import tree
    from ray.rllib.core.columns import Columns

    batch = {Columns.OBS: tree.map_structure(lambda x: torch.as_tensor(np.asarray(x)[None]), obs)}
    with torch.no_grad():
        out = module.forward_inference(batch)
        logits = out[Columns.ACTION_DIST_INPUTS][0]
        return torch.softmax(logits.double(), -1).cpu().numpy()


def _zero_sum_matrix(env_config):
    """``(row payoff A, (obs of seat 0, obs of seat 1))`` for a one-shot two-player
    zero-sum matrix game (exact exploitability), else None."""
    try:
        from rllib_marl.envs.adapter import make_env

        env = make_env(dict(env_config))
    except Exception:  # noqa: BLE001 - not every env builds on the driver; no metric then
        return None
    try:
        raw = getattr(env.env, "unwrapped", env.env)
        A = getattr(raw, "zero_sum_payoff", None)
        if A is None:
            return None
        obs, _ = env.reset(seed=0)
        agents = sorted(obs)
        if len(agents) != 2:
            return None
        return np.asarray(A, np.float64), (obs[agents[0]], obs[agents[1]])
    finally:
        env.close()


class LeagueCheckpoints:
    """Mixin for an ``Algorithm`` that can run a league: its checkpoints hold the
    league state (``league.json``), and restoring one re-adds the pool's snapshot
    modules before RLlib loads their weights (a module that does not exist yet
    cannot take weights, and the league state is not one of RLlib's components)."""

    def save_to_path(self, path=None, *args, **kwargs):
        path = super().save_to_path(path, *args, **kwargs)
        save_league(self, os.path.join(str(path), LEAGUE_FILE))
        return path

    def restore_from_path(self, path, *args, **kwargs):
        state_file = os.path.join(str(path), LEAGUE_FILE)
        if _mapping(self.config) is not None and os.path.isfile(state_file) and kwargs.get("component") is None:
            with open(state_file) as f:
                restore_league(self, json.load(f))
        return super().restore_from_path(path, *args, **kwargs)


def save_league(algorithm, path) -> None:
    """Writes the league state to ``path`` (atomically: a temporary file renamed)."""
    league = league_of(algorithm)
    if league is None:
        return
    path = Path(path)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(league.get_state(), indent=1))
    os.replace(tmp, path)


def export_league(league: League, out) -> Dict[str, str]:
    """End of a run: ``league.json`` (state), ``league_payoff.csv`` (every pairing's
    wins / draws / losses, decayed as the league uses them) and ``league_elo.csv``."""
    import csv

    out = Path(out)
    files = {"state": out / LEAGUE_FILE, "payoff": out / "league_payoff.csv", "elo": out / "league_elo.csv"}
    files["state"].write_text(json.dumps(league.get_state(), indent=1))
    with files["payoff"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["player", "opponent", "wins", "draws", "losses", "win_rate"])
        for (a, b), (wi, d, lo) in sorted(league.payoff.counts.items()):
            w.writerow([a, b, round(wi, 4), round(d, 4), round(lo, 4), round(league.payoff.win_rate(a, b), 4)])
    with files["elo"].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["player", "role", "trained", "source", "iteration", "elo", "games", "win_rate"])
        for p in sorted(league.players.values(), key=lambda p: -league.elo.rating(p.name)):
            rate, games = league.payoff.overall(p.name)
            w.writerow([p.name, p.role, p.learner, p.source or "", p.iteration,
                        round(league.elo.rating(p.name), 1), round(games, 2), round(rate, 4)])
    return {k: str(v) for k, v in files.items()}


def league_summary(league: League, top: int = 12) -> str:
    """The end-of-run league table (best Elo first; learners always shown)."""
    from rllib_marl.report import format_table

    players = sorted(league.players.values(), key=lambda p: -league.elo.rating(p.name))
    shown = [p for p in players if p.learner] + [p for p in players if not p.learner][:top]
    shown.sort(key=lambda p: -league.elo.rating(p.name))
    rows = []
    for p in shown:
        rate, games = league.payoff.overall(p.name)
        rows.append([p.name, "learner" if p.learner else f"snapshot (iter {p.iteration})"
                     + ("" if p.learner or p.active else ", retired"),
                     league.elo.rating(p.name), games, rate if games else "—"])  # never played
    taken = len(league.players) - len(league.learners)
    head = (f"league: {len(league.learners)} learner(s), {taken} snapshot(s) "
            f"({len(league.pool)} in the pool, {len(league.snapshots)} loaded); "
            "games and win rates from the payoff table (decayed counts)")
    if len(players) > len(shown):
        head += f"; {len(players) - len(shown)} more in league_elo.csv"
    return head + "\n" + format_table(["player", "kind", "Elo", "games", "win rate"], rows)
