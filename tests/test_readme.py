"""The Python examples of the README and of the documentation's guides run unchanged."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs

ROOT = Path(__file__).resolve().parents[1]
# What tells each Python example apart (README.md and docs/), in the order the tests below number them.
EXAMPLES = ["\"tags\": [\"readme\"]", "hparam_tuning", "# my_search.py", "# pruning.py"]


def run_example(index: int, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Runs the `index`-th Python example, in the order of EXAMPLES."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    # The same example shown on two pages (the README's, again on the site's home) is one example.
    examples = list(dict.fromkeys(e for page in pages for e in re.findall(r"```python\n(.*?)```", page.read_text(),
                                                                          flags=re.S)))
    assert len(examples) == len(EXAMPLES), "a Python example was added to the docs or removed: test it here"
    example = next(e for e in examples if EXAMPLES[index] in e)
    script = tmp_path / f"example_{index}.py"
    script.write_text(example)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=child_env()
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_readme_example_runs_unchanged(tmp_path, wandb_env):
    result = run_example(0, tmp_path)
    assert "'units':" in result.stdout
    runs = read_runs(wandb_env)
    trials = list((tmp_path / "runs" / "digits").glob("trial_*"))
    assert len(runs) == len(trials) > 1
    assert all("readme" in run.tags and "hyperband" in run.tags for run in runs.values())


@pytest.mark.slow
def test_the_readme_hparams_grid_runs_unchanged_into_tensorboard_and_wandb(tmp_path, wandb_env):
    run_example(1, tmp_path)
    sessions = [p for p in (tmp_path / "logs" / "hparam_tuning").iterdir() if p.is_dir()]
    assert len(sessions) == 8 == len(read_runs(wandb_env))


@pytest.mark.slow
def test_the_readme_search_script_runs_alone_and_under_the_launcher_unchanged(tmp_path, wandb_env):
    (tmp_path / "alone").mkdir()
    alone = run_example(2, tmp_path / "alone")
    assert "worker" not in alone.stdout and len(read_runs(wandb_env)) == 6

    launched = tmp_path / "launched"
    launched.mkdir()
    (launched / "my_search.py").write_text((tmp_path / "alone" / "example_2.py").read_text())
    runs_dir = tmp_path / "launched-wandb"
    runs_dir.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "kt_wandb.cli", "launch", "--workers", "2", "--gpus", "none", "--",
         sys.executable, "my_search.py"],
        cwd=launched, capture_output=True, text=True, timeout=900, env=child_env(WANDB_DIR=str(runs_dir)),
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # a chief's line, without its name (an empty line the chief printed is "[chief] ")
    chief = [line.removeprefix("[chief] ") for line in result.stdout.splitlines() if line.startswith("[chief] ")]
    header = [line for line in chief if line.split() == ["trial_id", "worker", "score"]]
    rows = [line for line in chief if re.fullmatch(r"\d+\s+\d+\s+worker[01]\s+[\d.]+", line.strip())]
    assert header and len(rows) == 6, result.stdout[-3000:]  # the chief printed the table, one row per trial
    runs = read_runs(runs_dir)
    assert len(runs) == 6 and len({run.group for run in runs.values()}) == 1
    assert all(any(tag.startswith("worker:") for tag in run.tags) for run in runs.values())


@pytest.mark.slow
def test_the_readme_pruning_example_runs_unchanged(tmp_path, wandb_env):
    result = run_example(3, tmp_path)
    assert "pruned_at_epoch" in result.stdout
    statuses = re.findall(r"^\d+\s+\d+\s+(COMPLETED|PRUNED)\b", result.stdout, flags=re.M)
    assert len(statuses) == 8, result.stdout  # every trial ended, pruned or completed
    runs = read_runs(wandb_env)
    assert sum("pruned" in run.tags for run in runs.values()) == statuses.count("PRUNED")
