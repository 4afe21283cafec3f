"""Face models: decode identity, expression and age latents to vertices, and fit them to video.

One interface (`FaceModel`) over INFACE's published HDF5 layouts (PCA and autoencoder) and the
open default, a landmark-space PCA model that Cradle builds from its own tracks in the PCA layout.
"""

from model.face.base import Correspondence, FaceModel, FaceModelError, LatentDims
from model.face.fit import FitConfig, FitInput, FitResult, fit_sequences
from model.face.hdf5 import load_face_model
from model.face.open_model import OpenModelConfig, build_open_face_model

__all__ = [
    "Correspondence",
    "FaceModel",
    "FaceModelError",
    "FitConfig",
    "FitInput",
    "FitResult",
    "LatentDims",
    "OpenModelConfig",
    "build_open_face_model",
    "fit_sequences",
    "load_face_model",
]
