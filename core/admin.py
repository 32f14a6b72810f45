from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from core import actions
from core.forms import ThrottledAdminAuthenticationForm
from core.models import ApiToken, Employee, Ticket

# The admin's sign-in is a password form too: the same throttle as every other.
admin.site.login_form = ThrottledAdminAuthenticationForm


@admin.action(description="Deactivate: close their sockets everywhere and revoke tokens")
def deactivate(modeladmin: Any, request: Any, queryset: Any) -> None:
    for user in queryset:
        actions.deactivate_employee(user)


@admin.register(Employee)
class EmployeeAdmin(UserAdmin):
    list_display = ("username", "display_name", "title", "department", "role", "is_active")
    list_filter = ("role", "is_active", "department")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Colloquy", {"fields": ("display_name", "title", "department", "role")}),
    )
    actions = (deactivate,)

    # Unticking "Active" or changing the role reaches the employee's live sockets
    # through core.signals, as every save of those fields does.

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        # Employees who leave are deactivated; their messages stay on the record.
        return False


@admin.action(description="Revoke: refuse it and close the sockets opened with it")
def revoke(modeladmin: Any, request: Any, queryset: Any) -> None:
    for token in queryset:
        actions.revoke_token(token)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("prefix", "user", "label", "created_at", "revoked_at")
    readonly_fields = ("digest", "prefix")
    actions = (revoke,)


@admin.register(Ticket)
class TicketAdmin(admin.ModelAdmin):
    list_display = ("user", "expires_at")
    readonly_fields = ("digest",)
