"""``skinfluence demo``: its options are checked before any training."""

import pytest

from skinfluence import InfluenceGlitchDetector
from skinfluence.cli import main


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if the demo reaches the detector's fit."""

    def fit(self, *args, **kwargs):
        raise AssertionError("the demo trained before checking its options")

    monkeypatch.setattr(InfluenceGlitchDetector, "fit", fit)


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["--signal", "nope"],
            "argument --signal: unknown signal 'nope'; available signals: self,",
        ),
        (["--ratio", "0"], "argument --ratio: expected a share in (0, 1], got '0'"),
        (["--ratio", "1.5"], "argument --ratio: expected a share in (0, 1]"),
        (["--ratio", "0.0001"], "--ratio 0.0001 flips no label of the 1797 digits"),
        (["--top", "-1"], "--top must be 0 or more."),
        (["--seed", "-1"], "argument --seed: expected an integer in [0, 2**32 - 1]"),
    ],
)
def test_bad_options_are_usage_errors(argv, message, no_training, capsys):
    with pytest.raises(SystemExit) as error:
        main(["demo", *argv])
    assert error.value.code == 2
    err = capsys.readouterr().err
    assert f"skinfluence demo: error: {message}" in err
    assert "Traceback" not in err


def test_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in (
        "(default: self)",
        "(default: 0.1)",
        "(default: 0)",
        "(default: 10)",
    ):
        assert option in out


def test_good_options_reach_the_detector(monkeypatch):
    seen = {}

    def fit(self, X, y):
        seen.update(signal=self.signal, random_state=self.random_state, rows=len(X))
        raise KeyboardInterrupt  # stop before printing; nothing to train

    monkeypatch.setattr(InfluenceGlitchDetector, "fit", fit)
    with pytest.raises(KeyboardInterrupt):
        main(["demo", "--signal", "loss", "--ratio", "1", "--seed", "3", "--top", "0"])
    assert seen == {"signal": "loss", "random_state": 3, "rows": 1797}
