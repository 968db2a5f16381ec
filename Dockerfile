# One image for every SIRT Pathway process; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY activities activities
COPY api api
COPY clinical clinical
COPY cli cli
COPY core core
COPY migrations migrations
COPY models models
COPY notifications notifications
COPY scheduler scheduler
COPY workflows workflows
COPY worker.py ./
RUN pip install --no-cache-dir . && useradd --system --uid 10001 sirt
USER sirt
CMD ["sirt", "--help"]
