"""The role, decided once (`kt_wandb.tuners._roles`): what each part of a search does differently, in one object."""

from __future__ import annotations

import ast
import inspect

import pytest

from kt_wandb.tuners import _tuner
from kt_wandb.tuners._roles import Chief, NullHeartbeat, Standalone, Worker, choose_role


@pytest.mark.parametrize(
    ("tuner_id", "kind", "opens_runs", "owns_outputs", "tags"),
    [(None, Standalone, True, True, []), ("chief", Chief, False, True, []),
     ("worker3", Worker, True, False, ["worker:worker3"])],
)
def test_kerastuners_variables_choose_the_role_and_what_it_does(monkeypatch, tuner_id, kind, opens_runs,
                                                                  owns_outputs, tags):
    for name in ("KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        monkeypatch.delenv(name, raising=False)
    if tuner_id is not None:
        monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
        monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
        monkeypatch.setenv("KERASTUNER_TUNER_ID", tuner_id)
    chosen = choose_role()
    assert type(chosen) is kind and chosen.name == (None if tuner_id is None else kind.name)
    assert (chosen.opens_runs, chosen.owns_outputs, chosen.tags()) == (opens_runs, owns_outputs, tags)
    assert chosen.summary() == ({"trial/worker": tuner_id} if kind is Worker else {})
    assert chosen.worker_id == (tuner_id if kind is Worker else None)


def test_every_process_of_a_distributed_search_makes_the_same_folds_and_one_on_its_own_its_oracles():
    assert Chief().cv_seed("abc123", 7) == Worker.cv_seed(Worker.__new__(Worker), "abc123", 9)
    assert Standalone().cv_seed("abc123", 7) == 7 and Standalone().cv_seed("abc123", None) == 0


def test_a_search_on_its_own_beats_for_no_chief():
    beat = Standalone().heartbeat(oracle=None, timeout=120)
    assert isinstance(beat, NullHeartbeat)
    beat.trial_id = "3"
    beat.stop()


def test_the_tuner_has_no_role_branch():
    # Each difference between the roles is the role object's: the tuner never asks which role it has.
    tree = ast.parse(inspect.getsource(_tuner))
    asked = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)
             and any(isinstance(side, ast.Attribute) and side.attr in ("role", "worker_id")
                     for side in (node.left, *node.comparators))]
    assert asked == [], asked
