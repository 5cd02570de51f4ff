#!/usr/bin/env python3
"""A tiny Docker Engine API client for the v2 lab VM (the Go docker CLI takes seconds per call
under qemu TCG). --out PREFIX: PREFIX.stdout, .stderr (run: .id); a --timeout passed: status 124."""
import argparse
import http.client
import json
import socket
import struct
import sys
import time

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect("/var/run/docker.sock")

def call(method, path, body=None, timeout=120, check=True):
    """The answer, parsed when it is JSON; an HTTP error raises unless check=False."""
    c = Conn("localhost", timeout=timeout)
    headers = {} if body is None else {"Content-Type": "application/json"}
    c.request(method, path, None if body is None else json.dumps(body), headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    if check and r.status >= 300:
        raise RuntimeError("%s %s: HTTP %d: %s" % (method, path, r.status, data.decode().strip()))
    return json.loads(data) if "json" in r.getheader("Content-Type", "") else data

def save(prefix, stream):
    """A non-tty container's multiplexed stream (8-byte frame headers, 2 = stderr) in files."""
    out, i = [bytearray(), bytearray()], 0
    while i + 8 <= len(stream):
        size = struct.unpack(">I", stream[i + 4:i + 8])[0]
        out[stream[i] == 2] += stream[i + 8:i + 8 + size]
        i += 8 + size
    for ext, data in zip((".stdout", ".stderr"), out):
        with open(prefix + ext, "wb") as f:
            f.write(data)

def logs(cid):
    return call("GET", "/containers/%s/logs?stdout=1&stderr=1" % cid)

def until(timeout, fn, delay):
    """fn()'s first status other than None, or 124 after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = fn()
        if status is not None:
            return status
        time.sleep(delay)
    return 124

def ping(a):
    def answered():
        try:
            return 0 if call("GET", "/_ping", timeout=2) == b"OK" else None
        except OSError:
            return None
    return 1 if until(a.timeout, answered, 0.1) else 0

def run(a):
    hc = {"Privileged": a.privileged, "Binds": a.v, "CgroupnsMode": a.cgroupns, "Init": a.init,
          "Memory": a.memory, "PidsLimit": a.pids_limit}
    cid = call("POST", "/containers/create", {
        "Image": a.image, "Env": a.e, "Cmd": a.cmd or None,
        "Entrypoint": [a.entrypoint] if a.entrypoint else None,
        "HostConfig": {k: v for k, v in hc.items() if v}})["Id"]
    call("POST", "/containers/%s/start" % cid, timeout=300)
    if a.detach:
        print(cid)
        return 0
    with open(a.out + ".id", "w") as f:
        f.write(cid + "\n")
    status = 124
    try:
        status = call("POST", "/containers/%s/wait" % cid, timeout=a.timeout).get("StatusCode", 125)
    except TimeoutError:
        print("dockerapi.py: still running after %ss: killed" % a.timeout, file=sys.stderr)
        call("POST", "/containers/%s/kill" % cid, check=False)
        call("POST", "/containers/%s/wait" % cid, timeout=60, check=False)
    rm(a, cid)
    return status

def exec_(a):
    eid = call("POST", "/containers/%s/exec" % a.id,
               {"AttachStdout": True, "AttachStderr": True, "Cmd": a.cmd})["Id"]
    try:
        save(a.out, call("POST", "/exec/%s/start" % eid, {}, timeout=a.timeout))
    except TimeoutError:
        print("dockerapi.py: exec still running after %ss" % a.timeout, file=sys.stderr)
        return 124
    code = call("GET", "/exec/%s/json" % eid).get("ExitCode")
    return 125 if code is None else code

def wait_log(a):
    def seen():
        if a.text.encode() in logs(a.id):
            return 0
        return None if call("GET", "/containers/%s/json" % a.id)["State"]["Running"] else 1
    return until(a.timeout, seen, 0.5)

def stop(a):
    t0 = time.time()
    call("POST", "/containers/%s/stop?t=10" % a.id, timeout=130, check=False)
    took = time.time() - t0
    code = call("GET", "/containers/%s/json" % a.id)["State"].get("ExitCode")
    print("stopped-after: %.2f\nexit-code: %s" % (took, code))
    return 0

def rm(a, cid=None):
    save(a.out, logs(cid or a.id))
    call("DELETE", "/containers/%s?v=1&force=1" % (cid or a.id), check=False)
    return 0

def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, fn, help, *args):
        s = sub.add_parser(name, help=help)
        s.set_defaults(fn=fn)
        for names, kw in args + (("--timeout", {"type": float, "default": 300.0}),):
            s.add_argument(*names.split(), **kw)

    flag, many = {"action": "store_true"}, {"action": "append", "default": []}
    out, cid, cmd = ("--out", {}), ("id", {}), ("cmd", {"nargs": argparse.REMAINDER})
    command("ping", ping, "until /_ping answers (0) or --timeout passes (1)")
    command("run", run, "OPTIONS... IMAGE [CMD...]: its exit status (--detach: its id)",
            ("--privileged", flag), ("--init", flag), ("--detach", flag), ("--cgroupns", {}),
            ("--entrypoint", {}), ("-v", many), ("-e", many), ("--memory", {"type": int}),
            ("--pids-limit", {"type": int}), out, ("image", {}), cmd)
    command("exec", exec_, "OPTIONS... ID CMD...: its exit status", out, cid, cmd)
    command("wait-log", wait_log, "until TEXT is in the logs (0) or the container stopped (1)",
            cid, ("text", {}))
    command("stop", stop, "docker stop -t 10: stopped-after: S, exit-code: N", cid)
    command("rm", rm, "its logs to --out, then docker rm -fv", cid, out)
    a = p.parse_args()
    try:
        return a.fn(a)
    except (RuntimeError, OSError) as e:
        print("dockerapi.py %s: %s" % (a.command, e), file=sys.stderr)
        return 125

if __name__ == "__main__":
    sys.exit(main())
