# bmadweb production image: gunicorn for the web, the same image runs RQ workers.
# Debian 13 (trixie): its nodejs package is the Node 20 LTS line, which upgrade runs need
# to start BMAD's official installer (npx bmad-method@<version>; the package needs 20.12+).
FROM python:3.12-slim-trixie AS base
# The Node line is pinned (Debian's security updates within it still apply); npm is
# whatever trixie ships with it.
ARG NODE_DEBIAN_VERSION=20.19.*
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH BMADWEB_ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client \
        "nodejs=${NODE_DEBIAN_VERSION}" npm \
    && rm -rf /var/lib/apt/lists/* \
    && node -e 'const [major, minor] = process.versions.node.split(".").map(Number); \
        if (major < 20 || (major === 20 && minor < 12)) { console.error("node " + process.version + " is too old for upgrade runs"); process.exit(1); }' \
    && npx --version && pip install --no-cache-dir uv \
    && useradd --create-home --uid 10001 bmadweb
WORKDIR /app
COPY pyproject.toml uv.lock .python-version ./
RUN uv sync --frozen --no-dev --no-install-project
COPY manage.py ./
COPY bmadweb bmadweb
COPY projects projects
COPY provisioning provisioning
COPY templates templates
COPY static static
# collectstatic needs settings; throwaway values are fine for building assets only.
RUN DJANGO_SECRET_KEY=build BMADWEB_FERNET_KEYS=$(python -c "import base64,os;print(base64.urlsafe_b64encode(os.urandom(32)).decode())") \
    BMADWEB_AUDIT_KEYS=build:0123456789abcdef0123456789abcdef DJANGO_ALLOWED_HOSTS=build \
    DJANGO_STATIC_ROOT=/app/staticfiles python manage.py collectstatic --noinput
USER bmadweb
ENV DJANGO_STATIC_ROOT=/app/staticfiles BMADWEB_VAR_DIR=/tmp/bmadweb
EXPOSE 8000
CMD ["gunicorn", "bmadweb.wsgi", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-"]
