"""Experiments: grids of simulated runs, executors and the results store, suites, and reports
made from the results table alone."""
