"""The fitting layer: many images, one INR each, reproducibly.

Settings, the runner (batches, dispatch, cache, progress, divergence), the
array store, starts (inits), trainers and results, and the public functions
built on them: :func:`fit_inrs`, :func:`fit_shifts`, :func:`render_inrs`.
"""
