"""The demo's training set: clean clips, each its own source video, for a model to learn from.

The failure variants each isolate one fault, so only two of them reach the shards: too few to
split into train, validation and test by source video. `training_variants(n)` adds n clips that
every stage should accept: infant cry, laughter and babbling on every face photo the demo can
animate (`demo.face.PHOTOS`), with varied length, timing, loudness, room, head motion and
framing, and the mouth opening with the voice as in every demo clip. A clip's recipe depends on
its index only; the corpus seed draws its sounds and motions, as for the failure variants.

A video's split is a hash of its id (`stages/shards/split.py`), so at the default 90/5/5 ratios a
dozen ids would leave validation and test empty. Each id therefore ends in a take number, picked
once so that at those ratios the clips fall train, val, test, train, ... in turn
(tests/demo/test_training.py checks it and prints the table to use if the hash or ratios change);
past the table the hash alone decides, as it does for real videos.
"""

from __future__ import annotations

import numpy as np

from demo.face import PHOTOS
from demo.variants import HeadMotion, Variant

VOCALS = ("cry", "laughter", "babble")
SPLIT_PLAN = ("train", "val", "test", "train")  # where clip i falls, cycling, at 90/5/5
# The recipes belong to the generator, not to a corpus: clip i is the same kind under any seed.
RECIPE_SEED = 20_240_515
_WORDS = {"cry": "cry", "laughter": "laugh", "babble": "babble"}
# Clip i's take: the first whose id hashes into SPLIT_PLAN's split for i at 90/5/5.
TAKES = (
    0, 19, 10, 0, 0, 26, 9, 0, 0, 7, 60, 0, 0, 5, 7, 0,
    0, 21, 50, 0, 0, 16, 26, 0, 0, 15, 33, 0, 0, 13, 11, 0,
)


def training_variants(size: int) -> tuple[Variant, ...]:
    """The first `size` clips of the training set: a larger size only appends clips.

    Raises:
        ValueError: `size` is negative.
    """
    if size < 0:
        raise ValueError(f"the training set size must be 0 or more, got {size}")
    return tuple(_recipe(i) for i in range(size))


def video_id(index: int, take: int | None = None) -> str:
    """Clip `index`'s name: its source video's id in segments.csv, so its split group."""
    vocal, photo = VOCALS[index % len(VOCALS)], PHOTOS[index % len(PHOTOS)]
    if take is None:
        take = TAKES[index] if index < len(TAKES) else 0
    return f"{_WORDS[vocal]}_{photo}_{index:02d}_t{take}"


def _recipe(index: int) -> Variant:
    # Vocalisations and photos cycle with coprime periods: every pairing within six clips.
    rng = np.random.default_rng([RECIPE_SEED, index])
    rt60_s = _round(rng.uniform(0.15, 0.35), 2)
    # Head motion stays well inside the faces stage's limits (20° yaw, 25° pitch, 45° roll; the
    # measured angle of the demo's warp is about 0.6 of the nominal one) and inside the frame.
    motion = HeadMotion(
        yaw_deg=_round(rng.uniform(3, 10)), pitch_deg=_round(rng.uniform(2, 8)),
        roll_deg=_round(rng.uniform(2, 8)),
        shift_px=(_round(rng.uniform(4, 14)), _round(rng.uniform(3, 10))),
        scale=_round(rng.uniform(0.02, 0.06), 3),
    )
    return Variant(
        video_id(index),
        duration_s=float(rng.choice([6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0])),
        photo=PHOTOS[index % len(PHOTOS)],
        vocal=VOCALS[index % len(VOCALS)],
        gains_db={"noise": _round(rng.uniform(-42, -30))},
        rt60_s=rt60_s if rng.random() < 0.5 else 0.0,  # half the rooms echo
        motion=motion,
        dynamics_db=_round(rng.uniform(2, 8)),
        face_scale=_round(rng.uniform(0.85, 1.15), 2),
        dark_mouth=True,
    )


def _round(x: float, digits: int = 1) -> float:
    return round(float(x), digits)
