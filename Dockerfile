# Baton's container image: a release build in the Rust image, then the binary alone on Debian
# slim (glibc, CA certificates for outbound TLS, bash for the health check), run as a user
# without privileges.
#
#   docker build -t baton .            (or: podman build -t baton .)
#   docker run -p 8080:8080 -v baton-data:/var/lib/baton baton
#
# The image runs `baton serve` on 0.0.0.0:8080 with SQLite in /var/lib/baton (a volume), unless
# BATON_DATABASE_URL points at PostgreSQL. Every setting is a BATON_* variable or a mounted
# config file (BATON_CONFIG); see docs/configuration.md and docs/install.md.
ARG RUST_IMAGE=docker.io/library/rust:1.94-slim-bookworm
ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the build between image builds (BuildKit, Buildah).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p baton \
 && install -D -m 0755 target/release/baton /out/baton

# --- runtime stage (scripts/deploy-check.sh builds this stage on a locally built binary) ---
FROM ${RUNTIME_IMAGE} AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 baton \
 && useradd --system --uid 10001 --gid baton --home-dir /var/lib/baton --shell /usr/sbin/nologin baton \
 && install -d -o baton -g baton -m 0750 /var/lib/baton
COPY --from=build /out/baton /usr/local/bin/baton
USER baton:baton
WORKDIR /var/lib/baton
ENV BATON_LISTEN=0.0.0.0:8080 \
    BATON_DATA_DIR=/var/lib/baton
EXPOSE 8080
VOLUME ["/var/lib/baton"]
# Ready = the process answers and its database is reachable (/readyz); no curl in the image.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /readyz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["baton"]
CMD ["serve"]
