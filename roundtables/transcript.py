"""What stays of a round table: its transcript and its numbers (sync ORM).

The transcript holds what the audience saw: the questions answered, in the order
they were answered, then the ones left unanswered, by votes. Questions that never
reached the audience (pending, rejected, withdrawn) are counted in the numbers but
not shown; merged duplicates are named under the question they merged into.
Anonymous authors stay anonymous here as everywhere (docs/protocol.md).
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from typing import Any

from rooms.selectors import ms
from roundtables import selectors
from roundtables.models import Question, RoundTable, Viewer, Vote


def kpis(rt: RoundTable) -> dict[str, Any]:
    """Questions asked, approved (before the audience now: approved or answered),
    answered, the median time from ask to answer, and the distinct participants
    (who asked or voted: counted, never named)."""
    rows = list(Question.objects.filter(roundtable=rt).values(
        "state", "asked_at", "answered_at", "author_id", "merged_into_id"))
    by_state = {s: sum(1 for r in rows if r["state"] == s) for s in Question.State.values}
    waits = [(r["answered_at"] - r["asked_at"]).total_seconds() for r in rows
             if r["state"] == Question.State.ANSWERED and r["answered_at"]]
    people = {r["author_id"] for r in rows}
    people |= set(Vote.objects.filter(question__roundtable=rt)
                  .values_list("user_id", flat=True).distinct())
    return {
        "questions_asked": len(rows),
        "questions_approved": by_state["approved"] + by_state["answered"],
        "questions_answered": by_state["answered"],
        "questions_rejected": by_state["rejected"],
        "questions_merged": by_state["merged"],
        "questions_withdrawn": by_state["withdrawn"],
        "median_seconds_to_answer": round(statistics.median(waits), 1) if waits else None,
        "participants": len(people),
        "viewers": Viewer.objects.filter(roundtable=rt).count(),
    }


def transcript(rt: RoundTable) -> dict[str, Any]:
    """The transcript as JSON: the round table, its answered and unanswered
    questions (each as events show it, plus the ids merged into it), its numbers."""
    shown = list(Question.objects.filter(roundtable=rt, state__in=selectors.PUBLIC_STATES)
                 .select_related("author", "answered_by"))
    merged: dict[int, list[int]] = {}
    for qid, into in (Question.objects.filter(roundtable=rt, state=Question.State.MERGED)
                      .order_by("pk").values_list("pk", "merged_into_id")):
        merged.setdefault(into, []).append(qid)

    def entry(q: Question) -> dict[str, Any]:
        return {**selectors.question_data(q), "merged": merged.get(q.pk, [])}

    answered = sorted((q for q in shown if q.state == Question.State.ANSWERED),
                      key=lambda q: (q.answered_at, q.pk))
    open_ = selectors.ranked([q for q in shown if q.state == Question.State.APPROVED])
    return {"roundtable": selectors.brief(rt), "answered": [entry(q) for q in answered],
            "unanswered": [entry(q) for q in open_], "kpis": kpis(rt),
            "exported_at": ms(datetime.now(tz=UTC))}


def _when(at_ms: int | None) -> str:
    if at_ms is None:
        return "-"
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _quoted(text: str) -> str:
    """Employees' text as a Markdown block quote: whatever it holds (headings,
    lists), it cannot break the transcript's own structure."""
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines() or [""])


def _who(person: dict[str, Any] | None) -> str:
    return "Anonymous" if person is None else f"{person['name'] or person['username']}"


def _votes(n: int) -> str:
    return "1 vote" if n == 1 else f"{n} votes"


def markdown(data: dict[str, Any]) -> str:
    """The same transcript, for people: what `transcript` says, as Markdown."""
    rt, numbers = data["roundtable"], data["kpis"]
    hosts = ", ".join(_who(p) for p in rt["hosts"]) or "-"
    lines = [f"# {rt['title']}", "",
             f"Round table, {rt['state']}. Started {_when(rt['started_at'])},"
             f" ended {_when(rt['ended_at'])}. Hosts: {hosts}.", ""]
    if rt["description"]:
        lines += [rt["description"], ""]
    lines += ["## Answered", ""]
    for i, q in enumerate(data["answered"], 1):
        lines += [f"### {i}. {_votes(q['votes'])}, asked by {_who(q['author'])}"
                  f" at {_when(q['asked_at'])}", "", _quoted(q["body"]), "",
                  f"Answered by {_who(q['answered_by'])} at {_when(q['answered_at'])}"
                  + (":" if q["answer"] else " (live)."), ""]
        if q["answer"]:
            lines += [q["answer"], ""]
    if not data["answered"]:
        lines += ["None.", ""]
    lines += ["## Not answered, by votes", ""]
    for q in data["unanswered"]:
        lines += [f"- {_votes(q['votes'])}, asked by {_who(q['author'])}:", "",
                  _quoted(q["body"]), ""]
    if not data["unanswered"]:
        lines += ["None.", ""]
    median = numbers["median_seconds_to_answer"]
    lines += ["## In numbers", "",
              "| asked | approved | answered | median time to answer | participants |",
              "|---|---|---|---|---|",
              f"| {numbers['questions_asked']} | {numbers['questions_approved']}"
              f" | {numbers['questions_answered']}"
              f" | {'-' if median is None else f'{median:.0f} s'}"
              f" | {numbers['participants']} |", ""]
    return "\n".join(lines)
