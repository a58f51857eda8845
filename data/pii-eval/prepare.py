#!/usr/bin/env python3
"""Builds the PII evaluation sample: span-labelled sentences as JSONL.

Each output line is one record:

    {"text": "...", "spans": [{"start": 12, "end": 31, "label": "email"}, ...]}

`start` and `end` are UTF-8 byte offsets into `text` (end exclusive), so the
Rust side can slice `&text[start..end]` directly. Labels are `email`,
`phone`, `card`, `iban`, `ssn` and `ip_address`; every other placeholder
(names, addresses, dates, organisations, URLs...) is filled but not labelled.

Where the data comes from (see SOURCES.md):

- the sentence templates are `raw_data/templates.txt` of presidio-evaluator
  0.3.2 (PyPI, MIT): 210 hand-written customer-service, banking and
  contact-card sentences such as "My IBAN is {{iban}}";
- the values are Faker's (PyPI, MIT), in seven locales so that phone
  numbers and IBANs come in the national formats of the US, the UK,
  Germany, France, the Netherlands, Italy and Spain.

Faker writes card numbers and IBANs as bare runs of characters; people write
them in groups too. A fixed share is rewritten in the usual grouped forms:
cards in groups of four (American Express 4-6-5) with spaces or dashes,
IBANs in groups of four with spaces (the paper format of ISO 13616).

The records are drawn with fixed seeds, so the same Faker version gives the
same files: a uniform draw over all templates (for false positives on texts
without the labelled kinds), then templates holding each labelled kind until
that kind has its quota. Two files with disjoint seeds are written:
`tune.jsonl` (looked at while fixing the detector) and `heldout.jsonl`
(measured only).

Usage:

    pip download --no-deps -d /tmp/pe presidio-evaluator==0.3.2
    (cd /tmp/pe && unzip -q -o presidio_evaluator-0.3.2-py3-none-any.whl)
    pip install faker==40.63.0
    python3 data/pii-eval/prepare.py \
        --templates /tmp/pe/presidio_evaluator/data_generator/raw_data/templates.txt \
        --out-dir data/pii-eval
"""

import argparse
import json
import os
import random
import re
import sys
from pathlib import Path

from faker import Faker

LOCALES = ["en_US", "en_US", "en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "it_IT", "es_ES"]

# Template placeholder -> label, for the kinds the detector reports.
LABELS = {
    "email": "email",
    "phone_number": "phone",
    "credit_card_number": "card",
    "iban": "iban",
    "ssn": "ssn",
    "ip_address": "ip_address",
}

# Records per file: the uniform draw, then at least this many of each label.
UNIFORM = 600
PER_LABEL = 200

SEEDS = {"tune": 20261203, "heldout": 977}

PLACEHOLDER = re.compile(r"\{\{\s*([a-zA-Z_0-9]+)\s*\}\}")


def load_templates(path):
    """The templates, one a line; `\\n` written out is a line break."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    templates = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        line = line.replace("\\n", "\n").replace("\\,", ",")
        templates.append(line)
    return templates


def group(value, sizes, sep):
    """`value` cut into groups of `sizes` (the last size repeats)."""
    parts, i, k = [], 0, 0
    while i < len(value):
        size = sizes[min(k, len(sizes) - 1)]
        parts.append(value[i : i + size])
        i += size
        k += 1
    return sep.join(parts)


def card(fake, rng):
    number = fake.credit_card_number()
    roll = rng.random()
    if roll < 0.5:
        return number
    sep = " " if roll < 0.8 else "-"
    if len(number) == 15 and number[:2] in ("34", "37"):
        return group(number, [4, 6, 5], sep)
    return group(number, [4], sep)


def iban(fake, rng):
    value = fake.iban()
    return group(value, [4], " ") if rng.random() < 0.5 else value


def value_for(name, fake, us, rng):
    """A fake value for the placeholder `name`."""
    if name == "credit_card_number":
        return card(fake, rng)
    if name == "iban":
        return iban(fake, rng)
    if name == "ssn":
        return us.ssn()
    if name == "ip_address":
        return fake.ipv4() if rng.random() < 0.8 else fake.ipv6()
    if name == "phone_number":
        return fake.phone_number()
    if name in ("person", "name"):
        return fake.name()
    if name == "organization":
        return fake.company()
    if name in ("nationality", "nation_woman", "nation_plural", "country"):
        return fake.country()
    if name == "age":
        return str(rng.randint(18, 90))
    if name == "us_driver_license":
        return us.bothify("?#######").upper()
    if name == "date_of_birth":
        return fake.date_of_birth().strftime(rng.choice(["%d/%m/%Y", "%B %d, %Y", "%Y-%m-%d"]))
    if name == "date_time":
        return fake.date_time().strftime("%Y-%m-%d %H:%M")
    method = getattr(fake, name, None)
    if method is None:
        method = getattr(us, name)
    return str(method())


def render(template, fake, us, rng):
    """The filled template and its labelled spans, in UTF-8 byte offsets."""
    out, spans, size, last = [], [], 0, 0
    for m in PLACEHOLDER.finditer(template):
        literal = template[last : m.start()]
        out.append(literal)
        size += len(literal.encode("utf-8"))
        name = m.group(1).lower()
        value = value_for(name, fake, us, rng).replace("\n", " ")
        start = size
        out.append(value)
        size += len(value.encode("utf-8"))
        if name in LABELS:
            spans.append({"start": start, "end": size, "label": LABELS[name]})
        last = m.end()
    out.append(template[last:])
    return "".join(out), spans


def build(templates, seed):
    rng = random.Random(seed)
    fakers = {}

    def faker_for(locale):
        if locale not in fakers:
            fake = Faker(locale)
            fake.seed_instance(seed ^ hash_locale(locale))
            fakers[locale] = fake
        return fakers[locale]

    us = Faker("en_US")
    us.seed_instance(seed + 1)
    records = []

    def draw(template):
        fake = faker_for(rng.choice(LOCALES))
        text, spans = render(template, fake, us, rng)
        records.append({"text": text, "spans": spans})

    for _ in range(UNIFORM):
        draw(rng.choice(templates))
    for placeholder, label in LABELS.items():
        holding = [t for t in templates if "{{" + placeholder + "}}" in t]
        while sum(s["label"] == label for r in records for s in r["spans"]) < PER_LABEL:
            draw(rng.choice(holding))
    return records


def hash_locale(locale):
    """A stable small number per locale (Python's `hash` is salted)."""
    return sum((i + 1) * ord(c) for i, c in enumerate(locale))


def main():
    # Some Faker providers draw from sets, whose order follows Python's
    # salted string hashes: fix the salt, or two runs differ.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--templates", required=True, help="presidio-evaluator's templates.txt")
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    templates = load_templates(args.templates)
    out = Path(args.out_dir)
    for name, seed in SEEDS.items():
        records = build(templates, seed)
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for record in records:
                f.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
        counts = {}
        for r in records:
            for s in r["spans"]:
                counts[s["label"]] = counts.get(s["label"], 0) + 1
        print(f"{name}: {len(records)} records, spans {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
