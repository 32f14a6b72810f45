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

    def save_model(self, request: Any, obj: Employee, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # Unticking "Active" is a deactivation: sockets and tokens go too.
        if change and "is_active" in form.changed_data and not obj.is_active:
            actions.deactivate_employee(obj)

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
