#!/usr/bin/env bash
# Scans documentation and sources installed on this machine (text nobody in
# this project wrote) and writes bench/guard/CORPUS.md: every finding with the
# verdict from bench/guard/corpus-verdicts.tsv.
#
#   bench/guard/corpus.sh [ROOT...]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
if [ "$#" -eq 0 ]; then
  set --
  tc="$(ls -d "$HOME"/.rustup/toolchains/stable-* 2>/dev/null | head -n1 || true)"
  for d in "$tc/share/doc" "$tc/lib/rustlib/src" /usr/lib/python3 /usr/lib/python3.[0-9]* /usr/share/doc "$HOME/.cargo/registry/src"; do
    [ -d "$d" ] && set -- "$@" "$d"
  done
fi
cargo run -q -p meshgate-guard --example corpus --release -- \
  --verdicts bench/guard/corpus-verdicts.tsv --out bench/guard/CORPUS.md "$@"
echo "wrote bench/guard/CORPUS.md"
