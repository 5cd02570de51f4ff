"""Unit tests of scripts/events.py (python3 -m unittest in scripts/; the lint stage runs them)."""
import io
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

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
        x = events.parse_line('dind-init: +0.0s INFO  m {stale kind=socket path="/a b/{x}\\"q\\"="}')
        self.assertEqual(x.fields, {"kind": "socket", "path": '/a b/{x}"q"='})
        self.assertEqual(x.msg, "m")

    def test_booleans_and_numbers(self):
        x = events.parse(LOG.splitlines())
        start = [l for l in x if l.event == "start"][0]
        self.assertIs(start.fields["pid1"], True)
        self.assertEqual(events.fmt("ms", 4.2), "4.200")

    def test_lines_that_are_not_events(self):
        self.assertIsNone(events.parse_line('time="x" level=info msg="Starting up"'))
        self.assertIsNone(events.parse_line("hello {x}"))
        self.assertIsNone(events.parse_line('{"a": 1}'))
        self.assertIsNone(events.parse_line("{not json"))
        plain = events.parse_line("dind-init: +1.000s WARN  just words ending in {braces}")
        self.assertEqual((plain.event, plain.level, plain.msg), (None, "WARN", "just words ending in {braces}"))
        j = events.parse_line('{"t":1.0,"level":"WARN","msg":"x"}')
        self.assertEqual((j.event, j.msg), (None, "x"))

    def test_unknown_event_is_an_error(self):
        with self.assertRaisesRegex(events.EventError, "unknown event 'dockerd-redy'"):
            events.parse_line("dind-init: +0.1s INFO  m {dockerd-redy pid=1 restart=0}")
        with self.assertRaises(events.EventError):
            events.parse_line('{"t":0.1,"level":"INFO","event":"nope","msg":"m"}')

    def test_other_fields_are_an_error_in_both_formats(self):
        for line in ("dind-init: +0.1s INFO  m {dockerd-start pid=1}",                      # missing
                     "dind-init: +0.1s INFO  m {dockerd-start pid=1 restart=0 extra=1}",    # extra
                     "dind-init: +0.1s INFO  m {dockerd-start restart=0 pid=1}",            # order
                     '{"t":0.1,"level":"INFO","event":"dockerd-start","pid":1,"msg":"m"}'):
            with self.assertRaises(events.EventError, msg=line):
                events.parse_line(line)

    def test_a_mistyped_value_is_an_error(self):
        with self.assertRaises(events.EventError):
            events.parse_line("dind-init: +0.1s INFO  m {dockerd-start pid=abc restart=0}")
        with self.assertRaises(events.EventError):
            events.parse_line("dind-init: +0.1s INFO  m {command-exit pid=1 status=0 clean=yes}")

    def test_the_vocabulary_has_the_contracts_events(self):
        v = events.vocab()
        self.assertEqual(v["dockerd-ready"], ("socket", "secs", "attempts", "restart"))
        for name in ("start", "cgroups", "engine", "tls", "stop-begin", "inner-kill", "dockerd-exit", "exit"):
            self.assertIn(name, v)

    def test_find_with_field_filters(self):
        x = events.parse(LOG.splitlines())
        self.assertEqual([l.fields["pid"] for l in events.find(x, "dockerd-start")], [42, 43])
        self.assertEqual(events.first(x, "dockerd-start", restart="1").fields["pid"], 43)
        self.assertEqual(len(events.find(x, "dockerd-exit", secs="0.2")), 1)   # numerically
        self.assertIsNone(events.first(x, "command-kill"))
        with self.assertRaises(events.EventError):
            events.find(x, "no-such-event")
        with self.assertRaises(events.EventError):
            events.find(x, "exit", nofield="1")


class CI(unittest.TestCase):
    def test_one_rule(self):
        for v in ("true", "TRUE", "True", "1", "yes", "YES"):
            self.assertTrue(events.in_ci({"CI": v}), v)
        for v in ("", "false", "0", "no", "on", "y"):
            self.assertFalse(events.in_ci({"CI": v}), v)
        self.assertFalse(events.in_ci({}))


class Cli(unittest.TestCase):
    def setUp(self):
        fd, self.log = tempfile.mkstemp()
        with os.fdopen(fd, "w") as f:
            f.write(LOG)

    def tearDown(self):
        os.unlink(self.log)

    def test_get_t_msg_count_has(self):
        self.assertEqual(cli("get", self.log, "dockerd-ready", "secs"), (0, "0.543", ""))
        self.assertEqual(cli("get", self.log, "dockerd-start", "pid", "--last")[1], "43")
        self.assertEqual(cli("get", self.log, "dockerd-start", "pid", "--nth", "2")[1], "43")
        self.assertEqual(cli("get", self.log, "command-exit", "clean")[1], "false")
        self.assertEqual(cli("t", self.log, "exit")[1], "1.300")
        self.assertEqual(cli("msg", self.log, "dockerd-start")[1], "dockerd: started pid 42: dockerd --mtu=1400")
        self.assertEqual(cli("count", self.log, "dockerd-start")[1], "2")
        self.assertEqual(cli("count", self.log, "inner-kill")[1], "0")
        self.assertEqual(cli("has", self.log, "dockerd-exit", "clean=true", "killed=false")[0], 0)
        self.assertEqual(cli("has", self.log, "dockerd-exit", "killed=true")[0], 1)
        self.assertEqual(cli("get", self.log, "command-kill", "pid")[:2], (1, ""))
        self.assertEqual(cli("get", "-", "exit", "code", stdin=LOG)[1], "3")
        self.assertEqual(cli("before", self.log, "dockerd-ready", "command-start")[0], 0)
        self.assertEqual(cli("before", self.log, "command-start", "dockerd-ready")[0], 1)
        self.assertEqual(cli("before", self.log, "command-kill", "dockerd-ready")[0], 1)

    def test_errors_are_loud(self):
        rc, out, err = cli("get", self.log, "dockerd-ready", "seconds")
        self.assertEqual((rc, out), (3, ""))
        self.assertIn("no field seconds", err)
        self.assertEqual(cli("has", self.log, "dockerd-redy")[0], 3)
        with open(self.log, "a") as f:
            f.write("dind-init: +2.0s INFO  m {exit code=0 why=x}\n")
        rc, out, _ = cli("count", self.log, "exit")
        self.assertEqual((rc, out), (3, ""))

    def test_help(self):
        buf = io.StringIO()
        with redirect_stdout(buf):
            self.assertEqual(events.main(["--help"]), 0)
        self.assertIn("events.py get LOG", buf.getvalue())


if __name__ == "__main__":
    unittest.main()
