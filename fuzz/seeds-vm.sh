#!/usr/bin/env bash
# Writes fuzz/seeds-vm/: inputs for the `vm` target (see README.md), three
# per program: plain values like the tests/run/ contacts, empty values, and
# values repeated up to the 1 MiB merge limit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rm -rf seeds-vm && mkdir seeds-vm
sep=$'\xff'
plain="1${sep}lead, web${sep}Ada${sep}ada+crm@analytical.org${sep}72${sep}2026-12-01T09:00:00Z${sep}US${sep}José & Co <a>${sep}web form${sep}1795771800${sep}Call booked"
empty="2${sep}${sep}${sep}${sep}${sep}${sep}"
grow="3${sep}a,b,c${sep}"$'\xfe\x12'"a${sep}"$'\xfe\x10'"xy${sep}"$'\xfe\x0c'"2026-12-01${sep}"$'\xfe\x14'"Zz"
for i in $(seq 0 11); do
    byte=$(printf "\\\\x%02x" "$i")
    printf "$byte%s" "$plain" > "seeds-vm/$i-plain"
    printf "$byte%s" "$empty" > "seeds-vm/$i-empty"
    printf "$byte%s" "$grow" > "seeds-vm/$i-grow"
done
