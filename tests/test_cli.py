"""`kt-wandb search` end to end, as a user runs it."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kt_wandb.cli import main
from tests.helpers.environment import child_env
from tests.helpers.wandb_log import read_runs


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kt_wandb.cli", *args],
        cwd=cwd, capture_output=True, text=True, timeout=900, env=child_env(),
    )


def check_search(result: subprocess.CompletedProcess[str], runs_dir: Path, project_dir: Path) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "best hyperparameters:" in out and "kt-wandb sync" in out
    (report,) = re.findall(r"^report: (\S+)", out, flags=re.M)
    cwd = project_dir.parents[1]  # the commands run in the folder that holds --directory
    assert (cwd / report).samefile(project_dir / "report.html")
    (live,) = re.finditer(r"^report \(follows the search; open it now\): (\S+)$", out, flags=re.M)
    assert (cwd / live.group(1)).samefile(project_dir / "report.html")
    assert live.start() < out.index("\ntrial ")  # said before the first trial, so it can be opened at once
    progress = re.findall(r"^trial (\d+)/(\d+)", out, flags=re.M)
    assert progress and progress[-1][0] == progress[-1][1]  # counted up to the plan
    runs = read_runs(runs_dir)
    trials = sorted(p for p in project_dir.glob("trial_*"))
    assert len(runs) == len(trials) == int(progress[-1][1])
    assert all(run.exit_code == 0 and "val_accuracy" in run.summary for run in runs.values())


def test_search_with_a_small_budget(tmp_path, wandb_env):
    result = run_cli("search", "--epochs", "2", "--directory", "out", "--project-name", "s", cwd=tmp_path)
    check_search(result, wandb_env, tmp_path / "out" / "s")
    assert "test accuracy" in result.stdout


def test_search_with_a_pruner_reports_every_epoch_and_marks_what_it_stopped(tmp_path, wandb_env):
    result = run_cli("search", "--pruner", "asha", "--max-trials", "5", "--epochs", "3", "--directory", "out",
                     "--project-name", "s", cwd=tmp_path)
    project = tmp_path / "out" / "s"
    check_search(result, wandb_env, project)
    assert "with mlp, random, pruner asha, 5 trials" in result.stdout  # --pruner picks random over hyperband
    decisions = {p.parent.name.removeprefix("trial_"): json.loads(p.read_text())
                 for p in project.glob("trial_*/pruning.json")}
    assert len(decisions) == 5 and all(d["curves"]["0"] for d in decisions.values())  # the oracle saw each epoch
    runs = {run.name.removeprefix("trial-"): run for run in read_runs(wandb_env).values()}
    for trial_id, decision in decisions.items():
        line = re.search(rf"^trial .*\[{trial_id}\].*$", result.stdout, flags=re.M).group(0)
        if decision["pruned"]:
            assert f"(pruned after epoch {decision['pruned'][1]})" in line and "pruned" in runs[trial_id].tags
        else:
            assert "pruned" not in line and "pruned" not in runs[trial_id].tags
    assert decisions[min(decisions)]["pruned"] is None  # the first to reach each rung is the best there


@pytest.mark.slow
def test_default_search_runs_as_the_readme_says(tmp_path, monkeypatch, wandb_env):
    # As a new user runs it: no WANDB_DIR, so the runs land beside the trials.
    env_dir = wandb_env
    monkeypatch.delenv("WANDB_DIR")
    result = run_cli("search", cwd=tmp_path)
    check_search(result, tmp_path / "kt_wandb_runs" / "wandb", tmp_path / "kt_wandb_runs" / "digits-mlp-hyperband")
    assert not list(env_dir.glob("**/offline-run-*"))


def test_bad_input_is_one_clear_line(capsys, tmp_path):
    assert main(["search", "--data", str(tmp_path / "nope.csv")]) == 2
    err = capsys.readouterr().err
    assert "Expected an existing data file" in err and "nope.csv" in err
    with pytest.raises(SystemExit):
        main(["search", "--oracle", "randon"])
    with pytest.raises(SystemExit):
        main(["search", "--epochs", "0"])


def test_the_commands_choices_are_the_registries():
    from kt_wandb.cli import MODEL_NAMES, ORACLE_NAMES, PRUNER_NAMES
    from kt_wandb.models import HYPERMODELS
    from kt_wandb.tuners import ORACLES, PRUNERS

    assert ORACLE_NAMES == tuple(sorted(ORACLES))
    assert PRUNER_NAMES == tuple(sorted(PRUNERS))
    assert MODEL_NAMES == tuple(sorted(HYPERMODELS))


def test_runs_land_in_a_relative_directory_also_through_another_processs_wandb_service(tmp_path, wandb_env):
    import wandb

    # This process's wandb service is running and exported in WANDB_SERVICE, as in a notebook or a
    # script that already used wandb; the child inherits it, and the service has another working directory.
    with wandb.init(project="parent", dir=wandb_env, mode="offline"):
        pass
    assert "WANDB_SERVICE" in os.environ
    env = {k: v for k, v in os.environ.items() if k != "WANDB_DIR"}
    result = subprocess.run(
        [sys.executable, "-m", "kt_wandb.cli", "search", "--oracle", "random", "--max-trials", "2",
         "--epochs", "1", "--directory", "rel", "--project-name", "s"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(read_runs(tmp_path / "rel" / "wandb")) == 2


@pytest.mark.parametrize(("sent", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "Ctrl-C", "SIGHUP"])
def test_a_signal_ends_the_search_with_the_shells_exit_code_and_the_run_finished(tmp_path, wandb_env, sent, code):
    search = subprocess.Popen(
        [sys.executable, "-m", "kt_wandb.cli", "search", "--oracle", "random", "--epochs", "500",
         "--directory", "out", "--project-name", "s"],
        cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 300
    while not list((tmp_path / "out" / "s").glob("trial_*/wandb_run.json")):  # a trial's run is open
        assert search.poll() is None and time.monotonic() < deadline, search.communicate()[1][-3000:]
        time.sleep(0.2)
    time.sleep(2)  # into its training
    search.send_signal(sent)
    _, err = search.communicate(timeout=120)
    assert search.returncode == code, err[-3000:]
    assert "interrupted; every finished trial is kept" in err
    (run,) = read_runs(wandb_env).values()
    assert run.exit_code == 255 and run.summary["trial/status"] == "INTERRUPTED"


def help_entries(help_text: str) -> dict[str, str]:
    """An argparse help's option entries, by long flag: each entry's text (its flags and its help), on one line.

    An entry starts at a line indented by two spaces and a dash; its help's wrapped lines are indented further.
    """
    options = help_text.split("\noptions:\n", 1)[1]
    blocks = [block for block in re.split(r"^(?=  -)", options, flags=re.M) if block.strip()]
    return {re.match(r"\s*(?:-\w, )?(--[\w-]+)", block).group(1): " ".join(block.split()) for block in blocks}


def test_every_option_says_what_it_does_and_its_default_once(capsys):
    with pytest.raises(SystemExit):
        main(["search", "--help"])
    out = capsys.readouterr().out
    text = " ".join(out.split())
    assert "(default: None)" not in text
    entries = help_entries(out)
    usage = out.split("\noptions:\n", 1)[0]
    assert set(entries) == set(re.findall(r"\[(--[\w-]+)", usage)) | {"--help"}  # an entry for every option
    for option, entry in entries.items():
        # Once, in its own entry: argparse's "(default: ...)", or in words where the default is None.
        assert entry.count("default:") == (0 if option in ("--help", "--overwrite") else 1), entry
    for option, default in [("--objective", "val_accuracy"), ("--seed", "0"),
                            ("--wandb-project", "kt-wandb"), ("--wandb-mode", "offline"), ("--epochs", "10")]:
        assert f"(default: {default})" in entries[option], option
    assert "trial budget (default: 10; Hyperband: its whole schedule)" in entries["--max-trials"]
    assert "how trials are chosen (default: hyperband; random with --pruner)" in entries["--oracle"]


def test_tensorflows_import_lines_are_kept_out_unless_asked_for(tmp_path, wandb_env):
    env = {k: v for k, v in child_env().items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # as a new user's shell
    args = [sys.executable, "-m", "kt_wandb.cli", "search", "--oracle", "random", "--max-trials", "1",
            "--epochs", "1", "--directory", "out"]
    result = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "absl::InitializeLog" not in result.stderr and "oneDNN" not in result.stderr, result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if line.startswith("kt-wandb:")
    ]  # only the command's own notices
