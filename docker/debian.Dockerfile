# A ready-made Docker-in-Docker image: Debian + docker.io + iptables + dind-init as PID 1.
#
#   docker build -f docker/Dockerfile -t dind-init .                    # /dind-init (scratch)
#   docker build -f docker/debian.Dockerfile -t dind-init/debian docker/
#   docker run --rm --privileged -v dind-data:/var/lib/docker dind-init/debian \
#       docker run --rm hello-world
#
# Build arguments:
#   BASE             the Debian/Ubuntu image to start from (default debian:bookworm-slim). The
#                    packages are installed only when missing, so a base that already has them
#                    builds offline (the tests use their debootstrap image dind-init-test/base).
#   DIND_INIT_IMAGE  the image holding /dind-init, built from docker/Dockerfile (default dind-init).
#
# The build context is not used (nothing is COPYed from it); any directory will do.

ARG BASE=debian:bookworm-slim
ARG DIND_INIT_IMAGE=dind-init

FROM ${DIND_INIT_IMAGE} AS dind-init

FROM ${BASE}
RUN set -eu; \
    missing=; \
    command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"; \
    command -v iptables >/dev/null 2>&1 || missing="$missing iptables"; \
    [ -e /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"; \
    command -v ps >/dev/null 2>&1 || missing="$missing procps"; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=dind-init /dind-init /usr/local/bin/dind-init
# The inner daemon's storage must not sit on the container's overlayfs (overlay2 cannot stack on
# overlayfs; dockerd would fall back to the slow vfs driver): a volume, anonymous by default.
# Name it to keep images and containers across runs: -v dind-data:/var/lib/docker
VOLUME /var/lib/docker
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["dind-init", "health"]
# No CMD: without a command dind-init serves dockerd until `docker stop` (with -it: a login shell).
ENTRYPOINT ["dind-init"]
