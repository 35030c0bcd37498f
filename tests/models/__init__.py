"""Tests of `kt_wandb.models`."""
