"""The documentation site builds with no warning, and every public name has a reference entry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def _public_names() -> set[str]:
    import kt_wandb
    import kt_wandb.analysis
    import kt_wandb.oracles
    import kt_wandb.pruners
    import kt_wandb.tuners

    modules = (kt_wandb, kt_wandb.analysis, kt_wandb.oracles, kt_wandb.pruners, kt_wandb.tuners)
    return {name for module in modules for name in module.__all__} - {"__version__"}


def test_every_public_name_has_a_reference_entry(site):
    from mkdocstrings import Inventory

    with (site / "objects.inv").open("rb") as inventory:
        documented = {name.rsplit(".", 1)[-1] for name in Inventory.parse_sphinx(inventory)}
    missing = sorted(_public_names() - documented)
    assert missing == [], f"public names without a reference entry: {missing}; add them under docs/reference/"


def test_the_command_lines_reference_is_its_parsers_help(site):
    # Generated from the parser when the site is built: every option of every subcommand is on the page.
    import argparse

    from kt_wandb.cli import _parser

    page = (site / "reference" / "cli" / "index.html").read_text()
    assert "cli-reference" not in page  # the hook replaced its marker
    (commands,) = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(commands.choices) >= {"search", "report", "panels", "sync", "launch"}
    for name, command in commands.choices.items():
        assert f'id="kt-wandb-{name}"' in page
        flags = [flag for action in command._actions for flag in action.option_strings if flag.startswith("--")]
        assert flags and all(flag in page for flag in flags), name
