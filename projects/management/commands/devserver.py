"""`make run`: embedded Redis (unless REDIS_URL), migrate, seed the demo, then web,
RQ worker (with RQ's scheduler) and RQ's cron scheduler (provisioning.scheduler) as child
processes. Ctrl-C stops all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from bmadweb.embedded_redis import embedded_redis_start, embedded_redis_stop


class Command(BaseCommand):
    help = "Run bmadweb for development: web, worker and scheduler, on embedded defaults."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-seed", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        embedded = not os.environ.get("REDIS_URL")
        if embedded:
            sock = embedded_redis_start(settings.VAR_DIR / "redis")
            self.stdout.write(f"Embedded Redis on unix://{sock}")
        call_command("migrate", interactive=False, verbosity=1)
        if not options["no_seed"]:
            call_command("seed_demo")
        children = self._start_children(options["addr"])
        self.stdout.write(
            self.style.SUCCESS(
                f"bmadweb is up: http://{options['addr']}/  (Ctrl-C stops everything)"
            )
        )
        try:
            self._wait(children)
        finally:
            self._stop(children)
            if embedded:
                embedded_redis_stop(settings.VAR_DIR / "redis")
            self.stdout.write("Stopped.")

    def _start_children(self, addr: str) -> list[subprocess.Popen[bytes]]:
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        commands = [
            [*manage, "runserver", addr, "--noreload"],
            [*manage, "rqworker", "default", "--with-scheduler"],
            # Periodic jobs (provisioning.scheduler): resumes runs whose job was lost.
            [*manage, "rqcron", "provisioning.scheduler"],
        ]
        return [subprocess.Popen(cmd, start_new_session=True) for cmd in commands]

    def _wait(self, children: list[subprocess.Popen[bytes]]) -> None:
        # Handle Ctrl-C, TERM and HUP explicitly: a parent may have started us with SIGINT
        # ignored, and then Python would never raise KeyboardInterrupt.
        def stop(signum: int, frame: object) -> None:
            # The first signal starts the shutdown; repeats (uv forwards Ctrl-C to us as
            # well) must not interrupt the clean-up.
            for repeat in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                signal.signal(repeat, signal.SIG_IGN)
            raise KeyboardInterrupt

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, stop)
        parent = os.getppid()
        try:
            while all(child.poll() is None for child in children):
                if os.getppid() != parent:  # `make` went away without telling us
                    self.stderr.write("The launching process ended; stopping.")
                    return
                time.sleep(0.5)
            self.stderr.write("A process stopped unexpectedly; stopping the others.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")

    def _stop(self, children: list[subprocess.Popen[bytes]]) -> None:
        for child in children:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
