# ada-carbon-exporter: docker build -t ada-carbon-exporter .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
# Non-root, and nothing written at run time, so it runs with a read-only root filesystem.
RUN useradd --system --uid 10001 --no-create-home exporter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
COPY exporter.yaml /etc/ada-carbon-exporter/exporter.yaml
USER 10001
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# glibc gives each thread that allocates an arena of its own, and memory freed in one
# is not reused by the others: the source threads decode large answers side by side,
# and at 10,000 hosts peak RSS was 246-254 MB with glibc's default, 234 MB with 2.
ENV MALLOC_ARENA_MAX=2
# Where the exporter listens, and so where the HEALTHCHECK asks: both read this
# variable (it is --web.listen-address's default). Change it with
# `docker run -e WEB_LISTEN_ADDRESS=:9100`, not with the flag, which the check cannot see.
ENV WEB_LISTEN_ADDRESS=:9877
EXPOSE 9877
# Any answer on /-/healthy over HTTP or HTTPS, 401 included (with --web.config.file
# every path needs a password): see exporter/web/healthcheck.py.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-m", "exporter.web.healthcheck"]
ENTRYPOINT ["ada-carbon-exporter", "--config.file=/etc/ada-carbon-exporter/exporter.yaml"]
# No arguments by default (not the base image's `python3`); those given to `docker run`
# follow the config file.
CMD []
