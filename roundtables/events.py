"""Round-table event types (realtime.schema)."""

from __future__ import annotations

from realtime.schema import USER, Maybe, Opt, define

# A question as everyone may see it: `author` is null when it was asked
# anonymously (only its author learns it is theirs: `mine`, in their own views).
QUESTION = {
    "id": int, "roundtable": int, "body": str, "author": Maybe(USER), "anonymous": bool,
    "state": str, "votes": int, "asked_at": int, "edited_at": Maybe(int),
    "answered_at": Maybe(int), "answer": str, "answered_by": Maybe(USER),
    "merged_into": Maybe(int), "version": int, "mine": Opt(bool), "voted": Opt(bool),
    "reason": Opt(str),
}
ROUNDTABLE_BRIEF = {
    "id": int, "title": str, "description": str, "starts_at": int, "state": str,
    "premoderation": bool, "stream_url": str, "hosts": [USER], "moderators": [USER],
    "audience": {"kind": str, "departments": [str], "room": Maybe(int)},
    "chat_room": Maybe(int), "started_at": Maybe(int), "ended_at": Maybe(int),
}

ROUNDTABLE_CREATED = define("roundtable.created", {"roundtable": ROUNDTABLE_BRIEF},
                            kinds=("roundtable",))
ROUNDTABLE_STATE = define("roundtable.state", {
    "roundtable": int, "state": str, "at": int, "by": USER}, kinds=("roundtable",))
# A question became visible, or changed (edited, approved, answered, merged, withdrawn,
# rejected); on rtmod:<id> too while it waits for approval.
QUESTION_CREATED = define("question.created", {"question": QUESTION},
                          kinds=("roundtable", "rtmod"))
QUESTION_UPDATED = define("question.updated", {"question": QUESTION},
                          kinds=("roundtable", "rtmod"))
# Vote counts, gathered: at most ROUNDTABLE_RANKING_PER_SECOND per round table per
# second (all processes), each with the counts as they are when it is sent.
QUESTION_VOTES = define("question.votes", {
    "roundtable": int, "votes": [{"question": int, "votes": int}]}, kinds=("roundtable",))
QUESTION_PINNED = define("question.pinned", {
    "roundtable": int, "question": Maybe(int), "by": USER}, kinds=("roundtable",))

# On the employee's own stream.
QUESTION_MINE = define("question.mine", {"roundtable": int, "question": QUESTION},
                       kinds=("user",))  # my question changed: with `mine`, `reason`
QUESTION_VOTED = define("question.voted", {"roundtable": int, "question": int,
                                           "up": bool}, kinds=("user",))
