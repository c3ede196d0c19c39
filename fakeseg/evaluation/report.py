"""EvalResult: every figure of one evaluation, as a dict (metrics.json) and as the paper's tables
(metrics.md); and the atomic writer that puts them on disk."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .tally import AVG, FAKES, PRISTINE

MODEL = "model"
REFERENCES = {"all_background": "all bg (ref)", "face_hull": "face hull (ref)"}

IMAGE_ROWS = (
    ("accuracy", "acc@tau2"),
    ("auc", "AUC"),
    ("ap", "AP"),
    ("eer", "EER"),
    ("video_auc", "video AUC"),
)
PIXEL_ROWS = (
    ("miou", "mIoU"),
    ("bg_iou", "Bg-IoU"),
    ("fg_iou", "Fg-IoU"),
    ("flagged", "flagged"),
    ("pixel_auc", "pixel AUC"),
)
SOURCE_COLS = (
    ("accuracy_fake", "acc fake"),
    ("accuracy_genuine", "acc gen."),
    ("auc", "AUC"),
    ("miou", "mIoU fakes"),
    ("fg_iou", "Fg-IoU"),
    ("genuine_flagged", "gen. flagged"),
    ("pixel_auc", "pixel AUC"),
)


@dataclass
class Table:
    title: str
    header: list[str]
    rows: list[list[str]]
    group: int = 1  # rows per group (one per predictor): renderers draw a line between groups


def _stacked(name: str, count: str, n_rows: int) -> list[str]:
    """The first cells of a group of rows: the name, then its counts (on one line when alone)."""
    if n_rows == 1:
        return [f"{name} ({count})"]
    return [name, f"({count})", *[""] * (n_rows - 2)]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@dataclass
class EvalResult:
    """The outcome of `fakeseg.evaluate.evaluate`; `columns[predictor][column][metric]` holds each figure."""

    model: dict
    data: dict
    thresholds: dict
    counts: dict
    columns: dict[str, dict[str, dict]]  # predictor -> column (method, pristine, fakes, avg) -> metrics
    overall: dict[str, dict]  # predictor -> pooled figures over every evaluated image
    by_source: dict[str, dict[str, dict]] = field(default_factory=dict)  # predictor -> source -> metrics
    skipped: list[dict] = field(default_factory=list)  # {"image": path, "reason": one line}
    fakeseg_version: str = ""
    # the model's verdict input per evaluated image: {"image", "label", "method", "source", "score"};
    # written as scores.csv beside metrics.json (a run over FF++ frames would swell the JSON)
    images: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("images")
        return d

    def genuine_scores(self) -> list[float]:
        return [row["score"] for row in self.images if row["label"] == 0]

    @property
    def predictors(self) -> list[str]:
        return list(self.columns)

    def _label(self, predictor: str) -> str:
        return self.model.get("name", MODEL) if predictor == MODEL else REFERENCES.get(predictor, predictor)

    def _column_name(self, key: str, col: dict) -> tuple[str, str]:
        if key == PRISTINE:
            return "P", f"{col['n_genuine']} genuine"
        if key == FAKES:
            return "fakes", f"{col['n_fake']} fake/{col['n_genuine']} gen."
        if key == AVG:
            return "Avg", "mean of columns"
        return key, f"{col['n_fake']} fake"

    def tables(self) -> list[Table]:
        """Image level, pixel level and (when computed) per source. One row per column of the paper
        (method, P, pooled fakes, Avg) and predictor, so each reference sits right under the model."""
        first = self.columns[self.predictors[0]]
        has_videos = any(
            col.get("video_auc") is not None for p in self.columns.values() for col in p.values()
        )
        image_rows = [r for r in IMAGE_ROWS if r[0] != "video_auc" or has_videos]
        tau = f"tau2={self.thresholds['tau2']:.3f}"
        out = []
        for title, metric_rows in (
            (f"Image level ({tau}; AUC/AP/EER: the column's fakes vs every genuine image)", image_rows),
            ("Pixel level (face crops; one confusion matrix over every pixel of the column)", PIXEL_ROWS),
        ):
            rows = []
            for key, col in first.items():
                labels = _stacked(*self._column_name(key, col), len(self.columns))
                for label, (predictor, columns) in zip(labels, self.columns.items(), strict=True):
                    rows.append(
                        [
                            label,
                            self._label(predictor),
                            *(fmt(columns.get(key, {}).get(metric)) for metric, _ in metric_rows),
                        ]
                    )
            out.append(
                Table(title, ["column", "predictor", *(n for _, n in metric_rows)], rows, len(self.columns))
            )
        if self.by_source:
            rows = []
            model_sources = self.by_source[self.predictors[0]]
            for source, m in model_sources.items():
                labels = _stacked(source, f"{m['n_fake']} fake/{m['n_genuine']} gen.", len(self.by_source))
                for label, (predictor, sources) in zip(labels, self.by_source.items(), strict=True):
                    rows.append(
                        [
                            label,
                            self._label(predictor),
                            *(fmt(sources[source].get(k)) for k, _ in SOURCE_COLS),
                        ]
                    )
            out.append(
                Table(
                    f"Per source (its fakes vs its own genuine images; {tau})",
                    ["source", "predictor", *(n for _, n in SOURCE_COLS)],
                    rows,
                    len(self.by_source),
                )
            )
        return out

    def reading(self) -> str:
        """One line that puts the model next to the face-hull reference (FINDINGS: the evaluation trap)."""
        model, hull = self.columns.get(MODEL, {}).get(FAKES), self.columns.get("face_hull", {}).get(FAKES)
        if not model or not hull:
            return ""
        m_all, h_all = self.overall[MODEL], self.overall["face_hull"]
        return (
            f"mIoU on fakes {fmt(model['miou'])} vs face hull {fmt(hull['miou'])}; "
            f"genuine pixels flagged {fmt(m_all['genuine_flagged'])} vs {fmt(h_all['genuine_flagged'])}; "
            f"image AUC {fmt(m_all['auc'])} vs {fmt(h_all['auc'])}. A model is good only where it beats "
            "the face hull on the fakes and keeps genuine faces clean."
        )

    def to_markdown(self) -> str:
        m, d, t = self.model, self.data, self.thresholds
        lines = [
            f"# Evaluation of {m.get('name', '?')}",
            "",
            f"- model: {m.get('arch')}-{m.get('task')} weights `{m.get('weights')}`",
            f"- data: `{d.get('path')}`"
            + (f" split `{d['split']}`" if d.get("split") else "")
            + f", face crop: {d.get('face_crop')}",
            f"- thresholds: tau1={t['tau1']:.3f}, tau2={t['tau2']:.3f} ({t.get('origin', '')}); a pixel is "
            f"manipulated above {t.get('pixel', 0.5):.3f} of the map"
            + (f" smoothed with sigma {t['mask_sigma']:g} px" if t.get("mask_sigma") else ""),
            f"- images: {self.counts['evaluated']} evaluated ({self.counts['fake']} fake, "
            f"{self.counts['genuine']} genuine) of {self.counts['records']}; "
            f"{len(self.skipped)} skipped",
            f"- fakeseg {self.fakeseg_version}",
            "",
        ]
        if self.reading():
            lines += [self.reading(), ""]
        for table in self.tables():
            lines += [
                f"## {table.title}",
                "",
                "| " + " | ".join(table.header) + " |",
                "|" + "|".join("---" for _ in table.header) + "|",
            ]
            lines += ["| " + " | ".join(row) + " |" for row in table.rows]
            lines.append("")
        if self.skipped:
            lines += ["## Skipped", ""] + [f"- {s['reason']}" for s in self.skipped] + [""]
        return "\n".join(lines)


