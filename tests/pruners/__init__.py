"""Tests of `kt_wandb.pruners`."""
