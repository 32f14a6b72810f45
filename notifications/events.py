"""The notification centre's events, on the recipient's own stream (docs/protocol.md)."""

from __future__ import annotations

from realtime.schema import USER, Maybe, Opt, define

# `preview`: the message's text, cut to NOTIFICATION_PREVIEW_CHARS ("" once the
# message is deleted, in history and resume); `emoji`: a reaction's, else "".
NOTIFICATION_CREATED = define("notification.created", {
    "id": int, "kind": str, "room": Maybe(int), "message": Maybe(str), "thread": Maybe(str),
    "actor": Maybe(USER), "ts": int, "preview": str, "emoji": str, "roundtable": Opt(int),
}, kinds=("user",))
# Read on some device: `ids`, or every notification up to and including `up_to`.
NOTIFICATION_READ = define("notification.read", {"ids": Maybe([int]), "up_to": Maybe(int)},
                           kinds=("user",))
# The kinds of notification I turned off changed (on this device or another).
NOTIFICATION_PREFS = define("notification.prefs", {"off": [str]}, kinds=("user",))
