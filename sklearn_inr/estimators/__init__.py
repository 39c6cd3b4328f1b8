"""The estimators' private parts: input checks, starts, weight transfer, networks.

The estimators themselves are public modules of the package
(:mod:`sklearn_inr.featurizer`, :mod:`sklearn_inr.classifier`); the
skops files that persist them name those paths.
"""

from ._convnet_module import conv_macs

__all__ = ["conv_macs"]
