"""The sign-in forms (the app's and the admin's), under the log-in throttle."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from core import throttle


class ThrottledLogin(AuthenticationForm):
    """AuthenticationForm under the same throttle as POST /api/auth/token."""

    wait = 0  # seconds the client must wait, when the form was refused for it

    def clean(self) -> dict[str, Any]:
        username = (self.cleaned_data.get("username") or "")[:150]
        if len(self.cleaned_data.get("password") or "") > settings.MAX_PASSWORD_CHARS:
            raise self.get_invalid_login_error()
        self.wait = throttle.attempt(self.request, username)
        if self.wait:  # before hashing: a guesser costs one lookup
            raise forms.ValidationError(
                f"Too many failed sign-ins. Try again in {self.wait} seconds.",
                code="throttled")
        cleaned = super().clean()  # a failure stays counted
        throttle.succeeded(self.request, username)
        return cleaned


class ThrottledAdminAuthenticationForm(ThrottledLogin, AdminAuthenticationForm):
    pass
