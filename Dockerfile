# syntax=docker/dockerfile:1
# Build:  docker build -t compute-voucher .
# Run:    docker run -p 8000:8000 -e DATABASE_URL=postgresql://user:pass@db:5432/voucher compute-voucher
# Without DATABASE_URL the service uses a SQLite file in /data (mount a volume there).

# --- assets: the pinned, integrity-checked ECharts and Swagger UI (docs/web.md) ---------------
FROM node:20-slim AS assets
WORKDIR /src
COPY scripts/fetch-assets.sh ./scripts/
RUN scripts/fetch-assets.sh

# --- builder: build the wheel and install it with its dependencies into a venv ----------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --upgrade pip

# Only what the package needs: a change to tests or docs does not rebuild this layer.
COPY pyproject.toml ./
COPY service ./service
COPY --from=assets /src/service/web/static/vendor ./service/web/static/vendor
COPY migrations ./migrations
# `voucher demo`'s year generator: beside the service, not inside it, but still in the image.
COPY simulation ./simulation
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/*.whl

# --- runtime: the venv only, run as an unprivileged user --------------------------------------
FROM python:3.11-slim AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DATABASE_URL=sqlite:////data/voucher.db

RUN groupadd --system --gid 10001 voucher \
 && useradd --system --uid 10001 --gid voucher --home-dir /data --shell /usr/sbin/nologin voucher \
 && mkdir -p /data && chown voucher:voucher /data

COPY --from=builder /opt/venv /opt/venv

USER voucher
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"

# Migrations are idempotent (Alembic upgrade to head), so every start applies any new ones.
# `exec` makes uvicorn PID 1's replacement, so `docker stop` (SIGTERM) shuts it down gracefully.
# WORKERS: the production command runs several stateless worker processes (docs/scaling.md).
ENV WORKERS=2
CMD ["sh", "-c", "voucher migrate && exec voucher serve --host 0.0.0.0 --port 8000 --workers \"$WORKERS\""]
