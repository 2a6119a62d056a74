# Latch: one image with every binary (ghcr.io/latch-dev/latch:<tag>).
#
#   docker build -t ghcr.io/latch-dev/latch:dev .
#   docker run --rm -p 50051:50051 -p 8080:8080 ghcr.io/latch-dev/latch:dev   # latchd serve
#
# The default command is `latchd serve`; Kubernetes picks another binary
# with `command:` (latch-identity, latch-token, latch-session,
# latch-authorization, latch-profile, `latchd migrate` for the Job,
# latchctl). Lint: `hadolint Dockerfile` (run by `make deploy-check`).
#
# Stages: chef (toolchain + cargo-chef), planner (the dependency recipe),
# builder (dependencies cooked in their own layer, then the workspace),
# runtime (distroless, non-root, binaries only). Everything builds on
# Debian 12 (bookworm) because the runtime is distroless cc-debian12: the
# binaries link glibc dynamically and must not need a newer one than it has.

FROM rust:1.95-bookworm AS chef
# cargo-chef turns the manifests and Cargo.lock into a recipe whose build is
# cached as long as the dependencies do not change. Pinned: a new release
# must not change the build unannounced.
ARG CARGO_CHEF_VERSION=0.1.76
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}"
WORKDIR /app
# The same target directory for cook and build, or the cooked dependencies
# are not found; no incremental state (as in .ci/run: it only costs disk).
ENV CARGO_TARGET_DIR=/app/target \
    CARGO_INCREMENTAL=0 \
    CARGO_TERM_COLOR=never

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only, with the same profile and package selection as the
# build below, so features unify the same way and nothing is rebuilt.
# No system library is needed: protobuf is compiled by protox (pure Rust),
# TLS is rustls; aws-lc-sys and ring build their C parts with the image's cc.
RUN cargo chef cook --release --workspace --recipe-path recipe.json
COPY . .
# The release build of the Makefile (`make release`) with --locked, as CI
# would run it: the image is built from exactly the committed Cargo.lock.
RUN cargo build --release --workspace --locked
# The binaries the image ships, and the embedded default's data directory
# (owner-only, as Latch creates it itself) for the runtime stage.
RUN install -d -m 0755 /out/bin \
    && install -m 0755 -t /out/bin \
       target/release/latchd \
       target/release/latch-identity \
       target/release/latch-token \
       target/release/latch-session \
       target/release/latch-authorization \
       target/release/latch-profile \
       target/release/latchctl \
    && install -d -m 0700 /out/data

# Distroless cc: glibc, libgcc_s, CA certificates and tzdata; no shell, no
# package manager. The `nonroot` tag runs as uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="latch" \
      org.opencontainers.image.description="Latch: authentication and identity gRPC services (latchd and the five per-service binaries, latchctl)" \
      org.opencontainers.image.source="https://github.com/latch-dev/latch" \
      org.opencontainers.image.url="https://github.com/latch-dev/latch" \
      org.opencontainers.image.documentation="https://github.com/latch-dev/latch/blob/main/deploy/README.md" \
      org.opencontainers.image.vendor="latch-dev" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=builder /out/bin/ /usr/local/bin/
# The embedded default (SQLite + generated secrets) writes here. Kubernetes
# runs the root filesystem read-only, so latchd on SQLite needs a volume
# mounted at LATCH_DATA_DIR; on PostgreSQL nothing is written here, except
# avatars when LATCH_AVATAR_STORE is unset (use s3:// or a volume).
COPY --from=builder --chown=65532:65532 /out/data /var/lib/latch
WORKDIR /var/lib/latch
# Listen on every interface: the binaries default to 127.0.0.1, which no
# other pod (or `docker run -p`) can reach. gRPC (with health and
# reflection) on 50051; HTTP (JWKS, discovery) on 8080 for latchd and
# latch-token.
ENV LATCH_DATA_DIR=/var/lib/latch \
    LATCH_GRPC_ADDR=0.0.0.0:50051 \
    LATCH_HTTP_ADDR=0.0.0.0:8080 \
    LATCH_LOG_FORMAT=json
EXPOSE 50051 8080
# Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# No ENTRYPOINT: Kubernetes' `command:` names the binary outright. Exec
# form, so the binary is PID 1 and receives SIGTERM itself. No HEALTHCHECK:
# there is no shell or probe tool in the image; Kubernetes probes the gRPC
# health service natively.
CMD ["/usr/local/bin/latchd", "serve"]
