"""The package's layering, read from its import statements.

Imports only go down (core <- fitting <- learned <- estimators <-
experiments <- cli), a package reaches into another only through the names
its ``__init__`` offers, and modules stay small. These rules are what keep
a new model family to one file and the reproduction's plan honest, so they
are checked here rather than left to review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sklearn_inr"

# Rank of each layer: a module may import modules of its own rank or lower.
# The leaf utilities (shared docs, exceptions, metrics) sit under everything.
LAYERS = {
    "_docs": 0,
    "_exceptions": 0,
    "metrics": 0,
    "core": 1,
    "fitting": 2,
    "learned": 3,
    "datasets": 3,
    "estimators": 4,
    "featurizer": 4,
    "classifier": 4,
    "plotting": 4,
    "experiments": 5,
    "cli": 6,
    "_cli": 6,
    "__main__": 7,
    "__init__": 7,
}
MAX_LINES = 450


def _modules():
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> list[str]:
    parts = ["sklearn_inr", *path.relative_to(PACKAGE).with_suffix("").parts]
    return parts[:-1] if parts[-1] == "__init__" else parts


def _layer(dotted: list[str]) -> str:
    if len(dotted) == 1:  # sklearn_inr/__init__.py
        return "__init__"
    top = dotted[1]
    return "_cli" if top.startswith("_cli") else top


def _imports(path: Path):
    """``(line, target module parts)`` of every import of the package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = _dotted(path)
    package = here if path.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.split(".")[0] == "sklearn_inr":
                target = node.module.split(".")
            else:
                continue
            names = [alias.name for alias in node.names]
            if node.level and not node.module:
                # ``from . import x``: x may itself be a module.
                for name in names:
                    yield node.lineno, target + [name]
            else:
                yield node.lineno, target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sklearn_inr":
                    yield node.lineno, alias.name.split(".")


# The public estimator modules stay at the top level (skops files name
# ``sklearn_inr.featurizer.INRFeaturizer``); their private parts live in
# ``estimators/``, which they, and the package's ``__init__``, may import.
ESTIMATOR_FACES = (["sklearn_inr"], ["sklearn_inr", "featurizer"],
                   ["sklearn_inr", "classifier"])  # fmt: skip


def _private_reach(source: list[str], target: list[str]) -> bool:
    """Whether ``target`` is a private module of another package than ``source``'s."""
    for depth, part in enumerate(target[1:], start=1):
        if part.startswith("_") and not part.startswith("__"):
            owner = target[:depth]
            if owner == ["sklearn_inr", "estimators"] and source in ESTIMATOR_FACES:
                return False
            return source[: len(owner)] != owner
    return False


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    source = _dotted(path)
    rank = LAYERS[_layer(source)]
    upward = [
        f"line {line}: {'.'.join(target)}"
        for line, target in _imports(path)
        if len(target) > 1 and LAYERS.get(_layer(target), 0) > rank
    ]
    assert not upward, f"{path.name} imports a higher layer: {upward}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_of_another_packages_private_module(path):
    source = _dotted(path)
    reached = [
        f"line {line}: {'.'.join(target)}"
        for line, target in _imports(path)
        if _private_reach(source, target)
    ]
    assert not reached, (
        f"{path.name} imports private modules of another package (use the "
        f"names its __init__ exports): {reached}"
    )


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    n_lines = len(path.read_text().splitlines())
    assert n_lines <= MAX_LINES, f"{path.name} has {n_lines} lines: split it"


def test_the_checks_catch_what_they_are_for():
    # The helpers themselves, on made-up module paths.
    core, runner = ["sklearn_inr", "core", "_engine"], ["sklearn_inr", "fitting"]
    assert _private_reach(["sklearn_inr", "experiments", "_plan"], core)
    assert not _private_reach(["sklearn_inr", "core", "_training"], core)
    assert not _private_reach(["sklearn_inr", "experiments", "_plan"], runner)
    assert (
        LAYERS[_layer(["sklearn_inr", "experiments", "_plan"])] > LAYERS[_layer(core)]
    )
    assert _layer(["sklearn_inr"]) == "__init__"
    strategies = ["sklearn_inr", "estimators", "_strategies"]
    assert not _private_reach(["sklearn_inr", "featurizer"], strategies)
    assert _private_reach(["sklearn_inr", "experiments", "_stages"], strategies)


# What trains a batch: the fitting layer's own business.
ENGINE_NAMES = {
    "BatchedINR",
    "Engine",
    "train",
    "WeightsTrainer",
    "ShiftTrainer",
    "auto_batch_size",
    "bytes_per_batch",
    "render_batch",
    "run_fits",
}


@pytest.mark.parametrize(
    "path",
    [
        *sorted((PACKAGE / "experiments").glob("*.py")),
        PACKAGE / "classifier.py",
        PACKAGE / "estimators" / "_mlp_network.py",
        PACKAGE / "estimators" / "_net_state.py",
    ],
    ids=lambda p: str(p.relative_to(PACKAGE)),
)
def test_experiments_and_the_classifier_never_reach_the_engine(path):
    tree = ast.parse(path.read_text())
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert not imported & ENGINE_NAMES, f"{path.name}: {imported & ENGINE_NAMES}"
    if path.parent.name == "experiments":
        reached = [target for _, target in _imports(path) if target[1:2] == ["core"]]
        assert not reached, f"{path.name} imports the compute core: {reached}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_import_of_another_modules_underscore_names(path):
    # ``from . import _siren`` imports a module of the same package (the model
    # table's registrations); ``from ._brats import _resize`` reaches into
    # another module's private helper, which is not its to offer.
    tree = ast.parse(path.read_text())
    private = [
        f"line {node.lineno}: {alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module is not None
        and (node.level or node.module.split(".")[0] == "sklearn_inr")
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert not private, f"{path.name} imports underscore names: {private}"
