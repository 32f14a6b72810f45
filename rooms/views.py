"""HTTP views of rooms: the acknowledgement export."""

from __future__ import annotations

import csv
import io

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from realtime import http
from rooms import acks
from rooms.models import Announcement, Membership

_SEE_ANY = ("moderator", "admin")


@require_GET
def acks_csv(request: HttpRequest, room_id: int, message_id: str) -> HttpResponse:
    """GET (session or bearer) → who must acknowledge the announcement, with the
    version each last acknowledged and when; for the author, moderators and
    administrators, as acks.list."""
    user = http.employee(request)
    if user is None:
        return http.error(401, "unauthorized", "log in or send Authorization: Bearer <token>")
    # Not a member: the same answer whether the room exists or not.
    if not Membership.objects.filter(room_id=room_id, user_id=user.pk).exists():
        return http.error(403, "forbidden", f"you are not a member of room {room_id}")
    announcement = Announcement.objects.filter(pk=message_id, room_id=room_id).first()
    if announcement is None:
        return http.error(404, "not_found", f"no announcement {message_id} in room {room_id}")
    if announcement.author_id != user.pk and user.role not in _SEE_ANY:
        return http.error(403, "forbidden", "only the author, a moderator or an administrator"
                        " can see who acknowledged")
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(acks.CSV_HEADER)
    writer.writerows(acks.csv_rows(message_id))
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="acks-{message_id}.csv"'
    response["Cache-Control"] = "no-store"  # who read a policy is nobody's cache's business
    return response
