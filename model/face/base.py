"""The face-model interface: latents in, vertices out, plus what fitting and the losses need.

Every model decodes a latent made of three blocks, identity, expression and age, in that order.
The fitter holds identity and age fixed per clip and expression per frame; the training losses
decode lip vertices and the mouth aperture through the same interface.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from manifests.errors import CradleError
from manifests.facemesh import APERTURE, MOUTH_CORNERS


class FaceModelError(CradleError):
    """A face-model file or correspondence file is missing or does not match the layout."""


@dataclass(frozen=True)
class LatentDims:
    """Sizes of the latent blocks; the full latent is their concatenation in this order."""

    identity: int
    expression: int
    age: int

    @property
    def total(self) -> int:
        return self.identity + self.expression + self.age


@dataclass(frozen=True)
class Correspondence:
    """Where MediaPipe landmarks sit on the model's mesh: a point inside a triangle.

    A landmark tied to one vertex has `vertices` (v, v, v) and `weights` (1, 0, 0).

    Attributes:
        landmarks: (M,) MediaPipe landmark indices, each at most once.
        vertices: (M, 3) vertex indices of the triangle holding each landmark.
        weights: (M, 3) barycentric weights, rows summing to 1.
    """

    landmarks: np.ndarray
    vertices: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        m = len(self.landmarks)
        if self.vertices.shape != (m, 3) or self.weights.shape != (m, 3):
            raise FaceModelError(f"correspondence needs (M,) landmarks and (M, 3) vertices and "
                                 f"weights, got {self.landmarks.shape}, {self.vertices.shape}, "
                                 f"{self.weights.shape}")
        if len(np.unique(self.landmarks)) != m:
            raise FaceModelError("correspondence lists a MediaPipe landmark twice")

    @classmethod
    def from_vertices(cls, landmarks: np.ndarray, vertices: np.ndarray) -> Correspondence:
        """One vertex per landmark (the open model uses the identity map)."""
        vertices = np.asarray(vertices, dtype=np.int64)
        return cls(np.asarray(landmarks, dtype=np.int64), np.repeat(vertices[:, None], 3, axis=1),
                   np.tile(np.array([1.0, 0.0, 0.0]), (len(vertices), 1)))

    def vertex_of(self, landmark: int) -> int:
        """The vertex with the largest weight for a landmark (lip sets, aperture points)."""
        rows = np.flatnonzero(self.landmarks == landmark)
        if not len(rows):
            raise FaceModelError(f"the correspondence has no MediaPipe landmark {landmark}; "
                                 f"add it to the correspondence file")
        return int(self.vertices[rows[0], np.argmax(self.weights[rows[0]])])

    def digest(self) -> str:
        h = hashlib.sha256()
        for array in (self.landmarks.astype(np.int64), self.vertices.astype(np.int64),
                      self.weights.astype(np.float64)):
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()


class FaceModel(nn.Module, ABC):
    """A face model that decodes batched latents to vertices, differentiably.

    Subclasses register `latent_mean` and `latent_std` buffers of shape (D,): the prior that the
    fitter's L2 term and its whitened parameters use (PCA: zero and the square-rooted eigenvalues;
    autoencoder: the file's latent statistics).
    """

    latent_mean: torch.Tensor
    latent_std: torch.Tensor

    def __init__(self, dims: LatentDims, correspondence: Correspondence, lip_vertices: np.ndarray,
                 model_id: str, closed_fraction: float = 0.1) -> None:
        super().__init__()
        self.dims = dims
        self.correspondence = correspondence
        self.model_id = model_id
        self.register_buffer("lm_vertices", torch.as_tensor(correspondence.vertices))  # (M, 3)
        self.register_buffer("lm_weights", torch.as_tensor(correspondence.weights,
                                                           dtype=torch.float32))  # (M, 3)
        self.register_buffer("lip_vertices", torch.as_tensor(lip_vertices, dtype=torch.int64))
        self.aperture_vertices = tuple(correspondence.vertex_of(i) for i in APERTURE)
        self.corner_vertices = tuple(correspondence.vertex_of(i) for i in MOUTH_CORNERS)
        # Closed when the lips are nearer than this fraction of the neutral mouth width: a
        # model-independent rule, since model units differ (INFACE mm, the open model ~mm).
        self.closed_fraction = closed_fraction

    @abstractmethod
    def decode(self, identity: torch.Tensor, expression: torch.Tensor,
               age: torch.Tensor) -> torch.Tensor:
        """Vertices for latents in the model's raw units.

        Args:
            identity: (..., I); expression: (..., E); age: (..., A), same leading shape.

        Returns:
            (..., N, 3) vertex positions.
        """

    def landmarks(self, identity: torch.Tensor, expression: torch.Tensor,
                  age: torch.Tensor) -> torch.Tensor:
        """The correspondence's landmark positions, (..., M, 3); fitting only needs these."""
        verts = self.decode(identity, expression, age)  # (..., N, 3)
        corners = verts[..., self.lm_vertices, :]  # (..., M, 3, 3)
        return (corners * self.lm_weights[..., None]).sum(-2)  # (..., M, 3)

    def linear_landmarks(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """For a linear model, its landmark mean (M, 3) and basis (D, M, 3) in raw latent units.

        The fitter then decodes identity and age once per clip instead of once per frame; the
        default None (a non-linear decoder) makes it call `landmarks` instead.
        """
        return None

    def initial_latents(self, points: torch.Tensor, ridge: float) -> torch.Tensor:
        """A quick whitened latent estimate (..., D) from model-frame landmarks (..., M, 3).

        The fitter starts from it. This default is the prior mean; linear models solve a ridge
        least-squares problem instead, which cuts the iterations the fitter needs.
        """
        return torch.zeros(*points.shape[:-2], self.dims.total, device=points.device)

    def neutral(self) -> torch.Tensor:
        """The face at the prior mean, (N, 3)."""
        i, e = self.dims.identity, self.dims.identity + self.dims.expression
        z = self.latent_mean  # (D,)
        return self.decode(z[:i], z[i:e], z[e:])

    def mouth_aperture(self, vertices: torch.Tensor) -> torch.Tensor:
        """Distance between the inner-lip midpoints, (...,) for vertices (..., N, 3)."""
        upper, lower = self.aperture_vertices
        return (vertices[..., upper, :] - vertices[..., lower, :]).norm(dim=-1)  # (...)

    def mouth_closed_threshold(self) -> float:
        """Apertures below this (model units) count as a closed mouth."""
        left, right = self.corner_vertices
        neutral = self.neutral()  # (N, 3)
        return float(self.closed_fraction * (neutral[left] - neutral[right]).norm())

    def split(self, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A full latent (..., D) as its (identity, expression, age) blocks."""
        i, e = self.dims.identity, self.dims.identity + self.dims.expression
        return latent[..., :i], latent[..., i:e], latent[..., e:]


def file_digest(*paths: Path) -> str:
    """A content hash of the files that define a model; shards record it as the model id."""
    h = hashlib.sha256()
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()[:16]
