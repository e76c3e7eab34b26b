"""bmadweb settings, configured only through environment variables.

BMADWEB_ENV=development (the default) gives safe local defaults: SQLite and an embedded
Redis under var/, and keys generated once under var/keys/. BMADWEB_ENV=production refuses
to start without real secrets. Every variable is listed in README.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from bmadweb.devkeys import dev_key
from bmadweb.envconf import env_bool, env_choice, env_int, env_list, env_str
from bmadweb.proxies import trusted_proxy_networks

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("BMADWEB_VAR_DIR") or BASE_DIR / "var").resolve()

BMADWEB_ENV = env_choice("BMADWEB_ENV", "development", ("development", "production"))
PRODUCTION = BMADWEB_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", default=not PRODUCTION)


def _secret(name: str, dev_name: str) -> str:
    value = env_str(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when BMADWEB_ENV=production")
    return dev_key(VAR_DIR, dev_name)


SECRET_KEY = _secret("DJANGO_SECRET_KEY", "django_secret_key")
# Fernet key ring: the first key encrypts, every key decrypts (rotation without downtime).
FERNET_KEYS = env_list("BMADWEB_FERNET_KEYS") or [_secret("BMADWEB_FERNET_KEYS", "fernet_key")]
# HMAC key ring for the audit chain, "id:key" pairs; the first signs new records.
AUDIT_KEYS = env_list("BMADWEB_AUDIT_KEYS") or ["dev:" + _secret("BMADWEB_AUDIT_KEYS", "audit_key")]

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must be set when BMADWEB_ENV=production")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "guardian",
    "django_rq",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI locally (no CDN under the CSP)
    "axes",  # the sign-in lockout (bmadweb.lockout)
    "bmadweb",
    "projects",
    "provisioning",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "bmadweb.metrics_middleware.RequestLatencyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "bmadweb.request_guard.RefuseUnstorableInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Innermost: with DEBUG on, error answers become the styled pages, and the CSP and
    # security headers above still apply to them.
    "bmadweb.error_views.ErrorPageMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires
]

ROOT_URLCONF = "bmadweb.urls"
WSGI_APPLICATION = "bmadweb.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

# --- Database: SQLite under var/ unless DATABASE_URL says otherwise ------------------
_DEFAULT_DB = f"sqlite:///{VAR_DIR / 'bmadweb.sqlite3'}"
try:
    DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL") or _DEFAULT_DB)}
except (ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler share the file: WAL and IMMEDIATE transactions keep
    # concurrent writers from failing with "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # The test database is a file (one per test process), not memory: crash tests start
    # real worker processes and concurrency tests open many connections on it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Persistent connections, on SQLite too: opening one (and its PRAGMAs) on every request
# cost more than the webhook receiver's whole INSERT.
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis and RQ: embedded Redis on a unix socket under var/ unless REDIS_URL --------
EMBEDDED_REDIS_SOCKET = VAR_DIR / "redis" / "redis.sock"
REDIS_URL = env_str("REDIS_URL") or f"unix://{EMBEDDED_REDIS_SOCKET}?db=0"
if not REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
RQ_JOB_TIMEOUT = env_int("BMADWEB_JOB_TIMEOUT", 900, minimum=10)
# Connect and read timeouts (seconds) on the queue connection: with Redis down or stuck, a
# web request says "queue unavailable" at once instead of hanging. Workers raise the read
# timeout for their blocking dequeue themselves. Values already in REDIS_URL win.
REDIS_TIMEOUT_S = env_int("BMADWEB_REDIS_TIMEOUT", 1, minimum=1)
_REDIS_TIMEOUTS = f"socket_connect_timeout={REDIS_TIMEOUT_S}&socket_timeout={REDIS_TIMEOUT_S}"
RQ_QUEUES = {
    "default": {
        "URL": REDIS_URL + ("&" if "?" in REDIS_URL else "?") + _REDIS_TIMEOUTS,
        "DEFAULT_TIMEOUT": RQ_JOB_TIMEOUT,
    },
}
RQ_SHOW_ADMIN_LINK = True
# RQ's forking worker, with the jobs' code loaded once before the first fork
# (docs/performance.md#preloaded-worker); `rqworker --worker-class` overrides it.
RQ = {"WORKER_CLASS": "provisioning.worker.Worker"}

# --- Operations: /metrics access and the memory alert's reference -------------------
# /metrics answers 404 unless the request carries "Authorization: Bearer <token>" or,
# with ALLOW_INTERNAL, comes straight from a loopback address (not through a proxy).
METRICS_TOKEN = env_str("BMADWEB_METRICS_TOKEN") or ""
METRICS_ALLOW_INTERNAL = env_bool("BMADWEB_METRICS_ALLOW_INTERNAL", False)
METRICS_MEMORY_LIMIT_BYTES = env_int("BMADWEB_MEMORY_LIMIT_MB", 512, minimum=16) * 1024 * 1024
# Probes and scrapers speak plain HTTP inside the network: a redirect would hide a 503.
SECURE_REDIRECT_EXEMPT = [r"^health(/ready)?$", r"^metrics$"]

# --- Audit: a signed checkpoint of the chain's length and head every so often ---------
AUDIT_CHECKPOINT_SECONDS = env_int("BMADWEB_AUDIT_CHECKPOINT_SECONDS", 3600, minimum=60)

# --- Repositories ------------------------------------------------------------------
# Local paths and file:// URLs as repository URLs: development and tests only. A system
# check (bmadweb.checks) refuses this with DEBUG off outside the test runner.
ALLOW_LOCAL_REPOS = env_bool("BMADWEB_ALLOW_LOCAL_REPOS", default=DEBUG and not PRODUCTION)
# Local repositories must lie under this folder (development: the demo's repositories
# live under var/demo).
LOCAL_REPOS_ROOT = Path(env_str("BMADWEB_LOCAL_REPOS_ROOT") or VAR_DIR).resolve()
REPO_MAX_BYTES = env_int("BMADWEB_REPO_MAX_BYTES", 200 * 1024 * 1024, minimum=1024)
# Files in one repository's tip, checked before checkout with the byte budget.
REPO_MAX_FILES = env_int("BMADWEB_REPO_MAX_FILES", 20_000, minimum=1)
GIT_TIMEOUT_S = env_int("BMADWEB_GIT_TIMEOUT", 120, minimum=1)
# Upgrade runs: the npm registry BMAD's installer is fetched from (empty: npm's default);
# the installer's time limit is GIT_TIMEOUT_S.
# Commits a plan phase clones and reads for hand edits a BMAD update removed (1: none).
HISTORY_DEPTH = min(env_int("BMADWEB_HISTORY_DEPTH", 100, minimum=1), 1000)
NPM_REGISTRY = env_str("BMADWEB_NPM_REGISTRY") or ""
INSTALLER_NPX = env_str("BMADWEB_NPX") or "npx"
INSTALLER_NODE = env_str("BMADWEB_NODE") or "node"
WORK_DIR = Path(env_str("BMADWEB_WORK_DIR") or VAR_DIR / "work")
# Analyses reuse a per-project mirror under WORK_DIR/mirrors (docs/git-door.md#mirrors):
# the disk those mirrors may take together, in MB; the least recently used are removed
# after each run to stay within it. 0: no mirrors, every run clones afresh.
MIRROR_BUDGET_MB = env_int("BMADWEB_MIRROR_BUDGET_MB", 2048, minimum=0)
RUN_MAX_ATTEMPTS = env_int("BMADWEB_RUN_MAX_ATTEMPTS", 3, minimum=1)
# Runs started in bulk (a tick's drift checks) share RQ jobs of this many runs each: RQ's
# own handling of a job costs about as much as a warm analysis that reuses its report
# (docs/performance.md#batches). 1: a job per run.
RUN_BATCH_SIZE = env_int("BMADWEB_RUN_BATCH_SIZE", 8, minimum=1)
# Seconds without progress after which a running run counts as abandoned by a dead worker.
RUN_STALE_SECONDS = env_int("BMADWEB_RUN_STALE_SECONDS", 900, minimum=1)
# Tests only: where crash tests make runs pause at named checkpoints.
RUN_CHECKPOINT_DIR = None if PRODUCTION else env_str("BMADWEB_RUN_CHECKPOINT_DIR")
# Scheduled drift checks: the default interval in hours of projects that leave theirs
# empty (0: off), and how many checks one scheduler tick starts at most (the rest wait
# for the next tick, a minute later).
DRIFT_CHECK_DEFAULT_HOURS = env_int("BMADWEB_DRIFT_CHECK_HOURS", 0, minimum=0)
DRIFT_CHECK_MAX_PER_TICK = env_int("BMADWEB_DRIFT_CHECK_MAX_PER_TICK", 20, minimum=1)
# Largest webhook body accepted (bytes); bigger deliveries get 413 before any HMAC.
WEBHOOK_MAX_BYTES = env_int("BMADWEB_WEBHOOK_MAX_BYTES", 1024 * 1024, minimum=1024)
# Deliveries that prove nothing (bad signature, too large) recorded in the ledger per
# project, provider and source address in ten minutes; beyond it they get 429 and are
# only counted.
WEBHOOK_REFUSED_LIMIT = env_int("BMADWEB_WEBHOOK_REFUSED_LIMIT", 30, minimum=1)
# Notifications (docs/architecture.md#notifications): the site's public address, for the
# links in messages (empty: messages carry paths only); how long one send may take; how
# many tries a delivery gets before it is marked failed.
SITE_URL = (env_str("BMADWEB_SITE_URL") or "").rstrip("/")
NOTIFY_TIMEOUT_S = env_int("BMADWEB_NOTIFY_TIMEOUT", 10, minimum=1)
NOTIFY_MAX_ATTEMPTS = env_int("BMADWEB_NOTIFY_MAX_ATTEMPTS", 4, minimum=1)

# --- Auth, sessions, security headers ------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out attempts
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "projects:project-list"
LOGOUT_REDIRECT_URL = "login"
GUARDIAN_RAISE_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous sees nothing
# Sign-in lockout (django-axes, bmadweb.lockout): failures per (account, client address)
# and per account from anywhere, each with its limit, forgotten after the lockout time.
LOGIN_FAILURE_LIMIT = env_int("BMADWEB_LOGIN_FAILURE_LIMIT", 5, minimum=1)
LOGIN_ACCOUNT_FAILURE_LIMIT = env_int(
    "BMADWEB_LOGIN_ACCOUNT_FAILURE_LIMIT", 4 * LOGIN_FAILURE_LIMIT, minimum=1
)
LOGIN_LOCKOUT_SECONDS = env_int("BMADWEB_LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Reverse proxies (addresses or CIDR ranges) whose X-Forwarded-For is believed; the
# client address is the first hop, from the right, that is not one of them.
TRUSTED_PROXIES = env_list("BMADWEB_TRUSTED_PROXIES")
try:
    trusted_proxy_networks(TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"BMADWEB_TRUSTED_PROXIES: {exc}") from None
AXES_HANDLER = "bmadweb.lockout.AccountAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "username"]
AXES_FAILURE_LIMIT = "bmadweb.lockout.failure_limit"  # read from the settings above at each use
AXES_COOLOFF_TIME = "bmadweb.lockout.cool_off"
AXES_USERNAME_CALLABLE = "bmadweb.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "bmadweb.lockout.lockout_client_address"
AXES_LOCKOUT_CALLABLE = "bmadweb.lockout.lockout_response"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lockout lasts its stated time
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are in the audit log already
AXES_VERBOSE = False
# --- Single sign-on: OpenID Connect (bmadweb.oidc), off unless an issuer is set ------
OIDC_ISSUER = env_str("BMADWEB_OIDC_ISSUER") or ""
OIDC_RP_CLIENT_ID = env_str("BMADWEB_OIDC_CLIENT_ID") or ""
OIDC_RP_CLIENT_SECRET = env_str("BMADWEB_OIDC_CLIENT_SECRET") or ""
OIDC_RP_SIGN_ALGO = env_choice(
    "BMADWEB_OIDC_SIGN_ALGO", "rs256", ("rs256", "es256", "ps256")
).upper()
OIDC_RP_SCOPES = env_str("BMADWEB_OIDC_SCOPES") or "openid email profile"
OIDC_GROUPS_CLAIM = env_str("BMADWEB_OIDC_GROUPS_CLAIM") or "groups"
OIDC_GROUP_MAP = env_list("BMADWEB_OIDC_GROUP_MAP")  # "idp-group=django-group,..."
OIDC_STAFF_GROUPS = env_list("BMADWEB_OIDC_STAFF_GROUPS")
OIDC_SUPERUSER_GROUPS = env_list("BMADWEB_OIDC_SUPERUSER_GROUPS")
OIDC_PROVIDER_NAME = env_str("BMADWEB_OIDC_PROVIDER_NAME") or "single sign-on"
OIDC_TIMEOUT = env_int("BMADWEB_OIDC_TIMEOUT", 5, minimum=1)
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_CREATE_USER = True
OIDC_AUTHENTICATE_CLASS = "bmadweb.oidc.OidcSignIn"
OIDC_CALLBACK_CLASS = "bmadweb.oidc.OidcCallback"
if OIDC_ISSUER:
    if not (OIDC_RP_CLIENT_ID and OIDC_RP_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "BMADWEB_OIDC_CLIENT_ID and BMADWEB_OIDC_CLIENT_SECRET must be set with "
            "BMADWEB_OIDC_ISSUER"
        )
    AUTHENTICATION_BACKENDS.append("bmadweb.oidc.OidcBackend")
# REST API: requests per minute per token, and the longest lifetime a token may have.
API_RATE_LIMIT = env_int("BMADWEB_API_RATE_LIMIT", 100, minimum=1)
API_TOKEN_MAX_DAYS = env_int("BMADWEB_API_TOKEN_MAX_DAYS", 365, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "bmadweb.error_views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict CSP through Django 6's built-in support: no inline script or style at all.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- Static files --------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Logging: plain lines on stderr, secrets scrubbed by a filter --------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scrub": {"()": "bmadweb.logscrub.ScrubSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub"],
        }
    },
    "root": {"handlers": ["stderr"], "level": env_str("BMADWEB_LOG_LEVEL") or "INFO"},
}
