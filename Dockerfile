# bmadweb production image: gunicorn for the web, the same image runs RQ workers.
FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH BMADWEB_ENV=production
RUN apt-get update && apt-get install -y --no-install-recommends git openssh-client \
    && rm -rf /var/lib/apt/lists/* && pip install --no-cache-dir uv \
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
