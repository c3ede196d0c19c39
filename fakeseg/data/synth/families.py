"""The four forgery families. Each takes the target (a canvas with landmarks) and returns the
manipulated canvas plus what it drew; none of them touches compression or the mask (see generator).

- swap:      another person's face, chosen by landmark shape/pose, warped onto the target's landmarks,
             colour-matched and blended (alpha or Poisson), sometimes re-generated at low resolution
             like the 224-256 px faces one-shot swappers (GHOST, SimSwap) paste back.
- reenact:   the same face with mouth, eyes, jaw or brows moved by a smooth landmark-driven warp.
- rerender:  mouth, lower face or whole face re-synthesised at 48-128 px and upsampled, then
             sharpened (face-restorer look), smoothed, noised or given a generator texture (the
             Wav2Lip + GFPGAN look: a 96 px lower face pasted back).
- selfblend: the face blended into itself after colour/frequency jitter and a small shift (SBI).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .regions import blend, face_size, region_alpha
from .warps import colour_transfer, landmark_warp, poisson

# How a re-rendered face is finished, drawn uniformly (sharpening twice as often: face restorers are common).
# The sharpened, noised and checkerboard looks put fine texture back; real generators mostly remove it
# (docs/weights.md, "Local evidence"), so a Synthesizer can be restricted to some of them.
FINISHES = ("sharpen", "sharpen", "smooth", "noise", "texture", "none")


def check_finishes(finishes) -> tuple[str, ...]:
    """The finishes as a tuple, or ValueError naming the unknown ones (the one check for library, CLI, bench)."""
    finishes = tuple(finishes)
    unknown = set(finishes) - set(FINISHES)
    if unknown or not finishes:
        what = f"unknown finishes {sorted(unknown)}" if unknown else "no finish given"
        raise ValueError(f"{what}; choose from {', '.join(sorted(set(FINISHES)))}")
    return finishes


RENDERED_MAX_SCALE = 0.75  # a rendered target's face is re-rendered at most this share of its width


@dataclass
class Target:
    image: np.ndarray  # (H, W, 3) uint8 RGB canvas
    landmarks: np.ndarray  # (68, 2) float32 canvas pixels
    finishes: tuple[str, ...] = FINISHES  # the looks `retouch` may give what a family re-renders
    # True: every family re-renders what it changes, as the generator-made fakes of real tools do (GHOST,
    # SimSwap, Wav2Lip all paste network output back); False: swap and reenact re-render only sometimes
    rendered: bool = False

    @property
    def hw(self) -> tuple[int, int]:
        return self.image.shape[:2]

    @property
    def size(self) -> float:
        return face_size(self.landmarks)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def retouch(
    image: np.ndarray, t: Target, rng: np.random.Generator, px: tuple[float, float] = (48, 128)
) -> tuple[np.ndarray, dict]:
    """The whole canvas re-rendered as a face generator would: the face resampled to `px` pixels wide
    and back, then one of the target's finishing looks. Blended through a region, it leaves texture
    evidence inside it. A `rendered` target always loses resolution: a network's output never carries
    the camera's grain, even where it is generated at the frame's own size."""
    h, w = image.shape[:2]
    fs = t.size
    meta: dict = {}
    out = image
    face_px = _u(rng, *px)
    if t.rendered:
        face_px = min(face_px, RENDERED_MAX_SCALE * fs)
    f = face_px / fs
    if f < 0.85:
        small = cv2.resize(image, (max(4, round(w * f)), max(4, round(h * f))), interpolation=cv2.INTER_AREA)
        up = (cv2.INTER_LINEAR, cv2.INTER_CUBIC)[int(rng.integers(2))]
        out = cv2.resize(small, (w, h), interpolation=up)
        meta["face_px"] = round(face_px)
    look = str(rng.choice(list(t.finishes)))
    meta["look"] = look
    if look == "sharpen":  # GFPGAN/CodeFormer: crisp edges and halos on an otherwise smooth face
        amount, sigma = _u(rng, 0.6, 2.0), _u(rng, 0.8, 2.5)
        blur = cv2.GaussianBlur(out, (0, 0), sigma)
        out = cv2.addWeighted(out, 1 + amount, blur, -amount, 0)
    elif look == "smooth":  # beautified, plastic skin
        d = int(rng.integers(5, 10))
        out = cv2.bilateralFilter(out, d, _u(rng, 20, 60), _u(rng, 3, 9))
    elif look == "noise":
        noise = rng.normal(0, _u(rng, 3, 8), out.shape).astype(np.float32)
        out = np.clip(out.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    elif look == "texture":  # transposed-convolution checkerboard: every other pixel repeated
        half = cv2.resize(out, (max(2, w // 2), max(2, h // 2)), interpolation=cv2.INTER_AREA)
        out = cv2.resize(half, (w, h), interpolation=cv2.INTER_NEAREST)
        out = cv2.GaussianBlur(out, (0, 0), _u(rng, 0.3, 0.7))
    return out, meta


def _tone_shift(image: np.ndarray, rng: np.random.Generator, level: float) -> np.ndarray:
    shift = rng.choice([-1, 1]) * level + rng.uniform(-0.3, 0.3, 3) * level
    return np.clip(image.astype(np.float32) + shift, 0, 255).astype(np.uint8)


def _colour_jitter(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    x = image.astype(np.float32)
    # per-channel shifts of 6-18 grey levels: summed over RGB they clear the mask threshold (20) even
    # at the weakest strength, so the self-blended region shows up whole, not in patches
    shift = rng.choice([-1, 1], 3) * rng.uniform(6, 18, 3) * max(strength, 0.7)
    contrast = 1 + rng.uniform(-0.15, 0.15) * strength
    mean = x.mean((0, 1))
    x = (x - mean) * contrast + mean + shift
    hsv = cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-4, 4) * strength) % 180
    hsv[..., 1] *= 1 + rng.uniform(-0.2, 0.2) * strength
    return cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)


def swap(
    t: Target, donor_image: np.ndarray, donor_landmarks: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Another face on the target's landmarks. Returns (fake, alpha, meta)."""
    fs = t.size
    warped = landmark_warp(donor_image, donor_landmarks, t.landmarks, t.hw, sigma=0.12 * fs)
    meta: dict = {}
    if t.rendered or rng.random() < 0.5:  # one-shot swappers generate the face at 224-256 px and paste it back
        warped, look = retouch(warped, t, rng, px=(70, 180))
        meta["retouch"] = look
    alpha, rmeta = region_alpha(
        t.hw,
        t.landmarks,
        str(rng.choice(["face", "face", "inner"])),
        rng,
        grow=(-0.06, 0.02),
        feather=(0.01, 0.06),
    )
    meta.update(rmeta)
    inside = alpha > 0.5
    if rng.random() < 0.9:
        warped = colour_transfer(warped, t.image, inside, strength=_u(rng, 0.7, 1.0))
    fake = poisson(warped, t.image, inside.astype(np.uint8)) if rng.random() < 0.25 else None
    meta["blend"] = "alpha" if fake is None else "poisson"
    if fake is None:
        fake = blend(warped, t.image, alpha)
    return fake, alpha, meta


def _moved_landmarks(
    lm: np.ndarray, fs: float, rng: np.random.Generator
) -> tuple[np.ndarray, str, np.ndarray]:
    """(moved landmarks, what moved, indices of the moved points)."""
    m = lm.copy()
    part = str(rng.choice(["mouth_open", "mouth_smile", "mouth_narrow", "eyes", "jaw", "brows"]))
    if part == "mouth_open":  # lower lip and chin drop
        d = _u(rng, 0.03, 0.08) * fs
        idx = np.r_[55:60, 64:68, 6:11]
        m[np.r_[55:60, 65:68], 1] += d
        m[6:11, 1] += 0.6 * d
    elif part == "mouth_smile":  # corners out and up
        dx, dy = _u(rng, 0.02, 0.06) * fs, _u(rng, 0.01, 0.04) * fs
        idx = np.r_[48:68]
        m[[48, 60], 0] -= dx
        m[[54, 64], 0] += dx
        m[[48, 54, 60, 64], 1] -= dy
        m[[49, 59, 61, 67], 0] -= dx / 2
        m[[53, 55, 63, 65], 0] += dx / 2
    elif part == "mouth_narrow":  # pursed lips
        dx = _u(rng, 0.02, 0.05) * fs
        idx = np.r_[48:68]
        c = m[48:68, 0].mean()
        m[48:68, 0] = c + (m[48:68, 0] - c) * (1 - dx / max(1.0, np.ptp(m[48:68, 0])))
    elif part == "eyes":  # (half) blink: upper lids move toward the lower ones
        k = _u(rng, 0.3, 0.85)
        idx = np.r_[36:48]
        for up, low in ((37, 41), (38, 40), (43, 47), (44, 46)):
            m[up] = m[up] + k * (lm[low] - lm[up])
    elif part == "jaw":
        idx = np.r_[3:14]
        m[3:14, 0] += (
            rng.choice([-1, 1]) * _u(rng, 0.02, 0.05) * fs * np.sin(np.linspace(0.3, np.pi - 0.3, 11))
        )
        m[6:11, 1] += _u(rng, 0.0, 0.04) * fs
    else:  # brows raised or lowered
        idx = np.r_[17:27]
        m[17:27, 1] += rng.choice([-1, 1]) * _u(rng, 0.03, 0.07) * fs
    return m, part, idx


def reenact(t: Target, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """The same face with one part moved (warp around the moved landmarks), sometimes re-rendered."""
    fs = t.size
    moved, part, idx = _moved_landmarks(t.landmarks, fs, rng)
    warped = landmark_warp(t.image, t.landmarks, moved, t.hw, sigma=_u(rng, 0.06, 0.1) * fs, affine=False)
    meta: dict = {"part": part}
    if t.rendered or rng.random() < 0.4:  # reenactment tools re-render the part they move
        warped, look = retouch(warped, t, rng, px=(64, 160))
        meta["retouch"] = look
    pts = np.concatenate([t.landmarks[idx], moved[idx]])
    region = np.zeros(t.hw, np.uint8)
    cv2.fillConvexPoly(region, cv2.convexHull(np.round(pts).astype(np.int32)), 1)
    g = int(round(_u(rng, 0.05, 0.12) * fs))
    region = cv2.dilate(region, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * g + 1, 2 * g + 1)))
    alpha = cv2.GaussianBlur(region.astype(np.float32), (0, 0), _u(rng, 0.02, 0.05) * fs)
    return blend(warped, t.image, alpha), alpha, meta


def rerender(t: Target, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """A region re-synthesised at low resolution with a generator's finish."""
    region = str(rng.choice(["mouth", "lower", "lower_box", "lower_box", "nose_mouth", "face", "eyes"]))
    src, meta = retouch(t.image, t, rng, px=(40, 112))
    if rng.random() < 0.5:  # generators also shift skin tone a little; it makes flat skin change too
        src = _tone_shift(src, rng, _u(rng, 6, 14))
    grow = (0.04, 0.12) if region in ("mouth", "eyes", "nose_mouth") else (-0.03, 0.05)
    alpha, rmeta = region_alpha(t.hw, t.landmarks, region, rng, grow=grow, feather=(0.01, 0.05))
    meta.update(rmeta)
    return blend(src, t.image, alpha), alpha, meta


def selfblend(t: Target, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """Self-Blended Image (Shiohara & Yamasaki, CVPR 2022): the face, jittered in colour and frequency
    and shifted a little, blended back into itself; only the blending evidence is left to find."""
    fs = t.size
    src = _colour_jitter(t.image, rng, _u(rng, 0.4, 1.0))
    freq = str(rng.choice(["blur", "sharpen", "resample", "none"]))
    if t.rendered:  # drawn anyway, so that the rest of the sample does not depend on `rendered`
        freq = "resample"
    if freq == "blur":
        src = cv2.GaussianBlur(src, (0, 0), _u(rng, 0.6, 1.6))
    elif freq == "sharpen":
        src = cv2.addWeighted(src, 1.8, cv2.GaussianBlur(src, (0, 0), 1.2), -0.8, 0)
    elif freq == "resample":
        src, _ = retouch(src, t, rng, px=(64, 160))
    h, w = t.hw
    c = t.landmarks.mean(0)
    a = cv2.getRotationMatrix2D((float(c[0]), float(c[1])), _u(rng, -3, 3), _u(rng, 0.96, 1.05))
    a[:, 2] += rng.uniform(-0.03, 0.03, 2) * fs
    src = cv2.warpAffine(src, a, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    alpha, meta = region_alpha(
        t.hw,
        t.landmarks,
        str(rng.choice(["face", "face", "inner", "lower"])),
        rng,
        grow=(-0.05, 0.03),
        feather=(0.01, 0.08),
    )
    meta["freq"] = freq
    return blend(src, t.image, alpha), alpha, meta
