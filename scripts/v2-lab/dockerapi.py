#!/usr/bin/env python3
"""A tiny Docker Engine API client for the v2 lab VM (the Go docker CLI takes seconds per call
under qemu TCG; this talks to /var/run/docker.sock directly).

  dockerapi.py ping [--timeout S]
  dockerapi.py load TAR
  dockerapi.py run [--privileged] [--init] [--cgroupns host|private] [--entrypoint E]
                   [-v SRC:DST[:ro]]... [-e K=V]... [--memory BYTES] [--pids-limit N]
                   [--timeout S] [--out PREFIX] [--detach] IMAGE [CMD...]
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
        (err if kind == 2 else out).extend(data[i + 8:i + 8 + size])
        i += 8 + size
    return bytes(out), bytes(err)


def logs(cid):
    """The container's (stdout, stderr)."""
    return demux(call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid, timeout=120))


def write_out(prefix, out, err):
    if not prefix:
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)
        return
    for ext, data in ((".stdout", out), (".stderr", err)):
        with open(prefix + ext, "wb") as f:
            f.write(data)


def options(args, spec, what):
    """Leading options of args (removed from it) by spec {option: (key, convert or None for a
    flag, list or not)}; "--" ends them. An unknown option is an error of WHAT."""
    o = {key: ([] if many else (False if conv is None else None)) for key, conv, many in spec.values()}
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a == "--":
            break
        if a not in spec:
            raise SystemExit("dockerapi.py %s: unknown option %s" % (what, a))
        key, conv, many = spec[a]
        v = True if conv is None else conv(args.pop(0))
        if many:
            o[key].append(v)
        else:
            o[key] = v
    return o


def cmd_ping(args):
    deadline = time.time() + (float(args[1]) if args[:1] == ["--timeout"] else 60.0)
    while True:
        try:
            if call("GET", "/_ping", timeout=2, raw=True)[0] == 200:
                return 0
        except OSError:
            pass
        if time.time() > deadline:
            return 1
        time.sleep(0.1)


def cmd_load(args):
    with open(args[0], "rb") as f:
        status, data = call("POST", "/images/load?quiet=1", body=f, timeout=2400, raw=True,
                            headers={"Content-Type": "application/x-tar", "Content-Length": str(os.fstat(f.fileno()).st_size)})
    text = data.decode(errors="replace")
    if status >= 300:
        print("load: HTTP %d: %s" % (status, text.strip()), file=sys.stderr)
        return 1
    # A stream of JSON messages, one a line: {"stream": ...} or {"errorDetail": ..., "error": ...}.
    for line in filter(None, (line.strip() for line in text.splitlines())):
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


RUN_OPTIONS = {
    "--privileged": ("privileged", None, False), "--init": ("init", None, False),
    "--cgroupns": ("cgroupns", str, False), "--entrypoint": ("entrypoint", str, False),
    "-v": ("binds", str, True), "-e": ("env", str, True), "--timeout": ("timeout", float, False),
    "--out": ("out", str, False), "--detach": ("detach", None, False),
    "--memory": ("memory", int, False), "--pids-limit": ("pids", int, False),
}


def cmd_run(args):
    args = list(args)
    o = options(args, RUN_OPTIONS, "run")
    timeout = 300.0 if o["timeout"] is None else o["timeout"]
    image, cmd = args[0], args[1:]
    hc = {"Privileged": o["privileged"], "Binds": o["binds"]}
    for opt, key in (("cgroupns", "CgroupnsMode"), ("init", "Init"), ("memory", "Memory"), ("pids", "PidsLimit")):
        if o[opt]:
            hc[key] = o[opt]
    cfg = {"Image": image, "Env": o["env"], "HostConfig": hc, "AttachStdout": False,
           "AttachStderr": False, "Tty": False, "OpenStdin": False}
    if o["entrypoint"] is not None:
        cfg["Entrypoint"] = [o["entrypoint"]]
    if o["entrypoint"] is not None or cmd:
        cfg["Cmd"] = cmd
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
        status = call("POST", "/containers/%s/wait" % cid, timeout=timeout).get("StatusCode", 125)
    except (socket.timeout, TimeoutError):
        print("dockerapi.py: container %s still running after %ss: killing it" % (cid[:12], timeout), file=sys.stderr)
        call("POST", "/containers/%s/kill" % cid, raw=True)
        call("POST", "/containers/%s/wait" % cid, timeout=60, raw=True)
    write_out(o["out"], *logs(cid))
    call("DELETE", "/containers/%s?v=1&force=1" % cid, raw=True)
    return status


def cmd_exec(args):
    args = list(args)
    cid = args.pop(0)
    # only long options: the command's own start with "-" too
    o = {"timeout": 300.0, "out": None}
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--":
            break
        if a in ("--timeout", "--out"):
            o[a[2:]] = float(args.pop(0)) if a == "--timeout" else args.pop(0)
    eid = call("POST", "/containers/%s/exec" % cid,
               {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": args})["Id"]
    try:
        _, data = call("POST", "/exec/%s/start" % eid, {"Detach": False, "Tty": False}, timeout=o["timeout"], raw=True)
    except (socket.timeout, TimeoutError):
        print("dockerapi.py: exec still running after %ss" % o["timeout"], file=sys.stderr)
        return 124
    write_out(o["out"], *demux(data))
    code = call("GET", "/exec/%s/json" % eid).get("ExitCode")
    return 125 if code is None else code


def cmd_logs(args):
    write_out(args[2] if args[1:2] == ["--out"] else None, *logs(args[0]))
    return 0


def cmd_wait_log(args):
    cid, text = args[0], args[1].encode()
    deadline = time.time() + (float(args[3]) if args[2:3] == ["--timeout"] else 300.0)
    while True:
        if any(text in s for s in logs(cid)):
            return 0
        if not call("GET", "/containers/%s/json" % cid)["State"]["Running"]:
            return 1
        if time.time() > deadline:
            return 124
        time.sleep(0.5)


def cmd_stop(args):
    cid, t = args[0], (int(args[2]) if args[1:2] == ["--time"] else 10)
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


COMMANDS = {"ping": cmd_ping, "load": cmd_load, "run": cmd_run, "exec": cmd_exec, "logs": cmd_logs,
            "rm": cmd_rm, "wait-log": cmd_wait_log, "stop": cmd_stop}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    try:
        sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
    except (RuntimeError, OSError) as e:
        print("dockerapi.py %s: %s" % (sys.argv[1], e), file=sys.stderr)
        sys.exit(125)
