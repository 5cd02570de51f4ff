#!/usr/bin/env python3
"""Parsing and reporting for scripts/bench.sh (standard library only).

  benchlib.py api-listen LOG      epoch seconds of dockerd's first "API listen on" line
  benchlib.py dockerd-times LOG   epoch seconds of dockerd's first log line and first "API listen on"
  benchlib.py stamp LOG           epoch seconds the command wrote as "BENCH_READY <epoch>"
  benchlib.py dind-phases LOG     dind-init's own timestamps (+S.mmms lines) as key=value
  benchlib.py report RAW META     the markdown report from the raw TSV and the meta file
"""
import re
import statistics
import sys
from datetime import datetime, timezone

TIME_RE = re.compile(r'time="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)"')


def log_epoch(line):
    """epoch seconds (float, ns kept as far as a float can) of a logrus line, or None."""
    m = TIME_RE.search(line)
    if not m:
        return None
    base, frac, tz = m.groups()
    tz = "+00:00" if tz == "Z" else tz
    dt = datetime.fromisoformat(base + tz)
    return dt.timestamp() + (float("0." + frac) if frac else 0.0)


def first(path, needle):
    with open(path, errors="replace") as f:
        for line in f:
            if needle in line:
                return line
    return None


def cmd_api_listen(path):
    line = first(path, "API listen on")
    t = log_epoch(line) if line else None
    print("" if t is None else f"{t:.6f}")


def cmd_dockerd_times(path):
    """epoch seconds of dockerd's first log line and of its first "API listen on" line."""
    first_t = api_t = None
    with open(path, errors="replace") as f:
        for line in f:
            t = log_epoch(line)
            if t is None:
                continue
            if first_t is None:
                first_t = t
            if "API listen on" in line:
                api_t = t
                break
    print(" ".join("" if t is None else f"{t:.6f}" for t in (first_t, api_t)))


def cmd_stamp(path):
    with open(path, errors="replace") as f:
        for line in f:
            m = re.search(r"BENCH_READY (\d+\.\d+)", line)
            if m:
                print(m.group(1))
                return
    print("")


DIND_RE = re.compile(r"dind-init: \+(\d+\.\d+)s (\w+)\s+(.*)")


def cmd_dind_phases(path):
    """Seconds since dind-init started for its key lines, and durations it reports."""
    out = {}
    with open(path, errors="replace") as f:
        for line in f:
            m = DIND_RE.search(line)
            if not m:
                continue
            t, msg = float(m.group(1)), m.group(3)
            for key, prefix in (("spawned", "dockerd: started"), ("ready", "ready: dockerd answered"),
                                ("command", "command: started"), ("exited", "command: exited"),
                                ("command_exited", "command: killed"),
                                ("sigterm", "shutdown: sending SIGTERM"), ("down", "shutdown: dockerd"),
                                ("exit", "exit ")):
                if msg.startswith(prefix) and key not in out:
                    out[key] = t
            m2 = re.search(r"shutdown: dockerd exited cleanly after (\d+\.\d+)s", msg)
            if m2:
                out["shutdown_s"] = float(m2.group(1))
            m2 = re.search(r"after (\d+\.\d+)s \((\d+) attempt", msg)
            if m2 and msg.startswith("ready:"):
                out["ready_after"] = float(m2.group(1))
                out["attempts"] = int(m2.group(2))
    print(" ".join(f"{k}={v}" for k, v in out.items()))


# ---------------------------------------------------------------- report

EPS = ["dind-init", "dind-init-wait", "wrapdocker", "moby-dind", "dockerd"]
TITLES = {
    "dind-init": "dind-init",
    "dind-init-wait": "dind-init --wait-containerd",
    "wrapdocker": "wrapdocker (bash)",
    "moby-dind": "moby hack/dind + `dockerd &` loop",
    "dockerd": "dockerd alone (the limit)",
}


def load_raw(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            rnd, ep, metric, value = parts[:4]
            rows.append((int(rnd), ep, metric, value))
    return rows


def values(rows, ep, metric):
    out = []
    for _, e, m, v in rows:
        if e == ep and m == metric and v not in ("", "NA"):
            try:
                out.append(float(v))
            except ValueError:
                pass
    return out


def strings(rows, ep, metric):
    return [v for _, e, m, v in rows if e == ep and m == metric]


def fmt_num(x, unit):
    if unit == "ms":
        x *= 1000.0
        return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}"
    if unit == "s":
        return f"{x:.2f}"
    if unit == "ms3":
        return f"{x:.3f}"
    if unit == "kB" or unit == "ticks" or unit == "n":
        return f"{x:.0f}"
    return f"{x:g}"


def cell(vals, unit, ref=None, n_expected=None):
    if not vals:
        return "n/a"
    med = statistics.median(vals)
    lo, hi = min(vals), max(vals)
    s = f"**{fmt_num(med, unit)}**"
    if len(vals) > 1 and lo != hi:
        s += f" ({fmt_num(lo, unit)}–{fmt_num(hi, unit)})"
    if ref:
        rmed = statistics.median(ref)
        if rmed > 0:
            s += f" ×{med / rmed:.2f}"
        elif med == 0:
            s += " ×1"
    if n_expected and len(vals) < n_expected:
        s += f" [{len(vals)}/{n_expected} runs]"
    return s


def cmd_report(raw_path, meta_path):
    rows = load_raw(raw_path)
    meta = {}
    with open(meta_path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    n = int(meta.get("n", "0") or 0)
    idle = meta.get("idle", "10")
    out = []
    p = out.append
    p("# dind-init benchmark")
    p("")
    p(f"- command: `{meta.get('command', '')}`")
    p(f"- date: {meta.get('date', '')}")
    p(f"- machine: {meta.get('nproc', '')} CPUs (`nproc`), {meta.get('mem', '')}, kernel {meta.get('kernel', '')}, cgroups {meta.get('cgroups', '')}")
    p(f"- load average (1, 5, 15 min): {meta.get('load_start', '')} at the start, {meta.get('load_end', '')} at the end; highest 1-minute value at a round's start: {meta.get('load_max', '')}")
    p(f"- host docker: {meta.get('host_docker', '')}; inner docker (in the image): {meta.get('inner_docker', '')}")
    p(f"- image: `{meta.get('image', '')}` ({meta.get('image_desc', '')}), the same for every entrypoint; {meta.get('dind_version', '')}")
    p(f"- {n} runs of every figure per entrypoint, the entrypoints alternating run by run (the order rotates every round)")
    p("- cells: **median** (min–max) ×ratio to dind-init's median")
    p("")
    ref = {}
    metrics = [
        ("ready", "s", "1. time to ready: `docker run` → the command starts (s)"),
        ("dstart", "s", "1a. of which `docker run` → dockerd's first log line (s)"),
        ("dinit", "s", "1b. of which dockerd's \"Starting up\" → \"API listen on\" (s)"),
        ("overhead", "ms", "2. readiness overhead: dockerd's \"API listen on\" → the command starts (ms)"),
        ("run_true", "s", "3. whole `docker run --rm --privileged IMAGE true` (s)"),
        ("stop", "s", "4. `docker stop` with `sleep infinity` running (s)"),
    ]
    header = "| figure | " + " | ".join(TITLES[e] for e in EPS) + " |"
    p(header)
    p("|---|" + "---|" * len(EPS))
    for metric, unit, title in metrics:
        refv = values(rows, "dind-init", metric)
        cells = []
        for e in EPS:
            v = values(rows, e, metric)
            if e == "dockerd" and metric == "overhead":
                cells.append("0 (by definition)")
                continue
            cells.append(cell(v, unit, None if e == "dind-init" else refv, n))
        p(f"| {title} | " + " | ".join(cells) + " |")
    # stop outcome
    cells = []
    for e in EPS:
        codes = strings(rows, e, "stop_exit")
        how = strings(rows, e, "stop_daemon")
        if not codes:
            cells.append("n/a")
            continue
        cc = {}
        for c in codes:
            cc[c] = cc.get(c, 0) + 1
        hh = {}
        for h in how:
            hh[h] = hh.get(h, 0) + 1
        s = "exit " + ", ".join(f"{c}×{k}" if k > 1 else c for c, k in sorted(cc.items()))
        s += "; inner dockerd: " + ", ".join(f"{h} {k}/{len(how)}" for h, k in sorted(hh.items()))
        cells.append(s)
    p("| 4b. after `docker stop`: exit code; inner dockerd | " + " | ".join(cells) + " |")
    p("")
    # ratios to the limit
    lim = {m: values(rows, "dockerd", m) for m in ("ready", "run_true", "stop")}
    if any(lim.values()):
        p("Ratio of each median to the limit's (dockerd started alone as the entrypoint; 1.00 = as fast as physically possible here):")
        p("")
        p("| figure | " + " | ".join(TITLES[e] for e in EPS[:-1]) + " |")
        p("|---|" + "---|" * (len(EPS) - 1))
        for metric, title in (("ready", "1. time to ready"), ("run_true", "3. `docker run --rm … true`"), ("stop", "4. `docker stop`")):
            lv = lim[metric]
            row = []
            for e in EPS[:-1]:
                v = values(rows, e, metric)
                if v and lv and statistics.median(lv) > 0:
                    row.append(f"{statistics.median(v) / statistics.median(lv):.2f}")
                else:
                    row.append("n/a")
            p(f"| {title} | " + " | ".join(row) + " |")
        p("")
    # figure 5
    p(f"### 5. PID 1's cost while the command (`sleep infinity`) runs, over {idle} idle seconds")
    p("")
    p("| entrypoint | PID 1 is | VmRSS of PID 1 (kB) | CPU time of PID 1 (utime+stime, ticks of 10 ms) | context switches of PID 1 (main thread) |")
    p("|---|---|---|---|---|")
    rows5 = [(e, TITLES[e]) for e in EPS] + [("wrapdocker-bash", "wrapdocker without a command (`bash --login` as PID 1)")]
    for e, title in rows5:
        comm = strings(rows, e, "pid1_comm")
        if not comm:
            continue
        comms = sorted(set(comm))
        p(f"| {title} | {', '.join('`'+c+'`' for c in comms)} | {cell(values(rows, e, 'rss_kb'), 'kB')} | "
          f"{cell(values(rows, e, 'cpu_ticks'), 'ticks')} | {cell(values(rows, e, 'ctxsw'), 'n')} |")
    p("")
    p("With wrapdocker and hack/dind the command is exec'd, so PID 1 *is* the command (`sleep`): nothing "
      "reaps zombies or forwards signals, and `docker stop` ends in SIGKILL. dockerd alone is its own PID 1.")
    p("")
    # figure 6
    sizes = [l for l in meta.get("sizes", "").split(";") if l]
    if sizes:
        p("### 6. Size on disk")
        p("")
        p("| binary | bytes | linking | from |")
        p("|---|---|---|---|")
        for s in sizes:
            name, size, link, src = (s.split("|") + ["", "", ""])[:4]
            p(f"| `{name}` | {int(size):,} | {link} | {src} |")
        p("")
    # dind-init breakdown
    sp = values(rows, "dind-init", "ph_spawned")
    if sp:
        p("### Where dind-init's time goes (its own `dind-init: +S.mmms` log lines: seconds since it started; median (min–max))")
        p("")
        p("| step | seconds |")
        p("|---|---|")
        for key, title in (("ph_startlat", "`docker run` → dind-init starts (+0.000)"),
                           ("ph_spawned", "dockerd spawned (set-up done)"),
                           ("ph_ready", "`/_ping` answered 200"),
                           ("ph_command", "command started"),
                           ("ph_attempts", "probe attempts (count)"),
                           ("ph_shutdown_s", "dockerd's clean shutdown after the command exited (`true` runs)")):
            v = values(rows, "dind-init", key)
            if v:
                p(f"| {title} | {cell(v, 'n' if key == 'ph_attempts' else 'ms3')} |")
        p("")
    notes = meta.get("notes", "")
    if notes:
        p("### Notes")
        p("")
        for nline in notes.split("\\n"):
            p(nline)
        p("")
    print("\n".join(out))


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmd = sys.argv[1]
    if cmd == "api-listen":
        cmd_api_listen(sys.argv[2])
    elif cmd == "dockerd-times":
        cmd_dockerd_times(sys.argv[2])
    elif cmd == "stamp":
        cmd_stamp(sys.argv[2])
    elif cmd == "dind-phases":
        cmd_dind_phases(sys.argv[2])
    elif cmd == "report":
        cmd_report(sys.argv[2], sys.argv[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
