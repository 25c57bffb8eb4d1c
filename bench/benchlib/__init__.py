"""Helpers shared by the benchmark orchestrator (run.py) and the per-contender driver."""
