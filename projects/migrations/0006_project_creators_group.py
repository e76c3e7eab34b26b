"""The "Project creators" group: its members may register repositories (issue #14, 9).

Platform owners add people to it (or grant "Can add project" directly) in the admin;
staff may always register.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    config = apps.get_app_config("projects")
    config.models_module = True  # the permissions exist only after post_migrate otherwise
    create_permissions(config, verbosity=0, apps=apps)
    config.models_module = None
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    group, _ = group_model.objects.get_or_create(name="Project creators")
    add = permission_model.objects.get(content_type__app_label="projects", codename="add_project")
    group.permissions.add(add)


def remove_group(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("auth", "Group").objects.filter(name="Project creators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0005_drift_check_schedule"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
