#!/usr/bin/env python3
"""A tiny Docker Engine API client for the v2 lab VM (the Go docker CLI takes seconds per call
under qemu TCG; this talks to /var/run/docker.sock directly).

  dockerapi.py ping [--timeout S]
  dockerapi.py load TAR
  dockerapi.py run [--privileged] [--cgroupns host|private] [--entrypoint E] [-v SRC:DST[:ro]]...
                   [-e K=V]... [--memory BYTES] [--pids-limit N] [--timeout S] [--out PREFIX]
                   [--detach] IMAGE [CMD...]
      attached: writes PREFIX.stdout, PREFIX.stderr, PREFIX.id; exit status = the container's
      (124 after --timeout, the container is killed); the container is removed with its volumes.
      --detach: prints the id.
  dockerapi.py exec ID [--timeout S] [--out PREFIX] CMD...   exit status = the command's
  dockerapi.py logs ID --out PREFIX
  dockerapi.py wait-log ID TEXT [--timeout S]   until TEXT is in the container's logs (0), the
                                                container stopped (1) or S passed (124)
  dockerapi.py stop ID [--time T]   `docker stop -t T` (default 10); prints the seconds it took
                                    and the exit code ("stopped-after: S", "exit-code: N")
  dockerapi.py rm ID
"""
import http.client
import json
import os
import socket
import struct
import sys
import time
import urllib.parse

SOCK = os.environ.get("DOCKER_SOCK", "/var/run/docker.sock")


class Conn(http.client.HTTPConnection):
    def __init__(self, timeout=None):
        super().__init__("localhost", timeout=timeout)

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.timeout is not None:
            s.settimeout(self.timeout)
        s.connect(SOCK)
        self.sock = s


def call(method, path, body=None, timeout=120, headers=None, raw=False):
    c = Conn(timeout=timeout)
    h = dict(headers or {})
    if body is not None and not hasattr(body, "read"):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    if raw:
        return r.status, data
    if r.status >= 300:
        raise RuntimeError("%s %s: HTTP %d: %s" % (method, path, r.status, data.decode(errors="replace").strip()))
    if data and r.getheader("Content-Type", "").startswith("application/json"):
        return json.loads(data)
    return data


def demux(data):
    """The multiplexed stdout/stderr stream of a non-tty container."""
    out, err = bytearray(), bytearray()
    i = 0
    while i + 8 <= len(data):
        kind, size = data[i], struct.unpack(">I", data[i + 4:i + 8])[0]
        chunk = data[i + 8:i + 8 + size]
        (err if kind == 2 else out).extend(chunk)
        i += 8 + size
    return bytes(out), bytes(err)


def write_out(prefix, out, err):
    if prefix:
        with open(prefix + ".stdout", "wb") as f:
            f.write(out)
        with open(prefix + ".stderr", "wb") as f:
            f.write(err)
    else:
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)


def cmd_ping(args):
    timeout = 60.0
    if args[:1] == ["--timeout"]:
        timeout = float(args[1])
    deadline = time.time() + timeout
    while True:
        try:
            st, data = call("GET", "/_ping", timeout=2, raw=True)
            if st == 200:
                return 0
        except OSError:
            pass
        if time.time() > deadline:
            return 1
        time.sleep(0.1)


def cmd_load(args):
    path = args[0]
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        status, data = call("POST", "/images/load?quiet=1", body=f, timeout=2400, raw=True,
                            headers={"Content-Type": "application/x-tar", "Content-Length": str(size)})
    text = data.decode(errors="replace")
    if status >= 300:
        print("load: HTTP %d: %s" % (status, text.strip()), file=sys.stderr)
        return 1
    # A stream of JSON messages, one a line: {"stream": ...} or {"errorDetail": ..., "error": ...}.
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            print(line)
            continue
        if "error" in msg:
            print("load error: %s" % msg["error"], file=sys.stderr)
            return 1
        if "stream" in msg:
            print(msg["stream"].strip())
    return 0


def parse_run(args):
    o = {"privileged": False, "cgroupns": None, "entrypoint": None, "binds": [], "env": [],
         "timeout": 300.0, "out": None, "detach": False, "memory": None, "pids": None,
         "init": False}
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a == "--privileged":
            o["privileged"] = True
        elif a == "--init":
            o["init"] = True
        elif a == "--cgroupns":
            o["cgroupns"] = args.pop(0)
        elif a == "--entrypoint":
            o["entrypoint"] = args.pop(0)
        elif a == "-v":
            o["binds"].append(args.pop(0))
        elif a == "-e":
            o["env"].append(args.pop(0))
        elif a == "--timeout":
            o["timeout"] = float(args.pop(0))
        elif a == "--out":
            o["out"] = args.pop(0)
        elif a == "--detach":
            o["detach"] = True
        elif a == "--memory":
            o["memory"] = int(args.pop(0))
        elif a == "--pids-limit":
            o["pids"] = int(args.pop(0))
        elif a == "--":
            break
        else:
            raise SystemExit("dockerapi.py run: unknown option %s" % a)
    o["image"] = args[0]
    o["cmd"] = args[1:]
    return o


def cmd_run(args):
    o = parse_run(list(args))
    hc = {"Privileged": o["privileged"], "Binds": o["binds"]}
    if o["cgroupns"]:
        hc["CgroupnsMode"] = o["cgroupns"]
    if o["init"]:
        hc["Init"] = True
    if o["memory"]:
        hc["Memory"] = o["memory"]
    if o["pids"]:
        hc["PidsLimit"] = o["pids"]
    cfg = {"Image": o["image"], "Env": o["env"], "HostConfig": hc, "AttachStdout": False,
           "AttachStderr": False, "Tty": False, "OpenStdin": False}
    if o["entrypoint"] is not None:
        cfg["Entrypoint"] = [o["entrypoint"]]
        cfg["Cmd"] = o["cmd"]
    elif o["cmd"]:
        cfg["Cmd"] = o["cmd"]
    cid = call("POST", "/containers/create", cfg)["Id"]
    if o["out"]:
        with open(o["out"] + ".id", "w") as f:
            f.write(cid + "\n")
    call("POST", "/containers/%s/start" % cid, timeout=300)
    if o["detach"]:
        print(cid)
        return 0
    status = 124
    try:
        res = call("POST", "/containers/%s/wait" % cid, timeout=o["timeout"])
        status = res.get("StatusCode", 125)
    except (socket.timeout, TimeoutError):
        print("dockerapi.py: container %s still running after %ss: killing it" % (cid[:12], o["timeout"]),
              file=sys.stderr)
        call("POST", "/containers/%s/kill" % cid, raw=True)
        call("POST", "/containers/%s/wait" % cid, timeout=60, raw=True)
    data = call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid, timeout=120)
    write_out(o["out"], *demux(data))
    call("DELETE", "/containers/%s?v=1&force=1" % cid, raw=True)
    return status


def cmd_exec(args):
    args = list(args)
    cid = args.pop(0)
    timeout, prefix = 300.0, None
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--timeout":
            timeout = float(args.pop(0))
        elif a == "--out":
            prefix = args.pop(0)
        elif a == "--":
            break
    eid = call("POST", "/containers/%s/exec" % cid,
               {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": args})["Id"]
    try:
        st, data = call("POST", "/exec/%s/start" % eid, {"Detach": False, "Tty": False},
                        timeout=timeout, raw=True)
    except (socket.timeout, TimeoutError):
        print("dockerapi.py: exec still running after %ss" % timeout, file=sys.stderr)
        return 124
    write_out(prefix, *demux(data))
    info = call("GET", "/exec/%s/json" % eid)
    code = info.get("ExitCode")
    return 125 if code is None else code


def cmd_logs(args):
    cid, prefix = args[0], None
    if args[1:2] == ["--out"]:
        prefix = args[2]
    data = call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid, timeout=120)
    write_out(prefix, *demux(data))
    return 0


def cmd_wait_log(args):
    cid, text, timeout = args[0], args[1].encode(), 300.0
    if args[2:3] == ["--timeout"]:
        timeout = float(args[3])
    deadline = time.time() + timeout
    while True:
        data = call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid, timeout=120)
        out, err = demux(data)
        if text in out or text in err:
            return 0
        if not call("GET", "/containers/%s/json" % cid)["State"]["Running"]:
            return 1
        if time.time() > deadline:
            return 124
        time.sleep(0.5)


def cmd_stop(args):
    cid, t = args[0], 10
    if args[1:2] == ["--time"]:
        t = int(args[2])
    t0 = time.time()
    call("POST", "/containers/%s/stop?t=%d" % (cid, t), timeout=t + 120, raw=True)
    took = time.time() - t0
    state = call("GET", "/containers/%s/json" % cid)["State"]
    print("stopped-after: %.2f" % took)
    print("exit-code: %s" % state.get("ExitCode"))
    print("oom-killed: %s" % state.get("OOMKilled"))
    return 0


def cmd_rm(args):
    call("DELETE", "/containers/%s?v=1&force=1" % urllib.parse.quote(args[0]), raw=True, timeout=120)
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    fn = {"ping": cmd_ping, "load": cmd_load, "run": cmd_run, "exec": cmd_exec, "logs": cmd_logs,
          "rm": cmd_rm, "wait-log": cmd_wait_log, "stop": cmd_stop}.get(sys.argv[1])
    if fn is None:
        print(__doc__)
        return 2
    try:
        return fn(sys.argv[2:])
    except (RuntimeError, OSError) as e:
        print("dockerapi.py %s: %s" % (sys.argv[1], e), file=sys.stderr)
        return 125


if __name__ == "__main__":
    sys.exit(main())
