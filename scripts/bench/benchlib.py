#!/usr/bin/env python3
"""Parsing, the TCP/TLS readiness poller and the report for scripts/bench.sh (standard library).

  benchlib.py dockerd-times LOG     epoch seconds of dockerd's "Starting up" and first "API listen on"
  benchlib.py insecure-pause LOG    seconds dockerd paused after its warning about TCP without TLS
  benchlib.py match LOG REGEX       the first group of REGEX's first match in LOG (empty: none)
  benchlib.py dind-phases LOG       dind-init's own times (from its events) as key=value
  benchlib.py inner-states          "exit0 other running": the states of stdin's config.v2.json lines
  benchlib.py poll HOST PORT CERTDIR|- GOFILE TIMEOUT    once GOFILE exists, GET /version every 5 ms
                                    (TLS with CERTDIR/client/*.pem unless -): epoch seconds of the
                                    first accepted connection and of the first 200 (empty: TIMEOUT)
  benchlib.py subnet-ip CIDR N      the N-th address of CIDR
  benchlib.py report RAW META       the markdown report from the raw TSV and the meta file
"""
import ipaddress, json, os, re, socket, ssl, sys, time  # noqa: E401
from collections import Counter
from datetime import datetime
from statistics import median

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import events  # noqa: E402  scripts/events.py: the parser of dind-init's events

TIME_RE = re.compile(r'time="(\d{4}-[-\d]+T[\d:.]+(?:Z|[+-]\d\d:\d\d))"')
CONTAINERD_LINE = re.compile(r'type=io\.containerd|msg="(skip )?loading plugin|msg="serving\.\.\.'
                             r'|msg="starting containerd|containerd successfully booted'
                             r'|msg="containerd config version')
INSECURE_WARNINGS = ("Binding to IP address without --tlsverify",
                     "Binding to an IP address, even on localhost",
                     "[DEPRECATION NOTICE] In future versions this will be a hard failure")

def timed_lines(path):
    """(epoch seconds, line) for every logrus line of the file."""
    with open(path, errors="replace") as f:
        for line in f:
            m = TIME_RE.search(line)
            if m:
                yield datetime.fromisoformat(m[1]).timestamp(), line

def cmd_dockerd_times(path):
    """dockerd's "Starting up" (else its first log line: containerd's lines, when it runs in the
    same output, come before dockerd starts) and its first "API listen on"."""
    first = up = None
    for t, line in timed_lines(path):
        first, up = first or t, up or (t if 'msg="Starting up"' in line else None)
        if "API listen on" in line:
            return print(f"{up or first:.6f} {t:.6f}")
    print(f"{up or first:.6f}" if first else "")

def cmd_insecure_pause(path):
    """dockerd's pause after its warning about TCP without --tlsverify (moby's loadListeners
    sleeps there): seconds from that warning to dockerd's next log line; empty without it."""
    warned = None
    for t, line in timed_lines(path):
        if "host=" in line and any(w in line for w in INSECURE_WARNINGS):
            warned = t   # the last of its warnings (20.10 has two, 23+ three)
        elif warned is not None and not CONTAINERD_LINE.search(line):
            return print(f"{t - warned:.6f}")
    print("")

def cmd_match(path, pattern):
    with open(path, errors="replace") as f:
        m = re.search(pattern, f.read(), re.M)
    print(m[1] if m else "")

# dind-init's own figures, from its events: key -> (event, field or None for its +T[, filter])
PHASES = {
    "ctrd_spawned": ("containerd-start", None), "ctrd_serving": ("containerd-ready", None),
    "spawned": ("dockerd-start", None), "ready": ("dockerd-ready", None),
    "command": ("command-start", None), "attempts": ("dockerd-ready", "attempts"),
    "cgroups_ms": ("cgroups", "ms"),
    "shutdown_s": ("dockerd-exit", "secs", {"clean": "true", "killed": "false"}),
}

def cmd_dind_phases(path):
    lines, out = events.read(path), []
    for key, (name, field, *want) in PHASES.items():
        ev = events.first(lines, name, **(want[0] if want else {}))
        if ev is not None:
            out.append(f"{key}={ev.t if field is None else ev.fields[field]}")
    print(" ".join(out))

def cmd_inner_states():
    n = Counter()
    for line in sys.stdin:
        try:   # an empty line is a ValueError too
            st = json.loads(line).get("State", {})
        except ValueError:
            continue
        n["running" if st.get("Running") else "exit0" if st.get("ExitCode") == 0 else "other"] += 1
    print(n["exit0"], n["other"], n["running"])

def cmd_poll(host, port, certdir, gofile, timeout):
    port, deadline, opened = int(port), time.time() + float(timeout), None
    while not os.path.exists(gofile) and time.time() <= deadline:
        time.sleep(0.002)
    while time.time() < deadline:
        s = None
        try:
            s = socket.create_connection((host, port), timeout=1.0)
            opened = opened or time.time()
            if certdir != "-":
                ctx, c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), os.path.join(certdir, "client")
                ctx.load_verify_locations(os.path.join(c, "ca.pem"))
                ctx.load_cert_chain(os.path.join(c, "cert.pem"), os.path.join(c, "key.pem"))
                s = ctx.wrap_socket(s, server_hostname="docker")
            s.sendall(b"GET /version HTTP/1.1\r\nHost: docker\r\nUser-Agent: bench\r\nConnection: close\r\n\r\n")
            if s.makefile("rb").readline().startswith(b"HTTP/1.1 200"):
                return print(f"{opened:.6f} {time.time():.6f}")
        except (OSError, ssl.SSLError, ValueError):
            pass
        finally:
            if s is not None:
                s.close()
        time.sleep(0.005)
    print("")

def cmd_subnet_ip(cidr, n):
    print(ipaddress.ip_network(cidr, strict=False).network_address + int(n))

# ---------------------------------------------------------------- report

EPS = ["dind-init", "dind-init-dockerd", "wrapdocker", "moby-dind", "docker-dind", "dockerd", "dockerd-ctrd"]
TITLES = {
    "dind-init": "dind-init", "dind-init-dockerd": "dind-init, `DIND_CONTAINERD_BY=dockerd`", "wrapdocker": "wrapdocker (bash)",
    "moby-dind": "hack/dind + `dockerd &` loop", "docker-dind": "docker:dind-style entrypoint, given `dockerd --host=unix://…` (no TCP)",
    "dockerd": "dockerd alone (limit)", "dockerd-ctrd": "containerd, then `dockerd --containerd` (limit)",
    "wrapdocker-bash": "wrapdocker without a command (`bash --login` as PID 1)"}
SHORT = {
    "dind-init": "dind-init", "dind-init-dockerd": "dind-init (dockerd's containerd)",
    "wrapdocker": "wrapdocker", "moby-dind": "hack/dind loop", "docker-dind": "docker:dind-style",
    "dockerd": "dockerd alone", "dockerd-ctrd": "containerd + dockerd --containerd",
}
LIMITS = ["dockerd", "dockerd-ctrd"]
ANCHORS = ["wrapdocker", "moby-dind", "docker-dind"]
DIGITS = {"s": 2, "s3": 3, "x": 2}   # other units (counts): none

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
        return [float(v) for v in self.strs(eng, ep, metric) if re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", v)]
    def med(self, eng, ep, metric):
        v = self.vals(eng, ep, metric)
        return median(v) if v else None
    def lo(self, eng, ep, metric):
        return min(self.vals(eng, ep, metric), default=None)
    def cell(self, eng, ep, metric, unit, ref_ep=None):
        """cell() of the values; ×ratio to REF_EP's median of the same metric (not on REF_EP itself)."""
        return cell(self.vals(eng, ep, metric), unit, self.vals(eng, ref_ep, metric) if ref_ep not in (None, ep) else None)

def fmt_num(x, unit):
    if unit in ("ms", "msv"):   # msv: a value already in ms
        x = x * 1000.0 if unit == "ms" else x
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"
    return f"{x:.{DIGITS.get(unit, 0)}f}"

def cell(vals, unit, ref=None):
    """**median** (min–max) ×ratio to REF's median."""
    if not vals:
        return "n/a"
    med, lo, hi = median(vals), min(vals), max(vals)
    s = f"**{fmt_num(med, unit)}**" + (f" ({fmt_num(lo, unit)}–{fmt_num(hi, unit)})" if len(vals) > 1 and lo != hi else "")
    return s + (f" ×{med / median(ref):.2f}" if ref and median(ref) > 0 else "")

def tally(items, fmt="{} {}/{}"):
    """'a 2/3, b 1/3' (fmt gets the item, its count, the total), the items sorted."""
    return ", ".join(fmt.format(h, k, len(items)) for h, k in sorted(Counter(items).items()))

def counted(items, fmt, sep):
    """Each distinct item, sorted, with FMT (item, count) where it came more than once."""
    return sep.join(fmt.format(h, k) if k > 1 else h for h, k in sorted(Counter(items).items()))

def exit_cell(d, eng, ep, prefix, how, inner=False):
    """The exit codes, how the inner dockerd ended, and the inner containers' states."""
    codes, states = d.strs(eng, ep, prefix + "_exit"), d.strs(eng, ep, prefix + "_inner") if inner else []
    if not codes:
        return "n/a"
    return (f"exit {tally(codes, '{0}×{1}')}; {tally(d.strs(eng, ep, prefix + how))}"
            + ("; inner: " + counted(states, "{} ×{}", ", ") if states else ""))

def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None

def r2(x):
    return "n/a" if x is None else f"{x:.2f}"

def ok_count(items, ok="0"):
    return f"{sum(1 for v in items if v.startswith(ok))}/{len(items)}"

def cmd_report(raw_path, meta_path):
    d = Data(raw_path, meta_path)
    meta, out = d.meta, []
    engines = meta.get("engines", "").split()
    label = {e: f"{e} {meta.get('engine_short.' + e, '')}".strip() for e in engines}
    eps = [e for e in EPS if any(d.strs(eng, e, "ready") for eng in engines)]
    p = out.append

    def para(*blocks):   # each followed by an empty line
        out.extend(x for b in blocks for x in (b, ""))

    def table(head, rows):
        out.extend(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows] + [""])
    para("# dind-init benchmark")
    p(f"- command: `{meta.get('command', '')}`")
    p(f"- date: {meta.get('date', '')} (the run took {meta.get('duration', '?')})")
    p(f"- machine: {meta.get('nproc', '')} CPUs (`nproc`), {meta.get('mem', '')}, kernel {meta.get('kernel', '')}, cgroups {meta.get('cgroups', '')}")
    loads = [float(v) for _, _, _, m, v in d.rows if m == "load" and v not in ("", "NA")]
    load_txt = (f"; 1-minute load average before each timed run: median {median(loads):.2f} "
                f"(min {min(loads):.2f}, max {max(loads):.2f}, {len(loads)} runs)") if loads else ""
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

    if eps:   # 1. main figures
        para("## 1. Start, run, stop", "Columns: " + "; ".join(f"*{TITLES[e]}*" for e in eps) + ". Rows: the engines.")
        head = ["engine"] + [SHORT[e] for e in eps]
        for metric, unit, title in (
                ("ready", "s", "1. Time to ready: `docker run` → the command starts (daemon-mode columns: dockerd's first `API listen on`), s"),
                ("dstart", "s", "1a. of which `docker run` → dockerd's first log line, s"),
                ("dinit", "s", "1b. of which dockerd's `Starting up` → `API listen on`, s"),
                ("overhead", "ms", "2. Readiness overhead: dockerd's `API listen on` → the command starts, ms"),
                ("run_true", "s", "3. Whole `docker run --rm --privileged IMAGE true` (daemon-mode columns: SIGTERM from the host at `API listen on`), s"),
                ("stop", "s", "4. `docker stop` with `sleep infinity` running (daemon-mode columns: the idle daemon), s")):
            para(f"### {title}")
            table(head, [[label[eng]] + ["0 (by definition)" if metric == "overhead" and e in LIMITS + ["docker-dind"] else
                                         d.cell(eng, e, metric, unit, "dind-init") for e in eps] for eng in engines])
        para("### 4b. After `docker stop`: exit code; the inner dockerd")
        table(head, [[label[eng]] + [exit_cell(d, eng, e, "stop", "_daemon") for e in eps] for eng in engines])
        para("### Issue 15's goals: time to ready (≤ 1.15 × the faster limit, ≥ 3 × ahead of each anchor; "
             "medians, in brackets the fastest runs)")
        rows = [[label[eng]] + g for eng in engines for g in [goals(d, eng)] if g]
        table(["engine", "dind-init ready", "fastest limit", "dind-init ÷ limit (≤ 1.15)", "wrapdocker ÷ dind-init",
               "hack/dind ÷ dind-init", "docker:dind-style ÷ dind-init", "docker:dind TLS ÷ dind-init TLS (table 3)", "verdict"], rows)
        para("### Where the time to ready goes (seconds since dind-init started, from its own log; the limits from dockerd's log)")
        cols = [(eng, e) for eng in engines for e in ("dind-init", "dind-init-dockerd") if d.vals(eng, e, "ph_spawned")]
        if cols:
            rows = []
            for key, title in (("ph_startlat", "`docker run` → dind-init starts (its +0.000), s"), ("ph_cgroups_ms", "cgroup set-up, ms"),
                               ("ph_ctrd_spawned", "containerd spawned"), ("ph_ctrd_serving", "containerd serving (socket answers)"),
                               ("ph_spawned", "dockerd spawned"), ("ph_ready", "`/_ping` answered"), ("ph_command", "command started"),
                               ("ph_attempts", "probe attempts (count)"),
                               ("ph_shutdown_s", "dockerd's shutdown after the command (`true` runs), s")):
                unit = "n" if key == "ph_attempts" else ("msv" if key.endswith("_ms") else "s3")
                row = [d.cell(eng, e, key, unit) for eng, e in cols]
                if any(c != "n/a" for c in row):
                    rows.append([title] + row)
            table(["step"] + [f"{label[eng]}: {SHORT[e]}" for eng, e in cols], rows)

    sizes = [s for s in meta.get("stop_sizes", "").split() if s]   # 2. stop with inner containers
    seps = [e for e in EPS if any(d.vals(eng, e, f"stopn{n}") for eng in engines for n in sizes)]
    if sizes and seps:
        para("## 2. `docker stop` of the DinD container with running inner containers",
             "Time of `docker stop` (s); then exit code, how the inner dockerd ended, the inner containers' last recorded "
             "state (docs/BENCHMARKS.md).")
        head = ["engine", "inner containers"] + [SHORT[e] for e in seps]
        table(head, [[label[eng], n] + [d.cell(eng, e, f"stopn{n}", "s", "dind-init") for e in seps] for eng in engines for n in sizes])
        table(head, [[label[eng], n] + [exit_cell(d, eng, e, f"stopn{n}", "_how", True) for e in seps] for eng in engines for n in sizes])
        setup = [(eng, e, d.cell(eng, e, f"stopn{sizes[-1]}_setup", "s")) for eng in engines for e in seps]
        if any(c != "n/a" for _, _, c in setup):
            para(f"(Starting the {sizes[-1]} inner containers took "
                 + "; ".join(f"{label[eng]} {SHORT[e]} {c} s" for eng, e, c in setup if c != "n/a") + ".)")

    # 2b. outer stop vs the inner parallel stop
    csizes = [n for n in meta.get("stopcmp_sizes", "").split() if any(d.vals(eng, "dind-init", f"stopcmp{n}") for eng in engines)]
    if csizes:
        para("## 2b. dind-init's `docker stop` against the inner daemon's own parallel stop (issue 19)", STOPCMP_TEXT)
        rows = []
        for eng in engines:
            for n in csizes:
                m = f"stopcmp{n}"
                r = d.vals(eng, "dind-init", m + "_ratio")
                goal = "" if not r else (" met" if median(r) <= 1.2 else " **missed**")
                rows.append([label[eng], n, d.cell(eng, "dind-init", m, "s"), d.cell(eng, "dind-init", m + "_inner", "s"),
                             f"{cell(r, 'x')}{goal}", ok_count(d.strs(eng, "dind-init", m + "_clean"), "yes"),
                             ok_count(d.strs(eng, "dind-init", m + "_kill"), "yes"), counted(d.strs(eng, "dind-init", m + "_state"), "{} (×{})", "; ")])
        table(["engine", "inner containers", "outer `docker stop`, s", "inner `docker stop $(docker ps -q)`, s",
               "outer ÷ inner (goal ≤ 1.2)", "clean", "SIGKILL step needed", "inner containers' last state"], rows)
        para("(Starting the inner containers, then starting them again after the inner stop, s: "
             + "; ".join(f"{label[eng]} {n}: {d.cell(eng, 'dind-init', f'stopcmp{n}_setup', 's')}, "
                         f"{d.cell(eng, 'dind-init', f'stopcmp{n}_restart', 's')}" for eng in engines for n in csizes) + ".)")

    if any(d.vals(eng, e, "tls_ready_on") for eng in engines for e in ("dind-init", "docker-dind")):   # 3. TLS
        para("## 3. TLS: a docker:dind service, ready for a client over TCP",
             "`docker run -d` → `200` for `GET /version` over TCP, with TLS (2376) or without (2375); "
             "docker:dind-style is `bench/baselines/dockerd-entrypoint-tls` (docs/BENCHMARKS.md).")
        rows = []
        for eng in engines:
            a_on, a_off = d.vals(eng, "dind-init", "tls_ready_on"), d.vals(eng, "dind-init", "tls_ready_off")
            b_on, b_off = d.vals(eng, "docker-dind", "tls_ready_on"), d.vals(eng, "docker-dind", "tls_ready_off")
            rows.append([label[eng], cell(a_on, 's'), cell(a_off, 's'), diff_ms(a_on, a_off), cell(b_on, 's'), cell(b_off, 's'),
                         diff_ms(b_on, b_off), r2(ratio(d.med(eng, "docker-dind", "tls_ready_on"), d.med(eng, "dind-init", "tls_ready_on")))])
        table(["engine", "dind-init, TLS", "dind-init, no TLS", "TLS costs dind-init", "docker:dind-style, TLS (openssl)",
               "docker:dind-style, no TLS", "TLS costs docker:dind-style", "docker:dind TLS ÷ dind-init TLS"], rows)
        para("The certificates alone, ms; the TCP port's first accepted connection, s; the real clients' check:")
        rows = []
        for eng in engines:
            rr = ratio(d.med(eng, "docker-dind", "tls_cert_ms"), d.med(eng, "dind-init", "tls_cert_ms"))
            oks = [v for e in ("dind-init", "docker-dind") for t in ("on", "off") for v in d.strs(eng, e, f"tls_client_{t}")]
            rows.append([label[eng], d.cell(eng, "dind-init", "tls_cert_ms", "msv"), d.cell(eng, "docker-dind", "tls_cert_ms", "msv"),
                         'n/a' if rr is None else f'×{rr:.0f}', d.cell(eng, 'dind-init', 'tls_port_on', 's'),
                         d.cell(eng, 'docker-dind', 'tls_port_on', 's'), ok_count(oks, "ok")])
        table(["engine", "dind-init: certificates, ms", "docker:dind-style (openssl, RSA 4096): certificates, ms", "ratio",
               "port open, dind-init TLS", "port open, docker:dind TLS", "clients' `docker version` ok"], rows)
        para("What TLS changes in the start-up, from the logs (s):")
        table(["engine", "dind-init: dockerd spawned at, TLS", "no TLS", "dockerd start, dind-init TLS", "no TLS",
               "dockerd's pause without TLS, dind-init", "docker:dind-style"],
              [[label[eng]] + [d.cell(eng, 'dind-init', m, u) for m, u in (('tls_spawned_on', 's3'), ('tls_spawned_off', 's3'),
                                                                           ('tls_dinit_on', 's'), ('tls_dinit_off', 's'))]
               + [pause_cell(d, eng, 'dind-init'), pause_cell(d, eng, 'docker-dind')] for eng in engines])

    rl_engines = [eng for eng in engines if d.vals(eng, "rootful", "rl_ready") or d.vals(eng, "rootless", "rl_ready")]
    if rl_engines:   # 3b. rootless
        para("## 3b. A rootless dockerd (issue 22): rootless against rootful",
             "The engine's image, and it plus `docker/debian-rootless.Dockerfile` (" + meta.get("rootless_desc", "") + "): "
             "time to ready as in table 1; an inner `docker run --rm true`, timed inside the container "
             "(docs/BENCHMARKS.md). ×ratio: rootless ÷ rootful, medians of the same run (and of the fastest runs).")
        rows = []
        for eng in rl_engines:
            ok = [v for e in ("rootful", "rootless") for v in d.strs(eng, e, "rl_rc")]
            fast = {m: r2(ratio(d.lo(eng, "rootless", m), d.lo(eng, "rootful", m))) for m in ("rl_ready", "rl_true")}
            rows.append([label[eng], d.cell(eng, "rootful", "rl_ready", "s"),
                         d.cell(eng, "rootless", "rl_ready", "s", "rootful") + f" (fastest runs ×{fast['rl_ready']})",
                         d.cell(eng, "rootful", "rl_true", "ms"),
                         d.cell(eng, "rootless", "rl_true", "ms", "rootful") + f" (fastest runs ×{fast['rl_true']})",
                         " / ".join(tally(d.strs(eng, e, "rl_driver"), "{0}") or "n/a" for e in ("rootful", "rootless")),
                         meta.get("rootlesskit." + eng, "") or "n/a", f"{ok.count('0')}/{len(ok)}"])
        table(["engine", "rootful: time to ready, s", "rootless", "rootful: inner `docker run --rm true`, ms", "rootless",
               "storage driver (rootful / rootless)", "rootlesskit", "runs exit 0"], rows)

    im_ways = ("remote", "mirror", "preload", "persistent")
    im_engines = [eng for eng in engines if any(d.vals(eng, w, "im_first") for w in im_ways)]
    if im_engines:   # 3c. images across jobs
        para("## 3c. Images across jobs (issue 21): a job that needs 3 images",
             "The images: " + meta.get("images_desc", "") + "; the registry: " + meta.get("registry", "") + ". "
             "Time from `docker run` on the host to the job's first inner container (`docker run -d` returned), "
             "then, of it, until the command started (dind-init's start, and the preload where there is one). "
             "×ratio: to the fresh volume pulling from the registry, medians of the same run (docs/BENCHMARKS.md).")
        rows = []
        for eng in im_engines:
            codes = [c for w in im_ways for c in d.strs(eng, w, "im_rc")]
            rows.append([label[eng]] + [d.cell(eng, w, "im_first", "s", "remote") for w in im_ways]
                        + [" / ".join(d.cell(eng, w, "im_cmd", "s") for w in im_ways),
                           " / ".join(tally(d.strs(eng, w, "im_pulled"), "{0}") or "n/a" for w in im_ways),
                           tally(d.strs(eng, "persistent", "im_skipped"), "{0}") or "n/a", f"{codes.count('0')}/{len(codes)}"])
        table(["engine", "fresh volume, pulls from the registry, s", "through a mirror", "`DIND_PRELOAD`",
               "persistent volume (preload skips)", "of which until the command (the same four), s",
               "images pulled (the same four)", "archives skipped (persistent)", "runs exit 0"], rows)

    pid_eps = [e for e in EPS + ["wrapdocker-bash"] if any(d.strs(eng, e, "pid1_comm") for eng in engines)]
    if pid_eps:   # 4. PID 1 idle
        para(f"## 4. PID 1's cost while the container idles ({meta.get('idle', '10')} s)",
             "Per engine: PID 1's VmRSS, kB / CPU ticks / context switches over the window.")
        table(["entrypoint", "PID 1 is"] + [label[eng] for eng in engines],
              [[TITLES[e], ", ".join("`" + c + "`" for c in sorted(set(c for eng in engines for c in d.strs(eng, e, "pid1_comm"))))]
               + [" / ".join(d.cell(eng, e, m, "n") for m in ("rss_kb", "cpu_ticks", "ctxsw")) if d.strs(eng, e, "pid1_comm") else "n/a"
                  for eng in engines] for e in pid_eps])

    sz = [line.split("|") + ["", "", ""] for line in meta.get("sizes", "").split(";") if line]
    if sz:   # 5. sizes
        para("## 5. Size on disk")
        table(["binary", "bytes", "linking", "from"], [[f"`{n}`", f"{int(s):,}" if s.isdigit() else s, k, f] for n, s, k, f, *_ in sz])
    if meta.get("notes", ""):
        para("## Notes")
        out.extend(meta["notes"].split("\\n") + [""])
    print("\n".join(out))

STOPCMP_TEXT = (
    "N inner containers (table 2's services) in one dind-init container: the inner daemon's own "
    "`docker stop $(docker ps -q)`, timed inside, against the outer `docker stop`, timed on the host; outer ÷ inner "
    "per round (issue 19's goal ≤ 1.2 ×). *Clean*: a clean dockerd-exit event and all N recorded with exit 0; "
    "*SIGKILL step*: an inner-kill event. docs/BENCHMARKS.md says more.")

def pause_cell(d, eng, ep):
    runs, v = d.strs(eng, ep, "tls_pause_off"), d.vals(eng, ep, "tls_pause_off")
    if not runs or not v:
        return "none (no warning)" if runs else "n/a"
    return cell(v, "s") + (f" [{len(v)}/{len(runs)} runs]" if len(v) != len(runs) else "")

def diff_ms(on, off):
    """median(on) - median(off), ms, with the spread of the two medians' difference."""
    if not on or not off:
        return "n/a"
    return f"**{(median(on) - median(off)) * 1000:+.0f} ms** (fastest runs: {(min(on) - min(off)) * 1000:+.0f} ms)"

def goals(d, eng):
    """Issue 15's goals on ENG: dind-init's time to ready against the faster limit and the anchors."""
    ready, lo = d.med(eng, "dind-init", "ready"), d.lo(eng, "dind-init", "ready")
    lims = [(d.med(eng, e, "ready"), e) for e in LIMITS if d.med(eng, e, "ready") is not None]
    if ready is None or not lims:
        return None
    (limit_ready, limit), vs = min(lims), ratio(ready, min(lims)[0])
    anchor = {a: ratio(d.med(eng, a, "ready"), ready) for a in ANCHORS}
    miss = [f"{vs:.2f} × the limit"] if vs is not None and vs > 1.15 else []
    miss += [f"{SHORT[a]} only {r:.2f} ×" for a, r in anchor.items() if r is not None and r < 3]
    return ([f"{fmt_num(ready, 's')} s", f"{SHORT[limit]}, {fmt_num(limit_ready, 's')} s",
             f"{r2(vs)} ({r2(ratio(lo, min(d.lo(eng, e, 'ready') for e in LIMITS if d.lo(eng, e, 'ready') is not None)))})"]
            + [f"{r2(anchor[a])} ({r2(ratio(d.lo(eng, a, 'ready'), lo))})" for a in ANCHORS]
            + [f"{r2(ratio(d.med(eng, 'docker-dind', 'tls_ready_on'), d.med(eng, 'dind-init', 'tls_ready_on')))} "
               f"({r2(ratio(d.lo(eng, 'docker-dind', 'tls_ready_on'), d.lo(eng, 'dind-init', 'tls_ready_on')))})",
               "met" if not miss else "**missed**: " + "; ".join(miss)])

if __name__ == "__main__":
    fn = globals().get("cmd_" + sys.argv[1].replace("-", "_")) if len(sys.argv) > 1 else None
    if fn is None or len(sys.argv) - 2 != fn.__code__.co_argcount:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn(*sys.argv[2:])
