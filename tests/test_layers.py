"""Data flows one way: the parts below the tuner never import it, nor each other, nor the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.imports import imports

PACKAGE = Path(__file__).parents[1] / "kt_wandb"

# Each part, and the parts it may import. `base`: the private modules at the top (`kt_wandb/_*.py`).
MAY_IMPORT = {
    "base": {"base"},
    "data": {"base", "data"},
    "pruners": {"base", "pruners"},
    "oracles": {"base", "oracles"},
    "distribute": {"base", "distribute"},
    "models": {"base", "models"},
    "analysis": {"base", "analysis"},
}
# The parts above them, which may import any part: the tuners, the command line, the launcher, the package's front.
ABOVE = {"tuners", "cli", "launcher", "front"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def part_of(module: str) -> str:
    """`kt_wandb.analysis._report` -> "analysis"; `kt_wandb._records` -> "base"; `kt_wandb.cli` -> "cli"."""
    name = module.split(".")[1] if "." in module else "__init__"
    return "front" if name == "__init__" else "base" if name.startswith("_") else name


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if part_of(module_name(p)) in MAY_IMPORT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_a_part_below_the_tuner_imports_only_itself_and_the_base(path):
    allowed = MAY_IMPORT[part_of(module_name(path))]
    ours = {name for name in imports(path) if name.startswith("kt_wandb.")}
    assert {name for name in ours if part_of(name) not in allowed} == set()


def test_every_module_is_in_a_known_part_and_an_import_inside_a_function_counts(tmp_path):
    parts = {part_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert parts == set(MAY_IMPORT) | ABOVE  # a new part says where it stands, here
    path = tmp_path / "m.py"
    path.write_text('"""\n>>> from kt_wandb.cli import main\n"""\nimport os\n\n\n'
                    'def f():\n    from kt_wandb.tuners import _tuner\n')
    assert imports(path) == {"os", "kt_wandb.tuners"}
