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


def test_warnings_point_at_the_users_line_whatever_the_entry_point():
    # fit_inrs and INRFeaturizer reach the runner through different depths;
    # both warnings must name this file, not a line inside the package.
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sklearn_inr import INRFeaturizer, fit_inrs

    images = np.random.default_rng(0).uniform(size=(2, 6, 6)).astype(np.float32)
    small = {"hidden_features": 4, "hidden_layers": 1, "n_steps": 2}
    for call in (
        lambda: fit_inrs(images, target_psnr=60.0, random_state=0, **small),
        lambda: INRFeaturizer(target_psnr=60.0, random_state=0, **small).fit(images),
        lambda: INRFeaturizer(
            target_psnr=60.0, random_state=0, warm_start_by_class=True, **small
        ).fit(images, [0, 1]),
    ):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            call()
        ours = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        assert ours and all(w.filename == __file__ for w in ours), [
            (w.filename, w.lineno) for w in ours
        ]
