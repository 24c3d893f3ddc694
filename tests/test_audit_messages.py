"""Errors and warnings in the words of the API the user called.

An audit's user passed a table, not ``X_val`` or a ``make_net`` template; a
``find_glitches`` or ``InfluenceGlitchRegressor`` user gets pointed to the
tool for their target.
"""

import logging
import warnings

import numpy as np
import pandas as pd
import pytest

import skinfluence
from skinfluence import InfluenceGlitchDetector, InfluenceGlitchRegressor, find_glitches
from skinfluence.cli import main
from skinfluence.models import make_net

from .conftest import tiny_net


def _unlearnable(n=60, n_classes=30):
    """Noise features and 30 classes of 2 rows: one epoch learns nothing."""
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(n, 3)), columns=["a", "b", "c"])
    frame["kind"] = [f"k{i % n_classes}" for i in range(n)]
    return frame


def _labelled(n=40):
    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.normal(size=(n, 2)), columns=["a", "b"])
    frame["target"] = np.arange(n) % 2
    return frame


def test_audit_words_the_not_learnt_warning_for_a_table(caplog):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with caplog.at_level(logging.WARNING, logger="skinfluence"):
            skinfluence.audit(_unlearnable(), "kind", epochs=1)
    # The detector's advice names options an audit's user does not have.
    assert not [w for w in caught if "standardize=True" in str(w.message)]
    (record,) = [r for r in caplog.records if "has not learnt" in r.getMessage()]
    message = record.getMessage()
    assert "fits only" in message
    assert "--epochs" in message
    assert "'kind'" in message
    assert "30 classes, 2 rows each" in message


def test_cli_quiet_shows_the_audit_warning_without_a_source_line(tmp_path, capsys):
    _unlearnable().to_csv(tmp_path / "data.csv", index=False)
    argv = ["audit", str(tmp_path / "data.csv"), "--target", "kind", "--epochs", "1"]
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main([*argv, "--out", str(tmp_path / "out"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "skinfluence: The network fits only" in err
    assert "detector.py" not in err
    assert "make_net" not in err


def test_reference_label_missing_from_the_table_is_named():
    frame = _labelled()
    reference = _labelled(30)
    reference.loc[:4, "target"] = 9
    with pytest.raises(ValueError) as error:
        skinfluence.audit(frame, "target", reference=reference, epochs=1)
    message = str(error.value)
    assert "reference holds 'target' label(s) 9 (5 rows)" in message
    assert "no row of the table has" in message
    assert "y_val" not in message


def test_reference_labels_of_another_type_name_both_types():
    reference = _labelled(30)
    reference["target"] = reference["target"].astype(str)
    with pytest.raises(ValueError) as error:
        skinfluence.audit(_labelled(), "target", reference=reference, epochs=1)
    message = str(error.value)
    assert "reference's 'target' holds text ('0', '1')" in message
    assert "the table's holds integers (0, 1)" in message
    assert "y_val" not in message


def test_regressor_with_a_classification_net_points_to_the_regression_net():
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(TypeError, match=r"CrossEntropyLoss is a classification loss"):
        InfluenceGlitchRegressor(make_net("MLP", max_epochs=1)).fit(X, X[:, 0])
    with pytest.raises(TypeError, match=r"make_net\(\.\.\., task='regression'\)"):
        InfluenceGlitchRegressor(make_net("MLP", max_epochs=1)).fit(X, X[:, 0])


def test_a_continuous_target_as_classes_points_to_the_regressor(noisy_data):
    X = noisy_data["X"]
    with pytest.raises(
        ValueError, match="Unknown label type: continuous.*InfluenceGlitchRegressor"
    ):
        find_glitches(X, X[:, 0], task="classification")
    with pytest.raises(ValueError, match="continuous target use"):
        InfluenceGlitchDetector(tiny_net(max_epochs=1)).fit(X, X[:, 0])
    # Whole-number floats are still class labels.
    y = noisy_data["y"].astype(float)
    found = find_glitches(X, y, estimator=tiny_net(max_epochs=2), random_state=0)
    assert found.shape == y.shape


def test_one_class_target_names_the_class_as_written():
    from skinfluence.auditing import clean_table

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [1, 1, 1]})
    with pytest.raises(ValueError, match=r"has one class \(1\);"):
        clean_table(frame, "y")
