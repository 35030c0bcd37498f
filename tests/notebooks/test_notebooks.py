"""Each notebook runs top to bottom, offline, with nbclient: a broken notebook fails CI."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))

RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient

path = sys.argv[1]
notebook = nbformat.read(path, as_version=4)
NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
nbformat.write(notebook, path)
"""


def test_there_are_the_four_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb", "02_compare_oracles.ipynb", "03_tensorboard_hparams.ipynb", "04_custom_training.ipynb",
    ]


def test_committed_notebooks_have_no_outputs():
    import nbformat

    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_top_to_bottom_offline(path, tmp_path, wandb_env):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    env = child_env()
    env.pop("WANDB_MODE")  # the notebooks choose offline themselves, as they do for a new user
    result = subprocess.run(
        [sys.executable, "-c", RUNNER, str(copy)], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env
    )
    assert result.returncode == 0, result.stderr[-4000:]
    runs = read_runs(wandb_env)
    assert runs and all(run.exit_code == 0 for run in runs.values())
