"""The browser client's pages: sign-in and the single-page app shell."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.views.decorators.csrf import ensure_csrf_cookie

from core.forms import ThrottledLogin


class LoginView(auth_views.LoginView):
    template_name = "core/login.html"
    redirect_authenticated_user = True
    form_class = ThrottledLogin

    def form_invalid(self, form: Any) -> HttpResponse:
        response = super().form_invalid(form)
        if form.wait:
            response.status_code = 429
            response["Retry-After"] = str(form.wait)
        return response


@login_required
@ensure_csrf_cookie  # the app posts to /api/auth/ticket and /logout/ with this token
def app(request: HttpRequest) -> FileResponse:
    """The browser client (static/index.html); it opens /ws/ with the session cookie."""
    return FileResponse(open(settings.BASE_DIR / "static" / "index.html", "rb"),
                        content_type="text/html; charset=utf-8")
