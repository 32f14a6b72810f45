"""Baselines measured by the same harness: stock Channels, and a bare asyncio broadcast."""
