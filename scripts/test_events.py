"""Unit tests of scripts/events.py (python3 -m unittest in scripts/; the lint stage runs them)."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import events  # noqa: E402

READY = ("dind-init: +0.645s INFO  ready: dockerd answered /_ping on /var/run/docker.sock after "
         "0.543s (18 attempt(s)) {dockerd-ready socket=/var/run/docker.sock secs=0.543 attempts=18 restart=0}")
READY_JSON = ('{"t":0.645,"level":"INFO","event":"dockerd-ready","socket":"/var/run/docker.sock",'
              '"secs":0.543,"attempts":18,"restart":0,"msg":"ready: dockerd answered ..."}')
LOG = "\n".join([
    'time="2025-01-01T00:00:00Z" level=info msg="Starting up"',
    "dind-init: +0.001s INFO  dind-init 0.1.0 {start version=0.1.0 pid=1 pid1=true}",
    "dind-init: +0.010s INFO  cgroups: nesting, 4.2 ms {cgroups mode=v2 own=/init visible=/ ms=4.200}",
    "dind-init: +0.100s INFO  dockerd: started pid 42: dockerd --mtu=1400 {dockerd-start pid=42 restart=0}",
    READY,
    "hello",
    "dind-init: +0.700s INFO  command: started pid 50: sh {command-start pid=50}",
    "dind-init: +0.900s INFO  command: exited 3 {command-exit pid=50 status=3 clean=false}",
    "dind-init: +1.000s INFO  shutdown: dockerd exited cleanly after 0.2s "
    "{dockerd-exit status=0 clean=true secs=0.200 killed=false ended_wait=false}",
    "dind-init: +1.100s INFO  dockerd: started pid 43 {dockerd-start pid=43 restart=1}",
    "dind-init: +1.200s WARN  storage: a plain line, no event",
    "dind-init: +1.300s INFO  exit 3 {exit code=3}",
]) + "\n"
M = "dind-init: +0.1s INFO  m "   # a text line's head


def cli(*args, stdin=None):
    p = subprocess.run([sys.executable, events.__file__, *args], input=stdin, capture_output=True, text=True)
    return p.returncode, p.stdout.strip(), p.stderr


class Parse(unittest.TestCase):
    def test_text_event_has_typed_fields_and_the_readable_message(self):
        x = events.parse_line(READY)
        self.assertEqual((x.t, x.level, x.event), (0.645, "INFO", "dockerd-ready"))
        self.assertEqual(x.fields, {"socket": "/var/run/docker.sock", "secs": 0.543, "attempts": 18, "restart": 0})
        self.assertTrue(x.msg.startswith("ready: dockerd answered") and x.msg.endswith("attempt(s))"))

    def test_json_event_is_the_same_event(self):
        x, y = events.parse_line(READY), events.parse_line(READY_JSON)
        self.assertEqual((x.t, x.event, x.fields), (y.t, y.event, y.fields))

    def test_quoted_values_spaces_braces_and_escapes(self):
        x = events.parse_line(M + '{stale kind=socket path="/a b/{x}\\"q\\"="}')
        self.assertEqual((x.fields, x.msg), ({"kind": "socket", "path": '/a b/{x}"q"='}, "m"))

    def test_booleans_and_numbers(self):
        start = events.first(events.parse(LOG.splitlines()), "start")
        self.assertIs(start.fields["pid1"], True)
        self.assertEqual(events.fmt("ms", 4.2), "4.200")

    def test_lines_that_are_not_events(self):
        for line in ('time="x" level=info msg="Starting up"', "hello {x}", '{"a": 1}', "{not json"):
            self.assertIsNone(events.parse_line(line), line)
        plain = events.parse_line("dind-init: +1.000s WARN  just words ending in {braces}")
        self.assertEqual((plain.event, plain.level, plain.msg), (None, "WARN", "just words ending in {braces}"))
        j = events.parse_line('{"t":1.0,"level":"WARN","msg":"x"}')
        self.assertEqual((j.event, j.msg), (None, "x"))

    def test_bad_events_are_errors_in_both_formats(self):
        for line in (M + "{dockerd-redy pid=1 restart=0}",                          # unknown
                     '{"t":0.1,"level":"INFO","event":"nope","msg":"m"}',
                     M + "{dockerd-start pid=1}",                                   # field missing
                     M + "{dockerd-start pid=1 restart=0 extra=1}",                 # extra
                     M + "{dockerd-start restart=0 pid=1}",                         # order
                     '{"t":0.1,"level":"INFO","event":"dockerd-start","pid":1,"msg":"m"}',
                     M + "{dockerd-start pid=abc restart=0}",                       # mistyped
                     M + "{command-exit pid=1 status=0 clean=yes}",
                     '{"t":0.1,"level":"INFO","event":"exit","code":"zero","msg":"m"}',
                     '{"t":0.1,"level":"INFO","event":"command-exit","pid":1,"status":0,"clean":1,"msg":"m"}'):
            with self.subTest(line), self.assertRaises(events.EventError):
                events.parse_line(line)
        with self.assertRaisesRegex(events.EventError, "unknown event 'dockerd-redy'"):
            events.parse_line(M + "{dockerd-redy pid=1 restart=0}")

    def test_the_vocabulary_has_the_contracts_events(self):
        v = events.vocab()
        self.assertEqual(v["dockerd-ready"], ("socket", "secs", "attempts", "restart"))
        for name in ("start", "cgroups", "engine", "tls", "stop-begin", "inner-kill", "dockerd-exit", "exit"):
            self.assertIn(name, v)
        self.assertNotIn("@num", v)
        types = {f: events.type_of(f) for f in ("secs", "pid", "major", "clean", "socket")}
        self.assertEqual(types, {"secs": "num", "pid": "int", "major": "int", "clean": "bool", "socket": "str"})

    def test_find_with_field_filters(self):
        x = events.parse(LOG.splitlines())
        self.assertEqual([l.fields["pid"] for l in events.find(x, "dockerd-start")], [42, 43])
        self.assertEqual(events.first(x, "dockerd-start", restart="1").fields["pid"], 43)
        self.assertEqual(len(events.find(x, "dockerd-exit", secs="0.2")), 1)   # numerically
        self.assertIsNone(events.first(x, "command-kill"))
        for name, want in (("no-such-event", {}), ("exit", {"nofield": "1"})):
            with self.assertRaises(events.EventError):
                events.find(x, name, **want)


# (arguments after LOG, status, stdout): the CLI on LOG
CLI = [
    (("get", "dockerd-ready", "secs"), 0, "0.543"),
    (("get", "dockerd-start", "pid", "--last"), 0, "43"),
    (("get", "dockerd-start", "pid", "--nth", "2"), 0, "43"),
    (("get", "command-exit", "clean"), 0, "false"),
    (("get", "command-kill", "pid"), 1, ""),
    (("t", "exit"), 0, "1.300"),
    (("msg", "dockerd-start"), 0, "dockerd: started pid 42: dockerd --mtu=1400"),
    (("count", "dockerd-start"), 0, "2"),
    (("count", "inner-kill"), 0, "0"),
    (("has", "dockerd-exit", "clean=true", "killed=false"), 0, ""),
    (("has", "dockerd-exit", "killed=true"), 1, ""),
    (("before", "dockerd-ready", "command-start"), 0, ""),
    (("before", "command-start", "dockerd-ready"), 1, ""),
    (("before", "command-kill", "dockerd-ready"), 1, ""),
    (("get", "dockerd-ready", "seconds"), 3, ""),   # errors are loud
    (("has", "dockerd-redy"), 3, ""),
]


class Cli(unittest.TestCase):
    def setUp(self):
        fd, self.log = tempfile.mkstemp()
        with os.fdopen(fd, "w") as f:
            f.write(LOG)
        self.addCleanup(os.unlink, self.log)

    def test_commands(self):
        for args, rc, out in CLI:
            with self.subTest(args):
                self.assertEqual(cli(args[0], self.log, *args[1:])[:2], (rc, out))
        self.assertEqual(cli("get", "-", "exit", "code", stdin=LOG)[1], "3")
        self.assertIn("no field seconds", cli("get", self.log, "dockerd-ready", "seconds")[2])

    def test_a_bad_event_anywhere_in_the_log_is_an_error(self):
        with open(self.log, "a") as f:
            f.write("dind-init: +2.0s INFO  m {exit code=0 why=x}\n")
        self.assertEqual(cli("count", self.log, "exit")[:2], (3, ""))

    def test_help(self):
        rc, out, _ = cli("--help")
        self.assertEqual(rc, 0)
        self.assertIn("events.py get LOG", out)


if __name__ == "__main__":
    unittest.main()
