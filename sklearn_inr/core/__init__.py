"""The compute core: what an INR is and how a batch of them trains.

The model table, coordinates, theta's layout, the batched forward/backward
engine, losses, optimisers and devices. Plain torch: it knows nothing of
caches, scikit-learn or files.
"""
