"""Mains hum: found on the clip's average spectrum, notched out, and nothing else touched."""

from __future__ import annotations

import numpy as np
import pytest

from stages.audio.hum import find_hum, remove_hum
from stages.audio.testing import cry_in_noise, si_sdr

SR = 16_000


def _hum(n: int, hz: float, harmonics: tuple[int, ...]) -> np.ndarray:
    t = np.arange(n) / SR
    return sum(np.sin(2 * np.pi * k * hz * t + k) / k for k in harmonics)


@pytest.mark.parametrize(("hz", "harmonics"), [(50.0, (1, 2, 3, 4, 5)), (60.0, (2, 3, 5, 7))])
def test_hum_is_found_and_removed(hz: float, harmonics: tuple[int, ...]) -> None:
    """A small microphone may lose the fundamental: two of the first three harmonics suffice."""
    cry = cry_in_noise(30.0, duration_s=6.0)
    hum = _hum(len(cry), hz, harmonics)
    hummed = cry + hum * 0.1 * np.std(cry) / np.std(hum)  # 20 dB below the cry
    found = find_hum(hummed, SR)
    assert found is not None and found[0] == hz
    assert found[1][:2] == [harmonics[0] * hz, harmonics[1] * hz]  # the strongest two
    cleaned, mains = remove_hum(hummed, SR)
    assert mains == hz
    assert si_sdr(cleaned, cry) > si_sdr(hummed, cry) + 10.0


def test_a_clip_without_hum_is_left_as_it_is() -> None:
    cry = cry_in_noise(10.0, duration_s=6.0)
    cleaned, mains = remove_hum(cry, SR)
    assert mains is None and cleaned is cry
