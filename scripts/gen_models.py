#!/usr/bin/env python3
"""Generate the built-in model table, src/types/model_table.rs.

The input is data/models.json (our reduced copy of litellm's
model_prices_and_context_window.json), or the full upstream file. Either way
the same entries are kept: OpenAI chat and embedding models and Anthropic chat
models. Prices are converted from USD per token to USD per million tokens with
decimal arithmetic, so 2.5e-06 becomes exactly 2.5.

    python3 scripts/gen_models.py                  # data/models.json -> table
    python3 scripts/gen_models.py --check          # exit 1 if the table is stale
    python3 scripts/gen_models.py UPSTREAM.json --commit SHA --date YYYY-MM-DD --write-data
                                                   # refresh data/models.json and the table

Standard library only.
"""

import argparse
import datetime
import decimal
import json
import math
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "models.json"
TABLE = ROOT / "src" / "types" / "model_table.rs"

# (provider, mode) pairs kept, and the Rust ModelKind of each mode.
KEPT = {("openai", "chat"), ("openai", "embedding"), ("anthropic", "chat")}
KINDS = {"chat": "ModelKind::Chat", "embedding": "ModelKind::Embedding"}

PRICE_FIELDS = [
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
    "output_cost_per_reasoning_token",
]
TOKEN_FIELDS = ["max_input_tokens", "max_output_tokens"]
# Upstream flag -> capability bit name in src/types/model.rs (module `cap`).
FLAGS = [
    ("supports_function_calling", "TOOLS"),
    ("supports_vision", "VISION"),
    ("supports_response_schema", "JSON_SCHEMA"),
    ("supports_reasoning", "REASONING"),
    ("supports_prompt_caching", "PROMPT_CACHING"),
]
STREAMING_FLAG = "supports_native_streaming"
U32_MAX = 2**32 - 1


class DataError(Exception):
    pass


def kept(entry):
    """Whether an upstream entry is one of the models we ship."""
    if not isinstance(entry, dict):
        return False
    return (entry.get("litellm_provider"), entry.get("mode")) in KEPT


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def price_per_million(model, field, value):
    """A Rust `Option<f64>` literal: USD per million tokens, or None."""
    if value is None:
        return "None"
    if not is_number(value) or not math.isfinite(value) or value < 0:
        raise DataError(f"{model}: {field} is not a price: {value!r}")
    # repr() gives the shortest decimal that reads back as the same float.
    per_million = (decimal.Decimal(repr(float(value))) * 1_000_000).normalize()
    text = format(per_million, "f")
    if "." not in text:
        text += ".0"
    return f"Some({text})"


def token_count(model, field, value):
    """A Rust `Option<u32>` literal, or None."""
    if value is None:
        return "None"
    if not is_number(value) or not math.isfinite(value) or value != int(value) or value < 0:
        raise DataError(f"{model}: {field} is not a token count: {value!r}")
    value = int(value)
    if value == 0:
        return "None"
    if value > U32_MAX:
        raise DataError(f"{model}: {field} does not fit in u32: {value}")
    return f"Some({value})"


def rust_str(text):
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append("\\u{%x}" % ord(ch))
    return '"' + "".join(out) + '"'


def reduce_entry(entry):
    """The fields of an upstream entry that data/models.json keeps."""
    out = {"litellm_provider": entry["litellm_provider"], "mode": entry["mode"]}
    for field in PRICE_FIELDS + TOKEN_FIELDS:
        if entry.get(field) is not None:
            out[field] = entry[field]
    for field, _ in FLAGS:
        if entry.get(field) is True:
            out[field] = True
    if isinstance(entry.get(STREAMING_FLAG), bool):
        out[STREAMING_FLAG] = entry[STREAMING_FLAG]
    return out


def row(model, entry):
    """The Rust row of one model, and the capability bits it uses."""
    kind = KINDS[entry["mode"]]
    flags = [name for field, name in FLAGS if entry.get(field) is True]
    # Chat models stream unless the list says they cannot; embeddings never do.
    if entry["mode"] == "chat" and entry.get(STREAMING_FLAG) is not False:
        flags.append("STREAMING")
    cells = [
        rust_str(model),
        rust_str(entry["litellm_provider"]),
        kind,
        token_count(model, "max_input_tokens", entry.get("max_input_tokens")),
        token_count(model, "max_output_tokens", entry.get("max_output_tokens")),
    ]
    cells += [price_per_million(model, field, entry.get(field)) for field in PRICE_FIELDS]
    cells.append(" | ".join(flags) if flags else "0")
    return "    builtin(" + ", ".join(cells) + "),", flags


def describe_source(source, input_name):
    if not source:
        return f"{input_name} (no source record)"
    parts = [f"{source.get('repository', '?')} {source.get('path', '?')}"]
    if source.get("commit"):
        parts.append(f"commit {source['commit']}")
    if source.get("date"):
        parts.append(f"date {source['date']}")
    return ", ".join(parts)


def render(models, source, input_name):
    ids = sorted(models, key=lambda m: m.encode("utf-8"))
    rendered = [row(m, models[m]) for m in ids]
    rows = [text for text, _ in rendered]
    # Import only the capability bits some row uses, sorted as rustfmt sorts them.
    used = sorted({flag for _, flags in rendered for flag in flags})
    described = describe_source(source, input_name)
    source = source or {}
    lines = [
        "// @generated by scripts/gen_models.py. Do not edit by hand.",
        "//",
        f"// Source: {input_name}, a reduced copy of the public price list",
        f"// {source.get('path', '?')} in the {source.get('repository', '?')} repository,",
        f"// commit {source.get('commit') or 'unknown'};",
        f"// date: {source.get('date') or 'unknown'}.",
        "// The price list is MIT-licensed, Copyright (c) 2023 Berri AI; see data/README.md.",
        "//",
        "// Regenerate with `python3 scripts/gen_models.py` (add `--check` to only compare).",
        "//",
        "// Columns: id, provider, kind, context window (max input tokens), max output",
        "// tokens; USD per million tokens for input, output, cache read, cache write and",
        "// reasoning output; capabilities. Rows are sorted by id (byte order) so lookups",
        "// can binary-search.",
        "",
        f"use super::model::cap::{{{', '.join(used)}}};" if used else "",
        "use super::model::{builtin, ModelInfo, ModelKind};",
        "",
        "/// Where the table comes from.",
        f"pub(super) const SOURCE: &str = {rust_str(described)};",
        "",
        f"/// The built-in models, {len(rows)} of them, sorted by id.",
        "#[rustfmt::skip]",
        "pub(super) static MODELS: &[ModelInfo] = &[",
        *rows,
        "];",
        "",
    ]
    return "\n".join(lines)


def load(path):
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object of models")
    return data


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", default=str(DATA), help="data/models.json (default) or the full upstream file")
    parser.add_argument("--output", default=str(TABLE), help="the Rust file to write (default: %(default)s)")
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if the output would change")
    parser.add_argument("--commit", help="upstream commit, when the input has no _source record")
    parser.add_argument("--date", help="upstream date, when the input has no _source record")
    parser.add_argument("--write-data", action="store_true", help="also write the reduced copy to data/models.json")
    args = parser.parse_args(argv)

    try:
        data = load(args.input)
        source = data.get("_source") if isinstance(data.get("_source"), dict) else None
        if source is None and (args.commit or args.date):
            source = {
                "repository": "BerriAI/litellm",
                "path": "model_prices_and_context_window.json",
                "commit": args.commit,
                "date": args.date,
            }
        models = {m: reduce_entry(e) for m, e in data.items() if not m.startswith("_") and kept(e)}
        if not models:
            raise DataError(f"{args.input}: no OpenAI or Anthropic models found")

        input_path = pathlib.Path(args.input).resolve()
        try:
            input_name = input_path.relative_to(ROOT).as_posix()
        except ValueError:
            input_name = input_path.name
        if args.write_data:
            input_name = DATA.relative_to(ROOT).as_posix()
        text = render(models, source, input_name)
    except (OSError, ValueError, DataError) as err:
        print(f"gen_models: {err}", file=sys.stderr)
        return 2

    output = pathlib.Path(args.output)
    if args.check:
        current = output.read_text(encoding="utf-8") if output.exists() else ""
        if current != text:
            print(f"gen_models: {output} is stale; run python3 scripts/gen_models.py", file=sys.stderr)
            return 1
        print(f"gen_models: {output} is up to date ({len(models)} models)")
        return 0

    if args.write_data:
        record = dict(source or {})
        record.setdefault("repository", "BerriAI/litellm")
        record.setdefault("path", "model_prices_and_context_window.json")
        record["extracted"] = datetime.date.today().isoformat()
        record["license"] = "MIT, Copyright (c) 2023 Berri AI; full notice in data/README.md"
        record["kept"] = "litellm_provider openai with mode chat or embedding; litellm_provider anthropic with mode chat"
        record["fields"] = (
            "upstream names and units (USD per token); a supports_* flag absent here is absent or false upstream"
        )
        reduced = {"_source": record}
        for model in sorted(models, key=lambda m: m.encode("utf-8")):
            reduced[model] = models[model]
        with open(DATA, "w", encoding="utf-8") as handle:
            json.dump(reduced, handle, indent=2)
            handle.write("\n")
        print(f"gen_models: wrote {DATA} ({len(models)} models)")

    output.write_text(text, encoding="utf-8")
    print(f"gen_models: wrote {output} ({len(models)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
