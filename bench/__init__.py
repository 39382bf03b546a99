"""Benchmarks: ``python -m bench`` measures memgpt-tui against its targets."""
