#!/usr/bin/env python3
"""Parsing, the TCP/TLS readiness poller and the report for scripts/bench.sh (standard library).

  benchlib.py api-listen LOG        epoch seconds of dockerd's first "API listen on" line
  benchlib.py dockerd-times LOG     epoch seconds of dockerd's "Starting up" and first "API listen on"
  benchlib.py insecure-pause LOG    seconds dockerd paused after its warning about TCP without TLS
  benchlib.py stamp LOG             epoch seconds the command wrote as "BENCH_READY <epoch>"
  benchlib.py dind-phases LOG       dind-init's own times (from its events) as key=value
  benchlib.py openssl-ms LOG        the certificate time dockerd-entrypoint-tls printed (ms)
  benchlib.py inner-states          stdin: the inner daemon's config.v2.json files, one a line:
                                    "exit0 other running" counts of its containers' last states
  benchlib.py poll HOST PORT CERTDIR|- GOFILE TIMEOUT
                                    once GOFILE exists: connect to HOST:PORT every 5 ms, with TLS
                                    (CERTDIR/client/{ca,cert,key}.pem, server name "docker") unless
                                    CERTDIR is -, and GET /version; prints the epoch seconds of the
                                    first accepted connection and of the first 200 (empty: TIMEOUT)
  benchlib.py subnet-ip CIDR N      the N-th address of CIDR
  benchlib.py report RAW META       the markdown report from the raw TSV and the meta file
"""
import ipaddress
import json
import os
import re
import socket
import ssl
import statistics
import sys
import time
from collections import Counter
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import events  # noqa: E402  scripts/events.py: the parser of dind-init's events

TIME_RE = re.compile(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)"')
CONTAINERD_LINE = re.compile(r'type=io\.containerd|msg="(skip )?loading plugin|msg="serving\.\.\.|msg="starting containerd|containerd successfully booted|msg="containerd config version')
INSECURE_WARNINGS = ("Binding to IP address without --tlsverify", "Binding to an IP address, even on localhost",
                     "[DEPRECATION NOTICE] In future versions this will be a hard failure")


def log_epoch(line):
    """epoch seconds (float) of a logrus line, or None."""
    m = TIME_RE.search(line)
    if not m:
        return None
    base, frac, tz = m.groups()
    dt = datetime.fromisoformat(base + ("+00:00" if tz == "Z" else tz))
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def timed_lines(path):
    """(epoch, line) for every logrus line of the file."""
    with open(path, errors="replace") as f:
        for line in f:
            t = log_epoch(line)
            if t is not None:
                yield t, line


def first_match(path, pattern):
    """The first match of the regex in the file, or None."""
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(pattern, line)
            if m:
                return m
    return None


def secs(t):
    return "" if t is None else f"{t:.6f}"


def cmd_api_listen(path):
    m = first_match(path, "API listen on")
    print(secs(log_epoch(m.string) if m else None))


def cmd_dockerd_times(path):
    """dockerd's "Starting up" (else its first log line: containerd's lines, when it runs in the
    same output, come before dockerd starts) and its first "API listen on"."""
    first_t = up_t = api_t = None
    for t, line in timed_lines(path):
        first_t = t if first_t is None else first_t
        if up_t is None and 'msg="Starting up"' in line:
            up_t = t
        if "API listen on" in line:
            api_t = t
            break
    print(secs(up_t if up_t is not None else first_t), secs(api_t))


def cmd_insecure_pause(path):
    """dockerd's pause after its warning about TCP without --tlsverify (moby's loadListeners
    sleeps there): seconds from that warning to dockerd's next log line; empty without it."""
    warned = None
    for t, line in timed_lines(path):
        if "host=" in line and any(w in line for w in INSECURE_WARNINGS):
            warned = t   # the last of its warnings (20.10 has two, 23+ three)
        elif warned is not None and not CONTAINERD_LINE.search(line):
            print(f"{t - warned:.6f}")
            return
    print("")


def cmd_stamp(path):
    m = first_match(path, r"BENCH_READY (\d+\.\d+)")
    print(m.group(1) if m else "")


def cmd_openssl_ms(path):
    m = first_match(path, "dockerd-entrypoint-tls: certificates in")
    m = re.search(r": (\d+(?:\.\d+)?) ms", m.string if m else "")
    print(m.group(1) if m else "")


# dind-init's own figures, from its events (scripts/events.py): key -> (event, field or None
# for its +T, filter); the first such event counts.
PHASES = {
    "ctrd_spawned": ("containerd-start", None), "ctrd_serving": ("containerd-ready", None),
    "spawned": ("dockerd-start", None), "ready": ("dockerd-ready", None),
    "command": ("command-start", None), "exited": ("command-exit", None),
    "sigterm": ("stop-begin", None), "exit": ("exit", None),
    "shutdown_s": ("dockerd-exit", "secs", {"clean": "true", "killed": "false"}),
    "ready_after": ("dockerd-ready", "secs"), "attempts": ("dockerd-ready", "attempts"),
    "ctrd_after": ("containerd-ready", "secs"), "tls_ms": ("tls", "ms"), "cgroups_ms": ("cgroups", "ms"),
}


def dind_phases(path):
    """Seconds since dind-init started for its key events, and durations it reports."""
    lines, out = events.read(path), {}
    for key, (name, field, *want) in PHASES.items():
        ev = events.first(lines, name, **(want[0] if want else {}))
        if ev is not None:
            out[key] = ev.t if field is None else ev.fields[field]
    return out


def cmd_dind_phases(path):
    print(" ".join(f"{k}={v}" for k, v in dind_phases(path).items()))


def cmd_inner_states():
    exit0 = other = running = 0
    for line in sys.stdin:
        try:   # an empty line is a ValueError too
            st = json.loads(line).get("State", {})
        except ValueError:
            continue
        if st.get("Running"):
            running += 1
        elif st.get("ExitCode") == 0:
            exit0 += 1
        else:
            other += 1
    print(exit0, other, running)


def cmd_poll(host, port, certdir, gofile, timeout):
    port, deadline = int(port), time.time() + float(timeout)
    while not os.path.exists(gofile):
        if time.time() > deadline:
            print("")
            return
        time.sleep(0.002)
    opened = None
    while time.time() < deadline:
        s = None
        try:
            s = socket.create_connection((host, port), timeout=1.0)
            opened = opened or time.time()
            if certdir != "-":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                c = os.path.join(certdir, "client")
                ctx.load_verify_locations(os.path.join(c, "ca.pem"))
                ctx.load_cert_chain(os.path.join(c, "cert.pem"), os.path.join(c, "key.pem"))
                s = ctx.wrap_socket(s, server_hostname="docker")
            s.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n")
            head = b""
            while b"\r\n" not in head:
                b = s.recv(4096)
                if not b:
                    break
                head += b
            if head.startswith(b"HTTP/1.1 200"):
                print(f"{opened:.6f} {time.time():.6f}")
                return
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        time.sleep(0.005)
    print("")


def cmd_subnet_ip(cidr, n):
    print(ipaddress.ip_network(cidr, strict=False).network_address + int(n))


# ---------------------------------------------------------------- report

EPS = ["dind-init", "dind-init-dockerd", "wrapdocker", "moby-dind", "docker-dind", "dockerd", "dockerd-ctrd"]
TITLES = {
    "dind-init": "dind-init",
    "dind-init-dockerd": "dind-init, `DIND_CONTAINERD_BY=dockerd`",
    "wrapdocker": "wrapdocker (bash)",
    "moby-dind": "hack/dind + `dockerd &` loop",
    "docker-dind": "docker:dind-style entrypoint, given `dockerd --host=unix://…` (no TCP)",
    "dockerd": "dockerd alone (limit)",
    "dockerd-ctrd": "containerd, then `dockerd --containerd` (limit)",
    "wrapdocker-bash": "wrapdocker without a command (`bash --login` as PID 1)",
}
SHORT = {
    "dind-init": "dind-init", "dind-init-dockerd": "dind-init (dockerd's containerd)",
    "wrapdocker": "wrapdocker", "moby-dind": "hack/dind loop", "docker-dind": "docker:dind-style",
    "dockerd": "dockerd alone", "dockerd-ctrd": "containerd + dockerd --containerd",
}
LIMITS = ["dockerd", "dockerd-ctrd"]
ANCHORS = ["wrapdocker", "moby-dind", "docker-dind"]
DAEMON_EPS = {"docker-dind", "dockerd", "dockerd-ctrd"}


class Data:
    def __init__(self, raw_path, meta_path):
        with open(raw_path) as f:
            self.rows = [tuple(p[:5]) for p in (line.rstrip("\n").split("\t") for line in f)
                         if len(p) >= 5 and not p[0].startswith("#")]
        with open(meta_path) as f:
            self.meta = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)

    def strs(self, eng, ep, metric):
        return [v for _, e, p, m, v in self.rows if e == eng and p == ep and m == metric]

    def vals(self, eng, ep, metric):
        out = []
        for v in self.strs(eng, ep, metric):
            try:
                out.append(float(v))
            except ValueError:   # "", "NA"
                pass
        return out

    def med(self, eng, ep, metric):
        v = self.vals(eng, ep, metric)
        return statistics.median(v) if v else None

    def lo(self, eng, ep, metric):
        v = self.vals(eng, ep, metric)
        return min(v) if v else None


DIGITS = {"s": 2, "s3": 3, "x": 2}   # other units (counts): none


def fmt_num(x, unit):
    if unit in ("ms", "msv"):   # msv: a value already in ms
        x = x * 1000.0 if unit == "ms" else x
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"
    return f"{x:.{DIGITS.get(unit, 0)}f}"


def cell(vals, unit, ref=None):
    if not vals:
        return "n/a"
    med, lo, hi = statistics.median(vals), min(vals), max(vals)
    s = f"**{fmt_num(med, unit)}**"
    if len(vals) > 1 and lo != hi:
        s += f" ({fmt_num(lo, unit)}–{fmt_num(hi, unit)})"
    if ref and statistics.median(ref) > 0:
        s += f" ×{med / statistics.median(ref):.2f}"
    return s


def tally(items, fmt="{} {}/{}"):
    """'a 2/3, b 1/3' (fmt gets the item, its count, the total), the items sorted."""
    return ", ".join(fmt.format(h, k, len(items)) for h, k in sorted(Counter(items).items()))


def exit_cell(d, eng, ep, exit_m, how_m, inner_m=None):
    """The exit codes, how the inner dockerd ended, and the inner containers' states."""
    codes = d.strs(eng, ep, exit_m)
    if not codes:
        return "n/a"
    s = "exit " + tally(codes, "{0}×{1}") + "; " + tally(d.strs(eng, ep, how_m))
    inner = d.strs(eng, ep, inner_m) if inner_m else []
    return s + ("; inner: " + ", ".join(f"{h} ×{k}" if k > 1 else h for h, k in sorted(Counter(inner).items())) if inner else "")


def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None


def r2(x):
    return "n/a" if x is None else f"{x:.2f}"


def median_or_none(v):
    return statistics.median(v) if v else None


def cmd_report(raw_path, meta_path):
    d = Data(raw_path, meta_path)
    meta = d.meta
    engines = meta.get("engines", "").split()
    label = {e: f"{e} {meta.get('engine_short.' + e, '')}".strip() for e in engines}
    eps = [e for e in EPS if any(d.strs(eng, e, "ready") for eng in engines)]
    out = []
    p = out.append

    def para(*blocks):   # each followed by an empty line
        for b in blocks:
            out.extend([b, ""])

    def table(head, rows):
        out.extend(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                   + ["| " + " | ".join(r) + " |" for r in rows] + [""])

    # ------------------------------------------------------------ header
    para("# dind-init benchmark")
    p(f"- command: `{meta.get('command', '')}`")
    p(f"- date: {meta.get('date', '')} (the run took {meta.get('duration', '?')})")
    p(f"- machine: {meta.get('nproc', '')} CPUs (`nproc`), {meta.get('mem', '')}, kernel {meta.get('kernel', '')}, cgroups {meta.get('cgroups', '')}")
    loads = [float(v) for _, _, _, m, v in d.rows if m == "load" and v not in ("", "NA")]
    load_txt = ""
    if loads:
        load_txt = (f"; 1-minute load average before each timed run: median {statistics.median(loads):.2f} "
                    f"(min {min(loads):.2f}, max {max(loads):.2f}, {len(loads)} runs)")
    p(f"- load average (1, 5, 15 min): {meta.get('load_start', '')} at the start, {meta.get('load_end', '')} at the end{load_txt}")
    p(f"- host docker: {meta.get('host_docker', '')}")
    for e in engines:
        p(f"- engine **{label[e]}**: `{meta.get('image.' + e, '')}`: {meta.get('engine.' + e, '')}")
    p(f"- images: {meta.get('image_desc', '')}; {meta.get('dind_version', '')}")
    p(f"- rounds: {meta.get('n', '')} of the main figures and TLS, {meta.get('stop_rounds', '')} of the stops with inner containers "
      "(" + "; ".join(f"{k}: {meta[m].replace(' ', ', ')} containers" for k, m in (("stopn", "stop_sizes"), ("stopcmp", "stopcmp_sizes")) if meta.get(m))
      + "); in every round each figure runs once per engine and entrypoint, "
      "figure by figure, the engines and the entrypoints alternating (their order rotates every round)")
    para("- cells: **median** (min–max), ×ratio of that median to dind-init's median on the same engine")

    # ------------------------------------------------------------ what the run shows
    para("## What the run shows")
    out.extend(summary(d, engines, label, loads))
    p("")

    # ------------------------------------------------------------ 1. main figures
    if eps:
        para("## 1. Start, run, stop")
        para("Columns: " + "; ".join(f"*{TITLES[e]}*" for e in eps) + ". Rows: the engines.")
        figs = [
            ("ready", "s", "1. Time to ready: `docker run` → the command starts (daemon-mode columns: dockerd's first `API listen on`), s"),
            ("dstart", "s", "1a. of which `docker run` → dockerd's first log line, s"),
            ("dinit", "s", "1b. of which dockerd's `Starting up` → `API listen on`, s"),
            ("overhead", "ms", "2. Readiness overhead: dockerd's `API listen on` → the command starts, ms"),
            ("run_true", "s", "3. Whole `docker run --rm --privileged IMAGE true` (daemon-mode columns: SIGTERM from the host at `API listen on`), s"),
            ("stop", "s", "4. `docker stop` with `sleep infinity` running (daemon-mode columns: the idle daemon), s"),
        ]
        head = ["engine"] + [SHORT[e] for e in eps]
        for metric, unit, title in figs:
            para(f"### {title}")
            table(head, [[label[eng]] + ["0 (by definition)" if metric == "overhead" and e in DAEMON_EPS else
                                         cell(d.vals(eng, e, metric), unit, None if e == "dind-init" else d.vals(eng, "dind-init", metric))
                                         for e in eps] for eng in engines])
        para("### 4b. After `docker stop`: exit code; the inner dockerd")
        table(head, [[label[eng]] + [exit_cell(d, eng, e, "stop_exit", "stop_daemon") for e in eps] for eng in engines])
        para("### Issue 15's goals: time to ready",
             "Within 1.15 × the fastest way the engine starts (the faster limit column), and at least 3 × ahead of every "
             "script anchor (anchor ÷ dind-init). Ratios of medians; in brackets the same from each column's fastest run "
             "(less sensitive to the load).")
        rows = []
        for eng in engines:
            g = goals(d, eng)
            if g is not None:
                rows.append([label[eng], f"{fmt_num(g['ready'], 's')} s", f"{SHORT[g['limit']]}, {fmt_num(g['limit_ready'], 's')} s",
                             f"{r2(g['vs_limit'])} ({r2(g['vs_limit_min'])})"]
                            + [f"{r2(g['anchor'].get(a))} ({r2(g['anchor_min'].get(a))})" for a in ANCHORS]
                            + [f"{r2(g['tls_anchor'])} ({r2(g['tls_anchor_min'])})", g["verdict"]])
        table(["engine", "dind-init ready", "fastest limit", "dind-init ÷ limit (≤ 1.15)", "wrapdocker ÷ dind-init",
               "hack/dind ÷ dind-init", "docker:dind-style ÷ dind-init", "docker:dind TLS ÷ dind-init TLS (table 3)", "verdict"], rows)
        para("### Where the time to ready goes (seconds since dind-init started, from its own log; the limits from dockerd's log)")
        cols = [(eng, e) for eng in engines for e in ("dind-init", "dind-init-dockerd") if d.vals(eng, e, "ph_spawned")]
        if cols:
            rows = []
            for key, title in (("ph_startlat", "`docker run` → dind-init starts (its +0.000), s"),
                               ("ph_cgroups_ms", "cgroup set-up, ms"),
                               ("ph_ctrd_spawned", "containerd spawned"),
                               ("ph_ctrd_serving", "containerd serving (socket answers)"),
                               ("ph_spawned", "dockerd spawned"),
                               ("ph_ready", "`/_ping` answered"),
                               ("ph_command", "command started"),
                               ("ph_attempts", "probe attempts (count)"),
                               ("ph_shutdown_s", "dockerd's shutdown after the command (`true` runs), s")):
                unit = "n" if key == "ph_attempts" else ("msv" if key.endswith("_ms") else "s3")
                row = [cell(d.vals(eng, e, key), unit) for eng, e in cols]
                if any(c != "n/a" for c in row):
                    rows.append([title] + row)
            table(["step"] + [f"{label[eng]}: {SHORT[e]}" for eng, e in cols], rows)

    # ------------------------------------------------------------ 2. stop with inner containers
    sizes = [s for s in meta.get("stop_sizes", "").split() if s]
    seps = [e for e in EPS if any(d.vals(eng, e, f"stopn{n}") for eng in engines for n in sizes)]
    if sizes and seps:
        para("## 2. `docker stop` of the DinD container with running inner containers",
             "Inner containers: busybox `sh -c 'trap \"exit 0\" TERM; while :; do sleep 1; done'` (they exit 0 on SIGTERM, "
             "within the second their `sleep 1` takes), started inside the outer container before the stop. "
             "Time of `docker stop` (s); then exit code, how the inner dockerd ended, and the inner containers' last "
             "state as the inner daemon recorded it (`/var/lib/docker/containers/*/config.v2.json`, read after the stop): "
             "*exit 0* = stopped by SIGTERM and recorded; *running* = never recorded as stopped (killed with the daemon).")
        head = ["engine", "inner containers"] + [SHORT[e] for e in seps]
        table(head, [[label[eng], n] + [cell(d.vals(eng, e, f"stopn{n}"), "s", None if e == "dind-init" else d.vals(eng, "dind-init", f"stopn{n}"))
                                        for e in seps] for eng in engines for n in sizes])
        table(head, [[label[eng], n] + [exit_cell(d, eng, e, f"stopn{n}_exit", f"stopn{n}_how", f"stopn{n}_inner") for e in seps] for eng in engines for n in sizes])
        setup = [(eng, e) for eng in engines for e in seps]
        big = sizes[-1]
        sv = [cell(d.vals(eng, e, f"stopn{big}_setup"), "s") for eng, e in setup]
        if any(c != "n/a" for c in sv):
            para(f"(Starting the {big} inner containers took " + "; ".join(
                f"{label[eng]} {SHORT[e]} {c} s" for (eng, e), c in zip(setup, sv) if c != "n/a") + ".)")

    # ------------------------------------------------------------ 2b. outer stop vs the inner parallel stop
    csizes = [n for n in meta.get("stopcmp_sizes", "").split() if any(d.vals(eng, "dind-init", f"stopcmp{n}") for eng in engines)]
    if csizes:
        para("## 2b. dind-init's `docker stop` against the inner daemon's own parallel stop (issue 19)", STOPCMP_TEXT)
        rows = []
        for eng in engines:
            for n in csizes:
                m = f"stopcmp{n}"
                r = d.vals(eng, "dind-init", m + "_ratio")
                goal = "" if not r else (" met" if statistics.median(r) <= 1.2 else " **missed**")
                clean, kill = d.strs(eng, "dind-init", m + "_clean"), d.strs(eng, "dind-init", m + "_kill")
                state = Counter(d.strs(eng, "dind-init", m + "_state"))
                rows.append([label[eng], n, cell(d.vals(eng, "dind-init", m), "s"), cell(d.vals(eng, "dind-init", m + "_inner"), "s"),
                             f"{cell(r, 'x')}{goal}", f"{clean.count('yes')}/{len(clean)}", f"{kill.count('yes')}/{len(kill)}",
                             "; ".join(f"{h} (×{k})" if k > 1 else h for h, k in sorted(state.items()))])
        table(["engine", "inner containers", "outer `docker stop`, s", "inner `docker stop $(docker ps -q)`, s",
               "outer ÷ inner (goal ≤ 1.2)", "clean", "SIGKILL step needed", "inner containers' last state"], rows)
        para("(Starting the inner containers, then starting them again after the inner stop, s: "
             + "; ".join(f"{label[eng]} {n}: {cell(d.vals(eng, 'dind-init', f'stopcmp{n}_setup'), 's')}, "
                         f"{cell(d.vals(eng, 'dind-init', f'stopcmp{n}_restart'), 's')}" for eng in engines for n in csizes) + ".)")

    # ------------------------------------------------------------ 3. TLS
    if any(d.vals(eng, e, "tls_ready_on") for eng in engines for e in ("dind-init", "docker-dind")):
        para("## 3. TLS: a docker:dind service, ready for a client over TCP",
             "No command; `DOCKER_TLS_CERTDIR=/certs` (TLS, port 2376, client certificates from `/certs/client`) or "
             "`DOCKER_TLS_CERTDIR=\"\"` (port 2375, no TLS). Ready: `docker run -d` (host clock) → a client on the host "
             "gets `200` for `GET /version` over tcp://IP:2376 with the client certificates (server name `docker`), or "
             "over :2375; then, untimed, `docker version` from another container on the network "
             "(`DOCKER_HOST=tcp://docker:2376`, `DOCKER_TLS_VERIFY=1`) must work. *docker:dind-style*: "
             "`bench/baselines/dockerd-entrypoint-tls`, docker:dind's entrypoint with its openssl commands "
             "(RSA 4096), then `dind docker-init -- dockerd ...` (with `--tls=false` when TLS is off, as its documentation says).")
        rows = []
        for eng in engines:
            a_on, a_off = d.vals(eng, "dind-init", "tls_ready_on"), d.vals(eng, "dind-init", "tls_ready_off")
            b_on, b_off = d.vals(eng, "docker-dind", "tls_ready_on"), d.vals(eng, "docker-dind", "tls_ready_off")
            rows.append([label[eng], cell(a_on, 's'), cell(a_off, 's'), diff_ms(a_on, a_off), cell(b_on, 's'), cell(b_off, 's'),
                         diff_ms(b_on, b_off), r2(ratio(median_or_none(b_on), median_or_none(a_on)))])
        table(["engine", "dind-init, TLS", "dind-init, no TLS", "TLS costs dind-init", "docker:dind-style, TLS (openssl)",
               "docker:dind-style, no TLS", "TLS costs docker:dind-style", "docker:dind TLS ÷ dind-init TLS"], rows)
        para("The certificates alone (dind-init's log line `tls: ..., N.N ms`; the openssl script's own elapsed time "
             "around its certificate function), ms; the TCP port's first accepted connection after `docker run -d`, s; "
             "and the real clients' check:")
        rows = []
        for eng in engines:
            a, b = d.vals(eng, "dind-init", "tls_cert_ms"), d.vals(eng, "docker-dind", "tls_cert_ms")
            rr = ratio(median_or_none(b), median_or_none(a))
            oks = [v for e in ("dind-init", "docker-dind") for t in ("on", "off") for v in d.strs(eng, e, f"tls_client_{t}")]
            rows.append([label[eng], cell(a, 'msv'), cell(b, 'msv'), 'n/a' if rr is None else f'×{rr:.0f}',
                         cell(d.vals(eng, 'dind-init', 'tls_port_on'), 's'), cell(d.vals(eng, 'docker-dind', 'tls_port_on'), 's'),
                         f"{sum(1 for v in oks if v.startswith('ok'))}/{len(oks)}"])
        table(["engine", "dind-init: certificates, ms", "docker:dind-style (openssl, RSA 4096): certificates, ms", "ratio",
               "port open, dind-init TLS", "port open, docker:dind TLS", "clients' `docker version` ok"], rows)
        para("What TLS changes in the start-up, from the logs (s): dind-init's set-up until it spawns containerd's and "
             "dockerd's start (the certificates are made before); dockerd's own `Starting up` → `API listen on`; and "
             "dockerd's pause right after it warns that it binds TCP without `--tlsverify` (moby's `loadListeners` "
             "sleeps a second there even with `--tls=false`; it skips the 15 s only):")
        table(["engine", "dind-init: dockerd spawned at, TLS", "no TLS", "dockerd start, dind-init TLS", "no TLS",
               "dockerd's pause without TLS, dind-init", "docker:dind-style"],
              [[label[eng], cell(d.vals(eng, 'dind-init', 'tls_spawned_on'), 's3'), cell(d.vals(eng, 'dind-init', 'tls_spawned_off'), 's3'),
                cell(d.vals(eng, 'dind-init', 'tls_dinit_on'), 's'), cell(d.vals(eng, 'dind-init', 'tls_dinit_off'), 's'),
                pause_cell(d, eng, 'dind-init'), pause_cell(d, eng, 'docker-dind')] for eng in engines])

    # ------------------------------------------------------------ PID 1 idle
    pid_eps = [e for e in EPS + ["wrapdocker-bash"] if any(d.strs(eng, e, "pid1_comm") for eng in engines)]
    if pid_eps:
        para(f"## 4. PID 1's cost while the container idles ({meta.get('idle', '10')} s; the command `sleep infinity`, or the daemon alone)",
             "Per engine: resident memory of PID 1 (VmRSS, kB) / CPU time of PID 1 over the window (ticks of 10 ms) / "
             "context switches of PID 1's main thread over the window.")
        table(["entrypoint", "PID 1 is"] + [label[eng] for eng in engines],
              [[TITLES[e], ", ".join("`" + c + "`" for c in sorted(set(c for eng in engines for c in d.strs(eng, e, "pid1_comm"))))]
               + [" / ".join(cell(d.vals(eng, e, m), "n") for m in ("rss_kb", "cpu_ticks", "ctxsw")) if d.strs(eng, e, "pid1_comm") else "n/a"
                  for eng in engines] for e in pid_eps])
        para("wrapdocker and hack/dind exec the command, so PID 1 *is* the command (`sleep`): nothing reaps zombies or "
             "forwards signals, and `docker stop` ends in SIGKILL. docker:dind's PID 1 is tini (`docker-init`).")

    # ------------------------------------------------------------ sizes
    sz = [line for line in meta.get("sizes", "").split(";") if line]
    if sz:
        para("## 5. Size on disk")
        rows = []
        for s in sz:
            name, size, link, src = (s.split("|") + ["", "", ""])[:4]
            rows.append([f"`{name}`", f"{int(size):,}" if size.isdigit() else size, link, src])
        table(["binary", "bytes", "linking", "from"], rows)

    if meta.get("notes", ""):
        para("## Notes")
        out.extend(meta["notes"].split("\\n") + [""])
    print("\n".join(out))


STOPCMP_TEXT = (
    "One DinD container with dind-init as its entrypoint (`sleep infinity` as the command, the data root on a fresh "
    "volume) runs N inner containers, the same busybox services as table 2 (they exit 0 on SIGTERM). In it, first "
    "the inner daemon's own parallel stop of all of them: `docker stop $(docker ps -q)` through `docker exec`, timed "
    "inside the container with `date +%s.%N` around it (so without exec's own cost; the docker CLI stops at most 50 "
    "containers at a time). Then `docker start` of the same containers (4 at a time) until all run again, and the "
    "outer `docker stop` of the DinD container, timed on the host: dind-init sends SIGTERM to the command, then to "
    "dockerd, which stops its containers itself. Outer ÷ inner is taken per round (median, min–max); issue 19's "
    "goal is ≤ 1.2 ×. *Clean*: dind-init logged `shutdown: dockerd exited cleanly` and the inner daemon recorded "
    "all N containers with exit 0 (read from the volume afterwards; a SIGKILLed one records 137, *other exit*). "
    "*SIGKILL step needed*: dind-init logged `inner container process(es) still running: SIGKILL`, the step it "
    "takes when inner container processes still run 2.5 s before its stop budget (8 s from `docker stop`'s "
    "SIGTERM) ends, so that dockerd can still finish in time.")


def pause_cell(d, eng, ep):
    runs, v = d.strs(eng, ep, "tls_pause_off"), d.vals(eng, ep, "tls_pause_off")
    if not runs or not v:
        return "none (no warning)" if runs else "n/a"
    return cell(v, "s") + (f" [{len(v)}/{len(runs)} runs]" if len(v) != len(runs) else "")


def diff_ms(on, off):
    """median(on) - median(off), ms, with the spread of the two medians' difference."""
    if not on or not off:
        return "n/a"
    dm = (statistics.median(on) - statistics.median(off)) * 1000
    return f"**{dm:+.0f} ms** (fastest runs: {(min(on) - min(off)) * 1000:+.0f} ms)"


def goals(d, eng):
    ready = d.med(eng, "dind-init", "ready")
    lims = [(d.med(eng, e, "ready"), e) for e in LIMITS if d.med(eng, e, "ready") is not None]
    if ready is None or not lims:
        return None
    limit_ready, limit = min(lims)
    lmins = [d.lo(eng, e, "ready") for e in LIMITS if d.lo(eng, e, "ready") is not None]
    g = {"ready": ready, "limit": limit, "limit_ready": limit_ready,
         "vs_limit": ratio(ready, limit_ready), "vs_limit_min": ratio(d.lo(eng, "dind-init", "ready"), min(lmins)),
         "anchor": {a: ratio(d.med(eng, a, "ready"), ready) for a in ANCHORS},
         "anchor_min": {a: ratio(d.lo(eng, a, "ready"), d.lo(eng, "dind-init", "ready")) for a in ANCHORS},
         "tls_anchor": ratio(d.med(eng, "docker-dind", "tls_ready_on"), d.med(eng, "dind-init", "tls_ready_on")),
         "tls_anchor_min": ratio(d.lo(eng, "docker-dind", "tls_ready_on"), d.lo(eng, "dind-init", "tls_ready_on"))}
    miss = [f"{g['vs_limit']:.2f} × the limit"] if g["vs_limit"] is not None and g["vs_limit"] > 1.15 else []
    miss += [f"{SHORT[a]} only {r:.2f} ×" for a, r in g["anchor"].items() if r is not None and r < 3]
    g["missed"] = miss
    g["verdict"] = "met" if not miss else "**missed**: " + "; ".join(miss)
    return g


def summary(d, engines, label, loads):
    out = []
    med = d.med
    if loads:
        lm = statistics.median(loads)
        quiet = "quiet" if max(loads) < 0.5 else ("busy" if lm >= 1.0 else "somewhat busy")
        out.append(f"- **Load**: the machine was {quiet} ({d.meta.get('nproc', '?')} CPUs; 1-minute load average before the timed runs "
                   f"median {lm:.2f}, {min(loads):.2f}–{max(loads):.2f}; other jobs ran beside the benchmark). "
                   "The columns were interleaved run by run, so the load hit them alike; single runs scatter, the medians "
                   "and the ratios hold better.")
    for eng in engines:
        g = goals(d, eng)
        start = len(out)
        parts = []
        if g:
            parts.append(f"ready **{g['ready']:.2f} s**, {g['vs_limit']:.2f} × the fastest limit "
                         f"({SHORT[g['limit']]}, {g['limit_ready']:.2f} s): goal ≤ 1.15 "
                         + ("met" if g["vs_limit"] <= 1.15 else "**missed**"))
            an = [f"{SHORT[a]} {r:.2f} ×" for a, r in g["anchor"].items() if r is not None]
            if an:
                ok = all(r is None or r >= 3 for r in g["anchor"].values())
                parts.append("ahead of the script anchors by " + ", ".join(an) + ": goal ≥ 3 × " + ("met" if ok else "**missed**"))
            if g["tls_anchor"] is not None:
                parts.append(f"with TLS (docker:dind's default) ahead of docker:dind's openssl path by {g['tls_anchor']:.2f} ×")
        rt = med(eng, "dind-init", "run_true")
        if rt is not None:
            w = med(eng, "wrapdocker", "run_true")
            parts.append(f"`docker run --rm … true` {rt:.2f} s" + (f" (wrapdocker {w:.2f} s)" if w else ""))
        st = med(eng, "dind-init", "stop")
        if st is not None:
            hw = d.strs(eng, "dind-init", "stop_daemon")
            w = med(eng, "wrapdocker", "stop")
            parts.append(f"`docker stop` {st:.2f} s, clean {hw.count('clean')}/{len(hw)}" + (f" (wrapdocker {w:.2f} s)" if w else ""))
        if parts:
            out.append(f"- **{label[eng]}**: " + "; ".join(parts) + ".")
        if g and g["vs_limit"] is not None and g["vs_limit"] > 1.15:
            out.append("  - Why dind-init is behind the limit here: " + why_limit(d, eng, g))
        if g:
            out += ["  - Against " + SHORT[a] + ": " + why_anchor(d, eng, a) for a, r in g["anchor"].items() if r is not None and r < 3]
        sp = []
        for n in d.meta.get("stop_sizes", "").split():
            v = med(eng, "dind-init", f"stopn{n}")
            if v is None:
                continue
            hw, inner = d.strs(eng, "dind-init", f"stopn{n}_how"), d.strs(eng, "dind-init", f"stopn{n}_inner")
            w, dd = med(eng, "wrapdocker", f"stopn{n}"), med(eng, "docker-dind", f"stopn{n}")
            sp.append(f"{n}: {v:.2f} s (clean {hw.count('clean')}/{len(hw)}" + (f", inner {', '.join(sorted(set(inner)))}" if inner else "")
                      + ")" + (f" vs wrapdocker {w:.2f} s" if w is not None else "") + (f", docker:dind-style {dd:.2f} s" if dd is not None else ""))
        if sp:
            out.append("  - `docker stop` with inner containers: " + "; ".join(sp) + ".")
        sp = []
        csizes = d.meta.get("stopcmp_sizes", "").split()
        for n in csizes:
            r = med(eng, "dind-init", f"stopcmp{n}_ratio")
            if r is None:
                continue
            clean, kill = d.strs(eng, "dind-init", f"stopcmp{n}_clean"), d.strs(eng, "dind-init", f"stopcmp{n}_kill")
            sp.append(f"{n}: {med(eng, 'dind-init', f'stopcmp{n}'):.2f} s vs {med(eng, 'dind-init', f'stopcmp{n}_inner'):.2f} s, "
                      f"**{r:.2f} ×** (clean {clean.count('yes')}/{len(clean)}, SIGKILL step {kill.count('yes')}/{len(kill)})")
        if sp:
            worst = max(med(eng, "dind-init", f"stopcmp{n}_ratio") or 0 for n in csizes)
            out.append("  - `docker stop` against the inner daemon's own parallel stop (goal ≤ 1.2 ×: "
                       + ("met" if worst <= 1.2 else "**missed**") + "): " + "; ".join(sp) + ".")
        a_on, a_off = med(eng, "dind-init", "tls_ready_on"), med(eng, "dind-init", "tls_ready_off")
        b_on, b_off = med(eng, "docker-dind", "tls_ready_on"), med(eng, "docker-dind", "tls_ready_off")
        sp_on, sp_off = med(eng, "dind-init", "tls_spawned_on"), med(eng, "dind-init", "tls_spawned_off")
        cert, ocert, pause = med(eng, "dind-init", "tls_cert_ms"), med(eng, "docker-dind", "tls_cert_ms"), med(eng, "dind-init", "tls_pause_off")
        if a_on is not None and a_off is not None:
            s = f"  - TLS: dind-init as a service ready {a_on:.2f} s with TLS, {a_off:.2f} s without"
            if pause is not None and pause > 0.5:
                s += f" (without TLS dockerd itself pauses {pause:.2f} s after its warning about TCP without `--tlsverify`)"
            spawn = (sp_on - sp_off) * 1000 if sp_on is not None and sp_off is not None else None
            cost = ([f"its certificates {cert:.1f} ms"] if cert is not None else []) + \
                ([f"its set-up until dockerd's start {spawn:+.1f} ms against no TLS"] if spawn is not None else [])
            if cost:
                worst = max([cert or 0] + ([spawn] if spawn is not None else []))
                s += "; what TLS costs dind-init: " + ", ".join(cost) + " (goal ≤ 20 ms: " + ("met" if worst <= 20 else "**missed**") + ")"
            if b_on is not None and b_off is not None:
                s += f"; docker:dind's openssl path: ready {b_on:.2f} s with TLS, {b_off:.2f} s without"
                s += f", its certificates alone {ocert / 1000:.2f} s" if ocert is not None else ""
                s += f", {b_on / a_on:.1f} × dind-init's TLS start"
            out.append(s + ".")
        if not parts and len(out) > start:
            out.insert(start, f"- **{label[eng]}**:")
    return out


def why_limit(d, eng, g):
    """Explains dind-init's time to ready against the faster limit, from both logs."""
    lim, med = g["limit"], d.med
    a_ds, l_ds = med(eng, "dind-init", "dstart"), med(eng, lim, "dstart")
    a_di, l_di = med(eng, "dind-init", "dinit"), med(eng, lim, "dinit")
    ov, lat, sp = med(eng, "dind-init", "overhead"), med(eng, "dind-init", "ph_startlat"), med(eng, "dind-init", "ph_spawned")
    cs, cv = med(eng, "dind-init", "ph_ctrd_spawned"), med(eng, "dind-init", "ph_ctrd_serving")
    parts = [f"{(g['ready'] - g['limit_ready']) * 1000:+.0f} ms in all (medians)"]
    if a_ds is not None and l_ds is not None:
        s = f"`docker run` → dockerd's first log line {a_ds:.3f} s vs {l_ds:.3f} s ({(a_ds - l_ds) * 1000:+.0f} ms"
        sub = ([f"`docker run` → dind-init's +0 {lat:.3f} s"] if lat is not None else []) \
            + ([f"dind-init's set-up until containerd spawned {cs * 1000:.0f} ms"] if cs is not None else []) \
            + ([f"containerd until its socket answers {(cv - cs) * 1000:.0f} ms"] if cs is not None and cv is not None else []) \
            + ([f"dockerd spawned at +{sp:.3f} s"] if sp is not None else [])
        parts.append(s + ("; " + ", ".join(sub) if sub else "") + ")")
    if a_di is not None and l_di is not None:
        parts.append(f"dockerd's own `Starting up` → `API listen on` {a_di:.3f} s vs {l_di:.3f} s ({(a_di - l_di) * 1000:+.0f} ms)")
    if ov is not None:
        parts.append(f"`API listen on` → the command started {ov * 1000:.1f} ms")
    return "; ".join(parts) + "."


def why_anchor(d, eng, a):
    ready, ar = d.med(eng, "dind-init", "ready"), d.med(eng, a, "ready")
    if a == "docker-dind":
        return (f"{ar:.2f} s vs {ready:.2f} s. Without TLS the docker:dind-style entrypoint waits for nothing: it execs "
                "dockerd, and its time to ready here is dockerd's own `API listen on` (no client, no loop); the 3× can only "
                "come from its default TLS path (table 3) or from the client's own wait loop, which is not counted here.")
    ov = d.med(eng, a, "overhead")
    s = f"{ar:.2f} s vs {ready:.2f} s"
    if ov is not None:
        s += (f"; its loop costs {ov * 1000:.0f} ms after `API listen on` (the rest of a `sleep 1` plus one "
              "`docker info`), on top of the same dockerd start")
    lims = [d.med(eng, e, "ready") for e in LIMITS if d.med(eng, e, "ready") is not None]
    if lims:
        need = ar / 3
        s += f"; 3 × would need dind-init ready in {need:.2f} s"
        if need < min(lims):
            s += (f", less than the fastest limit itself takes here ({min(lims):.2f} s): no entrypoint can reach 3 × "
                  "against this anchor on this engine; what is left is dind-init's own share (see the limit ratio)")
    return s + "."


COMMANDS = {   # name: (function, number of arguments)
    "api-listen": (cmd_api_listen, 1), "dockerd-times": (cmd_dockerd_times, 1), "stamp": (cmd_stamp, 1),
    "dind-phases": (cmd_dind_phases, 1), "openssl-ms": (cmd_openssl_ms, 1), "inner-states": (cmd_inner_states, 0),
    "insecure-pause": (cmd_insecure_pause, 1), "poll": (cmd_poll, 5), "subnet-ip": (cmd_subnet_ip, 2), "report": (cmd_report, 2),
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS or len(sys.argv) - 2 != COMMANDS[sys.argv[1]][1]:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    COMMANDS[sys.argv[1]][0](*sys.argv[2:])
