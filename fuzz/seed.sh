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

# The guardrail targets: texts of the PII and injection evaluation sets
# (data/), and replies with placeholders, cut at a few points.
python3 - "$here/../data" "$corpus" <<'PY'
import json, os, sys
data, corpus = sys.argv[1], sys.argv[2]
def write(target, name, payload):
    os.makedirs(f"{corpus}/{target}", exist_ok=True)
    with open(f"{corpus}/{target}/{name}", "wb") as out:
        out.write(payload)
pii = [json.loads(l)["text"] for l in open(f"{data}/pii-eval/heldout.jsonl")]
injection = [json.loads(l)["text"] for l in open(f"{data}/injection-eval/sample.jsonl")]
for i, text in enumerate(pii[::8]):
    write("guard_detect", f"pii-{i:03}", text.encode())
    # Window, three cuts, the text as a reply.
    write("guard_stream", f"pii-{i:03}", bytes([i % 57, 3, 5, 9, 17]) + text.encode())
for i, text in enumerate(injection):
    write("injection_score", f"injection-{i:03}", text.encode())
replies = [
    "Mail <EMAIL_1> or use <OPENAI_KEY_1>; note <NOTE_2_1>, <X_1>, <EMAIL_10>.",
    "<EMAIL_1<EMAIL_1>><<NOTE_2_1><X_1",
    "Write to <EMAIL_1>, card 4111 1111 1111 1111, codename Bluebird.",
]
values = "\0".join(["bo@example.org", "a <b> \"c\"\\", "<EMAIL_1>", "x"] * 3)
for i, reply in enumerate(replies):
    write("vault_restore", f"reply-{i}", bytes([4, 1, 6, 2, 11]) + (reply + "\0" + values).encode())
    write("guard_stream", f"reply-{i}", bytes([i, 4, 1, 6, 2, 11]) + reply.encode())
PY

for dir in "$corpus"/*; do
    echo "$(basename "$dir"): $(ls "$dir" | wc -l) seeds"
done
