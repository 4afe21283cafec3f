"""INFACE's autoencoder model: an MLP decoder from a (disentangled) latent to vertices.

The decoder is a stack of dense layers `x @ W + b` with a leaky ReLU between layers and none after
the last, as INFACE publishes it. Its input is the raw latent; `latent_mean` and `latent_std` are
the statistics of encoded training faces and serve as the fitting prior.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from model.face.base import Correspondence, FaceModel, LatentDims


class AutoencoderFaceModel(FaceModel):
    """Decodes latent (..., D) through dense layers to (..., N, 3).

    Args:
        weights: per layer a (in, out) matrix; biases: per layer an (out,) vector.
        offset: (N, 3) added to the decoder output when the file stores a mean shape.
    """

    def __init__(self, weights: list[np.ndarray], biases: list[np.ndarray],
                 latent_mean: np.ndarray, latent_std: np.ndarray, dims: LatentDims,
                 correspondence: Correspondence, lip_vertices: np.ndarray, model_id: str,
                 offset: np.ndarray, negative_slope: float = 0.2,
                 triangles: np.ndarray | None = None) -> None:
        super().__init__(dims, correspondence, lip_vertices, model_id)
        self.negative_slope = negative_slope
        self.triangles = triangles
        self.weights = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.as_tensor(w, dtype=torch.float32), requires_grad=False)
             for w in weights])
        self.biases = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.as_tensor(b, dtype=torch.float32), requires_grad=False)
             for b in biases])
        self.register_buffer("offset", torch.as_tensor(offset, dtype=torch.float32))  # (N, 3)
        self.register_buffer("latent_mean", torch.as_tensor(latent_mean, dtype=torch.float32))
        self.register_buffer("latent_std", torch.as_tensor(latent_std, dtype=torch.float32))

    def decode(self, identity: torch.Tensor, expression: torch.Tensor,
               age: torch.Tensor) -> torch.Tensor:
        x = torch.cat([identity, expression, age], dim=-1)  # (..., D)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            x = x @ w + b  # (..., H_i)
            if i < last:
                x = F.leaky_relu(x, self.negative_slope)  # (..., H_i)
        return self.offset + x.view(*x.shape[:-1], -1, 3)  # (..., N, 3)
