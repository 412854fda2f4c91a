# One image for web, worker and beat (docker-compose.yml picks the command).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.lock .
RUN pip install --no-cache-dir --no-deps -r requirements.lock && pip check
COPY . .
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 MEGAHUB_VAR_DIR=/tmp/var python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 megahub && chown -R megahub /app
USER megahub
EXPOSE 8000
CMD ["gunicorn", "megahub.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
