"""Simulated podiums and network models for demos, tests and benchmarks."""
