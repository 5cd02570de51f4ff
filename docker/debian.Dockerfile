# The ready-made Docker-in-Docker image: Debian + docker.io (dockerd, containerd, runc, the docker
# CLI) + iptables + dind-init as PID 1. It is a drop-in for `docker:dind`: the same arguments
# (none, dockerd flags, `dockerd ...`), DOCKER_TLS_CERTDIR=/certs with certificates made at each
# start, ports 2375/2376, /var/lib/docker on a volume, a HEALTHCHECK; and it runs a command
# beside dockerd too (`docker run ... IMAGE mvn test`), wrapdocker's way.
#
#   docker build -f docker/Dockerfile -t dind-init .                    # /dind-init (scratch)
#   docker build -f docker/debian.Dockerfile -t dind-init/debian docker/
#   docker run -d --privileged --name docker --network ci dind-init/debian       # a service
#   docker run --rm --privileged dind-init/debian docker run --rm hello-world    # a command
#
# Build arguments:
#   BASE             the Debian/Ubuntu image to start from (default debian:trixie-slim). The
#                    packages are installed only when missing, so a base that already has them
#                    builds offline (the tests use their debootstrap images dind-init-test/base).
#   DIND_INIT_IMAGE  the image holding /dind-init, built from docker/Dockerfile (default dind-init).
#
# The build context is not used (nothing is COPYed from it); any directory will do.

ARG BASE=debian:trixie-slim
ARG DIND_INIT_IMAGE=dind-init

FROM ${DIND_INIT_IMAGE} AS dind-init

FROM ${BASE}
# docker.io has the CLI up to Debian 12; from Debian 13 it is the package docker-cli.
RUN set -eu; \
    install() { \
        [ -n "${updated:-}" ] || { apt-get update; updated=1; }; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; \
    }; \
    missing=; \
    command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"; \
    command -v iptables >/dev/null 2>&1 || missing="$missing iptables"; \
    [ -e /etc/ssl/certs/ca-certificates.crt ] || missing="$missing ca-certificates"; \
    command -v ps >/dev/null 2>&1 || missing="$missing procps"; \
    if [ -n "$missing" ]; then install $missing; fi; \
    command -v docker >/dev/null 2>&1 || install docker-cli; \
    rm -rf /var/lib/apt/lists/*
COPY --from=dind-init /dind-init /usr/local/bin/dind-init
# docker:dind's entrypoint name: scripts that call it (GitLab's custom-CA recipe:
# `command: ["sh", "-c", "update-ca-certificates && dockerd-entrypoint.sh"]`) get dind-init.
RUN ln -s dind-init /usr/local/bin/dockerd-entrypoint.sh
# docker:dind's TLS: certificates in /certs at each start (only /certs/client is meant to be
# shared with jobs); DOCKER_TLS_CERTDIR="" turns TLS off (port 2375).
ENV DOCKER_TLS_CERTDIR=/certs
RUN mkdir -p /certs/client && chmod 1777 /certs /certs/client
# The inner daemon's storage must not sit on the container's overlayfs (overlay2 cannot stack on
# overlayfs; dockerd would fall back to the slow vfs driver): a volume, anonymous by default.
# Name it to keep images and containers across runs: -v dind-data:/var/lib/docker
VOLUME /var/lib/docker
# GitLab's service health check waits until the exposed ports answer.
EXPOSE 2375 2376
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["dind-init", "health"]
# No CMD: without a command dind-init serves dockerd until `docker stop` (with -it: a login shell).
ENTRYPOINT ["dind-init"]
