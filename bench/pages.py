"""Benchmark: server time of the dashboard, the gap report and the fleet view, with 1,000
and with 10,000 projects.

Everything lives in a throwaway folder (BMADWEB_VAR_DIR): a fresh SQLite database,
migrated (or, with DATABASE_URL set, that PostgreSQL database: give an empty one made for
the bench), holding the projects of a fleet (bench/pages_seed.py): a mix of sync statuses
and BMAD versions, roles for the benchmarked user (its own, or its team's) written as the
guardian object permissions the role services derive, a manifest revision each, and runs
whose newest is a finished analysis (a failed one for projects in error) with a report
that is real — produced once by the engine (provisioning.engine.pipeline) on a BMAD 6.12
checkout built by provisioning.bmad_builders, then reused for every project — after, for
a third of them, a provisioning run with a pull request. Plans awaiting approval and a
running campaign are there too, a fixed number.

Server time is measured in-process: django.test.Client drives the full WSGI handler
(every middleware, the view, the template) without a socket, so the time is the
handler's, in wall time and in CPU time of this process. Template rendering is not
instrumented (no setup_test_environment), DEBUG is off and templates come through the
cached loader, as in production (the bench checks both). The baseline is a trivial view
behind the same middleware that, like every real page, loads the signed-in user; the URLs
are requested in turn, the order rotating every round, so a slow moment of the machine
hits them alike. Ratios are of medians, each printed with the baseline's own time.

Targets (docs/performance.md#pages): with --projects (1,000), dashboard median ≤ 50 ms,
dashboard and gap report ≤ 10 x the baseline in wall and in CPU time, gap report median ≤
100 ms; with --scale-to (10,000), dashboard and fleet view medians ≤ 50 ms, and both pages
make the same number of queries at both sizes. The bench exits non-zero if one is missed.

Usage: uv run python bench/pages.py [--projects 1000] [--scale-to 10000] [--rounds 40].
The last line printed is JSON.
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
SCALE_TARGET_MS = 50.0  # dashboard and fleet view at --scale-to projects


def configure(var_dir: Path) -> None:
    """Environment-only settings, as bmadweb is always configured."""
    os.environ["BMADWEB_VAR_DIR"] = str(var_dir)
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["BMADWEB_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bmadweb.settings")
    os.environ["DATABASE_CONN_MAX_AGE"] = "60"  # as served: one connection, kept
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


Timing = dict[str, list[tuple[float, float]]]  # page -> [(wall ms, CPU ms)]


def measure(client: Any, urls: dict[str, str], rounds: int) -> Timing:
    """Every URL once a round, the order rotating each round; wall and CPU ms."""
    times: Timing = {name: [] for name in urls}
    order = list(urls.items())
    for n in range(rounds):
        for name, url in order[n % len(order) :] + order[: n % len(order)]:
            start, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
            cpu_ms = (time.process_time() - cpu) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
            times[name].append((elapsed, cpu_ms))
    return times


def query_count(client: Any, url: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return len(captured.captured_queries)


def check_production_like() -> str:
    """DEBUG off and the cached template loader, as served; returns the database vendor."""
    from django.conf import settings
    from django.db import connection
    from django.template import engines

    assert not settings.DEBUG, "DEBUG is on"
    loaders = engines["django"].engine.template_loaders  # type: ignore[attr-defined]
    names = [type(loader).__module__ + "." + type(loader).__name__ for loader in loaders]
    assert names == ["django.template.loaders.cached.Loader"], f"template loaders: {names}"
    return str(connection.vendor)


def analyze_tables() -> None:
    """PostgreSQL's planner statistics, as autovacuum keeps them after a bulk load; SQLite
    is left as Django leaves it (no ANALYZE)."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def check_pages(client: Any, projects: int, urls: dict[str, str]) -> None:
    from projects.views import DASHBOARD_PAGE_SIZE

    dashboard = client.get("/").content.decode()
    # The dashboard pages its list over all the user's projects.
    assert f"{projects} projects" in dashboard, "the dashboard does not count them all"
    rows = dashboard.count('data-label="Project"')
    assert rows == min(DASHBOARD_PAGE_SIZE, projects), f"the first page shows {rows} rows"
    assert dashboard.count('data-label="Last run"><a href=') >= rows * 8 // 10, "no last runs"
    gap = client.get(urls["gap"]).content.decode()
    assert "Managed items" in gap, "the gap report page shows no report"
    assert "badge-state-missing" in gap, "the gap report lists no missing item"
    fleet = client.get(urls["fleet"]).content.decode()
    assert f"{projects} repositories" in fleet, "the fleet view does not count them all"
    assert "Provision the fleet" in fleet, "the fleet view lists no running campaign"
    assert "Nothing waits for you" not in fleet, "the fleet view lists no plan to approve"


def summary(times: Timing) -> dict[str, dict[str, float]]:
    found = {}
    for name, values in times.items():
        walls = sorted(w for w, _ in values)
        found[name] = {
            "median": statistics.median(walls),
            "p95": walls[max(int(len(walls) * 0.95) - 1, 0)],
            "cpu": statistics.median(c for _, c in values),
        }
    return found


def report_size(label: str, stats: dict[str, dict[str, float]], queries: dict[str, int]) -> None:
    base = stats["baseline"]
    print(f"{label}:")
    for name, s in stats.items():
        line = (
            f"{name:>10}: median {s['median']:7.2f} ms  p95 {s['p95']:7.2f} ms  "
            f"CPU {s['cpu']:7.2f} ms"
        )
        if name != "baseline":
            line += (
                f"  wall {s['median'] / base['median']:5.1f}x / CPU {s['cpu'] / base['cpu']:5.1f}x"
                f" the baseline's {base['median']:.2f} ms / {base['cpu']:.2f} ms CPU"
            )
        print(line + (f"  {queries[name]} queries" if name in queries else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--scale-to", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    if args.scale_to <= args.projects:
        parser.error("--scale-to must be more than --projects")

    with tempfile.TemporaryDirectory(prefix="bmadweb-bench-pages-") as tmp:
        work = Path(tmp)
        configure(work / "var")
        from django.test import Client, override_settings

        from bench.pages_seed import fleet_grow, fleet_start

        vendor = check_production_like()
        report, manifest_text = real_report(work)
        fleet = fleet_start(report, manifest_text)
        sizes: dict[int, dict[str, Any]] = {}
        with override_settings(ROOT_URLCONF=baseline_urlconf()):
            client = Client()
            client.force_login(fleet.user)
            for n in (args.projects, args.scale_to):
                started = time.perf_counter()
                fleet_grow(fleet, n)
                analyze_tables()
                print(f"{vendor}: {n} projects seeded in {time.perf_counter() - started:.1f} s")
                urls = {
                    "baseline": "/bench/trivial/",
                    "dashboard": "/",
                    "gap": f"/p/{fleet.slug(args.projects // 2)}/",
                    "fleet": "/fleet/",
                }
                check_pages(client, n, urls)
                measure(client, urls, 3)  # warm-up: imports, template loading, caches
                times = measure(client, urls, args.rounds)
                queries = {name: query_count(client, url) for name, url in urls.items()}
                sizes[n] = {"stats": summary(times), "queries": queries}

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; {vendor}")
    for n, found in sizes.items():
        report_size(f"{n} projects, {args.rounds} rounds", found["stats"], found["queries"])
    small, large = sizes[args.projects], sizes[args.scale_to]
    stats, base = small["stats"], small["stats"]["baseline"]
    result: dict[str, Any] = {
        "dashboard_median_ms": round(stats["dashboard"]["median"], 2),
        "gap_median_ms": round(stats["gap"]["median"], 2),
        "baseline_median_ms": round(base["median"], 2),
        "dashboard_ratio": round(stats["dashboard"]["median"] / base["median"], 2),
        "gap_ratio": round(stats["gap"]["median"] / base["median"], 2),
        "baseline_cpu_ms": round(base["cpu"], 2),
        "dashboard_cpu_ratio": round(stats["dashboard"]["cpu"] / base["cpu"], 2),
        "gap_cpu_ratio": round(stats["gap"]["cpu"] / base["cpu"], 2),
        "database": vendor,
        "projects": args.projects,
        "scale_to": args.scale_to,
        "sizes": {
            str(n): {
                **{
                    f"{page}_{key}_ms": round(found["stats"][page][key], 2)
                    for page in ("baseline", "dashboard", "gap", "fleet")
                    for key in ("median", "p95", "cpu")
                },
                **{f"{page}_queries": q for page, q in found["queries"].items()},
            }
            for n, found in sizes.items()
        },
    }
    checks = [
        (
            f"dashboard ≤ {DASHBOARD_TARGET_MS:g} ms",
            result["dashboard_median_ms"],
            DASHBOARD_TARGET_MS,
        ),
        (f"gap report ≤ {GAP_TARGET_MS:g} ms", result["gap_median_ms"], GAP_TARGET_MS),
    ]
    for page in ("dashboard", "gap"):
        for kind in ("", "cpu_"):
            checks.append(
                (
                    f"{page} {kind.replace('_', ' ') or 'wall '}ratio ≤ {DASHBOARD_RATIO_TARGET:g}",
                    result[f"{page}_{kind}ratio"],
                    DASHBOARD_RATIO_TARGET,
                )
            )
    for page in ("dashboard", "fleet"):
        checks.append(
            (
                f"{page} at {args.scale_to} projects ≤ {SCALE_TARGET_MS:g} ms",
                round(large["stats"][page]["median"], 2),
                SCALE_TARGET_MS,
            )
        )
    failed = [f"{what} (is {value:g})" for what, value, limit in checks if value > limit]
    for page in ("dashboard", "fleet", "gap"):
        a, b = small["queries"][page], large["queries"][page]
        print(f"{page} queries: {a} at {args.projects} projects, {b} at {args.scale_to}")
        if a != b:
            failed.append(f"{page} queries not constant in N ({a} then {b})")
    result["passed"] = not failed
    print("PASS" if not failed else "FAIL: " + "; ".join(failed))
    print(json.dumps(result))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
