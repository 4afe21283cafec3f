"""Audio encoders: frozen speech and vocalisation features at the video frame rate, cached."""
