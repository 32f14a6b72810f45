"""Reads about round tables (sync ORM; call through realtime.db.run_db)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from rooms.selectors import ms, room_ids_for
from roundtables.models import Question, Role, RoundTable, Vote

# What the audience sees of questions; the rest only their author and the moderators.
PUBLIC_STATES = (Question.State.APPROVED, Question.State.ANSWERED)


def roles_of(roundtable_id: int, user_id: int) -> set[str]:
    return set(Role.objects.filter(roundtable_id=roundtable_id, user_id=user_id)
               .values_list("kind", flat=True))


def _department_of(user_id: int) -> str | None:
    from core.models import Employee

    return Employee.objects.filter(pk=user_id).values_list("department", flat=True).first()


def in_audience(rt: RoundTable, user_id: int, role: str,
                roles: set[str] | None = None) -> bool:
    """Whether the employee may see the round table: its audience, or a host or
    moderator of it (`roles`, when the caller has read them). Guests never are
    (docs/protocol.md)."""
    if role == "guest":
        return False
    if roles if roles is not None else roles_of(rt.pk, user_id):
        return True
    if rt.audience == RoundTable.Audience.EVERYONE:
        return True
    if rt.audience == RoundTable.Audience.ROOM:
        return rt.audience_room_id in room_ids_for(user_id)
    department = _department_of(user_id)
    return bool(department) and department in rt.departments


def visible_to(user_id: int, role: str) -> list[RoundTable]:
    """Every round table the employee may see, newest start first."""
    if role == "guest":
        return []
    department = _department_of(user_id)
    rooms = room_ids_for(user_id)
    rule = (Q(audience=RoundTable.Audience.EVERYONE)
            | Q(audience=RoundTable.Audience.ROOM, audience_room_id__in=rooms)
            | Q(roles__user_id=user_id))
    found = list(RoundTable.objects.filter(rule).distinct().order_by("-starts_at", "-id"))
    if department:
        found += [rt for rt in RoundTable.objects.filter(audience=RoundTable.Audience.DEPARTMENTS)
                  if department in rt.departments and rt not in found]
    return sorted(found, key=lambda rt: (rt.starts_at, rt.pk), reverse=True)


def briefs(rts: list[RoundTable]) -> list[dict[str, Any]]:
    """Round tables as lists and events show them; their hosts and moderators read in
    one query for all of them."""
    people: dict[int, dict[str, list[dict[str, Any]]]] = {
        rt.pk: {"host": [], "moderator": []} for rt in rts}
    for role in (Role.objects.filter(roundtable__in=[rt.pk for rt in rts])
                 .select_related("user").order_by("user_id")):
        people[role.roundtable_id][role.kind].append(role.user.public())
    return [{
        "id": rt.pk, "title": rt.title, "description": rt.description,
        "starts_at": ms(rt.starts_at), "state": rt.state, "premoderation": rt.premoderation,
        "stream_url": rt.stream_url, "hosts": people[rt.pk]["host"],
        "moderators": people[rt.pk]["moderator"],
        "audience": {"kind": rt.audience, "departments": list(rt.departments),
                     "room": rt.audience_room_id},
        "chat_room": rt.chat_room_id,
        "started_at": ms(rt.started_at) if rt.started_at else None,
        "ended_at": ms(rt.ended_at) if rt.ended_at else None,
    } for rt in rts]


def brief(rt: RoundTable) -> dict[str, Any]:
    return briefs([rt])[0]


def question_data(q: Question, *, for_user: int | None = None,
                  voted: bool | None = None,
                  author: dict[str, Any] | None = None) -> dict[str, Any]:
    """A question as events and snapshots show it. The author is never named when
    it was asked anonymously; `for_user` (the reader) adds `mine` on their own
    questions, and the rejection's reason for its author. `author`: the author's
    public fields when the caller has them (no query for them)."""
    data: dict[str, Any] = {
        "id": q.pk, "roundtable": q.roundtable_id, "body": q.body,
        "author": None if q.anonymous else (author or q.author.public()),
        "anonymous": q.anonymous,
        "state": q.state, "votes": q.votes, "asked_at": ms(q.asked_at),
        "edited_at": ms(q.edited_at) if q.edited_at else None,
        "answered_at": ms(q.answered_at) if q.answered_at else None, "answer": q.answer,
        "answered_by": q.answered_by.public() if q.answered_by else None,
        "merged_into": q.merged_into_id, "version": q.version,
    }
    if for_user is not None and q.author_id == for_user:
        data["mine"] = True
        if q.state == Question.State.REJECTED:
            data["reason"] = q.reason
    if voted is not None:
        data["voted"] = voted
    return data


def ranked(questions: list[Question]) -> list[Question]:
    """The audience's order: most votes first, then the earliest asked."""
    return sorted(questions, key=lambda q: (-q.votes, q.asked_at, q.pk))


def snapshot(rt: RoundTable, user_id: int, moderating: bool) -> dict[str, Any]:
    """roundtable.get: the whole state, as `user_id` may see it."""
    rows = list(Question.objects.filter(roundtable=rt).select_related("author", "answered_by"))
    mine_voted = set(Vote.objects.filter(question__roundtable=rt, user_id=user_id)
                     .values_list("question_id", flat=True))

    def shown(q: Question) -> bool:
        return q.state in PUBLIC_STATES or q.author_id == user_id or (
            moderating and q.state == Question.State.PENDING)

    return {
        "roundtable": brief(rt),
        "questions": [question_data(q, for_user=user_id, voted=q.pk in mine_voted)
                      for q in ranked([q for q in rows if shown(q)])],
        "pinned": rt.pinned_id,
    }
