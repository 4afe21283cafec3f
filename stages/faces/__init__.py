"""The faces stage: MediaPipe landmarks per frame, quality control, and the good segments."""
