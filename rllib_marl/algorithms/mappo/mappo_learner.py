"""MAPPO / IPPO loss: PPO's clipped surrogate with a (normalized) value loss.

Differs from RLlib's PPO loss in one place: with value normalization on, the
value head is trained against normalized targets (running mean/std kept in the
module, updated per minibatch as in the MAPPO paper), and the value clip applies
in normalized units. Padding (GRU sequences) is masked out of every term via
``Columns.LOSS_MASK``.
"""

from __future__ import annotations

from typing import Any, Dict

import torch
from ray.rllib.algorithms.ppo.ppo import (
    LEARNER_RESULTS_KL_KEY,
    LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY,
    LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY,
)
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import ENTROPY_KEY, POLICY_LOSS_KEY, VF_LOSS_KEY
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.annotations import override
from ray.rllib.utils.torch_utils import explained_variance

from rllib_marl.algorithms.optim import FusedAdamMixin

VALUE_NORM_MEAN_KEY = "value_norm_mean"
VALUE_NORM_STD_KEY = "value_norm_std"


class MAPPOTorchLearner(FusedAdamMixin, PPOTorchLearner):
    @override(PPOTorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch: Dict[str, Any], fwd_out):
        module = self.module[module_id].unwrapped()

        if Columns.LOSS_MASK in batch:
            mask = batch[Columns.LOSS_MASK]
            n_valid = mask.sum().clamp(min=1)

            def mean(x):
                return torch.sum(x[mask]) / n_valid

        else:
            mean = torch.mean

        # 1. Policy: clipped surrogate on the importance ratio.
        dist_cls = module.get_train_action_dist_cls()
        curr = dist_cls.from_logits(fwd_out[Columns.ACTION_DIST_INPUTS])
        prev = module.get_exploration_action_dist_cls().from_logits(
            batch[Columns.ACTION_DIST_INPUTS]
        )
        ratio = torch.exp(curr.logp(batch[Columns.ACTIONS]) - batch[Columns.ACTION_LOGP])
        adv = batch[Postprocessing.ADVANTAGES]
        surrogate = torch.min(
            adv * ratio,
            adv * torch.clamp(ratio, 1 - config.clip_param, 1 + config.clip_param),
        )
        # The KL to the sampling policy is always reported; it is a loss term
        # only with use_kl_loss.
        if config.use_kl_loss:
            kl = mean(prev.kl(curr))
        else:
            with torch.no_grad():
                kl = mean(prev.kl(curr))
        entropy = curr.entropy()

        # 2. Value: squared error, in normalized units when value norm is on.
        targets = batch[Postprocessing.VALUE_TARGETS]
        v_head = module.compute_normalized_values(batch)
        norm = getattr(module, "value_norm", None)
        if norm is not None:
            norm.update(targets[mask] if Columns.LOSS_MASK in batch else targets)
            targets_n = norm.normalize(targets)
            values = norm.denormalize(v_head.detach())
        else:
            targets_n = targets
            values = v_head.detach()
        vf_err = torch.pow(v_head - targets_n, 2.0)
        vf_err_clipped = torch.clamp(vf_err, 0, config.vf_clip_param)

        ent_coeff = self.entropy_coeff_schedulers_per_module[module_id].get_current_value()
        total = mean(-surrogate + config.vf_loss_coeff * vf_err_clipped - ent_coeff * entropy)
        if config.use_kl_loss:
            total = total + self.curr_kl_coeffs_per_module[module_id] * kl

        # 3. Per-module metrics (policy KL, entropy, value loss, ...).
        metrics = {
            POLICY_LOSS_KEY: -mean(surrogate),
            VF_LOSS_KEY: mean(vf_err_clipped),
            LEARNER_RESULTS_VF_LOSS_UNCLIPPED_KEY: mean(vf_err),
            LEARNER_RESULTS_VF_EXPLAINED_VAR_KEY: explained_variance(targets, values),
            ENTROPY_KEY: mean(entropy),
            LEARNER_RESULTS_KL_KEY: kl,
        }
        metrics.update(module.comm_stats())  # message statistics (communication only)
        if norm is not None:
            m, s = norm.stats()
            metrics[VALUE_NORM_MEAN_KEY] = m
            metrics[VALUE_NORM_STD_KEY] = s
        self.metrics.log_dict(metrics, key=module_id, window=1)
        return total
