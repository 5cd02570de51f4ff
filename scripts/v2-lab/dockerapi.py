#!/usr/bin/env python3
"""A tiny Docker Engine API client for the v2 lab VM (the Go docker CLI takes seconds per call
under qemu TCG; this talks to /var/run/docker.sock directly). `dockerapi.py COMMAND -h` for each:
ping, load, run (attached: PREFIX.stdout, .stderr, .id and the container's exit status, 124 after
--timeout, the container killed and removed; --detach prints the id), exec (the command's exit
status), logs, wait-log, stop (prints "stopped-after: S", "exit-code: N"), rm."""
import argparse
import http.client
import json
import os
import socket
import struct
import sys
import time

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(os.environ.get("DOCKER_SOCK", "/var/run/docker.sock"))

def call(method, path, body=None, timeout=120, headers=None, raw=False):
    c = Conn("localhost", timeout=timeout)
    if body is not None and not hasattr(body, "read"):
        body, headers = json.dumps(body).encode(), {"Content-Type": "application/json"}
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    if raw:
        return r.status, data
    if r.status >= 300:
        raise RuntimeError("%s %s: HTTP %d: %s" % (method, path, r.status, data.decode(errors="replace").strip()))
    return json.loads(data) if data and r.getheader("Content-Type", "").startswith("application/json") else data

def demux(data):
    """The multiplexed stdout/stderr stream of a non-tty container: (stdout, stderr)."""
    out, err, i = bytearray(), bytearray(), 0
    while i + 8 <= len(data):
        kind, size = data[i], struct.unpack(">I", data[i + 4:i + 8])[0]
        (err if kind == 2 else out).extend(data[i + 8:i + 8 + size])
        i += 8 + size
    return bytes(out), bytes(err)

def logs(cid):
    return demux(call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid))

def write_out(prefix, out, err):
    for ext, data, std in ((".stdout", out, sys.stdout), (".stderr", err, sys.stderr)):
        if prefix:
            with open(prefix + ext, "wb") as f:
                f.write(data)
        else:
            std.buffer.write(data)

def ping(a):
    deadline = time.time() + a.timeout
    while True:
        try:
            if call("GET", "/_ping", timeout=2, raw=True)[0] == 200:
                return 0
        except OSError:
            pass
        if time.time() > deadline:
            return 1
        time.sleep(0.1)

def load(a):
    with open(a.tar, "rb") as f:
        status, data = call("POST", "/images/load?quiet=1", body=f, timeout=2400, raw=True,
                            headers={"Content-Type": "application/x-tar", "Content-Length": str(os.fstat(f.fileno()).st_size)})
    text = data.decode(errors="replace")
    if status >= 300:
        print("load: HTTP %d: %s" % (status, text.strip()), file=sys.stderr)
        return 1
    # A stream of JSON messages, one a line: {"stream": ...} or {"errorDetail": ..., "error": ...}.
    msgs = [json.loads(line) if line.startswith("{") else {"stream": line} for line in text.split("\n") if line.strip()]
    print("\n".join(m["stream"].strip() for m in msgs if "stream" in m))
    errors = [m["error"] for m in msgs if "error" in m]
    print("".join("load error: %s\n" % e for e in errors), end="", file=sys.stderr)
    return 1 if errors else 0

def run(a):
    hc = {"Privileged": a.privileged, "Binds": a.v}
    for key, v in (("CgroupnsMode", a.cgroupns), ("Init", a.init), ("Memory", a.memory), ("PidsLimit", a.pids_limit)):
        if v:
            hc[key] = v
    cfg = {"Image": a.image, "Env": a.e, "HostConfig": hc, "AttachStdout": False, "AttachStderr": False,
           "Tty": False, "OpenStdin": False}
    if a.entrypoint is not None:
        cfg["Entrypoint"] = [a.entrypoint]
    if a.entrypoint is not None or a.cmd:
        cfg["Cmd"] = a.cmd
    cid = call("POST", "/containers/create", cfg)["Id"]
    if a.out:
        with open(a.out + ".id", "w") as f:
            f.write(cid + "\n")
    call("POST", "/containers/%s/start" % cid, timeout=300)
    if a.detach:
        print(cid)
        return 0
    status = 124
    try:
        status = call("POST", "/containers/%s/wait" % cid, timeout=a.timeout).get("StatusCode", 125)
    except TimeoutError:
        print("dockerapi.py: container %s still running after %ss: killing it" % (cid[:12], a.timeout), file=sys.stderr)
        call("POST", "/containers/%s/kill" % cid, raw=True)
        call("POST", "/containers/%s/wait" % cid, timeout=60, raw=True)
    write_out(a.out, *logs(cid))
    call("DELETE", "/containers/%s?v=1&force=1" % cid, raw=True)
    return status

def exec_(a):
    eid = call("POST", "/containers/%s/exec" % a.id,
               {"AttachStdout": True, "AttachStderr": True, "Tty": False, "Cmd": a.cmd})["Id"]
    try:
        _, data = call("POST", "/exec/%s/start" % eid, {"Detach": False, "Tty": False}, timeout=a.timeout, raw=True)
    except TimeoutError:
        print("dockerapi.py: exec still running after %ss" % a.timeout, file=sys.stderr)
        return 124
    write_out(a.out, *demux(data))
    code = call("GET", "/exec/%s/json" % eid).get("ExitCode")
    return 125 if code is None else code

def wait_log(a):
    deadline = time.time() + a.timeout
    while not any(a.text.encode() in s for s in logs(a.id)):
        if not call("GET", "/containers/%s/json" % a.id)["State"]["Running"]:
            return 1
        if time.time() > deadline:
            return 124
        time.sleep(0.5)
    return 0

def stop(a):
    t0 = time.time()
    call("POST", "/containers/%s/stop?t=%d" % (a.id, a.time), timeout=a.time + 120, raw=True)
    took = time.time() - t0
    state = call("GET", "/containers/%s/json" % a.id)["State"]
    print("stopped-after: %.2f\nexit-code: %s\noom-killed: %s" % (took, state.get("ExitCode"), state.get("OOMKilled")))
    return 0

def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, fn, help, *args):
        s = sub.add_parser(name, help=help)
        s.set_defaults(fn=fn)
        for names, kw in args:
            s.add_argument(*names.split(), **kw)

    timeout = ("--timeout", {"type": float, "default": 300.0})
    out, cid = ("--out", {"metavar": "PREFIX"}), ("id", {})
    command("ping", ping, "until /_ping answers (0) or --timeout passes (1)", ("--timeout", {"type": float, "default": 60.0}))
    command("load", load, "docker load", ("tar", {}))
    command("run", run, "OPTIONS... IMAGE [CMD...]", ("--privileged", {"action": "store_true"}),
            ("--init", {"action": "store_true"}), ("--cgroupns", {}), ("--entrypoint", {}),
            ("-v", {"action": "append", "default": []}), ("-e", {"action": "append", "default": []}),
            ("--memory", {"type": int}), ("--pids-limit", {"type": int}), timeout, out,
            ("--detach", {"action": "store_true"}), ("image", {}), ("cmd", {"nargs": argparse.REMAINDER}))
    command("exec", exec_, "OPTIONS... ID CMD...", timeout, out, cid, ("cmd", {"nargs": argparse.REMAINDER}))
    command("logs", lambda a: write_out(a.out, *logs(a.id)) or 0, "the logs into PREFIX.stdout/.stderr", cid, out)
    command("wait-log", wait_log, "until TEXT is in the logs (0), the container stopped (1) or --timeout passed (124)",
            cid, ("text", {}), timeout)
    command("stop", stop, "docker stop -t TIME", cid, ("--time", {"type": int, "default": 10}))
    command("rm", lambda a: call("DELETE", "/containers/%s?v=1&force=1" % a.id, raw=True) and 0, "docker rm -fv", cid)
    a = p.parse_args()
    try:
        return a.fn(a)
    except (RuntimeError, OSError) as e:
        print("dockerapi.py %s: %s" % (a.command, e), file=sys.stderr)
        return 125

if __name__ == "__main__":
    sys.exit(main())
