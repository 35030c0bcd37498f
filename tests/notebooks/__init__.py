"""The notebooks of `notebooks/`, run top to bottom."""
