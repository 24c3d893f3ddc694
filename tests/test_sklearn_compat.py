"""The scikit-learn internals are imported from one module, within a tested range."""

import ast
import re
from pathlib import Path

import sklearn

from skinfluence import _sklearn_compat

ROOT = Path(__file__).parents[1]


def _release(version):
    return tuple(int(part) for part in re.match(r"(\d+)\.(\d+)", version).groups())


def test_installed_scikit_learn_is_within_the_tested_range():
    installed = _release(sklearn.__version__)
    assert _release(_sklearn_compat.SKLEARN_MIN_VERSION) <= installed
    assert installed < _release(_sklearn_compat.SKLEARN_TESTED_BELOW), (
        f"scikit-learn {sklearn.__version__} is newer than the tested range: check "
        "the internals of skinfluence/_sklearn_compat.py, then raise "
        "SKLEARN_TESTED_BELOW."
    )


def test_the_lower_bound_is_the_one_pyproject_declares():
    pyproject = (ROOT / "pyproject.toml").read_text()
    declared = re.findall(r'"scikit-learn([^"]*)"', pyproject)
    assert declared == [f">={_sklearn_compat.SKLEARN_MIN_VERSION}"]


def _private_sklearn_imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "sklearn"
        ):
            private_module = any(
                part.startswith("_") for part in node.module.split(".")
            )
            private_names = [a.name for a in node.names if a.name.startswith("_")]
            if private_module or private_names:
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.module}"


def test_no_other_module_imports_scikit_learn_internals():
    found = [
        hit
        for folder in ("skinfluence", "tests")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "_sklearn_compat.py"
        for hit in _private_sklearn_imports(path)
    ]
    assert found == []
