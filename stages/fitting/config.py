"""The fitting stage's settings (the `fitting` section), kept free of torch so that loading the
configuration stays fast; `fit_config()` hands the optimiser's part to `model.face.FitConfig`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from stages.section import Section

if TYPE_CHECKING:
    from model.face import FitConfig


class FittingConfig(Section):
    """Face model choice, optimiser settings and the rejection threshold of `stages.fitting`.

    The optimiser defaults equal `model.face.fit.FitConfig`'s (a test keeps them equal).
    """

    # "open" is Cradle's own landmark PCA model (models/open-face-model.h5), usable without
    # INFACE's on-request weights; otherwise the path of an INFACE PCA or autoencoder HDF5 file.
    face_model: str = "open"
    # MediaPipe-to-vertex file (model/face/correspondence.py); INFACE files need one.
    correspondence: str | None = None
    # From the closed-form start, PCA fits reach their targets in ~40 steps (tests).
    iterations: int = Field(default=60, ge=1)
    # Whitened latents move O(1): 0.05 reaches them in ~50 steps; the camera needs only refining.
    lr: float = Field(default=0.05, gt=0)
    pose_lr: float = Field(default=0.01, gt=0)
    # Cosine decay to this fraction of lr: large steps early, fine ones late.
    lr_final: float = Field(default=0.05, gt=0)
    # Landmark noise in inter-ocular distances (≈1.2 px at 60 px): the robust loss's scale.
    sigma: float = Field(default=0.02, gt=0)
    # Lip landmarks drive the training target: weight them higher.
    mouth_weight: float = Field(default=3.0, ge=0)
    # Huber on Δexpression: ~6x less jitter for +2 % landmark error (tests); knee in prior std.
    temporal: float = Field(default=300.0, ge=0)
    temporal_delta: float = Field(default=0.3, gt=0)
    # The head moves smoothly; a small Δ² term against zig-zag that Huber tolerates.
    pose_temporal: float = Field(default=300.0, ge=0)
    second_difference: float = Field(default=3.0, ge=0)
    # 1 = the Gaussian latent prior proper, against implausible faces.
    prior: float = Field(default=1.0, ge=0)
    # Fits are training targets: reproducible.
    seed: int = 0
    # "auto": CUDA when present, else CPU; or a torch device name.
    device: str = "auto"
    # Mean landmark error over the inter-ocular distance above which the fit is rejected: 0.1 is
    # the usual failure line of landmark benchmarks (NME-io); a face the model explains sits
    # near MediaPipe's own noise, a few percent.
    max_residual_iod: float = Field(default=0.1, gt=0)
    # Frames per fitting batch: bounds memory (≈ 20 kB per frame for 478 landmarks) while
    # keeping a GPU busy; clips are never split across batches.
    max_batch_frames: int = Field(default=50_000, ge=1)

    def fit_config(self) -> FitConfig:
        from model.face import FitConfig

        return FitConfig(**{k: getattr(self, k) for k in FitConfig.__dataclass_fields__})
