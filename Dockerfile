# syntax=docker/dockerfile:1
#
# anonymize in a small runtime image that carries pg_dump.
#
#   docker build -t anonymize .
#   docker run --rm -e SOURCE_DATABASE_URL -e TARGET_DATABASE_URL \
#     -e ANONYMIZE_SECRET -v "$PWD/rules:/rules:ro" anonymize
#
# pg_dump must be at least the source server's major version (an older one
# refuses a newer server, a newer one dumps older servers), so the image
# carries the newest client from the PostgreSQL apt repository; pass
# --build-arg PG_MAJOR=N to pin another.

# The toolchain the project is built and tested with. Cargo.toml's
# rust-version says 1.85, but the locked sha2 needs 1.88.
ARG RUST_VERSION=1.95
ARG DEBIAN=bookworm

# --- build ---------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN} AS build
WORKDIR /src
# Dependencies first, so editing the sources does not rebuild them all.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/it \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs tests/it/main.rs \
 && cargo build --release --locked --bin anonymize \
 && rm -rf src tests
# Everything the manifest may name (src, tests, benches); .dockerignore
# keeps target/ and .git/ out.
COPY . .
# touch: the placeholder build above is newer than the copied sources.
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --bin anonymize \
 && strip target/release/anonymize

# --- runtime -------------------------------------------------------------
FROM debian:${DEBIAN}-slim
ARG DEBIAN
ARG PG_MAJOR=17
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc \
        https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${DEBIAN}-pgdg main" \
        > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends "postgresql-client-${PG_MAJOR}"; \
    apt-get purge -y curl; \
    apt-get autoremove -y; \
    rm -rf /var/lib/apt/lists/*; \
    pg_dump --version; \
    useradd --system --uid 10001 --home-dir /work --create-home anonymize

COPY --from=build /src/target/release/anonymize /usr/local/bin/anonymize

USER 10001
WORKDIR /work
# Rules are mounted here (a ConfigMap, a volume) or baked into an image
# built FROM this one. Without them anonymize refuses to run: it never
# copies raw data.
ENV ANONYMIZE_RULES=/rules
ENTRYPOINT ["/usr/local/bin/anonymize"]
# The unattended run: JSON logs on stderr, no progress bars.
CMD ["sync", "--no-progress", "--log-format", "json"]
