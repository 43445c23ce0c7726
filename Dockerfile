FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY locales ./locales
RUN pip install --no-cache-dir .
# The bot runs as a user of its own, not root; /data is created here, owned by it, so a new
# volume mounted there starts with that owner.
RUN useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin loyalty \
    && mkdir -p /data && chown loyalty:loyalty /data
USER loyalty
# The database (sessions, links, card cache) lives on a volume; with DATABASE_URL only this
# host's own small files do.
ENV DATABASE=/data/loyalty-bot.db HOST=0.0.0.0 PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers 200 while the database (and Redis, with REDIS_URL) answer.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8080')}/healthz\", timeout=4)"]
CMD ["loyalty-bot", "run"]
