"""Benchmark: server time of the dashboard and the gap report with 1,000 projects.

Everything lives in a throwaway folder (BMADWEB_VAR_DIR): a fresh SQLite database,
migrated, holding 1,000 projects the user can view, each with a manifest revision and a
finished analyze run whose report is real — produced once by the engine
(provisioning.engine.pipeline) on a BMAD 6.12 checkout built by
provisioning.bmad_builders, then reused for every project.

Server time is measured in-process: django.test.Client drives the full WSGI handler
(every middleware, the view, the template) without a socket, so the time is the
handler's. Template rendering is not instrumented (no setup_test_environment), and
DEBUG is off as in production. The baseline is a trivial view behind the same
middleware that, like every real page, loads the signed-in user; the three URLs are
requested in turn, so a slow moment of the machine hits them alike.

Targets: dashboard median ≤ 50 ms and ≤ 10 x the baseline; gap report median ≤ 100 ms.

Usage: uv run python bench/pages.py [--projects 1000] [--rounds 40]. The last line
printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DASHBOARD_TARGET_MS = 50.0
DASHBOARD_RATIO_TARGET = 10.0
GAP_TARGET_MS = 100.0


def configure(var_dir: Path) -> None:
    """Environment-only settings, as bmadweb is always configured."""
    os.environ["BMADWEB_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["BMADWEB_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bmadweb.settings")
    os.environ.pop("DATABASE_URL", None)  # the throwaway SQLite database, always
    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic here
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def baseline_urlconf() -> str:
    """A URLconf with /bench/trivial/ in front of the real one."""
    from django.http import HttpRequest, HttpResponse
    from django.urls import include, path

    def trivial(request: HttpRequest) -> HttpResponse:
        return HttpResponse(f"ok {request.user.is_authenticated}", content_type="text/plain")

    module = types.ModuleType("bench_pages_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path("bench/trivial/", trivial),
        path("", include("bmadweb.urls")),
    ]
    sys.modules[module.__name__] = module
    return module.__name__


def real_report(work: Path) -> tuple[dict[str, Any], str]:
    """A gap report of the demo manifest against a BMAD 6.12 checkout, as a run stores it."""
    from provisioning.demo.bmad_installs import DEMO_MANIFEST, build_v64
    from provisioning.engine.manifest import load_manifest
    from provisioning.engine.pipeline import analyze_repo, report_to_dict

    checkout = work / "checkout"
    checkout.mkdir()
    build_v64(checkout)
    manifest = load_manifest(DEMO_MANIFEST).manifest
    assert manifest is not None
    report = report_to_dict(analyze_repo(checkout, manifest).report)
    return json.loads(json.dumps(report)), DEMO_MANIFEST


def populate(count: int, report: dict[str, Any], manifest_text: str) -> Any:
    """`count` projects owned by one user, each with a revision and a finished analysis."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from guardian.shortcuts import assign_perm

    from projects.models import ManifestRevision, Membership, Project, SyncStatus
    from projects.roles import Perm, Role
    from provisioning.models import Run, RunKind, RunStatus

    user = get_user_model().objects.create_user("bench")  # force_login: no password
    now = timezone.now()
    projects = Project.objects.bulk_create(
        Project(
            name=f"Project {i:04d}",
            slug=f"project-{i:04d}",
            repo_url=f"https://git.example.test/org/repo-{i:04d}.git",
            sync_status=SyncStatus.DRIFT,
            bmad_version=report["bmad"]["version"] or "",
            bmad_generation=report["bmad"]["generation"],
            last_analyzed_at=now,
            last_push_at=now,
        )
        for i in range(count)
    )
    Membership.objects.bulk_create(
        Membership(project=p, user=user, role=Role.OWNER) for p in projects
    )
    for perm in Perm:
        assign_perm(f"projects.{perm}", user, Project.objects.all())
    sha = hashlib.sha256(manifest_text.encode()).hexdigest()
    revisions = ManifestRevision.objects.bulk_create(
        ManifestRevision(
            project=p,
            number=1,
            yaml_text=manifest_text,
            sha256=sha,
            author=user,
            author_name=user.username,
            message="first manifest",
        )
        for p in projects
    )
    Run.objects.bulk_create(
        Run(
            project=p,
            kind=RunKind.ANALYZE,
            status=RunStatus.SUCCEEDED,
            actor=user,
            actor_name=user.username,
            manifest_revision=r,
            started=now,
            finished=now,
            report=report,
            base_sha="0" * 40,
        )
        for p, r in zip(projects, revisions, strict=True)
    )
    return user


def measure(client: Any, urls: dict[str, str], rounds: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in urls}
    for _ in range(rounds):
        for name, url in urls.items():
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            times[name].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bmadweb-bench-pages-") as tmp:
        work = Path(tmp)
        configure(work / "var")
        from django.test import Client, override_settings

        report, manifest_text = real_report(work)
        started = time.perf_counter()
        user = populate(args.projects, report, manifest_text)
        print(f"populated {args.projects} projects in {time.perf_counter() - started:.1f} s")

        with override_settings(ROOT_URLCONF=baseline_urlconf()):
            client = Client()
            client.force_login(user)
            urls = {
                "baseline": "/bench/trivial/",
                "dashboard": "/",
                "gap": f"/p/project-{args.projects // 2:04d}/",
            }
            from projects.views import DASHBOARD_PAGE_SIZE

            dashboard = client.get("/").content.decode()
            # The dashboard pages its list over all the user's projects.
            assert f"{args.projects} projects" in dashboard, "the dashboard does not count them all"
            rows = dashboard.count('class="badge badge-succeeded"')
            assert rows == min(DASHBOARD_PAGE_SIZE, args.projects), (
                f"the first page shows {rows} rows"
            )
            gap = client.get(urls["gap"]).content.decode()
            assert "Managed items" in gap, "the gap report page shows no report"
            assert "badge-state-missing" in gap, "the gap report lists no missing item"
            measure(client, urls, 3)  # warm-up: imports, template loading, caches
            times = measure(client, urls, args.rounds)

    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        p95 = sorted(values)[int(len(values) * 0.95) - 1]
        print(
            f"{name:>10}: median {medians[name]:7.2f} ms  p95 {p95:7.2f} ms"
            f"  ({len(values)} requests)"
        )
    result = {
        "dashboard_median_ms": round(medians["dashboard"], 2),
        "gap_median_ms": round(medians["gap"], 2),
        "baseline_median_ms": round(medians["baseline"], 2),
        "dashboard_ratio": round(medians["dashboard"] / medians["baseline"], 2),
        "gap_ratio": round(medians["gap"] / medians["baseline"], 2),
    }
    ok = (
        result["dashboard_median_ms"] <= DASHBOARD_TARGET_MS
        and result["dashboard_ratio"] <= DASHBOARD_RATIO_TARGET
        and result["gap_median_ms"] <= GAP_TARGET_MS
    )
    print(
        f"targets (dashboard ≤ {DASHBOARD_TARGET_MS:g} ms and ≤ {DASHBOARD_RATIO_TARGET:g} x "
        f"baseline, gap ≤ {GAP_TARGET_MS:g} ms): {'met' if ok else 'NOT met'}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
