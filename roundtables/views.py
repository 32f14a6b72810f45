"""HTTP views of round tables: the transcript, as JSON and as Markdown."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from realtime import http
from roundtables import selectors, transcript
from roundtables.models import RoundTable


def _readable(request: HttpRequest, roundtable_id: int) -> RoundTable | HttpResponse:
    user = http.employee(request)
    if user is None:
        return http.error(401, "unauthorized", "log in or send Authorization: Bearer <token>")
    rt = RoundTable.objects.filter(pk=roundtable_id).first()
    # Outside its audience: the same answer whether it exists or not.
    if rt is None or not selectors.in_audience(rt, user.pk, user.role):
        return http.error(403, "forbidden", f"you cannot see round table {roundtable_id}")
    return rt


def _sent(body: str, content_type: str, name: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'inline; filename="{name}"'
    response["Cache-Control"] = "private, no-cache"  # the company's words, not a cache's
    return response


@require_GET
def transcript_json(request: HttpRequest, roundtable_id: int) -> HttpResponse:
    """GET (session or bearer) → the transcript and numbers, for its audience."""
    found = _readable(request, roundtable_id)
    if isinstance(found, HttpResponse):
        return found
    return _sent(json.dumps(transcript.transcript(found), ensure_ascii=False),
                 "application/json", f"roundtable-{roundtable_id}.json")


@require_GET
def transcript_md(request: HttpRequest, roundtable_id: int) -> HttpResponse:
    """GET (session or bearer) → the same transcript as Markdown."""
    found = _readable(request, roundtable_id)
    if isinstance(found, HttpResponse):
        return found
    return _sent(transcript.markdown(transcript.transcript(found)),
                 "text/markdown; charset=utf-8", f"roundtable-{roundtable_id}.md")
