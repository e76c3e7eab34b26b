"""The "Project creators" group as its migration makes it. Tests that flush the database
(the live server's) lose migration data, so it is made again when missing."""

from __future__ import annotations

from typing import Any


def creators_group() -> Any:
    from django.contrib.auth.models import Group, Permission

    group, _ = Group.objects.get_or_create(name="Project creators")
    group.permissions.add(
        Permission.objects.get(content_type__app_label="projects", codename="add_project")
    )
    return group
