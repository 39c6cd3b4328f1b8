"""Learned initialisations: one outer loop, several update rules.

Reptile and first-order MAML (:func:`meta_learn_init`,
:func:`meta_learn_shift_base`), the task-aware init (:func:`task_learn_init`)
and functa-style latents (:func:`meta_learn_latent`) are update rules of one
outer loop (:func:`outer_loop`), which holds the argument checks, the
seeded batch sampling, the progress bar and the divergence error once.
"""

from ._latent import adapt_latents, meta_learn_latent
from ._latent_model import (
    LatentModel,
    LatentTrainer,
    latent_feature_names,
    latent_model_size,
    latents_to_theta,
)
from ._loop import (
    INIT_GROWTH_LIMIT,
    META_CONSTRAINTS,
    AutogradRule,
    MetaProblem,
    OuterRule,
    outer_loop,
    prepare,
    sample_rows,
)
from ._meta import meta_learn_init, meta_learn_shift_base
from ._store import network_key, stored_init
from ._task_init import (
    TASK_META_LR,
    TASK_STEP_SIZE,
    check_task_labels,
    task_init_size,
    task_learn_init,
    unpack_task_init,
)

__all__ = [
    "INIT_GROWTH_LIMIT",
    "TASK_META_LR",
    "TASK_STEP_SIZE",
    "META_CONSTRAINTS",
    "AutogradRule",
    "LatentModel",
    "LatentTrainer",
    "MetaProblem",
    "OuterRule",
    "adapt_latents",
    "check_task_labels",
    "latent_feature_names",
    "latent_model_size",
    "latents_to_theta",
    "meta_learn_init",
    "meta_learn_latent",
    "meta_learn_shift_base",
    "outer_loop",
    "prepare",
    "sample_rows",
    "network_key",
    "stored_init",
    "task_init_size",
    "task_learn_init",
    "unpack_task_init",
]
