"""Who holds a permission on a project, as one SQL expression (docs/performance.md#pages).

`ProjectGranted` is true for a row whose project the user holds the permission on
through guardian's object permissions: their own (guardian_userobjectpermission) or one
of their groups' (guardian_groupobjectpermission). That is what guardian's
`get_objects_for_user(..., accept_global_perms=False)` grants, written as two EXISTS
probes of guardian's unique (user or group, permission, object) indexes per row, so that
a page of 25 projects, or a handful of runs awaiting approval, costs the same with 10,000
projects. It is built from the models' table and column names once per call, without
the ORM's subquery machinery, which cost more than the SQL on every page.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db.models import BooleanField, CharField, Expression, F
from django.db.models.functions import Cast
from guardian.models import GroupObjectPermission, UserObjectPermission

from projects.models import Project

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler


def _table(model: Any) -> str:
    return str(model._meta.db_table)


def _column(model: Any, field: str) -> str:
    return str(model._meta.get_field(field).column)


class ProjectGranted(Expression):
    """True where user `user_id` holds `codename` on the project whose id is `field`.

    As a set (the default), for a query over many projects: `project IN (the user's
    grants) OR project IN (their groups' grants)`, each read once; PostgreSQL hashes them
    and estimates the cost right (the EXISTS form's estimate set off its JIT compiler,
    which took longer than the query). `per_row` probes guardian's unique indexes row by
    row instead, for a query over a few rows (runs awaiting approval, a page's ids).
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, field: str, *, user_id: int, codename: str, per_row: bool = False) -> None:
        super().__init__(output_field=BooleanField())
        self.project = Cast(F(field), CharField())
        self.user_id = user_id
        self.codename = codename
        self.per_row = per_row

    def get_source_expressions(self) -> list[Any]:
        return [self.project]

    def set_source_expressions(self, exprs: Sequence[Any]) -> None:
        (self.project,) = exprs

    def as_sql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple[str | int, ...]]:
        q = connection.ops.quote_name
        project_sql, project_params = compiler.compile(self.project)
        memberships = get_user_model().groups.through
        permission = (
            f"(SELECT {q('id')} FROM {q(_table(Permission))} WHERE "
            f"{q(_column(Permission, 'content_type'))} = %s AND {q('codename')} = %s)"
        )
        content_type = ContentType.objects.get_for_model(Project).pk
        object_pk = q(_column(UserObjectPermission, "object_pk"))
        own = (
            f"SELECT {object_pk} FROM {q(_table(UserObjectPermission))} WHERE "
            f"{q(_column(UserObjectPermission, 'user'))} = %s AND "
            f"{q(_column(UserObjectPermission, 'permission'))} = {permission}"
        )
        teams = (
            f"SELECT {object_pk} FROM {q(_table(GroupObjectPermission))} WHERE "
            f"{q(_column(GroupObjectPermission, 'group'))} IN (SELECT "
            f"{q(_column(memberships, 'group'))} FROM {q(_table(memberships))} WHERE "
            f"{q(_column(memberships, 'user'))} = %s) AND "
            f"{q(_column(GroupObjectPermission, 'permission'))} = {permission}"
        )
        params = (self.user_id, content_type, self.codename)
        if self.per_row:
            # PostgreSQL may turn each EXISTS under the OR into a hash of the user's whole
            # set of grants (10,000 rows for the fleet view's 20 approvals or one
            # campaign) when its estimate favours it; it leaves an EXISTS with an OFFSET
            # as written, a probe per row (docs/performance.md#pages).
            fence = " OFFSET 0" if connection.vendor == "postgresql" else ""
            sql = (
                f"(EXISTS ({own} AND {object_pk} = {project_sql}{fence}) OR "
                f"EXISTS ({teams} AND {object_pk} = {project_sql}{fence}))"
            )
            return sql, (*params, *project_params, *params, *project_params)
        sql = f"({project_sql} IN ({own}) OR {project_sql} IN ({teams}))"
        return sql, (*project_params, *params, *project_params, *params)
