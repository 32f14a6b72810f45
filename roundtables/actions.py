"""Every change to a round table: check, write the database, then the event.

Who may do what (docs/protocol.md, "Round tables"): executives and
administrators create; hosts and moderators start, end, pin and answer;
moderators (and hosts) approve, reject and merge; the audience asks and votes.
Anyone else, guests included, is refused with `forbidden` on every op, and the
round table's existence does not leak: the same answer whether it exists or not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from notifications.actions import About, notify
from notifications.models import Notification
from realtime.access import ACCESS_GRANTED, Reader
from realtime.db import run_db
from realtime.events import send_event
from realtime.gather import Gathered
from realtime.protocol import ErrorCode, ProtocolError, bad_request
from rooms.selectors import ms
from roundtables import quick_ask, selectors
from roundtables.access import MODERATION, ROUNDTABLE
from roundtables.events import (
    QUESTION_CREATED,
    QUESTION_MINE,
    QUESTION_PINNED,
    QUESTION_UPDATED,
    QUESTION_VOTED,
    QUESTION_VOTES,
    ROUNDTABLE_CREATED,
    ROUNDTABLE_STATE,
)
from roundtables.models import Question, Role, RoundTable, Viewer, Vote

CREATORS = ("executive", "admin")
UNANSWERED = (Question.State.PENDING, Question.State.APPROVED)


def _forbidden(roundtable_id: int) -> ProtocolError:
    return ProtocolError(ErrorCode.FORBIDDEN, f"you cannot see round table {roundtable_id}")


def _not_found(question_id: int) -> ProtocolError:
    return ProtocolError(ErrorCode.NOT_FOUND, f"no question {question_id}")


def _at(when_ms: int) -> datetime:
    return datetime.fromtimestamp(when_ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Seen:
    """A round table as one employee may act on it."""

    rt: RoundTable
    roles: set[str]  # "host", "moderator"

    @property
    def staff(self) -> bool:
        return bool(self.roles)


def _seen(actor: Reader, roundtable_id: int) -> Seen:
    """The round table, if the actor may see it; else forbidden (existing or not)."""
    me = actor.principal
    rt = RoundTable.objects.filter(pk=roundtable_id).first()
    if rt is None or me.role == "guest":
        raise _forbidden(roundtable_id)
    roles = selectors.roles_of(rt.pk, me.id)
    if not selectors.in_audience(rt, me.id, me.role, roles):
        raise _forbidden(roundtable_id)
    return Seen(rt, roles)


def _require_open(rt: RoundTable) -> None:
    if rt.state == RoundTable.State.ENDED:
        raise ProtocolError(ErrorCode.CONFLICT, f"round table {rt.pk} has ended")


def _require_staff(seen: Seen, what: str) -> None:
    if not seen.staff:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only its hosts and moderators can {what}")


# --- lifecycle -----------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    title: str
    description: str
    starts_at: int  # ms
    hosts: list[str]
    moderators: list[str]
    audience: str
    departments: list[str]
    room: int | None
    premoderation: bool
    stream_url: str


def _create_db(creator_id: int, plan: Plan) -> tuple[RoundTable, list[int]]:
    """The round table and its roles; (it, the ids of its hosts and moderators)."""
    from core.models import Employee
    from rooms.selectors import room_ids_for

    named = {e.username: e for e in Employee.objects.filter(
        username__in=plan.hosts + plan.moderators, is_active=True)}
    missing = sorted(set(plan.hosts + plan.moderators) - named.keys())
    if missing:
        raise bad_request(f"no such employees: {', '.join(missing)}")
    if not plan.hosts:
        raise bad_request("a round table needs at least one host")
    if plan.audience == RoundTable.Audience.ROOM and plan.room not in room_ids_for(creator_id):
        raise bad_request("the audience room must be one of your rooms")
    # The creator moderates what they created, unless they host it.
    hosts = [named[u].pk for u in plan.hosts]
    moderators = [named[u].pk for u in plan.moderators if named[u].pk not in hosts]
    if creator_id not in hosts and creator_id not in moderators:
        moderators.append(creator_id)
    with transaction.atomic():
        rt = RoundTable.objects.create(
            title=plan.title, description=plan.description, starts_at=_at(plan.starts_at),
            premoderation=plan.premoderation, stream_url=plan.stream_url,
            audience=plan.audience, departments=plan.departments,
            audience_room_id=plan.room, created_by_id=creator_id, created_at=timezone.now())
        Role.objects.bulk_create(
            [Role(roundtable=rt, user_id=uid, kind=Role.Kind.HOST) for uid in hosts]
            + [Role(roundtable=rt, user_id=uid, kind=Role.Kind.MODERATOR)
               for uid in moderators])
    return rt, sorted({*hosts, *moderators})


def _set_chat_db(rt: RoundTable, room_id: int) -> RoundTable:
    RoundTable.objects.filter(pk=rt.pk).update(chat_room_id=room_id)
    return RoundTable.objects.get(pk=rt.pk)


def _audience_ids(rt: RoundTable) -> list[int]:
    """Who is told of the round table: its audience now (never guests)."""
    from core.models import Employee
    from rooms.selectors import members_of

    people = Employee.objects.filter(is_active=True).exclude(role="guest")
    if rt.audience == RoundTable.Audience.ROOM and rt.audience_room_id is not None:
        people = people.filter(pk__in=[m["id"] for m in members_of(rt.audience_room_id)])
    elif rt.audience == RoundTable.Audience.DEPARTMENTS:
        people = people.filter(department__in=rt.departments)
    return sorted(set(people.values_list("pk", flat=True)))


async def create(actor: Reader, plan: Plan) -> dict[str, Any]:
    """roundtable.create: the round table, its roles and its side chat; the audience
    is told in their notification centre."""
    if actor.principal.role not in CREATORS:
        raise ProtocolError(ErrorCode.FORBIDDEN,
                            "only executives and administrators create round tables")
    if not plan.title.strip():
        raise bad_request("a round table needs a 'title'")
    from rooms import actions as rooms_actions

    rt, staff = await run_db(_create_db, actor.principal.id, plan)
    # The side chat: an ordinary room of the staff, which the audience joins on opening.
    chat, _ = await rooms_actions.create_room(
        actor, name=f"{rt.title} (round table)", kind="group",
        usernames=[u for u in plan.hosts + plan.moderators if u != actor.principal.username])
    rt = await run_db(_set_chat_db, rt, chat["id"])
    brief = await run_db(selectors.brief, rt)
    first = await send_event(ROUNDTABLE.stream(rt.pk), ROUNDTABLE_CREATED, {"roundtable": brief})
    # Hosts and moderators read both views from now on, on every device.
    for uid in staff:
        for stream in (ROUNDTABLE.stream(rt.pk), MODERATION.stream(rt.pk)):
            await send_event(f"user:{uid}", ACCESS_GRANTED, {"stream": stream, "from_seq": 1})
    audience = await run_db(_audience_ids, rt)
    await notify(actor, audience, About(Notification.Kind.ROUNDTABLE, None, text=rt.title,
                                        roundtable_id=rt.pk))
    return {"roundtable": brief, "seq": first.seq}


_NEXT = {"start": (RoundTable.State.SCHEDULED, RoundTable.State.LIVE),
         "end": (RoundTable.State.LIVE, RoundTable.State.ENDED)}


def _change_state_db(roundtable_id: int, step: str) -> RoundTable | None:
    before, after = _NEXT[step]
    now = timezone.now()
    fields: dict[str, Any] = {"state": after}
    fields["started_at" if step == "start" else "ended_at"] = now
    with transaction.atomic():
        moved = RoundTable.objects.filter(pk=roundtable_id, state=before).update(**fields)
    return RoundTable.objects.get(pk=roundtable_id) if moved else None


async def change_state(actor: Reader, *, roundtable_id: int, step: str) -> dict[str, Any]:
    """roundtable.start / roundtable.end, by a host or moderator."""
    seen = await run_db(_seen, actor, roundtable_id)
    _require_staff(seen, f"{step} it")
    rt = await run_db(_change_state_db, roundtable_id, step)
    if rt is None:
        raise ProtocolError(ErrorCode.CONFLICT, f"round table {roundtable_id} is"
                            f" {seen.rt.state}: it cannot {step}")
    at = rt.started_at if step == "start" else rt.ended_at
    event = await send_event(ROUNDTABLE.stream(rt.pk), ROUNDTABLE_STATE, {
        "roundtable": rt.pk, "state": rt.state, "at": ms(at),
        "by": actor.principal.public()})
    if step == "start":
        audience = await run_db(_audience_ids, rt)
        await notify(actor, audience, About(Notification.Kind.ROUNDTABLE, None,
                                            text=f"Live now: {rt.title}", roundtable_id=rt.pk))
    return {"roundtable": rt.pk, "state": rt.state, "seq": event.seq}


async def listed(actor: Reader) -> dict[str, Any]:
    """roundtables.list: upcoming, live and past round tables I may see."""
    rows = await run_db(lambda: selectors.briefs(
        selectors.visible_to(actor.principal.id, actor.principal.role)))
    return {"roundtables": rows}


def _open_db(actor: Reader, roundtable_id: int) -> tuple[Seen, dict[str, Any]]:
    seen = _seen(actor, roundtable_id)
    Viewer.objects.get_or_create(roundtable=seen.rt, user_id=actor.principal.id)
    return seen, selectors.snapshot(seen.rt, actor.principal.id, seen.staff)


async def open_view(actor: Reader, *, roundtable_id: int,
                    chat: bool = False) -> tuple[dict[str, Any], int, Seen]:
    """roundtable.get: the whole state with the stream's seq before it was read, so
    events after `seq` apply on top (each carries absolute values, so one already
    reflected in the snapshot changes nothing when applied again). With `chat`, I
    join the side chat too (never by itself: joining shows my name to the room)."""
    from realtime import runtime

    stream = ROUNDTABLE.stream(roundtable_id)
    head = (await (await runtime.get()).journal.heads([stream]))[stream]
    seen, snap = await run_db(_open_db, actor, roundtable_id)
    if chat and seen.rt.chat_room_id is not None:
        await _join_chat(actor, seen.rt.chat_room_id)
    return {**snap, "seq": head}, head, seen


async def _join_chat(actor: Reader, room_id: int) -> None:
    from rooms import actions as rooms_actions
    from rooms.access import ROOM

    if ROOM.stream(room_id) not in actor.granted:
        await rooms_actions.join_for(actor, room_id=room_id)


# --- questions -----------------------------------------------------------------


def _check_body(body: str) -> str:
    body = body.strip()
    if not body:
        raise bad_request("a question needs a 'body'")
    if len(body) > settings.ROUNDTABLE_MAX_QUESTION_CHARS:
        raise ProtocolError(ErrorCode.TOO_LARGE, "a question is at most"
                            f" {settings.ROUNDTABLE_MAX_QUESTION_CHARS} characters")
    return body


def _ask_db(actor: Reader, roundtable_id: int, body: str, anonymous: bool,
            client_id: str) -> tuple[Seen, Question, bool]:
    seen = _seen(actor, roundtable_id)
    _require_open(seen.rt)
    me = actor.principal.id
    existing = Question.objects.filter(roundtable=seen.rt, author_id=me,
                                       client_id=client_id).first()
    if existing is not None:
        return seen, existing, False
    since = timezone.now() - timedelta(minutes=1)
    if Question.objects.filter(roundtable=seen.rt, author_id=me,
                               asked_at__gte=since).count() >= (
            settings.ROUNDTABLE_QUESTIONS_PER_MINUTE):
        raise ProtocolError(ErrorCode.RATE_LIMITED, "at most"
                            f" {settings.ROUNDTABLE_QUESTIONS_PER_MINUTE} questions a minute")
    state = (Question.State.PENDING if seen.rt.premoderation and not seen.staff
             else Question.State.APPROVED)
    try:
        with transaction.atomic():
            q = Question.objects.create(roundtable=seen.rt, author_id=me, anonymous=anonymous,
                                        body=body, client_id=client_id, state=state,
                                        asked_at=timezone.now())
    except IntegrityError:  # the same client_id from another tab, at the same moment
        return seen, Question.objects.get(roundtable=seen.rt, author_id=me,
                                          client_id=client_id), False
    return seen, q, True


async def ask(actor: Reader, *, roundtable_id: int, body: str, anonymous: bool,
              client_id: str) -> dict[str, Any]:
    """question.ask: idempotent by client_id, like message.send."""
    if not client_id or len(client_id) > settings.MAX_CLIENT_ID_CHARS:
        raise bad_request(
            f"field 'client_id' must be 1 to {settings.MAX_CLIENT_ID_CHARS} characters")
    body = _check_body(body)
    me = actor.principal
    if ROUNDTABLE.stream(roundtable_id) in actor.granted:
        # The usual ask: the socket holds the stream, so the asker is in the audience
        # or staffs it; one statement checks the rest (roundtables.quick_ask).
        q = await run_db(quick_ask.insert, roundtable_id, me.id, body=body,
                         anonymous=anonymous, client_id=client_id, at=timezone.now())
        if q is not None:
            seq = await _announce(actor, q, QUESTION_CREATED, author=me.public())
            return {"question": selectors.question_data(q, for_user=me.id,
                                                        author=me.public()),
                    "seq": seq, "duplicate": False}
    # Anything else, read in full: a retry, the limit, an ended round table, a socket
    # that has not opened it.
    _, q, created = await run_db(_ask_db, actor, roundtable_id, body, anonymous, client_id)
    seq = None
    if created:
        seq = await _announce(actor, q, QUESTION_CREATED)
    mine = await run_db(selectors.question_data, q, for_user=me.id)
    return {"question": mine, "seq": seq, "duplicate": not created}


async def _announce(actor: Reader, q: Question, event: Any,
                    author: dict[str, Any] | None = None) -> int:
    """Send the question where it may be seen: the audience's stream once it is
    public, the moderators' while it waits; and to its author, as theirs.
    `author`: their public fields, when the caller has them (no read)."""
    if author is None:
        shown = await run_db(selectors.question_data, q)
    else:
        shown = selectors.question_data(q, author=author)
    seq = 0
    if q.state == Question.State.PENDING:
        seq = (await send_event(MODERATION.stream(q.roundtable_id), event,
                                {"question": shown})).seq
    else:
        seq = (await send_event(ROUNDTABLE.stream(q.roundtable_id), event,
                                {"question": shown})).seq
    await _tell_author(q, author)
    return seq


async def _tell_author(q: Question, author: dict[str, Any] | None = None) -> None:
    """The author's own view of their question (named, with a rejection's reason), on
    their stream: every device of theirs, and nobody else's."""
    if author is None:
        mine = await run_db(selectors.question_data, q, for_user=q.author_id)
    else:
        mine = selectors.question_data(q, for_user=q.author_id, author=author)
    await send_event(f"user:{q.author_id}", QUESTION_MINE,
                     {"roundtable": q.roundtable_id, "question": mine})


def _question_db(actor: Reader, question_id: int) -> tuple[Seen, Question]:
    """The question, if the actor may see it: its author, the staff, or anyone once
    it is public. Otherwise not_found: a pending or rejected question's existence
    does not leak."""
    q = (Question.objects.select_related("author", "answered_by")
         .filter(pk=question_id).first())
    if q is None:
        raise _not_found(question_id)
    try:
        seen = _seen(actor, q.roundtable_id)
    except ProtocolError:
        raise _not_found(question_id) from None
    public = q.state in selectors.PUBLIC_STATES
    if not (public or seen.staff or q.author_id == actor.principal.id):
        raise _not_found(question_id)
    return seen, q


def _bump(q: Question, **fields: Any) -> Question:
    Question.objects.filter(pk=q.pk).update(version=F("version") + 1, **fields)
    return Question.objects.select_related("author", "answered_by").get(pk=q.pk)


async def _changed(actor: Reader, q: Question, was_public: bool) -> int:
    """Tell who sees it that the question changed (and whoever saw it before)."""
    shown = await run_db(selectors.question_data, q)
    seq = 0
    if was_public or q.state in selectors.PUBLIC_STATES:
        seq = (await send_event(ROUNDTABLE.stream(q.roundtable_id), QUESTION_UPDATED,
                                {"question": shown})).seq
    if not was_public or q.state == Question.State.PENDING:
        seq = (await send_event(MODERATION.stream(q.roundtable_id), QUESTION_UPDATED,
                                {"question": shown})).seq
    await _tell_author(q)
    return seq


def _own_unanswered(actor: Reader, question_id: int, what: str) -> Question:
    seen, q = _question_db(actor, question_id)
    if q.author_id != actor.principal.id:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"only its author can {what} a question")
    if q.state not in UNANSWERED:
        raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
    _require_open(seen.rt)
    return q


def _edit_db(actor: Reader, question_id: int, body: str) -> tuple[Question, bool]:
    q = _own_unanswered(actor, question_id, "edit")
    if q.body == body:
        return q, False
    return _bump(q, body=body, edited_at=timezone.now()), True


async def edit(actor: Reader, *, question_id: int, body: str) -> dict[str, Any]:
    q, changed = await run_db(_edit_db, actor, question_id, _check_body(body))
    seq = await _changed(actor, q, q.state in selectors.PUBLIC_STATES) if changed else None
    return {"question": await run_db(selectors.question_data, q, for_user=actor.principal.id),
            "seq": seq}


def _withdraw_db(actor: Reader, question_id: int) -> tuple[Question, bool]:
    q = _own_unanswered(actor, question_id, "withdraw")
    was_public = q.state in selectors.PUBLIC_STATES
    RoundTable.objects.filter(pk=q.roundtable_id, pinned_id=q.pk).update(pinned=None)
    return _bump(q, state=Question.State.WITHDRAWN), was_public


async def withdraw(actor: Reader, *, question_id: int) -> dict[str, Any]:
    q, was_public = await run_db(_withdraw_db, actor, question_id)
    seq = await _changed(actor, q, was_public)
    return {"question": q.pk, "state": q.state, "seq": seq}


# --- votes ----------------------------------------------------------------------


def _vote_db(actor: Reader, question_id: int, up: bool) -> tuple[Question, bool]:
    """(the question, whether my vote changed). One row per voter: two tabs voting
    at the same moment insert one; the count moves in the same transaction."""
    seen, q = _question_db(actor, question_id)
    _require_open(seen.rt)
    if q.state != Question.State.APPROVED:
        if not seen.staff and q.author_id != actor.principal.id:
            raise _not_found(question_id)
        raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
    me = actor.principal.id
    with transaction.atomic():
        if up:
            # get_or_create takes the unique constraint's refusal of a second tab's
            # insert at the same moment as "already there".
            _, changed = Vote.objects.get_or_create(question_id=q.pk, user_id=me)
        else:
            changed = Vote.objects.filter(question_id=q.pk, user_id=me).delete()[0] > 0
        if changed:
            Question.objects.filter(pk=q.pk).update(votes=F("votes") + (1 if up else -1))
    # The count as it is now (another tab's vote at the same moment included).
    q.votes = Question.objects.filter(pk=q.pk).values_list("votes", flat=True)[0]
    return q, changed


async def _announce_votes(roundtable_id: int, questions: dict[int, None]) -> None:
    counts = await run_db(lambda: dict(Question.objects.filter(pk__in=list(questions))
                                       .values_list("pk", "votes")))
    await send_event(ROUNDTABLE.stream(roundtable_id), QUESTION_VOTES, {
        "roundtable": roundtable_id,
        "votes": [{"question": qid, "votes": counts[qid]} for qid in sorted(counts)]})


# One question.votes per round table per 1/ROUNDTABLE_RANKING_PER_SECOND s, across
# every server process (their turns taken through Redis).
_rankings = Gathered(lambda: 1 / settings.ROUNDTABLE_RANKING_PER_SECOND, _announce_votes,
                     shared="ranking")


async def vote(actor: Reader, *, question_id: int, up: bool) -> dict[str, Any]:
    """question.vote: my vote, up or taken back; idempotent."""
    q, changed = await run_db(_vote_db, actor, question_id, up)
    if changed:
        await send_event(f"user:{actor.principal.id}", QUESTION_VOTED,
                         {"roundtable": q.roundtable_id, "question": q.pk, "up": up})
        _rankings.add(q.roundtable_id, q.pk)
    return {"question": q.pk, "votes": q.votes, "up": up}


# --- moderation and answering --------------------------------------------------------


def _staff_question(actor: Reader, question_id: int, what: str) -> tuple[Seen, Question]:
    seen, q = _question_db(actor, question_id)
    _require_staff(seen, what)
    _require_open(seen.rt)
    return seen, q


def _merge_db(q: Question, into_id: int) -> tuple[Question, Question, list[int]]:
    """Votes combine, each voter counted once; the duplicate keeps pointing at it.
    Returns both questions and who had voted for the duplicate (their vote is now
    on the target)."""
    target = Question.objects.filter(pk=into_id).first()
    if target is None or target.roundtable_id != q.roundtable_id:
        raise bad_request("a question merges into another question of the same round table")
    if target.pk == q.pk or target.state not in UNANSWERED:
        raise bad_request(f"question {into_id} cannot take a merge")
    with transaction.atomic():
        already = set(Vote.objects.filter(question=target).values_list("user_id", flat=True))
        voters = sorted(Vote.objects.filter(question=q).values_list("user_id", flat=True))
        Vote.objects.bulk_create([Vote(question=target, user_id=uid)
                                  for uid in voters if uid not in already])
        Vote.objects.filter(question=q).delete()
        total = Vote.objects.filter(question=target).count()
        Question.objects.filter(pk=target.pk).update(votes=total, version=F("version") + 1)
        merged = _bump(q, state=Question.State.MERGED, merged_into=target, votes=0)
    return (merged, Question.objects.select_related("author", "answered_by").get(pk=target.pk),
            voters)


def _moderate_db(actor: Reader, question_id: int, action: str, reason: str,
                 into: int | None) -> tuple[list[tuple[Question, bool]], list[int]]:
    """The questions changed, each with whether it was public before; and for a
    merge, whose votes moved to the target."""
    _, q = _staff_question(actor, question_id, "moderate questions")
    was_public = q.state in selectors.PUBLIC_STATES
    if action == "approve":
        if q.state != Question.State.PENDING:
            raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
        return [(_bump(q, state=Question.State.APPROVED), was_public)], []
    if action == "reject":
        if q.state not in UNANSWERED:
            raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
        RoundTable.objects.filter(pk=q.roundtable_id, pinned_id=q.pk).update(pinned=None)
        return [(_bump(q, state=Question.State.REJECTED, reason=reason), was_public)], []
    if into is None:
        raise bad_request("merge needs 'into': the question to merge this one into")
    if q.state not in UNANSWERED:
        raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
    merged, target, voters = _merge_db(q, into)
    return [(merged, was_public), (target, target.state in selectors.PUBLIC_STATES)], voters


async def moderate(actor: Reader, *, question_id: int, action: str, reason: str,
                   into: int | None) -> dict[str, Any]:
    """question.moderate: approve, reject (the author sees the reason) or merge."""
    if action not in ("approve", "reject", "merge"):
        raise bad_request("field 'action' must be 'approve', 'reject' or 'merge'")
    changed, moved = await run_db(_moderate_db, actor, question_id, action, reason, into)
    seq = None
    for q, was_public in changed:
        if action == "approve":
            seq = await _announce(actor, q, QUESTION_CREATED)
            await send_event(MODERATION.stream(q.roundtable_id), QUESTION_UPDATED,
                             {"question": await run_db(selectors.question_data, q)})
        else:
            seq = await _changed(actor, q, was_public)
    for uid in moved:  # each voter's devices: the vote now counts on the target
        target = changed[1][0]
        await send_event(f"user:{uid}", QUESTION_VOTED,
                         {"roundtable": target.roundtable_id, "question": target.pk, "up": True})
    return {"question": question_id, "state": changed[0][0].state, "seq": seq}


def _pin_db(actor: Reader, roundtable_id: int, question_id: int | None) -> None:
    seen = _seen(actor, roundtable_id)
    _require_staff(seen, "pin questions")
    if question_id is not None:
        q = Question.objects.filter(pk=question_id, roundtable=seen.rt).first()
        if q is None or q.state not in selectors.PUBLIC_STATES:
            raise _not_found(question_id)
    RoundTable.objects.filter(pk=roundtable_id).update(pinned_id=question_id)


async def pin(actor: Reader, *, roundtable_id: int, question_id: int | None) -> dict[str, Any]:
    """question.pin: the question being answered now (null: none)."""
    await run_db(_pin_db, actor, roundtable_id, question_id)
    event = await send_event(ROUNDTABLE.stream(roundtable_id), QUESTION_PINNED, {
        "roundtable": roundtable_id, "question": question_id, "by": actor.principal.public()})
    return {"roundtable": roundtable_id, "question": question_id, "seq": event.seq}


def _answer_db(actor: Reader, question_id: int, answer: str) -> tuple[Question, bool]:
    _, q = _staff_question(actor, question_id, "answer questions")
    if q.state != Question.State.APPROVED:
        raise ProtocolError(ErrorCode.CONFLICT, f"question {question_id} is {q.state}")
    unpinned = RoundTable.objects.filter(pk=q.roundtable_id, pinned_id=q.pk).update(
        pinned=None) > 0
    return _bump(q, state=Question.State.ANSWERED, answered_at=timezone.now(),
                 answered_by_id=actor.principal.id, answer=answer.strip()), unpinned


async def answer(actor: Reader, *, question_id: int, text: str) -> dict[str, Any]:
    """question.answer: marked answered, with a written answer if given; it stops
    being "answering now"."""
    if len(text) > settings.MAX_BODY_CHARS:
        raise ProtocolError(ErrorCode.TOO_LARGE,
                            f"an answer is at most {settings.MAX_BODY_CHARS} characters")
    q, unpinned = await run_db(_answer_db, actor, question_id, text)
    seq = await _changed(actor, q, True)
    if unpinned:
        await send_event(ROUNDTABLE.stream(q.roundtable_id), QUESTION_PINNED, {
            "roundtable": q.roundtable_id, "question": None, "by": actor.principal.public()})
    return {"question": q.pk, "state": q.state, "seq": seq}
