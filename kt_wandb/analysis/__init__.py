"""Analysis of a search's records: the results table, parameter importance and the offline report.

Reads only what a search wrote to its project directory; imports nothing from `kt_wandb.tuners`.
"""

from kt_wandb.analysis._importance import design_matrix, parameter_importance
from kt_wandb.analysis._report import ReportData, report_data, write_report
from kt_wandb.analysis._results import learning_curves, load_trials, results_frame

__all__ = [
    "ReportData",
    "design_matrix",
    "learning_curves",
    "load_trials",
    "parameter_importance",
    "report_data",
    "results_frame",
    "write_report",
]
