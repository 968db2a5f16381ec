# One image for every SIRT Pathway process; docker-compose.yml picks the command.

# The pages' NHS.UK design system, at the version package-lock.json pins: `npm ci` copies its
# built CSS and icons to api/static/nhsuk (frontend/copy-nhsuk.mjs). Node stays in this stage.
FROM node:20-slim AS nhsuk
WORKDIR /build
COPY package.json package-lock.json ./
COPY frontend frontend
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY activities activities
COPY api api
COPY --from=nhsuk /build/api/static/nhsuk api/static/nhsuk
COPY clinical clinical
COPY cli cli
COPY core core
COPY demo demo
COPY intake intake
COPY migrations migrations
COPY models models
COPY notifications notifications
COPY outbound outbound
COPY registry registry
COPY reports reports
COPY scheduler scheduler
COPY workflows workflows
COPY worker.py ./
# Local state (the session-cookie key when SIRT_API_SESSION_SECRET is unset) in a directory
# the unprivileged user can write; /app is root's.
ENV SIRT_DATA_DIR=/var/lib/sirt
RUN pip install --no-cache-dir . && useradd --system --uid 10001 sirt \
    && mkdir -p /var/lib/sirt && chown sirt /var/lib/sirt
USER sirt
CMD ["sirt", "--help"]
