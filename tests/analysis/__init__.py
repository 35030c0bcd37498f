"""Tests of `kt_wandb.analysis`."""
