"""Learned initialisations: one outer loop, several update rules.

Reptile and first-order MAML (:func:`meta_learn_init`), the task-aware init
(:func:`task_learn_init`) and functa-style latents (:func:`meta_learn_latent`).
"""
