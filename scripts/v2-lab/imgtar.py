#!/usr/bin/env python3
"""`docker save` archives, on the host side of the v2 lab.

  imgtar.py diffids TAR                  the image's layer diff_ids, one a line, base first
  imgtar.py delta TAR OUT PRESENT-FILE   OUT: TAR without the layer files of the longest prefix
                                         of layers listed (in order) in PRESENT-FILE

Why: loading the 400 MB DinD image into the VM's dockerd takes minutes under TCG. The lab keeps a
data disk on which that dockerd already holds the image's base layers (prepared once), and
loads a delta archive: `docker load` only opens the file of a layer whose chain it does not have
(moby's tarexport looks the chain up before it touches the layer file), so the result is the
very same image (same config, same layers, same ID) from a few megabytes. When the delta is
refused, the lab loads the full archive instead.
"""
import json
import sys
import tarfile


def manifest(tar):
    m = json.load(tar.extractfile("manifest.json"))
    if len(m) != 1:
        raise SystemExit("imgtar.py: expected one image in the archive, found %d" % len(m))
    cfg = json.load(tar.extractfile(m[0]["Config"]))
    return m[0], cfg["rootfs"]["diff_ids"]


def main():
    cmd = sys.argv[1]
    with tarfile.open(sys.argv[2]) as tar:
        entry, diff_ids = manifest(tar)
        if cmd == "diffids":
            print("\n".join(diff_ids))
            return 0
        if cmd != "delta":
            raise SystemExit(__doc__)
        present = [l.strip() for l in open(sys.argv[4]) if l.strip()]
        n = 0
        while n < len(diff_ids) and n < len(present) and diff_ids[n] == present[n]:
            n += 1
        skip = set(entry["Layers"][:n]) - set(entry["Layers"][n:])
        with tarfile.open(sys.argv[3], "w") as out:
            for member in tar.getmembers():
                if member.name in skip:
                    continue
                out.addfile(member, tar.extractfile(member) if member.isfile() else None)
        print("%d of %d layers already in the VM's dockerd; delta keeps %d" % (n, len(diff_ids), len(diff_ids) - n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
