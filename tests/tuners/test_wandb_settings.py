"""How a search picks its W&B mode and names its runs."""

from __future__ import annotations

import pytest

from kt_wandb.tuners._wandb import SearchIdentity, has_credentials, resolve_mode, run_id


def test_an_explicit_mode_wins_over_the_environment():
    assert resolve_mode("disabled", {"WANDB_MODE": "online"})[0] == "disabled"


def test_wandb_mode_variable_is_used_when_no_mode_is_given():
    mode, reason = resolve_mode(None, {"WANDB_MODE": "offline", "WANDB_API_KEY": "x" * 40})
    assert mode == "offline" and "WANDB_MODE" in reason


def test_online_with_an_api_key_and_offline_without_credentials(tmp_path):
    no_netrc = {"NETRC": str(tmp_path / "none")}
    assert resolve_mode(None, {**no_netrc, "WANDB_API_KEY": "k" * 40})[0] == "online"
    mode, reason = resolve_mode(None, no_netrc)
    assert mode == "offline" and "no W&B credentials" in reason


def test_a_netrc_entry_for_the_wandb_host_counts_as_credentials(tmp_path):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "p" * 40 + "\n")
    netrc.chmod(0o600)
    assert has_credentials({"NETRC": str(netrc)})
    assert not has_credentials({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example.com"})


def test_an_unknown_mode_says_what_is_valid():
    expected = r"Expected wandb_mode to be one of \['online', 'offline', 'disabled'\], received 'ofline'"
    with pytest.raises(ValueError, match=expected):
        resolve_mode("ofline", {})


def test_the_tuner_says_its_mode_in_one_line_on_stderr(tmp_path, capsys, tiny_model):
    from kt_wandb import WandbTuner

    WandbTuner(tiny_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path), project_name="p")
    said = capsys.readouterr()
    lines = [line for line in said.err.splitlines() if line.startswith("kt-wandb:")]
    assert len(lines) == 1 and "'offline'" in lines[0]
    assert said.out == ""  # stdout is the user's, as with KerasTuner


def test_verbose_0_prints_nothing_and_notices_go_through_logging(tmp_path, capsys, tiny_model, digits):
    import logging

    from kt_wandb import WandbTuner

    tuner = WandbTuner(tiny_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path),
                       project_name="quiet", wandb_panels=True)
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=0)
    assert capsys.readouterr().out == ""  # KerasTuner's verbose=0 prints nothing; neither does this search
    tuner.oracle.max_trials = 2
    tuner.search(*digits, epochs=1, validation_split=0.25, verbose=1)
    assert f"kt-wandb sync {tuner.project_dir}" in capsys.readouterr().out  # the summary follows verbose

    notices = logging.getLogger("kt_wandb")
    caught: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = caught.append  # a handler of the user's own captures every notice
    notices.addHandler(handler)
    level = notices.level
    try:
        notices.setLevel(logging.ERROR)  # and the level silences them
        WandbTuner(tiny_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path), project_name="q2")
        assert "kt-wandb" not in capsys.readouterr().err and caught == []
        notices.setLevel(logging.INFO)
        WandbTuner(tiny_model, objective="val_accuracy", max_trials=1, directory=str(tmp_path), project_name="q3")
        assert len(caught) == 1 and "runs of search" in caught[0].getMessage()
    finally:
        notices.removeHandler(handler)
        notices.setLevel(level)


def test_run_ids_are_stable():
    assert run_id("abcd1234", "07") == "abcd1234-07"


def test_the_search_id_is_kept_in_the_project_directory(tmp_path):
    first = SearchIdentity(tmp_path)
    again = SearchIdentity(tmp_path)
    assert not first.resumed and again.resumed
    assert again.search_id == first.search_id
    assert len(first.search_id) == 8 and first.search_id.isalnum()
