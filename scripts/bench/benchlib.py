#!/usr/bin/env python3
"""Parsing, the TCP/TLS readiness poller and the report for scripts/bench.sh (standard library).

  benchlib.py dockerd-log LOG      dockerd's start and first "API listen on" (epoch seconds),
                                   its pause after its warning about TCP without TLS (seconds)
  benchlib.py dind-phases LOG KEYS dind-init's own times (from its events, PHASES) as key=value
  benchlib.py inner-states         "exit0 other running": the states of stdin's config.v2.json
  benchlib.py poll HOST PORT CERTDIR|- GOFILE TIMEOUT   once GOFILE exists, GET /version every 5 ms
                                   (TLS with CERTDIR/client/*.pem unless -): epoch seconds of the
                                   first accepted connection and of the first 200 (empty: TIMEOUT)
  benchlib.py report RAW META      the markdown report from the raw TSV and the meta file
"""
import json, os, re, socket, ssl, sys, time  # noqa: E401
from collections import Counter, defaultdict
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

def cmd_dockerd_log(path):
    """dockerd's "Starting up" (else its first log line: containerd's lines, when it runs in the
    same output, come before dockerd starts), its first "API listen on", and its pause after its
    warning about TCP without --tlsverify (moby's loadListeners sleeps there): seconds from that
    warning to dockerd's next log line. Comma-separated, empty where there is none."""
    first = up = api = warned = pause = None
    for t, line in timed_lines(path):
        first, up = first or t, up or (t if 'msg="Starting up"' in line else None)
        api = api or (t if "API listen on" in line else None)
        if "host=" in line and any(w in line for w in INSECURE_WARNINGS):
            warned = t   # the last of its warnings (20.10 has two, 23+ three)
        elif warned is not None and pause is None and not CONTAINERD_LINE.search(line):
            pause = t - warned
    print(",".join("" if v is None else f"{v:.6f}" for v in (up or first, api, pause)))

# dind-init's own figures, in the report's order (raw ph_KEY): KEY, its event (None: bench.sh's),
# the event's field (None: its +T), the fields the event must have, the report's row
PHASES = [
    ("startlat", None, None, {}, "`docker run` → dind-init starts (its +0.000), s"),
    ("cgroups_ms", "cgroups", "ms", {}, "cgroup set-up, ms"),
    ("ctrd_spawned", "containerd-start", None, {}, "containerd spawned"),
    ("ctrd_serving", "containerd-ready", None, {}, "containerd serving (socket answers)"),
    ("spawned", "dockerd-start", None, {}, "dockerd spawned"),
    ("ready", "dockerd-ready", None, {}, "`/_ping` answered"),
    ("command", "command-start", None, {}, "command started"),
    ("attempts", "dockerd-ready", "attempts", {}, "probe attempts (count)"),
    ("shutdown_s", "dockerd-exit", "secs", {"clean": "true", "killed": "false"},
     "dockerd's shutdown after the command (`true` runs), s")]

def cmd_dind_phases(path, keys):
    lines, out = events.read(path), []
    for key, name, field, want, _ in PHASES:
        ev = events.first(lines, name, **want) if key in keys.split() else None
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

# ---------------------------------------------------------------- report

EPS = ["dind-init", "dind-init-dockerd", "wrapdocker", "moby-dind", "docker-dind", "dockerd",
       "dockerd-ctrd"]
SHORT = {   # the column names
    "dind-init": "dind-init", "dind-init-dockerd": "dind-init (dockerd's containerd)",
    "wrapdocker": "wrapdocker", "moby-dind": "hack/dind loop", "docker-dind": "docker:dind-style",
    "dockerd": "dockerd alone", "dockerd-ctrd": "containerd + dockerd --containerd"}
TITLES = {   # the rows of table 4
    "dind-init": "dind-init", "dind-init-dockerd": "dind-init, `DIND_CONTAINERD_BY=dockerd`",
    "wrapdocker": "wrapdocker (bash)", "moby-dind": "hack/dind + `dockerd &` loop",
    "docker-dind": "docker:dind-style entrypoint, given `dockerd --host=unix://…` (no TCP)",
    "dockerd": "dockerd alone (limit)",
    "dockerd-ctrd": "containerd, then `dockerd --containerd` (limit)",
    "wrapdocker-bash": "wrapdocker without a command (`bash --login` as PID 1)"}
LIMITS = ["dockerd", "dockerd-ctrd"]
ANCHORS = ["wrapdocker", "moby-dind", "docker-dind"]
DIGITS = {"s": 2, "s3": 3, "x": 2}   # other units (counts): none
NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
MAIN = [   # table 1's parts: metric, unit, title
    ("ready", "s", "1. Time to ready: `docker run` → the command starts (daemon-mode columns: "
     "dockerd's first `API listen on`), s"),
    ("dstart", "s", "1a. of which `docker run` → dockerd's first log line, s"),
    ("dinit", "s", "1b. of which dockerd's `Starting up` → `API listen on`, s"),
    ("overhead", "ms",
     "2. Readiness overhead: dockerd's `API listen on` → the command starts, ms"),
    ("run_true", "s", "3. Whole `docker run --rm --privileged IMAGE true` (daemon-mode columns: "
     "SIGTERM from the host at `API listen on`), s"),
    ("stop", "s", "4. `docker stop` with `sleep infinity` running (daemon-mode columns: the idle "
     "daemon), s")]
IM_WAYS = ("remote", "mirror", "preload", "persistent")

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
        return [float(v) for v in self.strs(eng, ep, metric) if NUMBER.fullmatch(v)]
    def med(self, eng, ep, metric):
        v = self.vals(eng, ep, metric)
        return median(v) if v else None
    def lo(self, eng, ep, metric):
        return min(self.vals(eng, ep, metric), default=None)
    def vs(self, eng, metric, ep, ref, of="med"):
        """EP's median (of="lo": fastest run) of METRIC ÷ REF's."""
        f = getattr(self, of)
        return ratio(f(eng, ep, metric), f(eng, ref, metric))
    def cell(self, eng, ep, metric, unit, ref_ep=None):
        """cell() of the values; ×ratio to REF_EP's median of the same metric (not on REF_EP)."""
        ref = self.vals(eng, ref_ep, metric) if ref_ep not in (None, ep) else None
        return cell(self.vals(eng, ep, metric), unit, ref)

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
    s = f"**{fmt_num(med, unit)}**"
    if len(vals) > 1 and lo != hi:
        s += f" ({fmt_num(lo, unit)}–{fmt_num(hi, unit)})"
    return s + (f" ×{med / median(ref):.2f}" if ref and median(ref) > 0 else "")

def tally(items, fmt="{} {}/{}"):
    """'a 2/3, b 1/3' (fmt gets the item, its count, the total), the items sorted."""
    return ", ".join(fmt.format(h, k, len(items)) for h, k in sorted(Counter(items).items()))

def counted(items, fmt, sep):
    """Each distinct item, sorted, with FMT (item, count) where it came more than once."""
    return sep.join(fmt.format(h, k) if k > 1 else h for h, k in sorted(Counter(items).items()))

def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None

def r2(x):
    return "n/a" if x is None else f"{x:.2f}"

def ok_count(items, ok="0"):
    return f"{sum(1 for v in items if v.startswith(ok))}/{len(items)}"

def cmd_report(raw_path, meta_path):
    d = Data(raw_path, meta_path)
    meta, out = defaultdict(str, d.meta), []
    engines = meta["engines"].split()
    label = {e: f"{e} {meta['engine_short.' + e]}".strip() for e in engines}

    def para(*blocks):   # each followed by an empty line
        out.extend(x for b in blocks for x in (b, ""))

    def table(head, rows, title=None):
        if title:
            para(f"### {title}")
        out.extend(["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
                   + ["| " + " | ".join(r) + " |" for r in rows] + [""])

    def per_engine(head, cells, title=None, engs=engines):   # a row per engine: cells(eng)
        table(head, [[label[eng]] + cells(eng) for eng in engs], title)

    def has(eps, *metrics):
        return any(d.strs(eng, e, m) for eng in engines for e in eps for m in metrics)

    out.append(header(d, engines, label))

    eps = [e for e in EPS if has([e], "ready")]
    if eps:   # 1. main figures
        para("## 1. Start, run, stop")
        for metric, unit, title in MAIN:
            per_engine(["engine"] + [SHORT[e] for e in eps], lambda eng: [
                "0 (by definition)" if metric == "overhead" and e in LIMITS + ["docker-dind"]
                else d.cell(eng, e, metric, unit, "dind-init") for e in eps], title)
        per_engine(["engine"] + [SHORT[e] for e in eps],
                   lambda eng: [exit_cell(d, eng, e, "stop", "_daemon") for e in eps],
                   "4b. After `docker stop`: exit code; the inner dockerd")
        table(["engine", "dind-init ready", "fastest limit", "dind-init ÷ limit (≤ 1.15)",
               "wrapdocker ÷ dind-init", "hack/dind ÷ dind-init",
               "docker:dind-style ÷ dind-init", "docker:dind TLS ÷ dind-init TLS (table 3)",
               "verdict"],
              [[label[eng]] + g for eng in engines for g in [goals(d, eng)] if g],
              "Issue 15's goals: time to ready (≤ 1.15 × the faster limit, ≥ 3 × ahead of "
              "each anchor; medians, in brackets the fastest runs)")
        para("### Where the time to ready goes (seconds since dind-init started, from its own "
             "log; the limits from dockerd's log)")
        cols = [(eng, e) for eng in engines for e in ("dind-init", "dind-init-dockerd")
                if d.vals(eng, e, "ph_spawned")]
        if cols:
            rows = []
            for key, *_, title in PHASES:
                unit = "n" if key == "attempts" else ("msv" if key.endswith("_ms") else "s3")
                row = [d.cell(eng, e, "ph_" + key, unit) for eng, e in cols]
                if any(c != "n/a" for c in row):
                    rows.append([title] + row)
            table(["step"] + [f"{label[eng]}: {SHORT[e]}" for eng, e in cols], rows)

    sizes = meta["stop_sizes"].split()   # 2. stop with inner containers
    seps = [e for e in EPS if has([e], *(f"stopn{n}" for n in sizes))]
    if sizes and seps:
        para("## 2. `docker stop` of the DinD container with running inner containers")
        head = ["engine", "inner containers"] + [SHORT[e] for e in seps]
        for fn in (lambda eng, e, n: d.cell(eng, e, f"stopn{n}", "s", "dind-init"),
                   lambda eng, e, n: exit_cell(d, eng, e, f"stopn{n}", "_how", True)):
            table(head, [[label[eng], n] + [fn(eng, e, n) for e in seps]
                         for eng in engines for n in sizes])
        setup = [(eng, e, d.cell(eng, e, f"stopn{sizes[-1]}_setup", "s"))
                 for eng in engines for e in seps]
        setup = "; ".join(f"{label[eng]} {SHORT[e]} {c} s" for eng, e, c in setup if c != "n/a")
        if setup:
            para(f"(Starting the {sizes[-1]} inner containers took {setup}.)")

    csizes = [n for n in meta["stopcmp_sizes"].split() if has(["dind-init"], f"stopcmp{n}")]
    if csizes:   # 2b. outer stop vs the inner parallel stop
        para("## 2b. dind-init's `docker stop` against the inner daemon's own parallel stop "
             "(issue 19)")
        rows, starts = [], []
        for eng, n in ((eng, n) for eng in engines for n in csizes):
            c, v = (lambda k, *a: d.cell(eng, "dind-init", f"stopcmp{n}{k}", *a),
                    lambda k: d.strs(eng, "dind-init", f"stopcmp{n}{k}"))
            r = d.vals(eng, "dind-init", f"stopcmp{n}_ratio")
            goal = "" if not r else (" met" if median(r) <= 1.2 else " **missed**")
            rows.append([label[eng], n, c("", "s"), c("_inner", "s"), cell(r, "x") + goal,
                         ok_count(v("_clean"), "yes"), ok_count(v("_kill"), "yes"),
                         counted(v("_state"), "{} (×{})", "; ")])
            starts.append(f"{label[eng]} {n}: {c('_setup', 's')}, {c('_restart', 's')}")
        table(["engine", "inner containers", "outer `docker stop`, s",
               "inner `docker stop $(docker ps -q)`, s", "outer ÷ inner (goal ≤ 1.2)", "clean",
               "SIGKILL step needed", "inner containers' last state"], rows)
        para("(Starting the inner containers, then starting them again after the inner stop, s: "
             + "; ".join(starts) + ".)")

    tls_eps = ("dind-init", "docker-dind")
    if any(d.vals(eng, e, "tls_ready_on") for eng in engines for e in tls_eps):   # 3. TLS
        para("## 3. TLS: a docker:dind service, ready for a client over TCP")

        def ready(eng):
            row = []
            for e in tls_eps:
                on, off = d.vals(eng, e, "tls_ready_on"), d.vals(eng, e, "tls_ready_off")
                row += [cell(on, "s"), cell(off, "s"), diff_ms(on, off)]
            return row + [r2(d.vs(eng, "tls_ready_on", "docker-dind", "dind-init"))]
        per_engine(["engine", "dind-init, TLS", "dind-init, no TLS", "TLS costs dind-init",
                    "docker:dind-style, TLS (openssl)", "docker:dind-style, no TLS",
                    "TLS costs docker:dind-style", "docker:dind TLS ÷ dind-init TLS"], ready)
        para("The certificates alone, ms; the TCP port's first accepted connection, s; the real "
             "clients' check:")

        def certs(eng):
            rr = d.vs(eng, "tls_cert_ms", "docker-dind", "dind-init")
            oks = [v for e in tls_eps for t in ("on", "off")
                   for v in d.strs(eng, e, "tls_client_" + t)]
            return ([d.cell(eng, e, "tls_cert_ms", "msv") for e in tls_eps]
                    + ["n/a" if rr is None else f"×{rr:.0f}"]
                    + [d.cell(eng, e, "tls_port_on", "s") for e in tls_eps] + [ok_count(oks, "ok")])
        per_engine(["engine", "dind-init: certificates, ms",
                    "docker:dind-style (openssl, RSA 4096): certificates, ms", "ratio",
                    "port open, dind-init TLS", "port open, docker:dind TLS",
                    "clients' `docker version` ok"], certs)
        para("What TLS changes in the start-up, from the logs (s):")
        steps = (("tls_spawned_on", "s3"), ("tls_spawned_off", "s3"), ("tls_dinit_on", "s"),
                 ("tls_dinit_off", "s"))
        per_engine(["engine", "dind-init: dockerd spawned at, TLS", "no TLS",
                    "dockerd start, dind-init TLS", "no TLS",
                    "dockerd's pause without TLS, dind-init", "docker:dind-style"],
                   lambda eng: [d.cell(eng, "dind-init", m, u) for m, u in steps]
                   + [pause_cell(d, eng, e) for e in tls_eps])

    rl = ("rootful", "rootless")
    rl_engines = [eng for eng in engines if any(d.vals(eng, e, "rl_ready") for e in rl)]
    if rl_engines:   # 3b. rootless

        def rootless(eng):
            ok = [v for e in rl for v in d.strs(eng, e, "rl_rc")]
            row = []
            for m, unit in (("rl_ready", "s"), ("rl_true", "ms")):
                fast = r2(d.vs(eng, m, "rootless", "rootful", "lo"))
                row += [d.cell(eng, "rootful", m, unit),
                        d.cell(eng, "rootless", m, unit, "rootful") + f" (fastest runs ×{fast})"]
            drivers = [tally(d.strs(eng, e, "rl_driver"), "{0}") or "n/a" for e in rl]
            return row + [" / ".join(drivers), meta["rootlesskit." + eng] or "n/a",
                          f"{ok.count('0')}/{len(ok)}"]
        para("## 3b. A rootless dockerd (issue 22): rootless against rootful",
             "×ratio: rootless ÷ rootful, medians of the same run (and of the fastest runs).")
        per_engine(["engine", "rootful: time to ready, s", "rootless",
                    "rootful: inner `docker run --rm true`, ms", "rootless",
                    "storage driver (rootful / rootless)", "rootlesskit", "runs exit 0"],
                   rootless, engs=rl_engines)

    im_engines = [eng for eng in engines if any(d.vals(eng, w, "im_first") for w in IM_WAYS)]
    if im_engines:   # 3c. images across jobs

        def images(eng):
            codes = [c for w in IM_WAYS for c in d.strs(eng, w, "im_rc")]
            return ([d.cell(eng, w, "im_first", "s", "remote") for w in IM_WAYS]
                    + [" / ".join(d.cell(eng, w, "im_cmd", "s") for w in IM_WAYS),
                       " / ".join(tally(d.strs(eng, w, "im_pulled"), "{0}") or "n/a"
                                  for w in IM_WAYS),
                       tally(d.strs(eng, "persistent", "im_skipped"), "{0}") or "n/a",
                       f"{codes.count('0')}/{len(codes)}"])
        para("## 3c. Images across jobs (issue 21): a job that needs 3 images",
             f"The images: {meta['images_desc']}; the registry: {meta['registry']}. "
             "×ratio: to the fresh volume pulling from the registry, "
             "medians of the same run.")
        per_engine(["engine", "fresh volume, pulls from the registry, s", "through a mirror",
                    "`DIND_PRELOAD`", "persistent volume (preload skips)",
                    "of which until the command (the same four), s",
                    "images pulled (the same four)", "archives skipped (persistent)",
                    "runs exit 0"], images, engs=im_engines)

    pid_eps = [e for e in EPS + ["wrapdocker-bash"] if has([e], "pid1_comm")]
    if pid_eps:   # 4. PID 1 idle
        para(f"## 4. PID 1's cost while the container idles ({meta['idle'] or 10} s)",
             "Per engine: PID 1's VmRSS, kB / CPU ticks / context switches over the window.")

        def pid1(eng, e):
            if not d.strs(eng, e, "pid1_comm"):
                return "n/a"
            return " / ".join(d.cell(eng, e, m, "n") for m in ("rss_kb", "cpu_ticks", "ctxsw"))
        comms = {e: sorted({c for eng in engines for c in d.strs(eng, e, "pid1_comm")})
                 for e in pid_eps}
        table(["entrypoint", "PID 1 is"] + [label[eng] for eng in engines],
              [[TITLES[e], ", ".join(f"`{c}`" for c in comms[e])]
               + [pid1(eng, e) for eng in engines] for e in pid_eps])

    sz = [line.split("|") + ["", "", ""] for line in meta["sizes"].split(";") if line]
    if sz:   # 5. sizes
        para("## 5. Size on disk")
        table(["binary", "bytes", "linking", "from"],
              [[f"`{n}`", f"{int(s):,}" if s.isdigit() else s, k, f] for n, s, k, f, *_ in sz])
    para("## Notes", "- Raw data: `target/bench/raw.tsv` (round, engine, entrypoint, metric, "
         "value); every run's log: `target/bench/logs/ENGINE-ROUND-ENTRYPOINT-FIGURE.log`.")
    print("\n".join(out))

HEADER = """# dind-init benchmark

- command: `{command}`
- date: {date} (the run took {duration})
- machine: {nproc} CPUs (`nproc`), {mem}, kernel {kernel}, cgroups {cgroups}
- load average (1, 5, 15 min): {load_start} at the start, {load_end} at the end{loads}
- host docker: {host_docker}
{engines}- dind-init: {dind_version}
- rounds: {n} of the main figures and TLS, {stop_rounds} of the stops with inner containers \
({sizes}); the engines and the entrypoints alternate, their order rotating every round
- cells: **median** (min–max), ×ratio of that median to dind-init's median on the same \
engine; what each figure measures: docs/BENCHMARKS.md, the section of the same number
"""

def header(d, engines, label):
    meta = defaultdict(str, d.meta)
    loads = [float(v) for _, _, _, m, v in d.rows if m == "load" and v not in ("", "NA")]
    if loads:
        meta["loads"] = (f"; 1-minute load average before each timed run: median "
                         f"{median(loads):.2f} (min {min(loads):.2f}, max {max(loads):.2f}, "
                         f"{len(loads)} runs)")
    meta["engines"] = "".join(f"- engine **{label[e]}**: `{meta['image.' + e]}`: "
                              f"{meta['engine.' + e]}\n" for e in engines)
    meta["sizes"] = "; ".join(f"{k}: {meta[m].replace(' ', ', ')} containers"
                              for k, m in (("stopn", "stop_sizes"), ("stopcmp", "stopcmp_sizes"))
                              if meta[m])
    return HEADER.format_map(meta)

def exit_cell(d, eng, ep, prefix, how, inner=False):
    """The exit codes, how the inner dockerd ended, and the inner containers' states."""
    codes = d.strs(eng, ep, prefix + "_exit")
    states = d.strs(eng, ep, prefix + "_inner") if inner else []
    if not codes:
        return "n/a"
    return (f"exit {tally(codes, '{0}×{1}')}; {tally(d.strs(eng, ep, prefix + how))}"
            + ("; inner: " + counted(states, "{} ×{}", ", ") if states else ""))

def pause_cell(d, eng, ep):
    runs, v = d.strs(eng, ep, "tls_pause_off"), d.vals(eng, ep, "tls_pause_off")
    if not runs or not v:
        return "none (no warning)" if runs else "n/a"
    return cell(v, "s") + (f" [{len(v)}/{len(runs)} runs]" if len(v) != len(runs) else "")

def diff_ms(on, off):
    """median(on) - median(off), ms, with the spread of the two medians' difference."""
    if not on or not off:
        return "n/a"
    return (f"**{(median(on) - median(off)) * 1000:+.0f} ms** "
            f"(fastest runs: {(min(on) - min(off)) * 1000:+.0f} ms)")

def goals(d, eng):
    """Issue 15's goals on ENG: dind-init's time to ready against the faster limit, the anchors."""
    ready, lo = d.med(eng, "dind-init", "ready"), d.lo(eng, "dind-init", "ready")
    lims = [(d.med(eng, e, "ready"), e) for e in LIMITS if d.med(eng, e, "ready") is not None]
    if ready is None or not lims:
        return None
    (limit_ready, limit), vs = min(lims), ratio(ready, min(lims)[0])
    lim_lo = min(d.lo(eng, e, "ready") for e in LIMITS if d.lo(eng, e, "ready") is not None)
    anchor = {a: ratio(d.med(eng, a, "ready"), ready) for a in ANCHORS}
    miss = [f"{vs:.2f} × the limit"] if vs is not None and vs > 1.15 else []
    miss += [f"{SHORT[a]} only {r:.2f} ×" for a, r in anchor.items() if r is not None and r < 3]
    tls = [d.vs(eng, "tls_ready_on", "docker-dind", "dind-init", of) for of in ("med", "lo")]
    return ([f"{fmt_num(ready, 's')} s", f"{SHORT[limit]}, {fmt_num(limit_ready, 's')} s",
             f"{r2(vs)} ({r2(ratio(lo, lim_lo))})"]
            + [f"{r2(anchor[a])} ({r2(ratio(d.lo(eng, a, 'ready'), lo))})" for a in ANCHORS]
            + [f"{r2(tls[0])} ({r2(tls[1])})",
               "met" if not miss else "**missed**: " + "; ".join(miss)])

if __name__ == "__main__":
    fn = globals().get("cmd_" + sys.argv[1].replace("-", "_")) if len(sys.argv) > 1 else None
    if fn is None or len(sys.argv) - 2 != fn.__code__.co_argcount:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    fn(*sys.argv[2:])
