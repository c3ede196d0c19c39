"""Per-predictor accumulation and the paper's columns.

Per image we keep its score and its four pixel counts (TP, FP, FN, TN): a confusion matrix over any
group of images is then an exact sum, never an average of per-image or per-batch IoUs. Pixel AUC
needs the scores of every pixel, so it is accumulated per group in fixed-size histograms.
"""

from __future__ import annotations

import numpy as np

from ..metrics import (
    ConfusionMatrix,
    PixelAUC,
    accuracy_at,
    average_precision,
    balanced_accuracy_at,
    equal_error_rate,
    roc_auc,
    video_auc,
)

PRISTINE = "pristine"
FAKES, AVG = "fakes", "avg"  # pooled over every fake crop; the paper's mean over columns
GENUINE_KEY = "genuine"


class Tally:
    """Everything one predictor (the model or a reference) said about the evaluated crops."""

    def __init__(self, pixel_threshold: float = 0.5):
        self.pixel_threshold = pixel_threshold  # a pixel is called manipulated when its map value is above this
        self.images: list[str] = []
        self.scores: list[float] = []
        self.labels: list[int] = []
        self.methods: list[str] = []
        self.sources: list[str] = []
        self.videos: list[str] = []
        self.counts: list[tuple[int, int, int, int]] = []  # tp, fp, fn, tn per image
        self.pixel_auc: dict[str, PixelAUC] = {}

    def add(
        self,
        score: float,
        prob: np.ndarray,
        mask: np.ndarray,
        label: int,
        method: str,
        source: str,
        video: str,
        image: str = "",
    ) -> None:
        pred = prob > self.pixel_threshold
        truth = mask.astype(bool)
        tp = int(np.count_nonzero(pred & truth))
        fp = int(np.count_nonzero(pred)) - tp
        fn = int(np.count_nonzero(truth)) - tp
        self.counts.append((tp, fp, fn, truth.size - tp - fp - fn))
        self.images.append(image)
        self.scores.append(float(score))
        self.labels.append(int(label))
        self.methods.append(method)
        self.sources.append(source)
        self.videos.append(video)
        for key in (f"fake:{method}" if label else GENUINE_KEY, f"source:{source}"):
            self.pixel_auc.setdefault(key, PixelAUC()).update(mask, prob)

    def __len__(self) -> int:
        return len(self.scores)

    def rows(self) -> list[dict]:
        """One row per image: image, label, method, source, score (rounded to 1e-6)."""
        return [
            {"image": i, "label": y, "method": m, "source": s, "score": round(v, 6)}
            for i, y, m, s, v in zip(self.images, self.labels, self.methods, self.sources, self.scores,
                                     strict=True)
        ]

    # ----------------------------------------------------------------------------------------------

    def _arrays(self):
        return (
            np.asarray(self.scores, np.float64),
            np.asarray(self.labels, np.int64),
            np.asarray(self.methods, object),
            np.asarray(self.sources, object),
        )

    def _confusion(self, rows: np.ndarray) -> ConfusionMatrix:
        c = np.asarray(self.counts, np.int64).reshape(-1, 4)[rows].sum(0)
        return ConfusionMatrix.from_counts(*(int(v) for v in c))

    def _pixel_auc(self, keys: list[str]) -> float | None:
        total = PixelAUC()
        for key in keys:
            if key in self.pixel_auc:
                total += self.pixel_auc[key]
        return total.compute()

    def _image(self, fakes: np.ndarray, genuine: np.ndarray, tau2: float) -> dict:
        """Separation of `fakes` from `genuine` rows (boolean masks over the images)."""
        s, y, _, _ = self._arrays()
        both = fakes | genuine
        videos = [v for v, keep in zip(self.videos, both, strict=True) if keep]
        return {
            "auc": roc_auc(s[both], y[both]),
            "ap": average_precision(s[both], y[both]),
            "eer": equal_error_rate(s[both], y[both]),
            "video_auc": video_auc(s[both], y[both], videos) if any(videos) else None,
            "n_fake": int(fakes.sum()),
            "n_genuine": int(genuine.sum()),
        }

    def columns(self, tau2: float) -> dict[str, dict]:
        """The paper's columns (one per method, then pristine), plus pooled `fakes` and their `avg`."""
        s, y, methods, _ = self._arrays()
        genuine = y == 0
        fake_methods = sorted({m for m, lab in zip(self.methods, self.labels, strict=True) if lab == 1})
        out: dict[str, dict] = {}
        for method in fake_methods:
            rows = (methods == method) & (y == 1)
            out[method] = {
                "accuracy": accuracy_at(s[rows], y[rows], tau2),
                **self._confusion(rows).compute(),
                "pixel_auc": self._pixel_auc([f"fake:{method}", GENUINE_KEY]),
                **self._image(rows, genuine, tau2),
            }
        if genuine.any():
            out[PRISTINE] = {
                "accuracy": accuracy_at(s[genuine], y[genuine], tau2),
                **self._confusion(genuine).compute(),
                "pixel_auc": None,
                "auc": None,
                "ap": None,
                "eer": None,
                "video_auc": None,
                "n_fake": 0,
                "n_genuine": int(genuine.sum()),
            }
        fakes = y == 1
        if fakes.any():
            out[FAKES] = {
                "accuracy": accuracy_at(s[fakes], y[fakes], tau2),
                **self._confusion(fakes).compute(),
                "pixel_auc": self._pixel_auc([*(f"fake:{m}" for m in fake_methods), GENUINE_KEY]),
                **self._image(fakes, genuine, tau2),
            }
        paper_columns = [out[c] for c in (*fake_methods, PRISTINE) if c in out]
        out[AVG] = {
            key: _mean(col.get(key) for col in paper_columns)
            for key in (
                "accuracy",
                "miou",
                "bg_iou",
                "fg_iou",
                "flagged",
                "pixel_auc",
                "auc",
                "ap",
                "eer",
                "video_auc",
            )
        }
        out[AVG].update(n_fake=int(fakes.sum()), n_genuine=int(genuine.sum()))
        return out

    def by_source(self, tau2: float) -> dict[str, dict]:
        """Per `source`: its fakes against its own genuine images (the targets differ per source)."""
        s, y, _, sources = self._arrays()
        out = {}
        for source in sorted(set(self.sources)):
            fakes, genuine = (sources == source) & (y == 1), (sources == source) & (y == 0)
            fake_cm, genuine_cm = self._confusion(fakes), self._confusion(genuine)
            out[source or "-"] = {
                "accuracy_fake": accuracy_at(s[fakes], y[fakes], tau2),
                "accuracy_genuine": accuracy_at(s[genuine], y[genuine], tau2),
                "miou": fake_cm.miou if fakes.any() else None,
                "bg_iou": fake_cm.bg_iou if fakes.any() else None,
                "fg_iou": fake_cm.fg_iou,
                "genuine_flagged": genuine_cm.flagged,
                "pixel_auc": self._pixel_auc([f"source:{source}"]),
                **self._image(fakes, genuine, tau2),
            }
        return out

    def overall(self, tau2: float) -> dict:
        s, y, _, _ = self._arrays()
        return {
            "accuracy": accuracy_at(s, y, tau2),
            "balanced_accuracy": balanced_accuracy_at(s, y, tau2),
            "genuine_flagged": self._confusion(y == 0).flagged,
            **self._image(y == 1, y == 0, tau2),
        }


def _mean(values) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None
