# pinauth: a release build in a full Rust image, run from a slim one as a non-root user.
#   docker build -t pinauth .
#   docker run -p 8080:8080 -v pinauth-data:/data pinauth            # embedded store
#   docker run -e PINAUTH_STORE=kurrentdb://db:2113?tls=false pinauth command
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# The registry and target folders are build caches, kept between builds, never in the image.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin pinauth \
    && install -D -m 0755 target/release/pinauth /out/pinauth

FROM debian:bookworm-slim
# curl serves the health checks; ca-certificates the SMTP and KurrentDB TLS connections.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin pinauth \
    && install -d -o pinauth -g pinauth -m 0700 /data
COPY --from=build /out/pinauth /usr/local/bin/pinauth
USER pinauth
ENV PINAUTH_DATA=/data \
    PINAUTH_LISTEN=0.0.0.0:8080 \
    RUST_LOG=info
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
ENTRYPOINT ["pinauth"]
CMD ["serve"]
