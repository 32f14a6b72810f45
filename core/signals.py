"""Every save of an employee that changes their standing reaches their sockets.

Whatever saves the row (an action, the Django admin, a management command, a
shell), unticking is_active cuts the employee off and a new role makes their
open sockets reconnect under it. QuerySet.update() sends no signal: code that
changes these fields uses core.actions (deactivate_employee, change_role).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from core import actions
from core.models import Employee

WATCHED = {"role", "is_active"}


@receiver(pre_save, sender=Employee)
def _remember_standing(sender: Any, instance: Employee, update_fields: Any = None,
                       **kwargs: Any) -> None:
    if instance.pk is None or (update_fields is not None and not WATCHED & set(update_fields)):
        instance._standing_before = None  # type: ignore[attr-defined]
        return
    instance._standing_before = (  # type: ignore[attr-defined]
        Employee.objects.filter(pk=instance.pk).values_list("role", "is_active").first())


@receiver(post_save, sender=Employee)
def _apply_standing(sender: Any, instance: Employee, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_standing_before", None)
    instance._standing_before = None  # type: ignore[attr-defined]
    if created or before is None:
        return
    role, was_active = before
    if was_active and not instance.is_active:
        actions.cut_off(instance)
    elif instance.is_active and role != instance.role:
        actions.reauthorise(instance)
