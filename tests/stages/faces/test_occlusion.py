"""The mouth's occlusion score from its cues, on measurements built to show one behaviour each
(issue #14 regressions)."""

from __future__ import annotations

import numpy as np

from stages.faces.occlusion import MouthEvidence, occlusion_score

FRAMES = 40


def _evidence(contrast: np.ndarray, lip_ab: np.ndarray, foreign: np.ndarray,
              hand: np.ndarray, inside: float = 0.3) -> MouthEvidence:
    return MouthEvidence(contrast=contrast, lip_ab=lip_ab, foreign=foreign,
                         skinlike=np.full(FRAMES, 0.02), hand=hand,
                         inside=np.where(hand > 0, inside, 0.0),
                         lightness=np.full(FRAMES, -10.0))


def test_lips_far_from_the_skin_stay_clear_after_a_hand_covered_them() -> None:
    """Lipstick sits far from the skin's colour (a "foreign" share of 0.6), a hand's skin does
    not: the clip's clearest tenth by that share were the hand's frames, so every clear frame
    read as a foreign object (46 false frames on a real talking face with a hand pasted on)."""
    covered = np.arange(FRAMES) >= 30
    contrast = np.where(covered, -6.0, 14.0)
    lip_ab = np.where(covered[:, None], [[-6.0, 2.0]], [[14.0, 5.0]])
    evidence = _evidence(contrast, lip_ab, np.where(covered, 0.0, 0.6),
                         np.where(covered, 0.95, 0.0))
    score = occlusion_score(evidence, np.ones(FRAMES, bool))
    assert score[~covered].max() < 0.5 and score[covered].min() > 0.5


def test_a_hand_on_part_of_the_lips_covers_them_once_they_lose_their_colour() -> None:
    """Hands' silhouette of a hand seen edge-on read 0.45 of the lips where 0.58 lay under it;
    the lips' median colour, far below the clip's clear lips, says more than half are hidden."""
    near = np.arange(FRAMES) >= 20
    hand = np.where(near, 0.35, 0.0)
    lip_ab = np.tile([[10.0, 3.0]], (FRAMES, 1))
    lost = _evidence(np.where(near, 1.0, 10.0), lip_ab, np.zeros(FRAMES), hand)
    kept = _evidence(np.where(near, 8.0, 10.0), lip_ab, np.zeros(FRAMES), hand)
    present = np.ones(FRAMES, bool)
    assert occlusion_score(lost, present)[near].min() > 0.5
    assert occlusion_score(kept, present)[near].max() < 0.5  # a hand beside red lips
    # Pale lips read "faded" at rest: beside them a hand needs a real drop in their redness.
    pale = _evidence(np.where(near, 0.0, 1.0), lip_ab, np.zeros(FRAMES), hand)
    assert occlusion_score(pale, present)[near].max() < 0.5


def test_a_phantom_hand_inside_the_face_counts_once_the_lips_lose_their_colour() -> None:
    """A hand wholly inside the face's outline may be the face itself; a real one over the
    lips takes their colour away (the cheek hand over the demo's mouth: 0.86 of the lips, 90 %
    of its points inside the face)."""
    near = np.arange(FRAMES) >= 20
    hand = np.where(near, 0.86, 0.0)
    lip_ab = np.tile([[10.0, 3.0]], (FRAMES, 1))
    present = np.ones(FRAMES, bool)
    real = _evidence(np.where(near, 2.0, 11.0), lip_ab, np.zeros(FRAMES), hand, inside=0.9)
    phantom = _evidence(np.full(FRAMES, 11.0), lip_ab, np.zeros(FRAMES), hand, inside=0.95)
    assert occlusion_score(real, present)[near].min() > 0.5
    assert occlusion_score(phantom, present)[near].max() < 0.5


def test_a_hand_over_pale_lips_counts_when_they_lose_what_redness_they_had() -> None:
    """A real talking man's lips stand out by 2.5 a* units; a pasted hand over them (0.85 of the
    lips, 90 % of its points inside his face) took them to -2.5, a fall of 5, short of the 6
    asked of red lips, so the hand was taken for the face itself (4 of 10 covered frames
    missed on a held-out composite). A phantom hand on the same clear lips still counts for
    nothing."""
    near = np.arange(FRAMES) >= 20
    hand = np.where(near, 0.85, 0.0)
    lip_ab = np.tile([[2.5, 1.0]], (FRAMES, 1))
    present = np.ones(FRAMES, bool)
    real = _evidence(np.where(near, -2.5, 2.5), lip_ab, np.zeros(FRAMES), hand, inside=0.9)
    phantom = _evidence(np.where(near, 1.5, 2.5), lip_ab, np.zeros(FRAMES), hand, inside=0.95)
    assert occlusion_score(real, present)[near].min() > 0.5
    assert occlusion_score(phantom, present)[near].max() < 0.5


def test_pale_lips_closing_are_not_a_cover() -> None:
    """Pale lips (2.5 a* units) look like skin whenever the mouth closes: measured against the
    open mouth's reddest frames alone, a real talking man's closed mouth read as skin over his
    lips (5 clear frames flagged on a looped held-out video)."""
    closed = np.arange(FRAMES) % 4 != 0
    evidence = MouthEvidence(
        contrast=np.where(closed, 0.5, 2.5), lip_ab=np.tile([[2.0, 1.0]], (FRAMES, 1)),
        foreign=np.zeros(FRAMES), skinlike=np.where(closed, 0.92, 0.7),
        hand=np.zeros(FRAMES), inside=np.zeros(FRAMES), lightness=np.full(FRAMES, -10.0))
    assert occlusion_score(evidence, np.ones(FRAMES, bool)).max() < 0.5


def test_lips_with_no_lip_colour_are_covered_but_lipstick_and_flushed_cheeks_are_not() -> None:
    """Measured medians against the cheeks (L*, a*, b*): a white shield (+28, -17, -23) and a
    light blue one (+4, -27, -51) in every frame of a real face; red lipstick on a real photo
    (-29, +30, +11) and an upscaled photo of a flushed face (+9, -15, -8) are lips."""
    def score(lab: tuple[float, float, float]) -> np.ndarray:
        light, a, b = lab
        evidence = MouthEvidence(
            contrast=np.full(FRAMES, a), lip_ab=np.tile([[a, b]], (FRAMES, 1)),
            foreign=np.full(FRAMES, 0.9), skinlike=np.zeros(FRAMES), hand=np.zeros(FRAMES),
            inside=np.zeros(FRAMES), lightness=np.full(FRAMES, light))
        return occlusion_score(evidence, np.ones(FRAMES, bool))

    for shield in ((28.0, -17.0, -23.0), (4.0, -27.0, -51.0)):
        assert score(shield).min() > 0.5
    for lips in ((-29.0, 30.0, 11.0), (9.0, -15.0, -8.0)):
        assert score(lips).max() < 0.5
