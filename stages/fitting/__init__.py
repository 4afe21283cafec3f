"""The fitting stage: face-model latents fitted to the good segments of every face track."""
