"""Settings for bench/webhooks.py: the real settings plus a URLconf with a trivial view."""

from bmadweb.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bench_urls"
