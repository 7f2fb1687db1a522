# The portal's image: gunicorn for the web, and the same image runs the Celery worker and beat.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them. The project ships no package of its
# own (setuptools packages = []), so this installs the pinned dependencies only.
COPY pyproject.toml ./
RUN pip install .

COPY . .

# Static files are collected at build time (no database or secret needed) into /app/staticfiles,
# which compose shares with nginx. Media (uploaded proofs) stay private to the app.
RUN SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && useradd --system --create-home --home-dir /home/portal portal \
    && mkdir -p /app/media \
    && chown -R portal:portal /app/media /app/staticfiles

USER portal
EXPOSE 8000

CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120", "--access-logfile", "-"]
