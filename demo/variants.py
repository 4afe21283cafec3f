"""The demo corpus's clips: what each one shows and the verdict the pipeline owes it.

Each variant isolates one failure (or none), so a stage's test can ask "was this clip rejected, by
this stage, for this reason?" and a wrong answer points at one cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from manifests.outcomes import ReasonCode, Status

FPS = 30
FRAME_SIZE = (480, 360)  # (width, height); even sides for yuv420p
FACE_WIDTH = 150  # px: large enough for MediaPipe's short-range detector in one face of two
YAW_DEG = 45.0  # the head turn of the "face_turned" variant, well past any frontal-face limit

# AudioSet MIDs for segments.csv.
MID_BABY_CRY = "/t/dd00002"
MID_BABY_LAUGHTER = "/t/dd00001"
MID_BABBLING = "/m/0261r1"
MID_SPEECH = "/m/09x0r"
MID_MUSIC = "/m/04rlf"
MID_TELEVISION = "/m/07c52"
# Their names in AudioSet's ontology: the demo ships no ontology.json (it is CC BY-SA data,
# downloaded with the lists), yet `cradle status` and dry runs should name the demo's labels.
LABEL_NAMES = {
    MID_BABY_CRY: "Baby cry, infant cry",
    MID_BABY_LAUGHTER: "Baby laughter",
    MID_BABBLING: "Babbling",
    MID_SPEECH: "Speech",
    MID_MUSIC: "Music",
    MID_TELEVISION: "Television",
}


@dataclass(frozen=True)
class HeadMotion:
    """How far the head drifts from its photo's pose: each a peak of a slow, smooth wander.

    The default is the fidgeting of every failure variant; the training clips move more.
    """

    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 4.0
    shift_px: tuple[float, float] = (8.0, 6.0)
    scale: float = 0.04  # relative change of the face's size (leaning in and out)


@dataclass(frozen=True)
class Variant:
    """One demo clip's recipe and its expected outcome.

    `gains_db` gives each contaminating source's level in dB relative to the infant's RMS over
    its vocalisation (or, where there is no infant, relative to -20 dBFS). `derive` names how a
    corrupt variant is made from the finished clip `source`. `dynamics_db` is the peak of a slow
    swell and fade of the voice's level (so louder bursts open the mouth wider); `face_scale`
    frames the face closer or farther than `FACE_WIDTH`.
    """

    name: str
    duration_s: float
    photo: str | None = "astronaut"  # None: a photo without a face
    second_photo: str | None = None
    vocal: str | None = "cry"  # "cry", "laughter", "babble" or None
    gains_db: dict[str, float] = field(default_factory=lambda: {"noise": -35.0})
    rt60_s: float = 0.0
    event: str | None = None  # "out_of_frame", "turned", "hand", "pacifier"
    event_span_s: tuple[float, float] | None = None
    verdict: Status = Status.OK
    stage: str | None = None  # the pipeline stage expected to reject it
    reason: ReasonCode | None = None
    derive: str | None = None  # "truncated", "empty", "no_audio", "audio_only"
    source: str | None = None
    motion: HeadMotion = HeadMotion()
    dynamics_db: float = 0.0
    face_scale: float = 1.0
    dark_mouth: bool = False  # a near-black open mouth, not dark red (see demo.face.MOUTH_DARK)

    @property
    def n_frames(self) -> int:
        return round(self.duration_s * FPS)

    @property
    def labels(self) -> list[str]:
        """AudioSet labels a rater would give, so selection by label picks every demo clip.

        Every clip claims an infant label (that is how it would have been selected), including
        the ones whose audio turns out to hold none: exactly the label noise Cradle must catch.
        """
        labels = [{"laughter": MID_BABY_LAUGHTER, "babble": MID_BABBLING}.get(
            self.vocal or "", MID_BABY_CRY)]
        if "speech" in self.gains_db:
            labels.append(MID_SPEECH)
        if "music" in self.gains_db:
            labels.append(MID_MUSIC)
        if "tv" in self.gains_db:
            labels.append(MID_TELEVISION)
        return labels

    def expected(self) -> dict[str, str | None]:
        return {
            "verdict": self.verdict.value,
            "stage": self.stage,
            "reason": self.reason.value if self.reason else None,
        }


def _rejected(stage: str, reason: ReasonCode) -> dict:
    return {"verdict": Status.REJECTED, "stage": stage, "reason": reason}


def _failed(reason: ReasonCode, derive: str) -> dict:
    return {"verdict": Status.FAILED, "stage": "download", "reason": reason, "derive": derive,
            "source": "clean_cry"}


# The face-event variants keep well under 1 s (faces.min_segment_s) clean at either end, ramps
# included: a clip with one good stretch that long is accepted with it, and these exist to show
# each rejection.
VARIANTS: tuple[Variant, ...] = (
    Variant("clean_cry", 8.0, rt60_s=0.25),
    Variant("clean_laugh", 8.0, photo="grace_hopper", vocal="laughter",
            gains_db={"tv": -22.0, "noise": -35.0}),
    Variant("face_out_of_frame", 5.0, event="out_of_frame", event_span_s=(0.5, 4.5),
            **_rejected("faces", ReasonCode.FACE_OUT_OF_FRAME)),
    Variant("face_turned", 5.0, photo="grace_hopper", event="turned", event_span_s=(0.5, 4.5),
            **_rejected("faces", ReasonCode.FACE_TURNED)),
    Variant("mouth_occluded_hand", 6.0, event="hand", event_span_s=(0.7, 5.3),
            **_rejected("faces", ReasonCode.MOUTH_OCCLUDED)),
    Variant("mouth_occluded_pacifier", 5.0, photo="grace_hopper", vocal="laughter",
            event="pacifier", event_span_s=(0.6, 4.4),
            **_rejected("faces", ReasonCode.MOUTH_OCCLUDED)),
    Variant("two_faces", 8.0, second_photo="grace_hopper",
            **_rejected("faces", ReasonCode.SEVERAL_FACES)),
    Variant("no_face", 6.0, photo=None, **_rejected("faces", ReasonCode.FACE_NOT_FOUND)),
    Variant("silent", 6.0, vocal=None, gains_db={"noise": -55.0},
            **_rejected("audio", ReasonCode.SILENT)),
    Variant("adult_speech", 8.0, photo="grace_hopper", vocal=None, gains_db={"speech": 0.0},
            **_rejected("audio", ReasonCode.ADULT_SPEECH)),
    Variant("music", 8.0, vocal=None, gains_db={"music": 0.0},
            **_rejected("audio", ReasonCode.MUSIC)),
    Variant("corrupt_truncated", 8.0, **_failed(ReasonCode.CORRUPT_CONTAINER, "truncated")),
    Variant("corrupt_empty", 8.0, **_failed(ReasonCode.CORRUPT_CONTAINER, "empty")),
    Variant("no_audio_stream", 8.0, **_failed(ReasonCode.NO_AUDIO_STREAM, "no_audio")),
    Variant("audio_only", 8.0, **_failed(ReasonCode.NO_VIDEO_STREAM, "audio_only")),
)


def variant(name: str) -> Variant:
    """Looks a variant up by name."""
    for v in VARIANTS:
        if v.name == name:
            return v
    raise KeyError(f"no demo variant {name!r}; known: {[v.name for v in VARIANTS]}")
