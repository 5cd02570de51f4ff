#!/usr/bin/env python3
"""The one parser of dind-init's log for Python and bash (bash: through the CLI below).

Owns: dind-init's lines in a captured log (mixed with dockerd's and the command's; text and JSON:
docs/ARCHITECTURE.md, "The log and its events"; a text value bare or a JSON string), their events,
and their check: an event not in src/events.vocab, or with other fields (order, types) is an
EventError (exit 3).

  events.py get LOG EVENT FIELD [--nth N|--last] [K=V...]  the field of the first (N-th, last)
                                                       EVENT whose fields match K=V; exit 1: none
  events.py has LOG EVENT [K=V...]                     exit 0 when there is one, else 1
  events.py count LOG EVENT [K=V...]                   how many
  events.py t LOG EVENT [--nth N|--last] [K=V...]      its +T (seconds since dind-init started)
  events.py msg LOG EVENT [--nth N|--last] [K=V...]    its readable message
  events.py before LOG EVENT1 EVENT2                   exit 0 when the first EVENT1 precedes the
                                                       first EVENT2 (in the log's order), else 1
LOG `-` is stdin. Numbers print as written: secs/ms/ran/delay/budget with 3 decimals.
"""
import argparse
import functools
import json
import os
import re
import sys
from collections import namedtuple

_HERE = os.path.dirname(os.path.abspath(__file__))
# src/events.vocab of the checkout; a copy beside this file where there is none (the qemu lab's VM)
VOCAB_PATH = os.path.join(_HERE, "events.vocab")
if not os.path.exists(VOCAB_PATH):
    VOCAB_PATH = os.path.join(_HERE, "..", "src", "events.vocab")

TEXT_RE = re.compile(r"^dind-init: \+(\d+(?:\.\d+)?)s ([A-Z]+) +(.*)$")
VALUE = r'"(?:[^"\\]|\\.)*"|[^\s"{}\\=]+'
TAIL_RE = re.compile(r' \{([a-z][a-z0-9_-]*)((?: [a-z_][a-z0-9_]*=(?:' + VALUE + r'))+)\}$')
FIELD_RE = re.compile(r' ([a-z_][a-z0-9_]*)=(' + VALUE + r')')

# One line of dind-init: t (seconds), level, msg, event (name or None), fields (dict).
Line = namedtuple("Line", "t level msg event fields", defaults=(None, {}))


class EventError(Exception):
    """An event that the vocabulary does not know, or with other fields than it says."""


@functools.lru_cache(maxsize=None)
def _lines():
    with open(VOCAB_PATH) as f:
        return [w for w in map(str.split, f) if w and not w[0].startswith("#")]


@functools.lru_cache(maxsize=None)
def vocab():
    """{event name: (field, ...)} from src/events.vocab."""
    return {w[0]: tuple(w[1:]) for w in _lines() if not w[0].startswith("@")}


@functools.lru_cache(maxsize=None)
def _types():
    return {f: w[0][1:] for w in _lines() if w[0].startswith("@") for f in w[1:]}


def type_of(field):
    """"num", "int", "bool" (the vocabulary's @TYPE lines) or "str"."""
    return _types().get(field, "str")


# Per vocabulary type: a text value read as it, and the JSON values it allows (a bool is no number)
READ = {"num": float, "int": int, "bool": {"true": True, "false": False}.__getitem__, "str": str}
JSON_TYPES = {"num": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}


def typed(field, raw):
    """A text value as its type (by field name, as src/events.vocab types them)."""
    try:
        return READ[type_of(field)](raw)
    except (ValueError, KeyError):
        raise EventError(f"field {field}={raw!r}: not of its type ({type_of(field)})") from None


def fmt(field, value):
    """A value as the text format writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if type_of(field) == "num" and isinstance(value, (int, float)):
        return f"{value:.3f}"
    return str(value)


def matches(line, want):
    """want: {field: text}; a number matches numerically (secs=1 matches 1.000)."""
    for k, v in want.items():
        if k not in line.fields:
            raise EventError(f"event {line.event} has no field {k}")
        have = line.fields[k]
        if fmt(k, have) != v and not (type(have) in (int, float) and _number(v) == have):
            return False
    return True


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def check(name, fields=None):
    """An EventError unless `name` is in the vocabulary (and `fields`, when given, are exactly its
    fields, of its types)."""
    want = vocab().get(name)
    if want is None:
        raise EventError(f"unknown event {name!r} (not in src/events.vocab)")
    if fields is not None and tuple(fields) != want:
        raise EventError(f"event {name}: fields {' '.join(fields)}, the vocabulary's {' '.join(want)}")
    for k, v in (fields or {}).items():
        if type(v) not in JSON_TYPES[type_of(k)]:
            raise EventError(f"event {name}: {k}={v!r} is not of its type ({type_of(k)})")


def parse_line(line):
    """The Line of dind-init in `line`, or None when it is not one of dind-init's."""
    line = line.rstrip("\r\n")
    if line.startswith("{"):
        try:
            o = json.loads(line)
        except ValueError:
            return None
        if not isinstance(o, dict) or not {"t", "level", "msg"} <= o.keys():
            return None
        if o.get("event") is None:
            return Line(o["t"], o["level"], o["msg"])
        fields = {k: v for k, v in o.items() if k not in ("t", "level", "event", "msg")}
        check(o["event"], fields)
        return Line(o["t"], o["level"], o["msg"], o["event"], fields)
    m = TEXT_RE.match(line)
    if not m:
        return None
    t, level, msg = float(m.group(1)), m.group(2), m.group(3)
    tail = TAIL_RE.search(msg)
    if not tail:
        return Line(t, level, msg)
    fields = {k: json.loads(v) if v.startswith('"') else typed(k, v)
              for k, v in FIELD_RE.findall(tail.group(2))}
    check(tail.group(1), fields)
    return Line(t, level, msg[: tail.start()], tail.group(1), fields)


def parse(lines):
    """Every line of dind-init in `lines` (an iterable of str), events checked."""
    return [x for x in map(parse_line, lines) if x is not None]


def read(path):
    """parse() of a file (`-`: stdin); undecodable bytes are replaced."""
    if path == "-":
        return parse(sys.stdin)
    with open(path, errors="replace") as f:
        return parse(f)


def find(lines, name, **want):
    """The events `name` whose fields match want ({field: text}); `name` must be known."""
    check(name)
    return [x for x in lines if x.event == name and matches(x, want)]


def first(lines, name, **want):
    """The first event `name` matching want, or None."""
    return next(iter(find(lines, name, **want)), None)


def main(argv):
    p = argparse.ArgumentParser(prog="events.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("cmd", choices=("get", "has", "count", "t", "msg", "before"))
    p.add_argument("log")
    p.add_argument("event")
    p.add_argument("args", nargs="*", help="FIELD (get), EVENT2 (before), then K=V...")
    p.add_argument("--nth", type=int, default=1)
    p.add_argument("--last", dest="nth", action="store_const", const=-1)
    a = p.parse_intermixed_args(argv)
    lines = read(a.log)
    if a.cmd == "before":
        if len(a.args) != 1:
            p.error("before: LOG EVENT1 EVENT2")
        x, y = find(lines, a.event), find(lines, a.args[0])
        return 0 if x and y and lines.index(x[0]) < lines.index(y[0]) else 1
    field = None
    if a.cmd == "get":
        if not a.args:
            p.error("get: FIELD missing")
        field = a.args.pop(0)
        if field not in vocab().get(a.event, (field,)):
            raise EventError(f"event {a.event} has no field {field} (src/events.vocab)")
    if not all("=" in kv for kv in a.args):
        p.error(f"K=V expected: {' '.join(a.args)}")
    found = find(lines, a.event, **dict(kv.split("=", 1) for kv in a.args))
    if a.cmd == "has":
        return 0 if found else 1
    if a.cmd == "count":
        print(len(found))
        return 0
    try:
        ev = found[a.nth - 1 if a.nth > 0 else a.nth]
    except IndexError:
        return 1
    print(fmt(field, ev.fields[field]) if a.cmd == "get" else f"{ev.t:.3f}" if a.cmd == "t" else ev.msg)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except (EventError, OSError) as e:
        print(f"events.py: {e}", file=sys.stderr)
        sys.exit(3 if isinstance(e, EventError) else 2)
