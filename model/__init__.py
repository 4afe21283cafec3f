"""Face models, audio encoders, the diffusion transformer, losses, metrics, trainer, evaluator."""
