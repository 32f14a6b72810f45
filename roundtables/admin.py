"""The admin of round tables: read-only views, and the one audited way to learn
who asked an anonymous question.

Nothing here edits a round table or a question: a write that skipped the actions
would leave live clients wrong. Anonymous authors are shown as "Anonymous" in
every list and page; the Question admin refuses filtering by author (Django's
admin would otherwise let `?author=<id>` single out someone's questions); the
author is revealed only on the reveal page, to an administrator who gives a
reason, and each reveal is an AuthorReveal row nobody can edit or delete.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html

from roundtables.models import AuthorReveal, Question, Role, RoundTable

REVEAL_REASON_MIN_CHARS = 10  # a reason someone can be held to, not "x"


class _ReadOnly:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RoleInline(_ReadOnly, admin.TabularInline):  # type: ignore[type-arg]
    model = Role
    extra = 0


@admin.register(RoundTable)
class RoundTableAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "title", "state", "starts_at", "audience", "transcript")
    list_filter = ("state",)
    inlines = (RoleInline,)

    @admin.display(description="transcript")
    def transcript(self, obj: RoundTable) -> str:
        return format_html('<a href="/api/roundtables/{}/transcript.md">Markdown</a> · '
                           '<a href="/api/roundtables/{}/transcript.json">JSON</a>',
                           obj.pk, obj.pk)


class RevealForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, min_length=REVEAL_REASON_MIN_CHARS,
                             help_text="Why you need to know; kept with the record.")


@admin.register(Question)
class QuestionAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("id", "roundtable", "asked_by", "state", "votes", "asked_at")
    list_filter = ("state", "anonymous")
    exclude = ("author", "client_id")  # the client_id is the author's tab's, too

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["asked_by", *(f.name for f in Question._meta.fields
                              if f.name not in self.exclude)]

    @admin.display(description="asked by")
    def asked_by(self, obj: Question) -> str:
        if not obj.anonymous:
            return str(obj.author.username)
        link = reverse("admin:roundtables_question_reveal", args=[obj.pk])
        return format_html('Anonymous (<a href="{}">reveal, audited</a>)', link)

    def lookup_allowed(self, lookup: str, value: str, request: Any = None) -> bool:
        if lookup.split("__")[0] in ("author", "client_id"):
            return False
        return bool(super().lookup_allowed(lookup, value, request))

    def get_urls(self) -> list[URLPattern]:
        reveal = path("<int:question_id>/reveal/", self.admin_site.admin_view(self.reveal),
                      name="roundtables_question_reveal")
        return [reveal, *super().get_urls()]

    def reveal(self, request: HttpRequest, question_id: int) -> HttpResponse:
        """GET: the form asking why; POST with a reason: the record, then the author."""
        if not request.user.is_superuser:
            raise PermissionDenied("only administrators can reveal an anonymous author")
        question = get_object_or_404(Question.objects.select_related("roundtable", "author"),
                                     pk=question_id, anonymous=True)
        context: dict[str, Any] = {**self.admin_site.each_context(request),
                                   "question": question, "title": "Reveal the author"}
        form = RevealForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            context["reveal"] = AuthorReveal.objects.create(
                question=question, revealed_by=request.user,
                reason=form.cleaned_data["reason"], at=timezone.now())
            context["author"] = question.author
            self.log_change(request, question, f"Revealed the author: {context['reveal'].reason}")
        context["form"] = form
        return TemplateResponse(request, "admin/roundtables/question/reveal.html", context)


@admin.register(AuthorReveal)
class AuthorRevealAdmin(_ReadOnly, admin.ModelAdmin):  # type: ignore[type-arg]
    """Who learned which anonymous author, when and why: the audit trail."""

    list_display = ("at", "revealed_by", "question", "reason")
    exclude = ()
