"""What a search leaves once it has ended: the TensorBoard HParams experiment and the W&B comparison panels."""

from __future__ import annotations

from typing import Any

import keras_tuner as kt

from kt_wandb._log import logger
from kt_wandb.tuners._tensorboard import write_experiment

__all__ = ["publish_search_panels", "write_tensorboard_experiment"]


def write_tensorboard_experiment(tensorboard_dir: str, oracle: kt.Oracle) -> None:
    """The HParams experiment: the search space's domains, the objective and every metric the trials reported."""
    metrics = {name for t in oracle.trials.values() for name in t.metrics.metrics}
    write_experiment(tensorboard_dir, oracle.hyperparameters, oracle.objective.name, metrics)


def publish_search_panels(project_dir: str, mode: str, *, verbose: Any) -> None:
    """Online, saves the search's W&B report; offline, prints the command that uploads the runs and saves it.

    What it prints follows `verbose`, as KerasTuner's own summaries do (verbose=0: nothing on stdout); trouble
    is a notice: the search is done, and the panels can be made later.
    """
    if mode == "offline":
        if verbose:
            print(f"kt-wandb: upload the runs and add the comparison panels in W&B with: kt-wandb sync {project_dir}")
        return
    from kt_wandb.analysis import publish_panels

    try:
        url = publish_panels(project_dir)
    except Exception as exc:
        logger.warning(f"could not save the W&B panels ({type(exc).__name__}: {exc}); "
                       f"retry with: kt-wandb panels {project_dir}")
        return
    if verbose:
        print(f"kt-wandb: comparison panels in W&B: {url}")
