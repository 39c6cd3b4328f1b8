"""The README's Quickstart runs as written, so it cannot drift from the code."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def quickstart_code(readme: str) -> str:
    """The first ```python block of the README's "## Quickstart" section."""
    section = re.search(r"^## Quickstart\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    assert section, 'README.md has no "## Quickstart" section'
    block = re.search(r"^```python\n(.*?)^```", section.group(1), re.S | re.M)
    assert block, "the Quickstart section has no ```python block"
    return block.group(1)


def test_quickstart_code_finds_the_block():
    readme = (
        "# T\n## Quickstart\ntext\n```python\nprint(1)\n```\n"
        "## Next\n```python\nx\n```\n"
    )
    assert quickstart_code(readme) == "print(1)\n"
    with pytest.raises(AssertionError, match="no ```python block"):
        quickstart_code("## Quickstart\n```bash\nls\n```\n## Next\n")
    # The last section of a file is found too.
    assert quickstart_code("## Quickstart\n```python\nx = 1\n```\n") == "x = 1\n"


def test_readme_quickstart_runs_as_written(tmp_path):
    code = quickstart_code((ROOT / "README.md").read_text(encoding="utf-8"))
    # What the Quickstart is there to show.
    for name in ("Pipeline", "GridSearchCV", "StratifiedGroupKFold", "omega_0", "lr"):
        assert name in code, name
    # One torch thread, as conftest.py gives the tests: on a 2-core machine
    # shared with other jobs, the spin-waiting of a second thread made the
    # small classifier fits up to 10x slower. Results do not depend on it.
    env = dict(os.environ, MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    # This checkout's package, whatever is installed.
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), env.get("PYTHONPATH")) if p
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    found = re.search(
        r"^grouped 5-fold CV accuracy: (\d\.\d\d) \(best: omega_0=(\S+), lr=(\S+)\)$",
        result.stdout,
        re.M,
    )
    assert found, result.stdout
    accuracy = float(found.group(1))
    # The slices carry the label (tumour or not): better than guessing.
    assert 0.5 < accuracy <= 1.0, result.stdout
    assert float(found.group(2)) in (10.0, 30.0)
    assert float(found.group(3)) in (1e-3, 3e-3)
    # It says where it writes, and writes nowhere else.
    assert str(tmp_path / "quickstart") in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["quickstart"]
    folder = tmp_path / "quickstart"
    assert sorted(p.name for p in folder.iterdir()) == ["cache", "cohort"]
    assert list((folder / "cache").rglob("*.npz"))
    # A newcomer sees it working: the INR progress bars and the search's plan.
    assert "Fitting INRs" in result.stderr
    assert "Fitting 5 folds for each of 4 candidates" in result.stdout
