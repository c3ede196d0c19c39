"""Forgeries synthesised from real faces: four families, the pixel-difference mask, one face crop.

>>> from fakeseg.data.facebank import FaceBank
>>> from fakeseg.data.synth import Synthesizer
>>> sample = Synthesizer(FaceBank.load("bank"), seed=0).sample(0)  # doctest: +SKIP
"""

from .generator import FAMILIES, Draft, Synthesizer, SynthSample

__all__ = ["FAMILIES", "Draft", "SynthSample", "Synthesizer"]
