"""Seed a demo: a platform owner, a demo team lead and a demo project whose repository
is a local bare git repo under var/ holding a BMAD 6.12-shaped install.

Idempotent: a second run reuses what exists and prints no password again.
"""

from __future__ import annotations

import os
import secrets
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from projects import services
from projects.models import Project
from projects.permissions import PROJECT_CREATORS_GROUP
from projects.roles import Role
from provisioning import git_ops
from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v64
from provisioning.demo.install_parts import add_stale_command_wrappers, edit_file
from provisioning.runs.repo_access import BMADWEB_IDENTITY, git_policy


class Command(BaseCommand):
    help = "Create the demo accounts and the demo project (safe to run again)."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = self._user("admin", "BMADWEB_ADMIN_PASSWORD", superuser=True)
        lead = self._user("lead", "BMADWEB_LEAD_PASSWORD", superuser=False)
        # The demo team lead may register repositories (the migration made the group).
        creators = Group.objects.filter(name=PROJECT_CREATORS_GROUP).first()
        if creators is not None:
            lead.groups.add(creators)
        if Project.objects.filter(slug="healthai").exists():
            self.stdout.write("Demo project 'healthai' already exists.")
            return
        repo = self._demo_repository(settings.VAR_DIR / "demo" / "healthai.git")
        project = services.project_create(
            actor=admin,
            name="Health AI (demo)",
            slug="healthai",
            repo_url=str(repo),
            forge_kind="other",
            push_mode="branch",
        )
        services.role_grant(actor=admin, project=project, role=Role.OWNER, user=lead)
        services.manifest_save(
            actor=lead,
            project=project,
            yaml_text=DEMO_MANIFEST,
            message="Demo manifest: two leaders, a PM customization",
        )
        self.stdout.write(self.style.SUCCESS(f"Demo project 'healthai' on {repo}"))

    def _user(self, username: str, env_name: str, *, superuser: bool) -> Any:
        users = get_user_model()
        existing = users.objects.filter(username=username).first()
        if existing is not None:
            return existing
        password = os.environ.get(env_name) or secrets.token_urlsafe(12)
        if superuser:
            user = users.objects.create_superuser(username, f"{username}@example.test", password)
        else:
            user = users.objects.create_user(username, f"{username}@example.test", password)
        role = "platform owner" if superuser else "demo team lead"
        shown = "(from $" + env_name + ")" if os.environ.get(env_name) else password
        self.stdout.write(
            self.style.WARNING(
                f"Created {role} '{username}' with password: {shown}  (shown once; "
                "change it in the admin)"
            )
        )
        return user

    def _demo_repository(self, bare: Path) -> Path:
        if bare.exists():
            return bare
        tree = bare.parent / "healthai-seed"
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        built = build_v64(tree, skills=12)
        # Give the gap report something to say: a hand edit the next BMAD update would
        # silently overwrite, and command wrappers left over from BMAD 6.0.
        if built.sample_skill_file:
            edit_file(tree, built.sample_skill_file, append="\nAlways answer in French.\n")
        add_stale_command_wrappers(tree, ("claude-code",))
        git_ops.init_bare_from_tree(
            tree,
            bare,
            branch="main",
            message="Install BMAD 6.12.0",
            identity=BMADWEB_IDENTITY,
            date=datetime(2026, 11, 1, tzinfo=UTC),
            policy=git_policy(),
        )
        shutil.rmtree(tree, ignore_errors=True)
        return bare
