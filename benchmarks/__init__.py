"""The benchmarks: scripts run by hand (see README.md); the tests reuse a few of their functions."""
