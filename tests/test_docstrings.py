"""Each public class's docstring example runs as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "kt_wandb.tuners._tuner",
    "kt_wandb.tuners._logger",
    "kt_wandb.tuners._memory",
    "kt_wandb.tuners._signals",
    "kt_wandb.pruners._base",
    "kt_wandb.pruners._median",
    "kt_wandb.pruners._halving",
    "kt_wandb._records",
    "kt_wandb._heap",
    "kt_wandb._direction",
    "kt_wandb.models._mlp",
    "kt_wandb.models._cnn",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(
        importlib.import_module(name), optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
