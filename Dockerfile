# shiplog in a container: built in one stage, run from a small Debian image as a non-root user,
# with SQLite's database on a volume and a health check on /readyz (docs/operations.md).
#
#   docker build --build-arg SHIPLOG_COMMIT=$(git rev-parse HEAD) -t shiplog .
#   docker run -p 8080:8080 -v shiplog-data:/data shiplog
#
# SQLite and libpq are compiled in, so the runtime image needs only OpenSSL and CA certificates.

FROM rust:1-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . .
# Reported by /__version__.
ARG SHIPLOG_COMMIT=unknown
ARG SHIPLOG_BUILD=
ENV SHIPLOG_COMMIT=${SHIPLOG_COMMIT} SHIPLOG_BUILD=${SHIPLOG_BUILD}
RUN cargo build --release --locked -p shiplog && strip target/release/shiplog

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin shiplog \
    && mkdir /data && chown shiplog /data
COPY --from=build /src/target/release/shiplog /usr/local/bin/shiplog
USER shiplog
WORKDIR /data
VOLUME ["/data"]
ENV SHIPLOG_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=/data/shiplog.db \
    SHIPLOG_LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["shiplog"]
CMD ["serve"]
