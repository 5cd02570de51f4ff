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
    sed -n '/replace it with:$/,/^note: run with/p' | sed '1d;$d' | sed '/^$/,$d') || true
if [ -z "$table" ]; then echo "README's options table is up to date"; exit 0; fi
python3 - "$table" <<'PY'
import sys
table = sys.argv[1].rstrip("\n") + "\n"
begin = "<!-- options:begin (generated from src/options.rs; see readme_table) -->\n"
end = "<!-- options:end -->"
s = open("README.md").read()
i = s.index(begin) + len(begin)
j = s.index(end, i)
open("README.md", "w").write(s[:i] + table + s[j:])
print("README's options table rewritten")
PY
