import warnings

import numpy as np
import pytest

from sklearn_inr import INRDivergenceError, LabelLeakWarning


def test_divergence_error_names_positions_lr_and_the_fix():
    error = INRDivergenceError([3, 7], lr=1e-2)
    assert isinstance(error, ValueError)
    np.testing.assert_array_equal(error.indices, [3, 7])
    message = str(error)
    assert "2 image(s) at positions [3, 7]" in message and "lr=0.01" in message
    assert "Lower the learning rate" in message


def test_divergence_error_shows_at_most_20_positions():
    message = str(INRDivergenceError(np.arange(25), lr=1.0))
    assert "19]" in message and "and 5 more" in message and ", 20," not in message


def test_label_leak_warning_can_be_filtered_on_its_own():
    assert issubclass(LabelLeakWarning, UserWarning)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("error", category=LabelLeakWarning)
        warnings.warn("other", UserWarning)  # recorded, not raised
        with pytest.raises(LabelLeakWarning):
            warnings.warn("leak", LabelLeakWarning)
    assert [str(w.message) for w in caught] == ["other"]
