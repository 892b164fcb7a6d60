"""What the off-policy algorithms (QMIX / VDN / IQL, MADDPG / MATD3) share.

* :mod:`~rllib_marl.algorithms.offpolicy.replay`: the joint replay buffer
  (aligned sequences and aligned one-step transitions);
* :mod:`~rllib_marl.algorithms.offpolicy.algorithm`: the config base (replay
  settings, agent order, defaults from the training dataclass) and the
  sample → store → learn → sync training step with the buffer in checkpoints;
* :mod:`~rllib_marl.algorithms.offpolicy.batch`: joint arrays → one RLlib
  ``SampleBatch`` per module, and back;
* :mod:`~rllib_marl.algorithms.offpolicy.targets`: target-network updates.
"""
