#!/usr/bin/env bash
# Seeds each target's corpus (fuzz/corpus/<target>/) from the recorded wire
# fixtures in tests/it/fixtures/, with the control bytes each target reads
# first (see the target's doc comment). Safe to run again: it only adds files.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fixtures="$here/../tests/it/fixtures"
corpus="$here/corpus"

# seed TARGET NAME PREFIX FILE: writes PREFIX (printf escapes) then FILE.
seed() {
    mkdir -p "$corpus/$1"
    { printf "$3"; cat "$4"; } >"$corpus/$1/$2"
}

for file in "$fixtures"/openai/*.sse "$fixtures"/anthropic/*.sse; do
    name="$(basename "$(dirname "$file")")_$(basename "$file")"
    vendor="$(basename "$(dirname "$file")")"
    seed sse_framer "$name.whole" '\x00' "$file"
    seed sse_framer "$name.split" '\x07' "$file"
    seed "${vendor}_stream" "$name.whole" '\x00\x00' "$file"
    seed "${vendor}_stream" "$name.split" '\x05\x00' "$file"
done

for file in "$fixtures"/openai/chat_completion*.json; do
    name="$(basename "$file")"
    seed openai_complete "$name.whole" '\x00' "$file"
    seed openai_complete "$name.split" '\x09' "$file"
    # A complete reply where a stream was asked for is replayed.
    seed openai_stream "$name.json" '\x03\x07' "$file"
done
for file in "$fixtures"/anthropic/message*.json; do
    name="$(basename "$file")"
    seed anthropic_complete "$name.whole" '\x00' "$file"
    seed anthropic_complete "$name.split" '\x09' "$file"
    seed anthropic_stream "$name.json" '\x03\x07' "$file"
done

# Error bodies: to each vendor's error target at 400, 429, 500 and 529,
# without a retry header and with `retry-after: 20`; and inside a 200 body.
for file in "$fixtures"/openai/error_*.json "$fixtures"/anthropic/error_*.json "$fixtures"/errors/*.json; do
    name="$(basename "$(dirname "$file")")_$(basename "$file")"
    for vendor in openai anthropic; do
        seed "${vendor}_error" "$name.400" '\x00\x04\n' "$file"
        seed "${vendor}_error" "$name.429" '\x1d\x05\x32\x30\n' "$file"
        seed "${vendor}_error" "$name.500.stream" '\x64\x84\n' "$file"
        seed "${vendor}_error" "$name.529" '\x81\x06\x31\x35\x30\x30\n' "$file"
        seed "${vendor}_complete" "$name.200" '\x00' "$file"
    done
done

# NDJSON: the JSON fixtures one per line, and the SSE ones as they are.
mkdir -p "$corpus/ndjson_framer"
python3 - "$fixtures" "$corpus/ndjson_framer/fixtures.ndjson" <<'PY'
import glob, json, sys
lines = []
for path in sorted(glob.glob(sys.argv[1] + "/*/*.json")):
    with open(path) as f:
        lines.append(json.dumps(json.load(f), separators=(",", ":")))
with open(sys.argv[2], "wb") as out:
    out.write(b"\x00" + "\n".join(lines).encode() + b"\n")
with open(sys.argv[2] + ".crlf", "wb") as out:
    out.write(b"\x0b" + "\r\n\n".join(lines).encode())
PY
for file in "$fixtures"/openai/*.sse; do
    seed ndjson_framer "$(basename "$file")" '\x02' "$file"
done

for dir in "$corpus"/*; do
    echo "$(basename "$dir"): $(ls "$dir" | wc -l) seeds"
done
