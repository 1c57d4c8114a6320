#!/usr/bin/env bash
# Fuzzes a codec with cargo-fuzz (libFuzzer) for a bounded time.
#
#   scripts/fuzz.sh [seconds] [target]      default: 60 s, server_connection
#
# Targets: server_connection (fcgi-proto's ServerConnection), params (its
# name-value pair decoder and accumulator), client_connection (its
# ClientConnection: what `fcgi request` and the load generator parse from a
# back end), http_request (fcgi-http's parser, body decoder and encoder); each
# lives in
# crates/<crate>/fuzz/fuzz_targets/<target>.rs.
#
# Installs what it needs if missing: a nightly toolchain (rustup) and
# cargo-fuzz (cargo install). New corpus entries go to the ignored
# crates/<crate>/fuzz/corpus/; the committed seeds are only read.
# A crash leaves its input in crates/<crate>/fuzz/artifacts/ and makes the
# script exit non-zero; reproduce with
#   cd crates/<crate>/fuzz && cargo +nightly fuzz run <target> artifacts/<target>/<file>
set -euo pipefail

seconds="${1:-60}"
target="${2:-server_connection}"
root="$(cd "$(dirname "$0")/.." && pwd)"
fuzz_dir=""
for dir in "$root"/crates/*/fuzz; do
  if [ -f "$dir/fuzz_targets/$target.rs" ]; then fuzz_dir="$dir"; fi
done
if [ -z "$fuzz_dir" ]; then
  echo "fuzz.sh: no fuzz target named $target (crates/*/fuzz/fuzz_targets/$target.rs)" >&2
  exit 2
fi

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz.sh: installing the nightly toolchain (libFuzzer needs it)" >&2
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz" >&2
  cargo install cargo-fuzz --locked
fi

cd "$fuzz_dir"
mkdir -p "corpus/$target"
# Working corpus first (libFuzzer writes there), then the read-only seeds.
exec cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
  -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048
