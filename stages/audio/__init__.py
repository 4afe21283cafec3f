"""The audio stage: loudness, who sounds when, separation and denoising, scores and the gate."""
