"""The files a search writes beside KerasTuner's, shared by their writer (tuners) and readers (analysis)."""

from __future__ import annotations

__all__ = ["IDENTITY_FILE", "RUN_RECORD"]

# In the project directory: the search's id, objective, direction and oracle.
IDENTITY_FILE = "kt_wandb.json"
# In each trial's directory: the trial's W&B run (id, local folder, exit code), duration and execution scores.
RUN_RECORD = "wandb_run.json"
