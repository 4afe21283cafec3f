"""Scaled orthographic camera: rotation (axis-angle), 2D translation and scale, batched.

Images have y pointing down; models have y up and z towards the viewer. Targets are converted to
the model's convention once (`flip`), so the projection is just `s · (R v)[:2] + t`.
"""

from __future__ import annotations

import torch


def rodrigues(omega: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) from axis-angle vectors (..., 3)."""
    theta2 = (omega * omega).sum(-1, keepdim=True)  # (..., 1)
    theta = torch.sqrt(theta2 + 1e-12)  # (..., 1); the epsilon keeps the gradient finite at 0
    a = (torch.sin(theta) / theta)[..., None]  # (..., 1, 1)
    b = ((1 - torch.cos(theta)) / (theta2 + 1e-12))[..., None]  # (..., 1, 1)
    x, y, z = omega.unbind(-1)  # each (...)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).view(*omega.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=omega.dtype, device=omega.device)  # (3, 3)
    return eye + a * k + b * (k @ k)  # (..., 3, 3)


def so3_log(rot: torch.Tensor) -> torch.Tensor:
    """Axis-angle vectors (..., 3) of rotations (..., 3, 3) with angles below pi."""
    cos = ((rot.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)  # (...)
    theta = torch.acos(cos)  # (...)
    skew = torch.stack([rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0],
                        rot[..., 1, 0] - rot[..., 0, 1]], -1)  # (..., 3)
    factor = theta / (2 * torch.sin(theta))  # (...), tends to 1/2 as theta -> 0
    return skew * factor[..., None]  # (..., 3)


def similarity(source: torch.Tensor, target: torch.Tensor,
               weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted least-squares similarity (Umeyama) mapping source points onto target points.

    Args:
        source: (M, 3) model points; target: (..., M, 3); weights: (..., M), not all zero.

    Returns:
        rotation (..., 3, 3), scale (...,), translation (..., 3) with target ≈ s R source + t.
    """
    w = weights / weights.sum(-1, keepdim=True).clamp_min(1e-9)  # (..., M)
    mu_s = (w[..., None] * source).sum(-2)  # (..., 3)
    mu_t = (w[..., None] * target).sum(-2)  # (..., 3)
    xs = source - mu_s[..., None, :]  # (..., M, 3)
    xt = target - mu_t[..., None, :]  # (..., M, 3)
    cov = (w[..., None] * xt).transpose(-1, -2) @ xs  # (..., 3, 3)
    u, sig, vh = torch.linalg.svd(cov)  # (..., 3, 3), (..., 3), (..., 3, 3)
    d = torch.sign(torch.linalg.det(u @ vh))  # (...)
    fix = torch.ones_like(sig)  # (..., 3)
    fix[..., 2] = d
    rot = u @ torch.diag_embed(fix) @ vh  # (..., 3, 3)
    var_s = (w * (xs * xs).sum(-1)).sum(-1).clamp_min(1e-12)  # (...)
    scale = (sig * fix).sum(-1) / var_s  # (...)
    trans = mu_t - scale[..., None] * (rot @ mu_s[..., None])[..., 0]  # (..., 3)
    return rot, scale, trans


def camera_matrix(omega: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The scaled orthographic camera (..., 2, 3) from axis-angle (..., 3) and log scale (..., 1).

    `camera_matrix(...) @ points` with coordinate-major points (..., 3, M) projects M points in
    one small matmul per frame.
    """
    return torch.exp(log_scale)[..., None] * rodrigues(omega)[..., :2, :]  # (..., 2, 3)


def flip(points: torch.Tensor) -> torch.Tensor:
    """Image coordinates (x right, y down, z away) to the model's (x right, y up, z towards)."""
    sign = torch.tensor([1.0, -1.0, -1.0], dtype=points.dtype, device=points.device)  # (3,)
    sign = sign[:points.shape[-1]]  # (C,)
    return points * sign  # (..., C)
