"""The manifest: the one record format that FF++, synthesised data and hand-written CSVs all become.

CSV columns `image,mask,label,method` (+ optional `source`, `video`, `frame`); paths relative to the CSV;
an empty `mask` on a genuine image means all zeros; `method` names the results-table column
(`pristine` for genuine images).
"""
from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from .._fs import atomic_write

COLUMNS = ("image", "mask", "label", "method", "source", "video", "frame")


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Record:
    image: Path
    mask: Path | None
    label: int  # 1 manipulated, 0 genuine
    method: str  # results-table column; "pristine" for genuine
    source: str = ""  # where it came from (a dataset, a tool); used for leave-one-source-out
    video: str = ""  # rows of one video share this id (video-level AUC)
    frame: int = -1


def read_manifest(path: str | Path) -> list[Record]:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest")
    try:
        return _read_manifest(path)
    except (UnicodeDecodeError, csv.Error) as e:  # a binary or mangled file named .csv
        raise ManifestError(f"{path}: not a readable CSV manifest ({e})") from None


def _read_manifest(path: Path) -> list[Record]:
    root = path.parent
    records = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = {"image", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ManifestError(f"{path}: missing column(s) {', '.join(sorted(missing))}; "
                                f"expected {','.join(COLUMNS[:4])}")
        for i, row in enumerate(reader, start=2):
            try:
                label = int(row["label"])
                if label not in (0, 1):
                    raise ValueError
            except (TypeError, ValueError):
                raise ManifestError(f"{path}:{i}: label must be 0 or 1, got {row.get('label')!r}") from None
            mask = (row.get("mask") or "").strip()
            method = (row.get("method") or "").strip() or ("pristine" if label == 0 else "fake")
            records.append(Record(
                image=root / row["image"].strip(),
                mask=root / mask if mask else None,
                label=label,
                method=method,
                source=(row.get("source") or "").strip(),
                video=(row.get("video") or "").strip(),
                frame=int(row["frame"]) if (row.get("frame") or "").strip() else -1,
            ))
    return records


def write_manifest(records: list[Record], path: str | Path) -> Path:
    """Write atomically, paths made relative to the CSV's folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = path.parent.resolve()

    def rel(p: Path | None) -> str:
        return "" if p is None else os.path.relpath(Path(p).resolve(), root)

    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(COLUMNS)
    for r in records:
        w.writerow([rel(r.image), rel(r.mask), r.label, r.method, r.source, r.video, "" if r.frame < 0 else r.frame])
    return atomic_write(path, text.getvalue())
