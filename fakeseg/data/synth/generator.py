"""`Synthesizer`: one reproducible forgery (or genuine face) per (seed, index), as a face crop + mask.

Per sample, in this order (each step draws from one generator seeded by (seed, index), so a pool is
reproducible and any worker can make any index):

1. target: a bank face (video frames and large photos first; tight UTKFace crops rarely), rescaled
   so its x2 crop is 0.7-1.5x the output size (or its native size when smaller); with `captured`, then
   given the sensor noise and codec texture a frame has at that scale *before* a tool touches it (see
   `as_captured`), so a region the tool re-renders lacks the texture around it, as in real forgeries;
2. manipulation: one family (swap, reenact, rerender, selfblend) -> the fake canvas;
   (with `exaggerate` k != 1, the change is scaled first: original + k (fake - original); see `exaggerated`)
3. THE mask = difference_mask(fake, original) before any compression (the same rule as FF++ and the
   real forgeries); a draw whose mask is tiny, patchy or outside the x2 crop is redrawn, and after
   `max_tries` the sample becomes genuine, so no faint change ever carries a noise mask;
4. degradation, alike for genuine and fake: whole-frame down/up-scale, sensor noise, JPEG (sometimes twice),
   drawn from named ranges (`DEGRADATIONS`: `upload`, the first; `video`, calibrated on genuine video);
5. the crop: `crop_face` with the detector box jittered a little, mask resized nearest.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from ..facebank import FaceBank
from ..faces import crop_box, crop_face
from ..masks import difference_mask
from . import families
from .families import FINISHES, Target, check_finishes

FAMILIES = ("swap", "reenact", "rerender", "selfblend")
FAMILY_WEIGHTS = {"swap": 0.35, "reenact": 0.15, "rerender": 0.3, "selfblend": 0.2}
TARGET_KINDS = {"video": 0.5, "photo": 0.4, "tight": 0.1}  # FINDINGS: UTKFace mainly as donors


@dataclass
class SynthSample:
    image: np.ndarray  # (S, S, 3) uint8 RGB face crop
    mask: np.ndarray  # (S, S) uint8 {0,1}
    label: int  # 1 manipulated, 0 genuine
    method: str  # a family name, or "pristine"
    meta: dict = field(default_factory=dict)


@dataclass
class Draft:
    """A sample before degradation and cropping (canvas pixels): what tests and the mask rule see."""

    original: np.ndarray
    fake: np.ndarray  # == original for genuine samples
    mask: np.ndarray  # difference_mask(fake, original), uint8 {0,1}
    box: tuple[int, int, int, int]  # jittered face box; the crop is crop_box(box, 2)
    label: int
    method: str
    meta: dict


def exaggerated(fake: np.ndarray, original: np.ndarray, k: float) -> np.ndarray:
    """original + k (fake - original), clipped: every family's evidence (colour shift, blur, halo,
    noise, warp residual) k times stronger. A curriculum for small nets: subtle cues are learned far
    sooner after the same cues at k = 2-3 (docs/training.md, "Curriculum")."""
    if k == 1.0:
        return fake
    change = fake.astype(np.float32) - original.astype(np.float32)
    return np.clip(original + k * change, 0, 255).round().astype(np.uint8)


def _jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as they come (no RGB/BGR swap). Chroma is then subsampled on swapped channels,
    which every pool so far was made with; `augment.jpeg_recompress` is the channel-correct one."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)


# Calibrated alone, so synthesised genuine crops carry the inner-face texture of genuine video frames after the
# crop's downscale (bench/texture_levels.py: median 0.89 vs 0.90 for ../shared/data/real_videos) *before* any
# degradation; the `upload` degradation then wipes much of it out. DEGRADATIONS["video"] fits both together.
CAPTURE_NOISE = (3.0, 8.0)  # grain sigma, grey levels at canvas scale
CAPTURE_JPEG = (70, 95)  # quality of the stand-in for the source video's codec


def as_captured(
    image: np.ndarray,
    rng: np.random.Generator,
    meta: dict,
    grain: tuple[float, float] = CAPTURE_NOISE,
    jpeg: tuple[int, int] = CAPTURE_JPEG,
) -> np.ndarray:
    """The frame as a camera and codec left it, at the scale the manipulation works at.

    Bank images were mostly downscaled to the working size (INTER_AREA), which wipes out their own
    noise and blocks; a real tool gets a frame that has them. What the tool then re-renders (a
    generated face, a resampled mouth) is smooth inside an otherwise textured frame: the cue real
    fakes carry (FINDINGS: genuine GHOST frames are noisier and blockier than their fakes). Grain is
    mildly correlated (demosaicing), and JPEG stands in for the video codec's intra blocks."""
    out = image
    if rng.random() < 0.8:
        sigma = float(rng.uniform(*grain))
        noise = rng.normal(0, sigma, image.shape).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), 0.5) * 1.6  # keep the std near sigma after smoothing
        out = np.clip(out.astype(np.float32) + noise, 0, 255).round().astype(np.uint8)
        meta["source_noise"] = round(sigma, 2)
    if rng.random() < 0.8:
        q = int(rng.integers(jpeg[0], jpeg[1] + 1))
        out = _jpeg_round_trip(out, q)
        meta["source_jpeg"] = q
    return out


@dataclass(frozen=True)
class Degradation:
    """A frame's life outside the tool. After it, alike for genuine and fake (so compression is no cue):
    whole-frame down/up-scale (a smaller camera, a resized upload), sensor noise, JPEG (sometimes twice:
    re-encoded uploads). Before it, with `captured` targets: the grain and codec blocks of the source
    (`as_captured`); both ends are calibrated together, since what survives is what a net sees.
    p: how often a step happens; ranges are drawn uniformly, JPEG qualities inclusive."""

    rescale_p: float
    rescale: tuple[float, float]  # scale factor of the down/up-scale
    noise_p: float
    noise: tuple[float, float]  # sigma, grey levels
    jpeg_p: float
    jpeg: tuple[int, int]
    twice_p: float  # of the JPEG-ed frames, how many are encoded a second time
    twice: tuple[int, int]
    capture_noise: tuple[float, float] = CAPTURE_NOISE  # as_captured's grain sigma (canvas scale)
    capture_jpeg: tuple[int, int] = CAPTURE_JPEG  # as_captured's codec quality


DEGRADATIONS = {
    # The first ranges, guessed, after the source texture calibrated alone: synthesised genuine crops end
    # with less fine texture than genuine video (bench/texture_levels.py --degrade upload: median 0.62
    # against 0.90), and much of a re-rendered region's local evidence is gone. Every pool and checkpoint
    # made before `video` used these.
    "upload": Degradation(0.3, (0.4, 0.9), 0.1, (1.0, 4.0), 0.85, (40, 97), 0.2, (50, 95)),
    # Calibrated on genuine video, source and degradation together (docs/synth.md, "Degradation"): fewer
    # and milder rescales, JPEG q70-97, a little more source grain. Genuine crops: median 0.83 (25-75 %:
    # 0.54-1.26) against 0.90 (0.62-1.13) in ../shared/data/real_videos.
    "video": Degradation(0.15, (0.6, 0.95), 0.1, (1.0, 4.0), 0.85, (70, 97), 0.2, (50, 95), (4.0, 10.0)),
}


def _normalised_shape(lm: np.ndarray) -> np.ndarray:
    """Landmarks centred and scaled to unit RMS, not rotated: pose and face shape both count."""
    c = lm - lm.mean(0)
    return (c / max(np.sqrt((c**2).sum(1).mean()), 1e-6)).ravel()


class Synthesizer:
    """Forgeries from a face bank.

    >>> synth = Synthesizer(FaceBank.load("bank"), seed=0)              # doctest: +SKIP
    >>> s = synth.sample(17); s.image.shape, s.mask.shape, s.method     # doctest: +SKIP
    ((256, 256, 3), (256, 256), 'swap')
    """

    def __init__(
        self,
        bank: FaceBank,
        seed: int = 0,
        size: int = 256,
        genuine_fraction: float = 0.35,
        families: tuple[str, ...] | list[str] = FAMILIES,
        k_donors: int = 8,
        max_tries: int = 4,
        donors: FaceBank | None = None,
        degrade: bool = True,
        degradation: str | Degradation = "upload",
        exaggerate: float = 1.0,
        captured: bool = False,
        finishes: tuple[str, ...] | list[str] = FINISHES,
        rendered: bool = False,
    ):
        unknown = set(families) - set(FAMILIES)
        if unknown or not families:
            raise ValueError(f"unknown families {sorted(unknown)}; choose from {', '.join(FAMILIES)}")
        if not 0.0 <= genuine_fraction <= 1.0:
            raise ValueError(f"genuine_fraction must be in [0, 1], got {genuine_fraction}")
        if len(bank) == 0:
            raise ValueError("the face bank is empty")
        self.bank, self.donors = bank, donors or bank
        self.seed, self.size, self.genuine_fraction = seed, size, genuine_fraction
        self.families = tuple(families)
        if exaggerate < 1.0:
            raise ValueError(f"exaggerate must be >= 1 (1: as synthesised), got {exaggerate}")
        self.degrade = degrade  # False: no resampling, noise or JPEG after the manipulation (ablations)
        if isinstance(degradation, str):
            if degradation not in DEGRADATIONS:
                raise ValueError(f"unknown degradation {degradation!r}; choose from {', '.join(DEGRADATIONS)}")
            degradation = DEGRADATIONS[degradation]
        self.degradation = degradation  # the ranges the degradation (and `captured`) draw from
        self.exaggerate = float(exaggerate)
        self.captured = captured  # True: targets get a source frame's noise and codec texture (as_captured)
        self.finishes = check_finishes(finishes)  # the looks a re-rendered region may get (families.retouch)
        self.rendered = rendered  # True: every family re-renders what it changes (families.Target)
        w = np.array([FAMILY_WEIGHTS[f] for f in self.families])
        self._family_p = w / w.sum()
        self.k_donors, self.max_tries = k_donors, max_tries
        kinds = [e.kind for e in bank.entries]
        kw = np.array([TARGET_KINDS.get(k, 0.1) / kinds.count(k) for k in kinds])
        self._target_p = kw / kw.sum()
        self._shapes = np.stack([_normalised_shape(e.landmarks) for e in self.donors.entries]).astype(
            np.float32
        )
        self._donor_ids = np.array([e.identity for e in self.donors.entries])
        self._donor_gray = np.array([e.gray for e in self.donors.entries])
        if "swap" in self.families and len(set(self._donor_ids)) < 2:
            raise ValueError("a swap needs faces of at least two identities in the bank")

    def _rng(self, index_or_rng: int | np.random.Generator) -> np.random.Generator:
        if isinstance(index_or_rng, np.random.Generator):
            return index_or_rng
        return np.random.default_rng([self.seed, int(index_or_rng)])

    def _target(self, rng: np.random.Generator) -> tuple[int, Target, tuple[float, float, float, float]]:
        i = int(rng.choice(len(self.bank), p=self._target_p))
        e = self.bank.entries[i]
        image, lm, box = self.bank.image(i), e.landmarks.copy(), np.array(e.box, np.float32)
        side = max(box[2] - box[0], box[3] - box[1])
        f = min(1.0, self.size * float(np.exp(rng.uniform(np.log(0.7), np.log(1.5)))) / (2 * side))
        if f < 0.98:
            h, w = image.shape[:2]
            image = cv2.resize(
                image, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
            )
            lm, box = lm * f, box * f
        else:
            image = image.copy()
        return i, Target(image, lm.astype(np.float32), self.finishes, self.rendered), tuple(box)

    def _donor(self, target_index: int, rng: np.random.Generator) -> int:
        """A random one of the k donors nearest in landmark shape/pose, never the target's identity."""
        ident = self.bank.entries[target_index].identity
        d = ((self._shapes - _normalised_shape(self.bank.entries[target_index].landmarks)) ** 2).sum(1)
        d[self._donor_ids == ident] = np.inf
        d[self._donor_gray != self.bank.entries[target_index].gray] = np.inf  # no grey face on a colour photo
        if not np.isfinite(d).any():  # only other-tone donors left: better than none
            d = ((self._shapes - _normalised_shape(self.bank.entries[target_index].landmarks)) ** 2).sum(1)
            d[self._donor_ids == ident] = np.inf
        k = min(self.k_donors, int(np.isfinite(d).sum()))
        near = np.argpartition(d, k - 1)[:k]
        return int(rng.choice(near))

    def _manipulate(self, family: str, ti: int, t: Target, rng: np.random.Generator):
        if family == "swap":
            j = self._donor(ti, rng)
            fake, alpha, meta = families.swap(t, self.donors.image(j), self.donors.entries[j].landmarks, rng)
            meta["donor"] = self.donors.entries[j].identity
            return fake, alpha, meta
        return getattr(families, family)(t, rng)

    def draft(self, index_or_rng: int | np.random.Generator) -> Draft:
        """The sample `index` before degradation and cropping (see the module docstring)."""
        rng = self._rng(index_or_rng)
        return self._draft(rng)

    def _draft(self, rng: np.random.Generator) -> Draft:
        ti, t, fbox = self._target(rng)
        e = self.bank.entries[ti]
        meta = {"target": e.identity, "source": e.source, "kind": e.kind}
        if self.captured:  # the frame the tool is given, drawn before anything the tool does
            d = self.degradation
            t = replace(t, image=as_captured(t.image, rng, meta, d.capture_noise, d.capture_jpeg))
        side = max(fbox[2] - fbox[0], fbox[3] - fbox[1])
        cx, cy = (
            (fbox[0] + fbox[2]) / 2 + rng.uniform(-0.04, 0.04) * side,
            (fbox[1] + fbox[3]) / 2 + rng.uniform(-0.04, 0.04) * side,
        )
        half = side * rng.uniform(0.93, 1.07) / 2
        box = (int(round(cx - half)), int(round(cy - half)), int(round(cx + half)), int(round(cy + half)))
        if rng.random() >= self.genuine_fraction:
            family = str(rng.choice(self.families, p=self._family_p))
            for attempt in range(1, self.max_tries + 1):
                fake, alpha, fmeta = self._manipulate(family, ti, t, rng)
                fake = exaggerated(fake, t.image, self.exaggerate)
                mask = difference_mask(fake, t.image)
                if self._visible(mask, alpha, box):
                    meta.update(fmeta, attempts=attempt, mask_fraction=round(float(mask.mean()), 4))
                    if self.exaggerate != 1.0:
                        meta["exaggerate"] = self.exaggerate
                    return Draft(t.image, fake, mask, box, 1, family, meta)
            meta["rejected"] = family  # too faint max_tries times: a genuine sample instead
        return Draft(t.image, t.image, np.zeros(t.hw, np.uint8), box, 0, "pristine", meta)

    def _visible(self, mask: np.ndarray, alpha: np.ndarray, box: tuple[int, int, int, int]) -> bool:
        """The change is a real region: big enough in the crop, inside the crop, covering a fair part
        of what was pasted (not a few specks of a faint blend)."""
        area = int(mask.sum())
        x0, y0, x1, y1 = crop_box(box, 2.0)
        crop_area = (x1 - x0) * (y1 - y0)
        inside = int(mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)].sum())
        intended = int((alpha > 0.5).sum())
        return area >= 0.004 * crop_area and inside >= 0.97 * area and area >= 0.45 * intended

    def _degrade(self, image: np.ndarray, rng: np.random.Generator, meta: dict) -> np.ndarray:
        d = self.degradation
        h, w = image.shape[:2]
        if rng.random() < d.rescale_p:  # a lower-resolution camera or a resized upload
            f = rng.uniform(*d.rescale)
            small = cv2.resize(
                image, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
            )
            image = cv2.resize(
                small, (w, h), interpolation=(cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
            )
            meta["rescale"] = round(float(f), 2)
        if rng.random() < d.noise_p:
            noise = rng.normal(0, rng.uniform(*d.noise), image.shape).astype(np.float32)
            image = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
        qualities = []
        if rng.random() < d.jpeg_p:
            qualities.append(int(rng.integers(d.jpeg[0], d.jpeg[1] + 1)))
            if rng.random() < d.twice_p:  # re-encoded uploads
                qualities.append(int(rng.integers(d.twice[0], d.twice[1] + 1)))
        for q in qualities:
            image = _jpeg_round_trip(image, q)
        meta["jpeg"] = qualities
        return image

    def finish(self, draft: Draft, rng: np.random.Generator) -> SynthSample:
        """Degrade and crop a draft (the rng continues the one that drew it)."""
        meta = dict(draft.meta)
        degraded = self._degrade(draft.fake, rng, meta) if self.degrade else draft.fake
        crop = crop_face(degraded, draft.box, size=self.size, scale=2.0, mask=draft.mask)
        return SynthSample(crop.image, crop.mask, draft.label, draft.method, meta)

    def sample(self, index_or_rng: int | np.random.Generator) -> SynthSample:
        """Sample `index` (reproducible for a given seed), or one drawn from the generator passed."""
        rng = self._rng(index_or_rng)
        return self.finish(self._draft(rng), rng)
