"""Experiments: grids of simulated runs, the results store, and reports made from the table alone."""
