"""Each docstring example in the package runs as written: every module that has one is found, none listed by hand."""

from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import kt_wandb

OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list[str]:
    names = [info.name for info in pkgutil.walk_packages(kt_wandb.__path__, "kt_wandb.")]
    found = []
    for name in ["kt_wandb", *names]:
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin and ">>>" in open(spec.origin, encoding="utf-8").read():
            found.append(name)
    return sorted(found)


MODULES = _modules_with_examples()


def test_the_examples_are_found_where_the_public_classes_are():
    assert {"kt_wandb.tuners._tuner", "kt_wandb.pruners._median", "kt_wandb.models._mlp"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    runnable = [example for test in doctest.DocTestFinder().find(module) for example in test.examples
                if not example.options.get(doctest.SKIP)]
    result = doctest.testmod(module, optionflags=OPTIONS)
    assert result.failed == 0
    assert result.attempted >= len(runnable)  # every example that isn't marked to skip ran
