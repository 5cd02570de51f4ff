#!/usr/bin/env python3
"""imgtar.py OUT NAME ARCH CONFIG LAYER-TAR...: OUT, a `docker save` archive of the image NAME for
ARCH from its layer tarballs (base first); CONFIG: the JSON of the image config's "config"."""
import hashlib
import io
import json
import sys
import tarfile
import time

def main(out, name, arch, config, *layers):
    diff_ids = []
    for path in layers:
        with open(path, "rb") as f:
            diff_ids.append("sha256:" + hashlib.file_digest(f, "sha256").hexdigest())
    cfg = json.dumps({"architecture": arch, "os": "linux", "config": json.loads(config),
                      "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                      "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cfg_name = hashlib.sha256(cfg).hexdigest() + ".json"
    names = [d[7:] + "/layer.tar" for d in diff_ids]
    manifest = [{"Config": cfg_name, "RepoTags": [name], "Layers": names}]
    with tarfile.open(out, "w") as t:
        for path, arcname in zip(layers, names):
            t.add(path, arcname=arcname)
        for arcname, data in ((cfg_name, cfg), ("manifest.json", json.dumps(manifest).encode())):
            info = tarfile.TarInfo(arcname)
            info.size, info.mode = len(data), 0o644
            t.addfile(info, io.BytesIO(data))

if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
