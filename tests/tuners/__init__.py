"""Tests of `kt_wandb.tuners`."""
