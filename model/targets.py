"""What the network learns to produce from a batch, in normalised units, and the way back.

- `expression`: the face model's per-frame expression latents (the study, FaceTalk).
- `landmarks`: MediaPipe's first 468 landmarks in the head's own frame (Animote), i.e. the
  shard's image-pixel landmarks with the fitted pose undone: flipped to the model's axes
  (y up, z towards the viewer), translation and scale removed, rotation inverted.

Both are whitened with statistics measured on the first training batches of the run (per
dimension for latents; one scale for landmark coordinates, whose still points would otherwise
blow up), saved in the checkpoint so sampling undoes exactly the same map.
"""

from __future__ import annotations

from typing import Any

import torch

from model.face.camera import flip

LANDMARKS = 468  # FaceMesh without the iris points, as Animote trains on


class Targets:
    """Extracts, normalises and restores one kind of target."""

    def __init__(self, kind: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.kind = kind
        self.mean = mean  # (K,)
        self.std = std  # (K,)

    @classmethod
    def measure(cls, kind: str, batches: list[dict[str, Any]]) -> Targets:
        """Statistics over the valid frames of `batches` (a few are plenty)."""
        values = torch.cat([raw_targets(kind, b)[b["mask"]] for b in batches])  # (N, K)
        mean = values.mean(0)  # (K,)
        if kind == "landmarks":
            std = (values - mean).std().expand_as(mean).clone()  # (K,) one scale for all
        else:
            std = values.std(0)
        return cls(kind, mean, std.clamp(min=1e-4))

    def dim(self) -> int:
        return len(self.mean)

    def of(self, batch: dict[str, Any]) -> torch.Tensor:
        """The batch's targets, normalised: (B, T, K)."""
        return self.normalise(raw_targets(self.kind, batch))

    def normalise(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw - self.mean.to(raw.device)) / self.std.to(raw.device)

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """Network units back to raw units (latents, or model-frame landmark coordinates)."""
        return x * self.std.to(x.device) + self.mean.to(x.device)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "mean": self.mean, "std": self.std}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Targets:
        return cls(state["kind"], state["mean"], state["std"])


def raw_targets(kind: str, batch: dict[str, Any]) -> torch.Tensor:
    """(B, T, K) targets in raw units."""
    if kind == "expression":
        return batch["expression"]
    return head_frame_landmarks(batch).flatten(2)  # (B, T, 468 * 3)


def head_frame_landmarks(batch: dict[str, Any]) -> torch.Tensor:
    """(B, T, 468, 3) landmarks in model units and the head's frame, from image pixels."""
    points = flip(batch["landmarks"][..., :LANDMARKS, :])  # (B, T, L, 3) model axes, px
    scale = batch["scale"].clamp(min=1e-6)[..., None, None]  # (B, T, 1, 1) px per unit
    xy = points[..., :2] - batch["translation"][..., None, :]  # (B, T, L, 2)
    z = points[..., 2:] - points[..., 2:].mean(-2, keepdim=True)  # (B, T, L, 1) depth is relative
    camera = torch.cat([xy, z], -1) / scale  # (B, T, L, 3) model units, camera axes
    return camera @ batch["rotation"]  # (B, T, L, 3) = R^T v for each point
