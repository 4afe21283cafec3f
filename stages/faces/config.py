"""The faces stage's settings: what counts as a usable face frame and a usable segment."""

from __future__ import annotations

from pydantic import Field

from stages.section import ConfigSection


class FacesConfig(ConfigSection):
    """Thresholds of the faces stage; changing any of them re-runs it (the section is hashed)."""

    # Monocular fitting needs the whole face: below 97 % of the landmarks inside the frame the
    # jaw line or a cheek is cut off, and FaceMesh invents the missing part.
    min_coverage: float = Field(default=0.97, ge=0, le=1)
    # A landmark this close to the border (fraction of the shorter side) counts as outside: the
    # encoder's edge blocks and FaceMesh's clamping make points right at the border unreliable.
    edge_margin: float = Field(default=0.005, ge=0, lt=0.5)
    # Below ~30 px between the outer eye corners the lips span ~15 px and landmark noise swamps
    # lip motion; 720p home video of an infant in arms gives 60-200 px.
    min_face_px: float = Field(default=30.0, ge=0)
    # Past ~20° of yaw the far lip corner and cheek self-occlude and FaceMesh guesses them; the
    # fit's lip vertices then follow the guess, not the infant.
    max_yaw_deg: float = Field(default=20.0, gt=0, le=90)
    # Looking down or up hides the lips behind the nose or the chin about as fast as yaw does.
    max_pitch_deg: float = Field(default=25.0, gt=0, le=90)
    # Roll is an in-plane rotation the fit handles; only a face lying sideways is refused.
    max_roll_deg: float = Field(default=45.0, gt=0, le=180)
    # Occlusion score (0 clear ... 1 covered) above which the mouth counts as covered; halfway,
    # because the score is already scaled so that the clip's own clear mouth sits near 0.
    max_occlusion: float = Field(default=0.5, ge=0, le=1)
    # Share of one eye's region (the eye and its brow) or of the upper face under a hand above
    # which the upper face counts as covered: half an eye hidden leaves FaceMesh guessing it.
    max_upper_occlusion: float = Field(default=0.5, ge=0, le=1)
    # A turn beyond this multiple of its limit is "turned" before anything else (in profile the
    # mouth cannot be judged); a milder one yields to a covered mouth or upper face, because
    # fingers over the face pull the landmarks the pose is read from.
    strong_turn_factor: float = Field(default=1.5, ge=1)
    # MediaPipe Hands costs ~3 FaceMesh frames a call, so its rate follows the evidence: every
    # 5th frame (6 Hz) while a hand was near the face or the lips look foreign or faded...
    hands_every: int = Field(default=5, ge=1)
    # ...every 60th (every 2 s, a safety net) while the lips look clear: the colour cues see a
    # hand there by themselves and send Hands back to `hands_every` within a frame...
    hands_idle_every: int = Field(default=60, ge=1)
    # ...and every 10th (3 Hz, a hand over the mouth for a third of a second) when the clip's lips
    # are too pale for the colour cues, where Hands alone sees a cover. A run's result also
    # stands for the frames within half this many of it.
    hands_blind_every: int = Field(default=10, ge=1)
    # BlazeFace pre-pass every 5th frame: counts faces for the several-faces check and lets
    # FaceMesh skip stretches with no face; faces rarely appear for less than 1/6 s.
    detect_every: int = Field(default=5, ge=1)
    # ...and every 10th while FaceMesh tracks the one face BlazeFace saw on every frame since its
    # last sample: a rival or a lost face brings the 5-frame rate back at the next sample.
    detect_steady_every: int = Field(default=10, ge=1)
    # Skip FaceMesh between two pre-pass samples that both found no face (saves time on cuts
    # to scenery); off trades that time for landmarks on faces BlazeFace misses.
    skip_faceless: bool = True
    # A second face at least this large (area, relative to the target's) that is seen at least
    # half as often as the target makes the target ambiguous.
    rival_face_ratio: float = Field(default=0.5, gt=0, le=1)
    # Training windows are ~1 s of audio and motion; shorter stretches are not worth fitting. A
    # clip with one good segment this long is accepted with its segments, however much of the
    # rest is bad: the fit and the shards use only the segments' frames.
    min_segment_s: float = Field(default=1.0, gt=0)
    # Gaps this short (frames) inside a good stretch are a blink of the detector, not a new shot.
    bridge_frames: int = Field(default=3, ge=0)
class FacesMachine(ConfigSection):
    """How this machine runs the faces stage: never changes a verdict, so never hashed."""

    # One MediaPipe process per core (0 = every core this process may use: on a pinned Dask
    # worker, its share): MediaPipe gains little from a second thread.
    workers: int = Field(default=0, ge=0)
