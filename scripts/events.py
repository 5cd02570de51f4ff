#!/usr/bin/env python3
"""The one parser of dind-init's log for Python and bash (bash: through the CLI below).

Owns: reading dind-init's lines out of a captured log (its stderr, `docker logs`, mixed with
dockerd's and the command's lines), the events in them, and their check against
src/events.vocab; and the CI rule of the Python scripts (in_ci).

A line is dind-init's when it is
  text:  `dind-init: +0.645s INFO  readable message {dockerd-ready socket=/x secs=0.543 ...}`
         (the {NAME k=v ...} tail only on events; a value bare, or a JSON string)
  JSON:  `{"t":0.645,"level":"INFO","event":"dockerd-ready","socket":"/x",...,"msg":"..."}`
         (no "event" key on lines that are not events)
(Every event has fields, so a message that merely ends in `{word}` is no event.) Every event is checked against the vocabulary: an unknown name, or fields other than the
vocabulary's (in its order), is an EventError (CLI: exit 3), never a silent "n/a".

  events.py get LOG EVENT FIELD [--nth N|--last] [K=V...]  the field of the first (N-th, last)
                                                       EVENT whose fields match K=V; exit 1: none
  events.py has LOG EVENT [K=V...]                     exit 0 when there is one, else 1
  events.py count LOG EVENT [K=V...]                   how many
  events.py t LOG EVENT [--nth N|--last] [K=V...]      its +T (seconds since dind-init started)
  events.py msg LOG EVENT [--nth N|--last] [K=V...]    its readable message
  events.py before LOG EVENT1 EVENT2                   exit 0 when the first EVENT1 precedes the
                                                       first EVENT2 (in the log's order), else 1
  events.py check LOG                                  every event valid (exit 3 if not)
  events.py ci                                         exit 0 when CI is on (see in_ci)
LOG `-` is stdin. Numbers print as written: secs/ms/ran/delay/budget with 3 decimals.
"""
import json
import os
import re
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# src/events.vocab of the checkout; a copy beside this file where there is none (the qemu lab's VM)
VOCAB_PATH = next((p for p in (os.path.join(_HERE, "events.vocab"), os.path.join(_HERE, "..", "src", "events.vocab"))
                   if os.path.exists(p)), os.path.join(_HERE, "..", "src", "events.vocab"))
FLOAT_FIELDS = {"secs", "ms", "ran", "delay", "budget", "waited"}
INT_FIELDS = {"pid", "count", "code", "status", "attempts", "restart", "max", "loaded", "skipped", "failed"}
BOOL_FIELDS = {"clean", "pid1", "killed", "ended_wait", "answered"}

TEXT_RE = re.compile(r"^dind-init: \+(\d+(?:\.\d+)?)s ([A-Z]+) +(.*)$")
VALUE = r'"(?:[^"\\]|\\.)*"|[^\s"{}\\=]+'
TAIL_RE = re.compile(r' \{([a-z][a-z0-9_-]*)((?: [a-z_][a-z0-9_]*=(?:' + VALUE + r'))+)\}$')
FIELD_RE = re.compile(r' ([a-z_][a-z0-9_]*)=(' + VALUE + r')')


class EventError(Exception):
    """An event that the vocabulary does not know, or with other fields than it says."""


def in_ci(env=None):
    """The one CI rule (as lib_in_ci in bash, and the Rust one): CI is true, 1 or yes."""
    return (os.environ if env is None else env).get("CI", "").lower() in ("true", "1", "yes")


_VOCAB = {}


def vocab(path=VOCAB_PATH):
    """{event name: (field, ...)} from src/events.vocab."""
    if path not in _VOCAB:
        v = {}
        with open(path) as f:
            for line in f:
                w = line.split()
                if w and not w[0].startswith("#"):
                    v[w[0]] = tuple(w[1:])
        _VOCAB[path] = v
    return _VOCAB[path]


def typed(field, raw):
    """A text value as its type (by field name, as src/events.vocab describes them)."""
    try:
        if field in FLOAT_FIELDS:
            return float(raw)
        if field in INT_FIELDS:
            return int(raw)
    except ValueError:
        raise EventError(f"field {field}={raw!r}: not a number") from None
    if field in BOOL_FIELDS:
        if raw not in ("true", "false"):
            raise EventError(f"field {field}={raw!r}: not true/false")
        return raw == "true"
    return raw


def fmt(field, value):
    """A value as the text format writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if field in FLOAT_FIELDS and isinstance(value, (int, float)):
        return f"{value:.3f}"
    return str(value)


class Line:
    """One line of dind-init: t (seconds), level, msg, event (name or None), fields (dict)."""

    def __init__(self, t, level, msg, event=None, fields=None):
        self.t, self.level, self.msg, self.event, self.fields = t, level, msg, event, fields or {}

    def __repr__(self):
        return f"Line({self.t}, {self.level}, {self.event}, {self.fields})"

    def matches(self, want):
        """want: {field: text}; a number matches numerically (secs=1 matches 1.000)."""
        for k, v in want.items():
            if k not in self.fields:
                raise EventError(f"event {self.event} has no field {k}")
            have = self.fields[k]
            if fmt(k, have) == v:
                continue
            if isinstance(have, (int, float)) and not isinstance(have, bool):
                try:
                    if float(v) == have:
                        continue
                except ValueError:
                    pass
            return False
        return True


def check(name, keys, voc):
    if name not in voc:
        raise EventError(f"unknown event {name!r} (not in src/events.vocab)")
    if tuple(keys) != voc[name]:
        raise EventError(f"event {name}: fields {' '.join(keys)}, src/events.vocab says {' '.join(voc[name])}")


def parse_line(line, voc=None):
    """The Line of dind-init in `line`, or None when it is not one of dind-init's."""
    voc = vocab() if voc is None else voc
    line = line.rstrip("\r\n")
    if line.startswith("{"):
        try:
            o = json.loads(line)
        except ValueError:
            return None
        if not isinstance(o, dict) or not {"t", "level", "msg"} <= o.keys():
            return None
        name = o.get("event")
        if name is None:
            return Line(o["t"], o["level"], o["msg"])
        keys = [k for k in o if k not in ("t", "level", "event", "msg")]
        check(name, keys, voc)
        return Line(o["t"], o["level"], o["msg"], name, {k: o[k] for k in keys})
    m = TEXT_RE.match(line)
    if not m:
        return None
    t, level, msg = float(m.group(1)), m.group(2), m.group(3)
    tail = TAIL_RE.search(msg)
    if not tail:
        return Line(t, level, msg)
    name, fields = tail.group(1), {}
    for k, v in FIELD_RE.findall(tail.group(2)):
        fields[k] = json.loads(v) if v.startswith('"') else typed(k, v)
    check(name, list(fields), voc)
    return Line(t, level, msg[: tail.start()], name, fields)


def parse(lines, voc=None):
    """Every line of dind-init in `lines` (an iterable of str), events checked."""
    return [x for x in (parse_line(l, voc) for l in lines) if x is not None]


def read(path, voc=None):
    """parse() of a file (`-`: stdin); undecodable bytes are replaced."""
    if path == "-":
        return parse(sys.stdin, voc)
    with open(path, errors="replace") as f:
        return parse(f, voc)


def find(lines, name, voc=None, **want):
    """The events `name` whose fields match want ({field: text}); `name` must be known."""
    voc = vocab() if voc is None else voc
    if name not in voc:
        raise EventError(f"unknown event {name!r} (not in src/events.vocab)")
    return [x for x in lines if x.event == name and x.matches(want)]


def first(lines, name, **want):
    """The first event `name` matching want, or None."""
    found = find(lines, name, **want)
    return found[0] if found else None


def main(argv):
    if len(argv) == 1 and argv[0] == "ci":
        return 0 if in_ci() else 1
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr if argv[:1] != ["-h"] and argv[:1] != ["--help"] else sys.stdout)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    cmd, log, rest = argv[0], argv[1], argv[2:]
    lines = read(log)
    if cmd == "check":
        return 0
    if not rest:
        raise SystemExit(f"events.py {cmd}: EVENT missing")
    name, rest = rest[0], rest[1:]
    if cmd == "before":
        a, b = find(lines, name), find(lines, rest[0])
        return 0 if a and b and lines.index(a[0]) < lines.index(b[0]) else 1
    field = None
    if cmd == "get":
        if not rest:
            raise SystemExit("events.py get: FIELD missing")
        field, rest = rest[0], rest[1:]
        if field not in vocab().get(name, (field,)):
            raise EventError(f"event {name} has no field {field} (src/events.vocab)")
    nth, want = 1, {}
    while rest:
        a = rest.pop(0)
        if a == "--last":
            nth = -1
        elif a == "--nth":
            nth = int(rest.pop(0))
        elif "=" in a:
            k, v = a.split("=", 1)
            want[k] = v
        else:
            raise SystemExit(f"events.py: unexpected argument {a!r}")
    found = find(lines, name, **want)
    if cmd == "has":
        return 0 if found else 1
    if cmd == "count":
        print(len(found))
        return 0
    if cmd not in ("get", "t", "msg"):
        raise SystemExit(f"events.py: unknown command {cmd!r} (see --help)")
    try:
        ev = found[nth - 1 if nth > 0 else nth]
    except IndexError:
        return 1
    print(fmt(field, ev.fields[field]) if cmd == "get" else f"{ev.t:.3f}" if cmd == "t" else ev.msg)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except EventError as e:
        print(f"events.py: {e}", file=sys.stderr)
        sys.exit(3)
    except OSError as e:
        print(f"events.py: {e}", file=sys.stderr)
        sys.exit(2)
