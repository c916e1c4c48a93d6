#!/usr/bin/env bash
# Runs the benchmarks and writes their Markdown sections to bench/out/.
# Copy a section into docs/benchmarks.md after checking it. `make bench`
# builds bin/stella and installs the peer tools first.
#
# Environment:
#   BENCH_RECORDS   records of the generated feeds (default 300000)
#   BENCH_NIGHTS    nightly deltas (default 30)
#   BENCH_IMAGE_MB  MiB of image layers in the kit (default 250)
#   BENCH_BIG       size factors of the large kits for the memory check, comma-separated
#                   (default 10,20; 0 skips)
#   BENCH_WORK      work folder (default a temporary folder, removed at the end);
#                   needs about (3 x the largest factor + 10) x BENCH_IMAGE_MB of free space
set -euo pipefail
cd "$(dirname "$0")/.."

out=bench/out
mkdir -p "$out"
records=${BENCH_RECORDS:-300000}
work_args=()
if [ -n "${BENCH_WORK:-}" ]; then
  mkdir -p "$BENCH_WORK"
  work_args=(-work "$BENCH_WORK" -keep)
fi

echo "free space before the run:" >&2
df -h "${BENCH_WORK:-${TMPDIR:-/tmp}}" >&2

echo "== vulnerability DB" >&2
go run ./bench/vulndb -records "$records" > "$out/vulndb.md"

echo "== import and deltas" >&2
go run ./bench/import -stella bin/stella -tools .tools/bin -records "$records" \
  -nights "${BENCH_NIGHTS:-30}" -image-mb "${BENCH_IMAGE_MB:-250}" -big "${BENCH_BIG:-10,20}" \
  "${work_args[@]}" > "$out/import.md"

cat "$out/vulndb.md" "$out/import.md"
