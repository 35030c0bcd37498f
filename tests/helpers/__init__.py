"""What the tests share: the W&B server double, readers of what wandb and TensorBoard wrote, the environment."""
