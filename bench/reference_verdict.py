"""Does a reference of known-genuine footage of the *same* source make detect's verdicts right?

    .venv/bin/python bench/reference_verdict.py --weights unet4x.rendered_video_ft \
        --cache runs/reference_verdict/unet4x --json docs/results/reference_verdict_unet4x.json

Why: one tau2 cannot serve every source (docs/weights.md, "Genuine video"): the default calls 90 % of held-out
genuine video faces fake, yet within one clip its scores separate fake from genuine frames (AUC 0.98-0.99).
`fakeseg detect SRC --reference GENUINE` sets tau2 where at most `--false-alarm` (default 5 %) of the
reference's faces reach it. This script measures that rule the only way this data allows, by splitting
footage in time: the first half of a clip is the reference, the second half is checked.

- genuine videos (../shared/data/real_videos): the checked half's verdicts should be "real"; a false "fake"
  is a false alarm. Compared with the weights' own tau2, and with a reference taken from *another* clip
  (every other clip in turn), which shows why the reference must come from the same source;
- forgery videos (../shared/data/forgeries/*/videos): the original's first half is the reference; the checked
  halves are the original's second half (should be real) and each fake's frames made from it (should be fake).

Every face is scored once by `Predictor.stream`, exactly as detect scores it (tracking, crops, precision), and
cached per clip in --cache; the halves, verdicts and tracks then use fakeseg's own rules (`track_summary`,
`source_verdict`, `threshold_at_false_alarm_rate`). Clips whose reference half holds fewer faces than
`MIN_REFERENCE_FACES` (detect's minimum) are left out, as detect would refuse them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fakeseg.data.sources import video_info
from fakeseg.metrics import threshold_at_false_alarm_rate
from fakeseg.predict import MIN_REFERENCE_FACES, Predictor
from fakeseg.results import source_verdict, track_summary

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HELD_OUT = {"sadtalker__RD_Radio2_000", "sadtalker__RD_Radio34_000", "v_express__RD_Radio10_0_clip_0",
            "video_retalking__face_3"}  # identities of the bank's validation side (bench/genuine_video_pool.py)
# per forgery source: the original, the fakes made from it, and the fake frame -> original frame mapping
FORGERY_VIDEOS = {
    "ghost_video_swap": ("orig.webm", ["elon.webm", "khabenskii.webm", "mark.webm"]),
    "wav2lip_lipsync": ("kim_7s_raw.mp4", ["kim_lip_synced.mp4"]),  # fake frame j was made from original j mod n
}


def faces_of(predictor: Predictor, video: Path, cache: Path) -> dict:
    """{"n_frames", "rows": [[frame, face_id, score, detected], ...]} of every face detect finds in `video`."""
    path = cache / f"{video.parent.parent.name}__{video.stem}.json"
    if path.exists():
        return json.loads(path.read_text())
    rows, n = [], 0
    for result in predictor.stream(video):
        n = result.frame + 1
        rows += [[result.frame, f.face_id, round(f.score, 7), bool(f.detected)] for f in result.faces]
    found = {"n_frames": n, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(found))
    return found


def verdict(rows: list, tau2: float) -> tuple[str, float | None]:
    """detect's verdict on these rows at tau2: tracks by face id, the median rule, one-off tracks left out."""
    tracks = []
    for face_id in sorted({r[1] for r in rows}):
        own = [r for r in rows if r[1] == face_id]
        frames = np.array([r[0] for r in own])
        scores = np.array([r[2] for r in own])
        tracks.append(track_summary(face_id, frames, scores, tau2, sum(r[3] for r in own)))
    return source_verdict(tracks)


def halves(found: dict, split: int | None = None) -> tuple[list, list]:
    cut = found["n_frames"] // 2 if split is None else split
    return [r for r in found["rows"] if r[0] < cut], [r for r in found["rows"] if r[0] >= cut]


def genuine_clips(predictor: Predictor, cache: Path, rate: float, tau2: float) -> dict:
    clips = {}
    for video in sorted((DATA / "real_videos").glob("*.mp4")):
        reference, checked = halves(faces_of(predictor, video, cache))
        if len(reference) < MIN_REFERENCE_FACES or not checked:
            print(f"{video.stem}: left out, {len(reference)} reference faces")
            continue
        clips[video.stem] = (np.array([r[2] for r in reference]), checked)
    out = []
    for name, (reference, checked) in clips.items():
        own_tau2 = threshold_at_false_alarm_rate(reference, rate)
        others = [verdict(checked, threshold_at_false_alarm_rate(ref, rate))[0]
                  for other, (ref, _) in clips.items() if other != name]
        row = {
            "clip": name,
            "held_out_identity": name in HELD_OUT,
            "reference_faces": len(reference),
            "checked_faces": len(checked),
            "checked_median": round(float(np.median([r[2] for r in checked])), 5),
            "weights_tau2": verdict(checked, tau2)[0],
            "same_clip_reference": verdict(checked, own_tau2)[0],
            "reference_tau2": round(own_tau2, 5),
            "other_clip_reference_fake_share": round(others.count("fake") / len(others), 3),
        }
        out.append(row)
        print(json.dumps(row))
    return {"clips": out, "summary": _genuine_summary(out)}


def _genuine_summary(rows: list) -> dict:
    def share(key, subset):
        return None if not subset else round(sum(r[key] == "fake" for r in subset) / len(subset), 3)

    summary = {}
    for label, subset in (("all", rows), ("held_out_identities", [r for r in rows if r["held_out_identity"]])):
        summary[label] = {
            "clips": len(subset),
            "called_fake_weights_tau2": share("weights_tau2", subset),
            "called_fake_same_clip_reference": share("same_clip_reference", subset),
            "called_fake_other_clip_reference": round(
                float(np.mean([r["other_clip_reference_fake_share"] for r in subset])), 3) if subset else None,
        }
    return summary


def forgery_clips(predictor: Predictor, cache: Path, rate: float, tau2: float) -> list:
    out = []
    for source, (original, fakes) in FORGERY_VIDEOS.items():
        videos = DATA / "forgeries" / source / "videos"
        orig = faces_of(predictor, videos / original, cache)
        cut = orig["n_frames"] // 2
        reference, genuine = halves(orig)
        ref_scores = np.array([r[2] for r in reference])
        ref_tau2 = threshold_at_false_alarm_rate(ref_scores, rate)
        checked = {f"{original} (second half, genuine)": genuine}
        for fake in fakes:
            found = faces_of(predictor, videos / fake, cache)
            # only fake frames made from the original's second half: none of them is a manipulated reference frame
            checked[f"{fake} (fake)"] = [r for r in found["rows"] if cut <= r[0] % orig["n_frames"]]
        for name, rows in checked.items():
            scores = np.array([r[2] for r in rows])
            row = {
                "source": source,
                "checked": name,
                "reference_faces": len(reference),
                "checked_faces": len(rows),
                "reference_tau2": round(ref_tau2, 5),
                "weights_tau2": verdict(rows, tau2)[0],
                "same_clip_reference": verdict(rows, ref_tau2)[0],
                "frames_called_fake_weights_tau2": round(float((scores >= tau2).mean()), 3),
                "frames_called_fake_reference": round(float((scores >= ref_tau2).mean()), 3),
                "checked_median": round(float(np.median(scores)), 5),
                "reference_median": round(float(np.median(ref_scores)), 5),
            }
            out.append(row)
            print(json.dumps(row))
        # accuracy over every checked frame of the source (genuine second half + its fakes), per frame at tau2
        rows = [r for r in out if r["source"] == source]
        right = {key: sum(r["checked_faces"] * (r[key] if "(fake)" in r["checked"] else 1 - r[key]) for r in rows)
                 for key in ("frames_called_fake_weights_tau2", "frames_called_fake_reference")}
        n = sum(r["checked_faces"] for r in rows)
        accuracy = {"source": source, "frames": n, **{
            f"accuracy_{key.removeprefix('frames_called_fake_')}": round(v / n, 3) for key, v in right.items()}}
        out.append(accuracy)
        print(json.dumps(accuracy))
    return out


def sweep(predictor: Predictor, cache: Path, tau2: float, rates=(0.01, 0.02, 0.05, 0.1), lengths=(1, 2, 4)) -> list:
    """How much reference is enough, at which rate: the checked halves as above, the reference the first
    `length` seconds of each clip (or its whole first half, "half"); genuine clips called fake, and the forgery
    videos' fakes still called fake (of 4: three GHOST swaps, one Wav2Lip)."""
    out = []
    genuine = [(v, faces_of(predictor, v, cache)) for v in sorted((DATA / "real_videos").glob("*.mp4"))]
    fps = {v: video_info(v).fps or 25.0 for v, _ in genuine}
    forgeries = []
    for source, (original, fakes) in FORGERY_VIDEOS.items():
        videos = DATA / "forgeries" / source / "videos"
        orig = faces_of(predictor, videos / original, cache)
        fake_rows = [faces_of(predictor, videos / f, cache) for f in fakes]
        forgeries.append((videos / original, orig, fake_rows))
        fps[videos / original] = video_info(videos / original).fps or 25.0
    for length in (*lengths, "half"):
        for rate in rates:
            called, fakes_caught, n_clips = 0, 0, 0
            for video, found in genuine:
                cut = found["n_frames"] // 2
                first = cut if length == "half" else min(cut, round(length * fps[video]))
                reference = [r[2] for r in found["rows"] if r[0] < first]
                checked = [r for r in found["rows"] if r[0] >= cut]
                if len(reference) < MIN_REFERENCE_FACES or not checked:
                    continue
                n_clips += 1
                called += verdict(checked, threshold_at_false_alarm_rate(reference, rate))[0] == "fake"
            for video, orig, fake_rows in forgeries:
                cut = orig["n_frames"] // 2
                first = cut if length == "half" else min(cut, round(length * fps[video]))
                reference = [r[2] for r in orig["rows"] if r[0] < first]
                if len(reference) < MIN_REFERENCE_FACES:
                    continue
                t = threshold_at_false_alarm_rate(reference, rate)
                for found in fake_rows:
                    rows = [r for r in found["rows"] if cut <= r[0] % orig["n_frames"]]
                    fakes_caught += verdict(rows, t)[0] == "fake"
            row = {"reference": length if length == "half" else f"{length} s", "false_alarm": rate,
                   "genuine_clips": n_clips, "genuine_called_fake": round(called / max(n_clips, 1), 3),
                   "forgery_fakes_called_fake_of_4": int(fakes_caught)}
            out.append(row)
            print(json.dumps(row))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="default: detect's default weights")
    ap.add_argument("--false-alarm", type=float, default=0.05, help="detect's --false-alarm (default 0.05)")
    ap.add_argument("--cache", type=Path, required=True, help="face scores per clip (reused when present)")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    predictor = Predictor(args.weights)
    tau2 = predictor.threshold
    result = {
        "weights": predictor.weights,
        "weights_tau2": tau2,
        "false_alarm": args.false_alarm,
        "min_reference_faces": MIN_REFERENCE_FACES,
        "genuine": genuine_clips(predictor, args.cache, args.false_alarm, tau2),
        "forgeries": forgery_clips(predictor, args.cache, args.false_alarm, tau2),
        "sweep": sweep(predictor, args.cache, tau2),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["genuine"]["summary"], indent=1))


if __name__ == "__main__":
    main()
