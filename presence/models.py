"""Presence lives in Redis keys with TTLs (no ORM on the hot path): not built yet."""
