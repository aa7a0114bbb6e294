# The clu-ops-agent image: a static-feeling, non-root runtime with only the agent (and helm when
# the Core Plus tier is built in).
#
#   docker build -t clu-ops-agent .                                  # every tier
#   docker build --build-arg FEATURES= -t clu-ops-agent:core .       # Core only, no helm
#
# FEATURES is the cargo feature list of clu-agent-bin; with `coreplus` in it the image carries
# the helm executable the helm_* verbs run.
#
# FIXME(no-container-engine): this image has never been built: the build machines have no
# container engine and reach no image registry (Docker Hub, gcr.io, get.helm.sh). Its cargo
# command is the one `scripts/bench-sizes` runs, and the chart's tests read the paths it uses.

ARG RUST_VERSION=1.95
ARG HELM_VERSION=3.19.0

FROM rust:${RUST_VERSION}-bookworm AS build
ARG FEATURES=cloud,coreplus
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p clu-agent-bin --no-default-features --features "${FEATURES}" \
 && install -D target/release/clu-agent /out/clu-agent

FROM debian:bookworm-slim AS helm
ARG HELM_VERSION
ARG FEATURES=cloud,coreplus
ARG TARGETARCH=amd64
RUN mkdir -p /out && case ",${FEATURES}," in \
      *,coreplus,*) apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
        && curl -fsSL "https://get.helm.sh/helm-v${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
           | tar -xz -C /tmp \
        && install /tmp/linux-${TARGETARCH}/helm /out/helm ;; \
      *) echo "no Core Plus: no helm" ;; \
    esac

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/clu-agent /usr/local/bin/clu-agent
COPY --from=helm /out/ /usr/local/bin/
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/clu-agent"]
CMD ["serve", "--config", "/etc/clu/config.yaml"]
