"""Posts, comments, reactions, follows, notifications: not built yet."""
