"""The round-table ops, registered with the protocol (realtime.ops): transport only,
each parses its fields and calls one action."""

from __future__ import annotations

from typing import Any

from realtime.access import Session
from realtime.ops import register_op
from realtime.protocol import bad_request, field, id_field
from roundtables import actions
from roundtables.access import MODERATION, ROUNDTABLE
from roundtables.models import RoundTable


def _names(req: dict[str, Any], name: str, required: bool = False) -> list[str]:
    value = field(req, name, list, required=required, default=[])
    if not all(isinstance(v, str) and 0 < len(v) <= 150 for v in value):
        raise bad_request(f"field '{name}' must be a list of usernames")
    return list(dict.fromkeys(value))


def _audience(req: dict[str, Any]) -> tuple[str, list[str], int | None]:
    spec = field(req, "audience", dict, required=False, default={"kind": "everyone"})
    kind = field(spec, "kind", str)
    if kind not in RoundTable.Audience.values:
        raise bad_request("audience 'kind' must be 'everyone', 'departments' or 'room'")
    departments = field(spec, "departments", list, required=False, default=[])
    if not all(isinstance(d, str) and d for d in departments):
        raise bad_request("audience 'departments' must be a list of department names")
    if kind == RoundTable.Audience.DEPARTMENTS and not departments:
        raise bad_request("an audience of departments names at least one")
    room = id_field(spec, "room", required=kind == RoundTable.Audience.ROOM)
    return kind, departments, room


async def roundtable_create(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    kind, departments, room = _audience(req)
    title = field(req, "title", str)
    if len(title) > 200:
        raise bad_request("field 'title' is at most 200 characters")
    reply = await actions.create(session, actions.Plan(
        title=title.strip(), description=field(req, "description", str, required=False,
                                               default=""),
        starts_at=field(req, "starts_at", int), hosts=_names(req, "hosts", required=True),
        moderators=_names(req, "moderators"), audience=kind, departments=departments,
        room=room, premoderation=field(req, "premoderation", bool, required=False,
                                       default=False),
        stream_url=field(req, "stream_url", str, required=False, default="")))
    return reply


def _roundtable(req: dict[str, Any]) -> int:
    return int(id_field(req, "roundtable"))


def _question(req: dict[str, Any]) -> int:
    return int(id_field(req, "question"))


async def roundtable_start(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.change_state(session, roundtable_id=_roundtable(req), step="start")


async def roundtable_end(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.change_state(session, roundtable_id=_roundtable(req), step="end")


async def roundtables_list(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.listed(session)


async def roundtable_get(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    reply, head, seen = await actions.open_view(
        session, roundtable_id=_roundtable(req),
        chat=field(req, "chat", bool, required=False, default=False))
    # Events after the snapshot follow on this socket (the others: at their next
    # connect, or their own roundtable.get).
    session.access_granted(ROUNDTABLE.stream(seen.rt.pk), head + 1)
    if seen.staff:
        session.access_granted(MODERATION.stream(seen.rt.pk), 1)
    return reply


async def question_ask(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.ask(
        session, roundtable_id=_roundtable(req), body=field(req, "body", str),
        anonymous=field(req, "anonymous", bool, required=False, default=False),
        client_id=field(req, "client_id", str))


async def question_edit(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.edit(session, question_id=_question(req), body=field(req, "body", str))


async def question_withdraw(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.withdraw(session, question_id=_question(req))


async def question_vote(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.vote(session, question_id=_question(req),
                              up=field(req, "up", bool, required=False, default=True))


async def question_moderate(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.moderate(
        session, question_id=_question(req), action=field(req, "action", str),
        reason=field(req, "reason", str, required=False, default=""),
        into=id_field(req, "into", required=False))


async def question_pin(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.pin(session, roundtable_id=_roundtable(req),
                             question_id=id_field(req, "question", required=False))


async def question_answer(session: Session, req: dict[str, Any]) -> dict[str, Any]:
    return await actions.answer(session, question_id=_question(req),
                                text=field(req, "answer", str, required=False, default=""))


OPS = {
    "roundtable.create": roundtable_create, "roundtable.start": roundtable_start,
    "roundtable.end": roundtable_end, "roundtables.list": roundtables_list,
    "roundtable.get": roundtable_get, "question.ask": question_ask,
    "question.edit": question_edit, "question.withdraw": question_withdraw,
    "question.vote": question_vote, "question.moderate": question_moderate,
    "question.pin": question_pin, "question.answer": question_answer,
}
for _name, _handler in OPS.items():
    register_op(_name, _handler)
