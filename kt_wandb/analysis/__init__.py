"""Analysis of a search's records: results table, parameter importance, offline report, W&B panels and sync.

Reads only what a search wrote to its project directory; imports nothing from `kt_wandb.tuners`.
"""

from kt_wandb._records import config_key, hyperparameter_name
from kt_wandb.analysis._importance import design_matrix, parameter_importance
from kt_wandb.analysis._panels import PanelColumn, PanelSpec, build_wandb_report, panel_spec, publish_panels
from kt_wandb.analysis._report import ReportData, report_data, write_report
from kt_wandb.analysis._results import learning_curves, load_trials, results_frame
from kt_wandb.analysis._sync import SyncResult, sync_search, unsent_runs

__all__ = [
    "PanelColumn",
    "PanelSpec",
    "ReportData",
    "SyncResult",
    "build_wandb_report",
    "config_key",
    "design_matrix",
    "hyperparameter_name",
    "learning_curves",
    "load_trials",
    "panel_spec",
    "parameter_importance",
    "publish_panels",
    "report_data",
    "results_frame",
    "sync_search",
    "unsent_runs",
    "write_report",
]
