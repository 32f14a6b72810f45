"""Colloquy's benchmark harness: `python -m bench` (short) or `python -m bench --full`."""
