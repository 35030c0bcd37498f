"""Analysis of a search's records: the results table (more to come: importance, report)."""

from kt_wandb.analysis._results import load_trials, results_frame

__all__ = ["load_trials", "results_frame"]
