#!/usr/bin/env python3
"""`docker save` archives, on the host side of the v2 lab (docs/V2-LAB.md).

  imgtar.py diffids TAR                 its layer diff_ids, base first
  imgtar.py delta TAR OUT PRESENT-FILE  OUT: TAR without its first layers that PRESENT-FILE lists
  imgtar.py build-dind OUT NAME ARCH ROOTFS-TAR ROOTFS-SHA256 DIND-INIT
  imgtar.py build-busybox OUT NAME ARCH BUSYBOX
"""
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time

def manifest(tar):
    m = json.load(tar.extractfile("manifest.json"))
    if len(m) != 1:
        raise SystemExit("imgtar.py: expected one image in the archive, found %d" % len(m))
    return m[0], json.load(tar.extractfile(m[0]["Config"]))["rootfs"]["diff_ids"]

def small_layer(files, mtime):
    """A layer tar from [(path, mode, bytes) or (path, 'dir'|'link', mode|target)]."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as t:
        for path, kind, data in files:
            ti = tarfile.TarInfo(path)
            ti.mtime = int(mtime)
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, data
            elif kind == "link":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, data, 0o777
            else:
                ti.size, ti.mode = len(data), kind
            t.addfile(ti, io.BytesIO(data) if ti.isfile() else None)
    return buf.getvalue()

def write_image(out, name, arch, layers, config):
    """layers: [(diff_id, path-of-layer-tar) or layer bytes], base first."""
    layers = [x if isinstance(x, tuple) else ("sha256:" + hashlib.sha256(x).hexdigest(), x)
              for x in layers]
    config.update({"architecture": arch, "os": "linux",
                   "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "rootfs": {"type": "layers", "diff_ids": [d for d, _ in layers]},
                   "history": [{"created_by": "v2-lab imgtar.py"} for _ in layers]})
    cfg = json.dumps(config, sort_keys=True).encode()
    cfg_id = hashlib.sha256(cfg).hexdigest()
    names = []
    with tarfile.open(out + ".tmp", "w") as t:
        def add(path, data):
            ti = tarfile.TarInfo(path)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, int(time.time())
            t.addfile(ti, io.BytesIO(data))
        for diff_id, src in layers:
            names.append(diff_id[7:] + "/layer.tar")
            if isinstance(src, bytes):
                add(names[-1], src)
            else:
                t.add(src, arcname=names[-1])
        add(cfg_id + ".json", cfg)
        manifest = [{"Config": cfg_id + ".json", "RepoTags": [name], "Layers": names}]
        add("manifest.json", json.dumps(manifest).encode())
    os.replace(out + ".tmp", out)

def build_dind(out, name, arch, rootfs, rootfs_sha, binary):
    dirs = [(d, "dir", 0o755) for d in ("usr", "usr/local", "usr/local/bin")]
    files = dirs + [("usr/local/bin/dind-init", 0o755, open(binary, "rb").read())]
    config = {"config": {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Entrypoint": ["dind-init"],
        "Volumes": {"/var/lib/docker": {}},
        "Healthcheck": {"Test": ["CMD", "dind-init", "health"], "Interval": 10 * 10**9,
                        "Timeout": 5 * 10**9, "StartPeriod": 60 * 10**9, "Retries": 3},
        "Labels": {"dind-init-test.arch": arch}}}
    write_image(out, name, arch, [("sha256:" + rootfs_sha, rootfs),
                                  small_layer(files, os.stat(binary).st_mtime)], config)

def build_busybox(out, name, arch, busybox):
    # The applet list: the binary's own (--list), run through qemu-user when it is foreign.
    qemu = "qemu-%s-static" % {"arm64": "aarch64"}.get(arch, arch)
    sh = '"$0" --list 2>/dev/null || "$1" "$0" --list'
    applets = subprocess.run(["sh", "-c", sh, busybox, qemu],
                             capture_output=True, check=True, text=True).stdout.split()
    dirs = "bin tmp etc proc sys dev".split()
    files = [(d, "dir", 0o1777 if d == "tmp" else 0o755) for d in dirs]
    files += [("bin/busybox", 0o755, open(busybox, "rb").read()),
              ("etc/passwd", 0o644, b"root:x:0:0:root:/:/bin/sh\n"),
              ("etc/group", 0o644, b"root:x:0:\n")]
    files += [("bin/" + a, "link", "busybox") for a in applets if a != "busybox"]
    write_image(out, name, arch, [small_layer(files, os.stat(busybox).st_mtime)],
                {"config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]}})

def delta(tar, out, present_file):
    entry, diff_ids = manifest(tar)
    present = open(present_file).read().split()
    n = 0
    while n < min(len(diff_ids), len(present)) and diff_ids[n] == present[n]:
        n += 1
    skip = set(entry["Layers"][:n]) - set(entry["Layers"][n:])
    with tarfile.open(out, "w") as o:
        for member in tar.getmembers():
            if member.name not in skip:
                o.addfile(member, tar.extractfile(member) if member.isfile() else None)
    print("%d of %d layers already in the VM's dockerd" % (n, len(diff_ids)))

def main(cmd="", *args):
    if cmd == "build-dind" and len(args) == 6:
        build_dind(*args)
    elif cmd == "build-busybox" and len(args) == 4:
        build_busybox(*args)
    elif (cmd, len(args)) in (("diffids", 1), ("delta", 3)):
        with tarfile.open(args[0]) as tar:
            print("\n".join(manifest(tar)[1])) if cmd == "diffids" else delta(tar, *args[1:])
    else:
        raise SystemExit(__doc__)

if __name__ == "__main__":
    main(*sys.argv[1:])
