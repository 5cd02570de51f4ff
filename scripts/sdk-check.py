"""lib_py_image's /usr/local/bin/sdk-check.py: the Docker SDK for Python runs an inner container."""
import os

import docker

print("DOCKER_HOST=" + os.environ.get("DOCKER_HOST", "<unset>"))
print("TESTCONTAINERS_HOST_OVERRIDE=" + os.environ.get("TESTCONTAINERS_HOST_OVERRIDE", "<unset>"))
client = docker.from_env()
with open("/images/inner.tar", "rb") as f:
    client.images.load(f.read())
inner = os.environ.get("INNER_IMAGE", "dind-init-test/inner:latest")
print("result=" + client.containers.run(inner, "echo sdk-ok", remove=True).decode().strip())
print("versions: sdk %s, engine %s (API %s)"
      % (docker.__version__, client.version()["Version"], client.api.api_version))
