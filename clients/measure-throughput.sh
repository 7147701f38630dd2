#!/usr/bin/env bash
# Throughput of the co-simulation channels from C and Python, one request at a time and in
# batches of 256, binary (pipe and Unix socket; spinning reads at their default, and over the pipe
# also without) and JSON, RUNS runs each (default 3); prints a
# Markdown table: the raw translations-per-second figure of each run, and each run's median
# round trip in microseconds (the channel's own cost; the throughput also carries the waits for
# a CPU that the machine's other load causes). Needs a build (npm run build) and a C compiler.
#   clients/measure-throughput.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
PY=${PYTHON:-python3}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cc -O2 -o "$tmp/throughput" clients/c/throughput.c
BIN=(node dist/src/cli.js serve --binary)
SOCK=(-s "$tmp/sock" -- node dist/src/cli.js serve --binary --socket "$tmp/sock")
JSON=(node dist/src/cli.js serve)
row() { # label, command...
  local label=$1; shift; local figs=() p50s=() out
  for _ in $(seq "$RUNS"); do
    out=$("$@" 2>/dev/null)
    figs+=("$(tail -1 <<<"$out" | sed 's/translations_per_second=//')")
    p50s+=("$(grep -o 'p50=[0-9.]*' <<<"$out" | sed 's/p50=//')")
  done
  echo "| $label | ${figs[*]} | ${p50s[*]} |"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores), $(node --version), $(date -u +%FT%TZ)"
echo
echo "| Client, channel, requests per round trip | translations/s (each run) | median round trip, us (each run) |"
echo "|---|---|---|"
row "C, binary, 256" "$tmp/throughput" -b 256 -n 2000000 -- "${BIN[@]}"
row "C, binary, 1" "$tmp/throughput" -b 1 -n 100000 -- "${BIN[@]}"
row "C, binary, 256, no spinning (-S 0, --spin-us 0)" "$tmp/throughput" -b 256 -n 2000000 -S 0 -- "${BIN[@]}" --spin-us 0
row "C, binary, 1, no spinning (-S 0, --spin-us 0)" "$tmp/throughput" -b 1 -n 50000 -S 0 -- "${BIN[@]}" --spin-us 0
row "C, binary over a Unix socket, 256" "$tmp/throughput" -b 256 -n 2000000 "${SOCK[@]}"
row "C, binary over a Unix socket, 1" "$tmp/throughput" -b 1 -n 100000 "${SOCK[@]}"
row "C, JSON, 256" "$tmp/throughput" -j -b 256 -n 200000 -- "${JSON[@]}"
row "C, JSON, 1" "$tmp/throughput" -j -b 1 -n 20000 -- "${JSON[@]}"
row "Python, binary, 256" "$PY" clients/python/throughput.py -b 256 -n 500000 -- "${BIN[@]}"
row "Python, binary, 1" "$PY" clients/python/throughput.py -b 1 -n 50000 -- "${BIN[@]}"
row "Python, binary over a Unix socket, 256" "$PY" clients/python/throughput.py -b 256 -n 500000 "${SOCK[@]}"
row "Python, binary over a Unix socket, 1" "$PY" clients/python/throughput.py -b 1 -n 50000 "${SOCK[@]}"
row "Python, JSON, 256" "$PY" clients/python/throughput.py -j -b 256 -n 50000 -- "${JSON[@]}"
row "Python, JSON, 1" "$PY" clients/python/throughput.py -j -b 1 -n 10000 -- "${JSON[@]}"
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
