# syntax=docker/dockerfile:1
# Build with the same script developers and CI use (scripts/setup), then run on a slim image.

FROM rust:1-bookworm AS build
SHELL ["/bin/bash", "-euo", "pipefail", "-c"]
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Installs the wasm32 target (rustup, or Debian's rust-web where rustup cannot download),
# cargo-leptos, wasm-bindgen-cli at the Cargo.lock version and wasm-opt (npm binaryen).
RUN scripts/setup
# The release site as scripts/run builds it: cargo leptos build --release --split, then .br/.gz twins of
# the front end's files; the server, with its hash file beside it (hashed asset names).
RUN . scripts/lib.sh && load_toolchain \
 && build_release_site \
 && mkdir -p /out \
 && cp "$SITE_SERVER" "$(dirname "$SITE_SERVER")/hash.txt" /out/ \
 && cp -r "$SITE_ROOT" /out/site

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin hubnotify
WORKDIR /app
COPY --from=build /out/server /out/hash.txt /app/
COPY --from=build /out/site /app/site
ENV LEPTOS_ENV=PROD \
    LEPTOS_OUTPUT_NAME=hub-notify \
    LEPTOS_SITE_ROOT=/app/site \
    LEPTOS_SITE_PKG_DIR=pkg \
    LEPTOS_HASH_FILES=true \
    LEPTOS_SITE_ADDR=0.0.0.0:3000 \
    APP_ENV=production \
    RUST_LOG=info
USER hubnotify
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:3000/healthz || exit 1
ENTRYPOINT ["/app/server"]
CMD ["serve"]
