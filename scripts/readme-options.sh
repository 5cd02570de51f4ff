#!/usr/bin/env bash
# Rewrites the README's options table from src/options.rs (the unit test
# options::tests::readme_table_matches_the_definitions prints the table it wants).
# Owns: the README's options table check.
set -euo pipefail
case "${1:-}" in
    -h | --help) sed -n '2,4s/^# \{0,1\}//p' "$0"; exit 0 ;;
    ?*) echo "readme-options.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
table=$(cargo test -q --lib readme_table_matches_the_definitions 2>&1 |
    awk '/replace it with:$/ { on = 1; next } on && /^$|^note: run with/ { exit } on') || true
if [ -z "$table" ]; then echo "README's options table is up to date"; exit 0; fi
python3 - "$table" <<'PY'
import sys
begin = "<!-- options:begin (generated from src/options.rs; see readme_table) -->\n"
s = open("README.md").read()
i = s.index(begin) + len(begin)
j = s.index("<!-- options:end -->", i)
open("README.md", "w").write(s[:i] + sys.argv[1].rstrip("\n") + "\n" + s[j:])
PY
echo "README's options table rewritten"
