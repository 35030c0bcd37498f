"""kt-wandb's tests: one package per package of `kt_wandb`; what they share is in `tests.helpers`."""
