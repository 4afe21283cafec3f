"""The fitting stage's settings: the face model, the fitter's hyper-parameters, the threshold.

Torch-free, so that loading the configuration stays fast. The hyper-parameters are the fitter's
own `FitConfig` (`model.face.fit_config`), nested: their defaults exist in one place.
"""

from __future__ import annotations

from pydantic import Field

from model.face.fit_config import FitConfig
from stages.section import ConfigSection


class FittingConfig(ConfigSection):
    """Face model choice, optimiser settings and the rejection threshold of the fitting stage."""

    # "open" is Cradle's own landmark PCA model (models/open-face-model.h5), usable without
    # INFACE's on-request weights; otherwise the path of an INFACE PCA or autoencoder HDF5 file.
    face_model: str = "open"
    # MediaPipe-to-vertex file (model/face/correspondence.py); INFACE files need one.
    correspondence: str | None = None
    # The fitter's hyper-parameters, with the reasons for each default beside them.
    optimiser: FitConfig = FitConfig()
    # Mean landmark error over the inter-ocular distance above which the fit is rejected: 0.1 is
    # the usual failure line of landmark benchmarks (NME-io); a face the model explains sits
    # near MediaPipe's own noise, a few percent.
    max_residual_iod: float = Field(default=0.1, gt=0)


class FittingMachine(ConfigSection):
    """Where this machine fits: never changes a verdict, so never hashed."""

    # "auto": CUDA when present, else CPU; or a torch device name.
    device: str = "auto"
    # Clips fitted side by side on the CPU, each on one torch thread (0 = one per core); a GPU
    # fits one clip at a time. Never changes a fit.
    workers: int = Field(default=0, ge=0)
