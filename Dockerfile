# syntax=docker/dockerfile:1
# Build stage: a virtual environment with startjobs and its dependencies.
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/startjobs
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/startjobs/bin/pip install .

# Runtime stage: the venv only, run as an unprivileged user. No secrets are baked in:
# pass SLACK_* and HUAWEICLOUD_* at run time (docker run --env-file .env).
FROM python:3.12-slim
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin startjobs \
    && mkdir -p /data /config \
    && chown startjobs /data
COPY --from=build /opt/startjobs /opt/startjobs
ENV PATH=/opt/startjobs/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    STARTJOBS_DB=/data/startjobs.db \
    STARTJOBS_CONFIG=/config/startjobs.toml \
    PORT=3000
VOLUME ["/data"]
USER 10001
WORKDIR /data
EXPOSE 3000
# In HTTP mode (no SLACK_APP_TOKEN) the check asks /healthz on PORT; in Socket Mode it makes
# /healthz's database write itself (PORT serves /healthz and /metrics there too).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-m", "bot.healthcheck"]
ENTRYPOINT ["startjobs"]
CMD ["run"]
