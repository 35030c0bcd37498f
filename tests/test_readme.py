"""The README's Python example runs unchanged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env
from wandb_log import read_runs

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_the_readme_example_runs_unchanged(tmp_path, wandb_env):
    (example,) = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    script = tmp_path / "example.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        timeout=900, env=child_env(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'units':" in result.stdout
    runs = read_runs(wandb_env)
    trials = list((tmp_path / "runs" / "digits").glob("trial_*"))
    assert len(runs) == len(trials) > 1
    assert all("readme" in run.tags and "hyperband" in run.tags for run in runs.values())
