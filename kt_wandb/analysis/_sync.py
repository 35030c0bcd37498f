"""`kt-wandb sync`: a search's runs that W&B's server lacks, uploaded through wandb's own sync, then its report."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from kt_wandb._records import TrialRecord
from kt_wandb._wandb_env import has_credentials
from kt_wandb.analysis._panels import publish_panels
from kt_wandb.analysis._results import load_trials

__all__ = ["SyncResult", "sync_search", "unsent_runs"]


@dataclass(frozen=True)
class SyncResult:
    """What `sync_search` did.

    Attributes:
        runs: The run folders handed to `wandb sync` (it skips those it has synced before).
        report_url: The URL of the search's W&B report, saved or updated.
    """

    runs: list[str]
    report_url: str


def _attempts(record: TrialRecord) -> list[TrialRecord]:
    return [*record.previous_attempts, record]


def _sent(attempt: TrialRecord) -> bool:
    """Whether W&B's server has the whole run: one online that finished, was confirmed whole, and didn't time out.

    Not one whose process was killed, whose finish failed or was cut short (no confirmation), or any offline one.
    """
    return (attempt.mode == "online" and attempt.exit_code is not None
            and attempt.written is True and not attempt.upload_timed_out)


def unsent_runs(project_dir: str | os.PathLike[str]) -> list[str]:
    """The folders of a search's runs that W&B's server may lack, oldest first.

    Those logged offline (by choice, or after W&B failed online), and online
    ones whose upload outlasted the search's `wandb_timeout`, or whose
    process was killed or interrupted before their finish was confirmed.
    """
    folders = []
    for trial in load_trials(project_dir):
        for attempt in _attempts(TrialRecord.from_json(trial["wandb"])):
            folder = attempt.run_dir
            if folder and not _sent(attempt) and os.path.isdir(folder):
                folders.append(str(folder))
    return folders


def _wandb_sync(folders: list[str]) -> None:
    command = [sys.executable, "-m", "wandb", "sync", "--include-online", *folders]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"Expected `wandb sync` to upload {len(folders)} run(s), received exit code {done.returncode}: "
            f"{(done.stderr or done.stdout).strip()[-2000:]}. To fix, check the network and the login "
            f"(`wandb login`), then run `kt-wandb sync` again: runs already uploaded are skipped."
        )


def sync_search(
    project_dir: str | os.PathLike[str], *, entity: str | None = None, project: str | None = None
) -> SyncResult:
    """Uploads the search's runs W&B's server lacks, then saves (or updates) its W&B report.

    Safe to run again: `wandb sync` skips the runs it synced before, and the
    report is updated in place (see `publish_panels`).

    Args:
        project_dir: The search's project directory.
        entity: The W&B entity of the report; by default the runs' own.
        project: The W&B project of the report; by default the runs' own.

    Raises:
        PermissionError: Without W&B credentials.
        RuntimeError: When `wandb sync` fails.
        ValueError: When the search has no W&B runs.
    """
    if not has_credentials():
        raise PermissionError(
            "Expected W&B credentials to upload the runs, received none (no WANDB_API_KEY, no `wandb login`). "
            "To fix, run `wandb login` (or set WANDB_API_KEY), then run this again."
        )
    folders = unsent_runs(project_dir)
    if folders:
        _wandb_sync(folders)
    return SyncResult(runs=folders, report_url=publish_panels(Path(project_dir), entity=entity, project=project))
