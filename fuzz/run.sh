#!/usr/bin/env bash
# Runs one target for SECONDS (default 300) on its corpus, with the
# dictionaries for what it reads, one job, a 10 s limit per input (60 s for
# injection_score and guard_stream).
#   fuzz/run.sh sse_framer 300
# Uses a nightly toolchain when there is one, else stable with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz needs nightly-only sanitizer flags).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
target="${1:?usage: run.sh TARGET [SECONDS]}"
seconds="${2:-300}"
timeout=10

case "$target" in
    sse_framer) dicts=(sse) ;;
    ndjson_framer) dicts=(json) ;;
    openai_stream) dicts=(sse json openai) ;;
    anthropic_stream) dicts=(sse json anthropic) ;;
    openai_*) dicts=(json openai) ;;
    anthropic_*) dicts=(json anthropic) ;;
    guard_detect | vault_restore) dicts=(guardrail) ;;
    # Their first input builds the scorer's and detector's regexes, which
    # under the sanitizer on a busy machine can pass 10 s.
    injection_score | guard_stream) dicts=(guardrail); timeout=60 ;;
    *) echo "unknown target $target" >&2; exit 2 ;;
esac
dict="$here/artifacts/$target.dict"
mkdir -p "$here/artifacts" "$here/corpus/$target"
for d in "${dicts[@]}"; do cat "$here/dicts/$d.dict"; done >"$dict"

if rustup toolchain list | grep -q '^nightly'; then
    toolchain=(+nightly)
else
    toolchain=()
    export RUSTC_BOOTSTRAP=1
fi

# libFuzzer writes its log (fuzz-0.log) in the working directory.
cd "$here"
cargo "${toolchain[@]}" fuzz run "$target" "$here/corpus/$target" -- \
    -max_total_time="$seconds" -jobs=1 -timeout="$timeout" -dict="$dict" \
    -print_final_stats=1
