"""A linear (PCA) face model: vertices = mean + z · components, z in raw units.

INFACE's PCA file and Cradle's open landmark model share this form; the rows of `components` are
ordered identity, expression, age.
"""

from __future__ import annotations

import numpy as np
import torch

from model.face.base import Correspondence, FaceModel, LatentDims


class PCAFaceModel(FaceModel):
    """Linear decode; fitting uses a basis restricted to the landmarks, so large meshes stay cheap.

    Args:
        mean: (N, 3) mean vertices.
        components: (K, 3N) principal directions, K = dims.total, rows in raw latent units.
        eigenvalues: (K,) variance of each latent coordinate: the prior.
    """

    def __init__(self, mean: np.ndarray, components: np.ndarray, eigenvalues: np.ndarray,
                 dims: LatentDims, correspondence: Correspondence, lip_vertices: np.ndarray,
                 model_id: str, triangles: np.ndarray | None = None) -> None:
        super().__init__(dims, correspondence, lip_vertices, model_id)
        n = len(mean)
        self.triangles = triangles
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))  # (N, 3)
        basis = torch.as_tensor(components, dtype=torch.float32)  # (K, 3N)
        self.register_buffer("basis", basis)
        self.register_buffer("latent_mean", torch.zeros(dims.total))  # (D,)
        std = torch.as_tensor(np.sqrt(np.maximum(eigenvalues, 1e-12)), dtype=torch.float32)
        self.register_buffer("latent_std", std)  # (D,)
        # Landmark-restricted mean and basis: the barycentric combination commutes with the
        # linear decode, so fitting never touches the other vertices.
        w = self.lm_weights  # (M, 3)
        lm_mean = (self.mean[self.lm_vertices] * w[..., None]).sum(-2)  # (M, 3)
        lm_basis = (basis.view(-1, n, 3)[:, self.lm_vertices] * w[..., None]).sum(-2)  # (K, M, 3)
        self.register_buffer("lm_mean", lm_mean)
        self.register_buffer("lm_basis", lm_basis.reshape(len(basis), -1))  # (K, 3M)

    def linear_landmarks(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.lm_mean, self.lm_basis.view(len(self.lm_basis), -1, 3)  # (M, 3), (D, M, 3)

    def initial_latents(self, points: torch.Tensor, ridge: float) -> torch.Tensor:
        basis = self.latent_std[:, None] * self.lm_basis  # (D, 3M) whitened
        gram = basis @ basis.T + ridge * torch.eye(len(basis), device=basis.device)  # (D, D)
        resid = (points - self.lm_mean).flatten(-2)  # (..., 3M)
        return torch.linalg.solve(gram, (resid @ basis.T).unsqueeze(-1)).squeeze(-1)  # (..., D)

    def decode(self, identity: torch.Tensor, expression: torch.Tensor,
               age: torch.Tensor) -> torch.Tensor:
        z = torch.cat([identity, expression, age], dim=-1)  # (..., K)
        offsets = z @ self.basis  # (..., 3N)
        return self.mean + offsets.view(*z.shape[:-1], -1, 3)  # (..., N, 3)

    def landmarks(self, identity: torch.Tensor, expression: torch.Tensor,
                  age: torch.Tensor) -> torch.Tensor:
        z = torch.cat([identity, expression, age], dim=-1)  # (..., K)
        offsets = z @ self.lm_basis  # (..., 3M)
        return self.lm_mean + offsets.view(*z.shape[:-1], -1, 3)  # (..., M, 3)
