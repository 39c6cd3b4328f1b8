"""The estimators' private parts: input checks, starts, weight transfer, networks.

The estimators themselves are public modules of the package
(:mod:`sklearn_inr.featurizer`, :mod:`sklearn_inr.classifier`); the
skops files that persist them name those paths.
"""

from ._convnet_module import conv_macs
from ._mlp_network import SINGLE_THREAD_MACS

__all__ = ["SINGLE_THREAD_MACS", "conv_macs"]
