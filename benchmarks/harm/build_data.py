"""Build the labelled Arabic harm set, /work/realdata/harm.jsonl, from fetched repository snapshots.

Each row: {id, text, label (clean | offensive | hate), categories (finer labels where the source
has them), dataset, source, licence}. The sources, their licences and sizes are in DATA_CARD.md.
The snapshots are git folders made by the `fetch` tool; nothing from them enters this repository.

    python benchmarks/harm/build_data.py --mirror /work/.mirror --out /work/realdata/harm.jsonl

Left out on purpose: L-HSAB and T-HSAB (kept for independent verification), and every copy of
the OSACT/OffensEval 2020 and OSACT 2022 tweets (ID5 of the collection below, and ID15, whose
tweets carry OSACT's `<LF>` and `@USER` markers), which are the data of a banned repository.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

MPOLD_REPO = "shammur/Arabic-Offensive-Multi-Platform-SocialMedia-Comment-Dataset"
MPOLD = MPOLD_REPO.replace("/", "+") + "/repo/.git"
MPOLD_FILE = "data/Arabic_offensive_comment_detection_annotation_4000_selected.xlsx"
MLMA = "HKUST-KnowComp+MLMA_hate_speech/repo"
VANETIK = "NataliaVanetik+ArabicOffensiveLanguage_TaxonomyAndData/repo"
VANETIK_URL = "github.com/NataliaVanetik/ArabicOffensiveLanguage_TaxonomyAndData"

# The collection's files we use: its dataset id -> our name, the original licence as stated by
# its authors, and whether label 1 means hate (a hate-speech set) rather than offensive.
VANETIK_SETS = {
    4: ("alakrot_youtube", False),
    7: ("mubarak_egypt_tweets", False),
    10: ("ar_pufi", False),
    11: ("omcd_moroccan", False),
    12: ("aref_hate_short", True),
    14: ("letmi_misogyny", False),
    16: ("saudi_hate", True),
}


def _blob(mirror: Path, git_dir: str, path: str) -> bytes:
    return subprocess.run(
        ["git", "--git-dir", str(mirror / git_dir), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
    ).stdout


def _clean(text: object) -> str:
    return " ".join(str(text).replace("_x000D_", " ").split())


def mpold(mirror: Path) -> Iterator[dict]:
    """Chowdhury et al. 2020: news comments from Twitter, Facebook and YouTube (Apache-2.0)."""
    raw = _blob(mirror, MPOLD, MPOLD_FILE)
    frame = pd.read_excel(io.BytesIO(raw))
    for row in frame.itertuples(index=False):
        extra = str(row[7]).strip()
        offensive = row.Majority_Label == "Offensive"
        label = "hate" if offensive and extra == "HS" else "offensive" if offensive else "clean"
        yield {
            "id": f"mpold-{row.Id}",
            "text": _clean(row.Comment),
            "label": label,
            "categories": ["vulgar"] if offensive and extra == "V" else [],
            "dataset": "mpold",
            "source": f"github.com/{MPOLD_REPO}",
            "licence": "Apache-2.0",
        }


def mlma(mirror: Path) -> Iterator[dict]:
    """Ousidhoum et al. 2019: Arabic tweets with hostility type and target (MIT)."""
    archive = zipfile.ZipFile(io.BytesIO(_blob(mirror, MLMA, "hate_speech_mlma.zip")))
    frame = pd.read_csv(archive.open("hate_speech_mlma/ar_dataset.csv"))
    for row in frame.itertuples(index=False):
        tags = set(str(row.sentiment).split("_"))
        label = "hate" if "hateful" in tags else "clean" if tags == {"normal"} else "offensive"
        categories = sorted(tags - {"normal"})
        if label != "clean" and row.target not in ("other", "none"):
            categories.append(f"target:{row.target}")
        yield {
            "id": f"mlma-{row.HITId}",
            "text": _clean(row.tweet),
            "label": label,
            "categories": categories,
            "dataset": "mlma",
            "source": "github.com/HKUST-KnowComp/MLMA_hate_speech",
            "licence": "MIT",
        }


def _unmangle(text: str) -> str:
    """The Saudi set's text was stored as Windows-1256 bytes read as Latin-1."""
    try:
        return text.encode("latin-1").decode("cp1256")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def vanetik(mirror: Path, dataset_id: int) -> Iterator[dict]:
    """One dataset of the Vanetik et al. collection (GPL-3.0 as a collection)."""
    name, hate_set = VANETIK_SETS[dataset_id]
    raw = _blob(
        mirror, VANETIK, f"translated-datasets-repo/arabic_off_lang_dataset_ID{dataset_id}.xlsx"
    )
    frame = pd.read_excel(io.BytesIO(raw), header=1 if dataset_id == 16 else 0)
    strength = next((c for c in frame.columns if "strength" in c), None)
    for i, row in enumerate(frame.to_dict("records")):
        if row["offensive"] not in (0, 1):  # blanks and stray numbers in some files
            continue
        text = _clean(row["text"])
        if dataset_id == 16:
            text = _unmangle(text)
        offensive = row["offensive"] == 1
        detail = str(row.get(strength) or "") if strength else ""
        is_hate = offensive and (hate_set or detail in ("HS", "hate speech"))
        categories = []
        if offensive and detail and detail not in ("HS", "nan"):
            categories.append(detail)
        if offensive and row.get("sexism") == 1:
            categories.append("sexism")
        yield {
            "id": f"{name}-{i}",
            "text": text,
            "label": "hate" if is_hate else "offensive" if offensive else "clean",
            "categories": categories,
            "dataset": name,
            "source": f"{VANETIK_URL} (ID{dataset_id})",
            "licence": "GPL-3.0 (collection)",
        }


def build(mirror: Path) -> list[dict]:
    rows = [*mpold(mirror), *mlma(mirror)]
    for dataset_id in VANETIK_SETS:
        rows += vanetik(mirror, dataset_id)
    seen: set[tuple[str, str]] = set()
    out = []
    for row in rows:
        key = (row["dataset"], row["text"])
        # Empty texts, OSACT-formatted tweets and in-set duplicates are left out.
        if len(row["text"]) < 3 or "<LF>" in row["text"] or key in seen:
            continue
        seen.add(key)
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mirror", type=Path, default=Path("/work/.mirror"))
    parser.add_argument("--out", type=Path, default=Path("/work/realdata/harm.jsonl"))
    args = parser.parse_args()
    rows = build(args.mirror)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.rename(args.out)
    counts = Counter((r["dataset"], r["label"]) for r in rows)
    for dataset in sorted({r["dataset"] for r in rows}):
        by_label = {label: counts[dataset, label] for label in ("clean", "offensive", "hate")}
        print(dataset, sum(by_label.values()), by_label)


if __name__ == "__main__":
    main()
