"""Adapters for the peers: other Django database queues, each run in its own virtual env."""
