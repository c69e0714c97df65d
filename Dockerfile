# syntax=docker/dockerfile:1
#
# nexus-operator container image.
#
#   docker build -t nexus-operator:dev .          (BuildKit, the default builder since Docker 23)
#
# Build stage: a build with the `production` profile (release, optimised for size: see Cargo.toml)
# and the committed Cargo.lock (--locked fails if it is stale), without the default `dev` feature: the image carries neither the Auth0 simulator nor the in-memory
# Kubernetes API (`nexus-operator dev` and `auth0-sim` do not exist in it).
# Cargo's registry and the target directory live in BuildKit cache mounts, so rebuilds after a
# source change do not recompile every dependency; the binary is copied out of the cache mount.
ARG RUST_VERSION=1
FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --profile production --locked -p nexus-operator --no-default-features --bin nexus-operator \
 && install -D -m 0755 target/production/nexus-operator /out/nexus-operator

# Runtime stage: distroless with glibc and libgcc (the binary is dynamically linked against them),
# CA certificates for TLS to Auth0, no shell, no package manager. The :nonroot tag runs as
# UID/GID 65532, which the Helm chart's securityContext also sets.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="nexus-operator" \
      org.opencontainers.image.description="Kubernetes operator that manages Auth0 applications declaratively" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/nexus-operator /nexus-operator
USER 65532:65532
# 8080: /metrics, /healthz, /readyz; 8081: the optional HTTP facade.
EXPOSE 8080 8081
ENTRYPOINT ["/nexus-operator"]
CMD ["run"]
