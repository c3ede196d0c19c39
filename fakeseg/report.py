"""report.html: one self-contained page per run (inline SVG plots, base64 JPEGs, no external assets).

A person should understand the result without opening a CSV: the verdict of every source and face
track first, then each video's score over time per track against tau2, then the most suspicious frames.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np

from .results import reference_note

_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_MAX_POINTS = 600  # longer series are averaged into this many bins so the page stays small
_VERDICT_STYLE = {"fake": "#c62828", "real": "#2e7d32", "no face": "#757575", "error": "#6d4c41"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5}.v{color:#fff;border-radius:3px;padding:1px 6px;font-weight:600}
figure{display:inline-block;margin:6px;vertical-align:top}figcaption{font-size:13px;color:#555}
img{max-width:460px;border:1px solid #ccc}small{color:#666}
"""


def _badge(verdict: str) -> str:
    color = _VERDICT_STYLE.get(verdict, "#555")
    return f'<span class="v" style="background:{color}">{html.escape(verdict)}</span>'


def _binned(times: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(times) <= _MAX_POINTS:
        return times, scores
    edges = np.linspace(0, len(times), _MAX_POINTS + 1).astype(int)
    return (
        np.array([times[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)]),
        np.array([scores[a:b].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)]),
    )


def _axis_top(highest: float) -> float:
    """The score axis' top: a round value above `highest` (scores of the shipped weights sit around 0.02-0.2;
    a fixed 0-1 axis would squash every line onto its floor)."""
    for top in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75):
        if highest * 1.1 <= top:
            return top
    return 1.0


def score_plot_svg(
    series: dict[int, tuple[np.ndarray, np.ndarray]],
    tau2: float,
    width: int = 900,
    height: int = 200,
    band: tuple[float, float] | None = None,
) -> str:
    """Inline SVG: score over time (s), one line per face track, tau2 as a dashed line, and `band` (the
    5th-95th percentile of known-genuine reference faces) shaded, so a reader sees where genuine faces lie."""
    pad_l, pad_r, pad_t, pad_b = 40, 10, 10, 28
    t_max = max((float(t.max()) for t, _ in series.values() if len(t)), default=1.0) or 1.0
    highest = max([tau2, *(band or ()), *(float(np.max(s)) for _, s in series.values() if len(s))])
    top = _axis_top(highest)
    pw, ph = width - pad_l - pad_r, height - pad_t - pad_b

    def y_of(s: float) -> float:
        return pad_t + ph * (1 - min(max(s, 0.0), top) / top)

    def xy(t: float, s: float) -> str:
        return f"{pad_l + pw * t / t_max:.1f},{y_of(s):.1f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-size="11">',
        f'<rect x="{pad_l}" y="{pad_t}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>',
    ]
    if band is not None:
        lo, hi = band
        parts.append(
            f'<rect x="{pad_l}" y="{y_of(hi):.1f}" width="{pw}" height="{max(y_of(lo) - y_of(hi), 1.0):.1f}" '
            f'fill="#2e7d32" fill-opacity="0.12"><title>known-genuine reference faces, 5th-95th percentile: '
            f"{lo:.3f}-{hi:.3f}</title></rect>"
        )
    for v in (0.0, top / 2, top):
        parts.append(f'<text x="{pad_l - 6}" y="{y_of(v) + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    for i in range(6):
        t = t_max * i / 5
        parts.append(
            f'<text x="{pad_l + pw * i / 5:.1f}" y="{height - 12}" text-anchor="middle">{t:.1f}s</text>'
        )
    y_tau = y_of(tau2)
    parts.append(
        f'<line x1="{pad_l}" x2="{pad_l + pw}" y1="{y_tau:.1f}" y2="{y_tau:.1f}" stroke="#000" '
        f'stroke-dasharray="5,4"><title>tau2 = {tau2:.3f}</title></line>'
    )
    for i, (face_id, (times, scores)) in enumerate(sorted(series.items())):
        times, scores = _binned(np.asarray(times), np.asarray(scores))
        color = _COLORS[i % len(_COLORS)]
        if len(times) == 1:
            x, y = xy(times[0], scores[0]).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
        else:
            pts = " ".join(xy(t, s) for t, s in zip(times, scores, strict=True))
            parts.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}">'
                f"<title>face #{face_id}</title></polyline>"
            )
        parts.append(f'<text x="{pad_l + 8 + 70 * i}" y="{pad_t + 14}" fill="{color}">face #{face_id}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


def write_report(
    path: str | Path,
    summary: dict,
    series: dict[str, dict[int, tuple[np.ndarray, np.ndarray]]],
    highlights: list[tuple[float, str, str, bytes]],
    reference_band: tuple[float, float] | None = None,
) -> Path:
    """Write report.html (atomically) from a run's summary, per-video track series and top frames.
    reference_band: the 5th-95th percentile of the reference's genuine scores, shaded in the score plots."""
    path = Path(path)
    model = summary.get("model", {})
    tau2 = float(model.get("tau2", 0.5))
    counts = summary.get("counts", {})
    reference = summary.get("reference")

    def esc(value) -> str:
        return html.escape(str(value if value is not None else ""))

    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>fakeseg report</title>",
        f"<style>{_CSS}</style></head><body><h1>fakeseg detect report</h1>",
        f"<p>{counts.get('processed', 0)} of {counts.get('sources', 0)} sources processed: "
        f"<b>{counts.get('fake', 0)} fake</b>, {counts.get('real', 0)} real, {counts.get('no_face', 0)} "
        f"without a face, {counts.get('errors', 0)} unreadable; {counts.get('frames', 0)} frames, "
        f"{counts.get('faces', 0)} faces.</p>",
        f"<p><small>model {esc(model.get('weights'))} ({esc(model.get('arch'))}-{esc(model.get('task'))}), "
        f"{esc(summary.get('threshold') or f'tau2 = {tau2:.3f}')}, device {esc(summary.get('device'))}, "
        f"fakeseg {esc(summary.get('fakeseg_version'))}."
        f"<br>Rule: {html.escape(summary.get('rule', ''))}<br>A score is the mean of the predicted "
        "manipulation mask over the face crop: the fraction of the crop the model believes manipulated."
        "</small></p>",
        "<h2>Verdicts</h2><table><tr><th>source</th><th>verdict</th><th>score</th>"
        + ("<th>genuine as high</th>" if reference else "")
        + "<th>frames</th><th>faces (tracks: median score, frames)</th></tr>",
    ]
    for s in summary.get("sources", []):
        if s["verdict"] == "error":
            out.append(
                f"<tr><td>{html.escape(s['source'])}</td><td>{_badge('error')}</td>"
                f"<td colspan={4 if reference else 3}>{html.escape(s.get('error', ''))}</td></tr>"
            )
            continue
        tracks = ", ".join(
            f"#{t['face_id']} {t['verdict']} {t['median']:.3f} ({t['frames']})"
            + (f" genuine as high {t['false_alarm_rate']:.0%}" if "false_alarm_rate" in t else "")
            + ("" if t.get("counted", True) else " ignored: too short")
            for t in s["tracks"]
        )
        score = "" if s["score"] is None else f"{s['score']:.3f}"
        warning = f"<br><small>{html.escape(s['warning'])}</small>" if s.get("warning") else ""
        out.append(
            f"<tr><td>{html.escape(s['source'])}{warning}</td><td>{_badge(s['verdict'])}</td>"
            f"<td>{score}</td>"
            + (f"<td>{_rate(s.get('false_alarm_rate'))}</td>" if reference else "")
            + f"<td>{s['frames']}</td><td>{html.escape(tracks) or '-'}</td></tr>"
        )
    out.append("</table>")
    if reference:
        note = reference_note(reference)
        out.append(f"<p><small>{esc(note[0].upper() + note[1:])}. High means the verdict is weak.</small></p>")
    if series:
        out.append(
            "<h2>Score over time</h2><p><small>Dashed: tau2."
            + (" Shaded: where the middle 90 % of the reference's known-genuine faces score." if reference_band else "")
            + "</small></p>"
        )
        for source_name, tracks in series.items():
            if tracks:
                plot = score_plot_svg(tracks, tau2, band=reference_band)
                out.append(f"<h3>{html.escape(Path(source_name).name)}</h3>{plot}")
    if highlights:
        out.append("<h2>Most suspicious frames</h2><div>")
        for score, _source, caption, jpeg in highlights:
            b64 = base64.b64encode(jpeg).decode("ascii")
            out.append(
                f"<figure><img src='data:image/jpeg;base64,{b64}' alt='{html.escape(caption)}'>"
                f"<figcaption>{html.escape(caption)}: score {score:.3f}</figcaption></figure>"
            )
        out.append("</div>")
    out.append("</body></html>\n")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(out), encoding="utf-8")
    os.replace(tmp, path)
    return path
