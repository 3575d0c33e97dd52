# qmsbot: `qmsbot run` in a Debian-based Python 3.11 image, as a non-root user.
#   docker build -t qmsbot .
#   docker run --env-file .env -v qmsbot-data:/var/lib/qmsbot qmsbot            # long polling, SQLite
#   docker run --env-file .env -p 8443:8443 qmsbot run --webhook https://bot.example.org/telegram/hook \
#       --listen 0.0.0.0 --port 8443                                               # webhook (PostgreSQL: see deploy/)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 qmsbot \
 && useradd --system --uid 10001 --gid qmsbot --home-dir /var/lib/qmsbot --create-home qmsbot

WORKDIR /opt/qmsbot
COPY pyproject.toml README.md ./
COPY core ./core
COPY storage ./storage
COPY texts ./texts
COPY scheduler ./scheduler
COPY handlers ./handlers
COPY bot ./bot
COPY sandbox ./sandbox
RUN pip install '.[postgres]'

USER qmsbot
WORKDIR /var/lib/qmsbot
VOLUME ["/var/lib/qmsbot"]
ENV DATABASE_URL=sqlite+aiosqlite:////var/lib/qmsbot/qmsbot.db
EXPOSE 8443
ENTRYPOINT ["qmsbot"]
CMD ["run"]
