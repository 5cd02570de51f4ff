# The rootless variant of the ready-made image, docker:dind-rootless's contract: dind-init runs as
# the user `rootless` (uid 1000) and starts dockerd through rootlesskit, in a user namespace, so a
# process that escapes an inner container is uid 1000 (or a subordinate uid) on this container,
# not root. It still needs --privileged (rootlesskit mounts, slirp4netns makes a tap device).
# Per-container --memory, --cpus and --pids-limit are unavailable: a rootless dockerd has the
# cgroup driver `none`; the container's own limits still bound every inner container.
#
#   docker build -f docker/debian.Dockerfile -t dind-init/debian docker/
#   docker build -f docker/debian-rootless.Dockerfile -t dind-init/debian-rootless docker/
#   docker run -d --privileged --name docker dind-init/debian-rootless        # a service, TLS on 2376
#   docker run --rm --privileged dind-init/debian-rootless docker run --rm hello-world
#
# The same arguments, DOCKER_TLS_CERTDIR=/certs and ports as dind-init/debian; the socket is
# $XDG_RUNTIME_DIR/docker.sock (DOCKER_HOST says so); the data is on the volume
# /home/rootless/.local/share/docker. dind-init as root with DIND_ROOTLESS=rootless (`--user 0`)
# runs the same daemon after preparing cgroups and mounts as root.
#
# Build arguments:
#   BASE  the image to start from (default dind-init/debian, from docker/debian.Dockerfile). The
#         packages are installed only when missing, so a base that has them builds offline.

ARG BASE=dind-init/debian
FROM ${BASE}
# rootlesskit (the namespaces, the port driver), slirp4netns (its network), uidmap (newuidmap and
# newgidmap, setuid root), fuse-overlayfs (the storage driver on kernels without overlayfs in a
# user namespace), iproute2 (rootlesskit's child sets up its tap device with `ip`).
RUN set -eu; \
    missing=; \
    command -v rootlesskit >/dev/null 2>&1 || missing="$missing rootlesskit"; \
    command -v slirp4netns >/dev/null 2>&1 || missing="$missing slirp4netns"; \
    command -v newuidmap >/dev/null 2>&1 || missing="$missing uidmap"; \
    command -v fuse-overlayfs >/dev/null 2>&1 || missing="$missing fuse-overlayfs"; \
    command -v ip >/dev/null 2>&1 || missing="$missing iproute2"; \
    if [ -n "$missing" ]; then \
        apt-get update; \
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing; \
        rm -rf /var/lib/apt/lists/*; \
    fi
# The user and its 65536 subordinate uids and gids; /run/user for XDG_RUNTIME_DIR (docker:dind-rootless).
RUN set -eu; \
    useradd --uid 1000 --user-group --create-home --home-dir /home/rootless --shell /bin/sh \
        --comment Rootless rootless; \
    for f in /etc/subuid /etc/subgid; do \
        grep -q '^rootless:' "$f" 2>/dev/null || echo 'rootless:100000:65536' >>"$f"; \
    done; \
    mkdir -p /run/user/1000 && chmod 1777 /run/user && chown rootless:rootless /run/user/1000 && \
    chmod 0700 /run/user/1000
# The data root owned by the user before its VOLUME: a root-owned volume there ends the rootless
# dockerd with "chmod /home/rootless/.local/share/docker: operation not permitted".
RUN mkdir -p /home/rootless/.local/share/docker && \
    chown -R rootless:rootless /home/rootless/.local
VOLUME /home/rootless/.local/share/docker
ENV XDG_RUNTIME_DIR=/run/user/1000 \
    DOCKER_HOST=unix:///run/user/1000/docker.sock
USER rootless
