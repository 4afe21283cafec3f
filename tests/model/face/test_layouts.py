"""INFACE's HDF5 layouts: synthetic files load, decode as a numpy reading of the layout, fit."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from manifests.facemesh import APERTURE, LANDMARKS
from model.face.base import FaceModelError, LatentDims
from model.face.fit import FitInput, fit_sequences
from model.face.fit_config import FitConfig
from model.face.hdf5 import load_face_model
from model.face.testing import synthesise, synthetic_pca_arrays

N = 600  # vertices: more than the landmarks, so the correspondence is a real mapping


def _reference_pca(path: Path, z: np.ndarray) -> np.ndarray:
    """The layout read independently: mean + z · components, reshaped to (N, 3)."""
    with h5py.File(path, "r") as f:
        return f["mean_vertices"][()] + (z @ f["components"][()]).reshape(-1, 3)


def _reference_ae(path: Path, z: np.ndarray) -> np.ndarray:
    """The authors' decode in plain numpy: each layer stored (out, in), x -> W @ x + b, a leaky
    ReLU with `relu_factor` between layers unless the factor is >= 1 (a linear autoencoder)."""
    with h5py.File(path, "r") as f:
        dec = f["decoder"]
        factor = float(dec["relu_factor"][()] if "relu_factor" in dec else f["relu_factor"][()])
        if "matrix_mults" in dec:
            layers = [(dec["matrix_mults"][f"item_{i}"][()], dec["biases"][f"item_{i}"][()])
                      for i in range(len(dec["matrix_mults"]))]
        else:
            layers = [(dec[f"item_{i}"]["matrix_mults"][()], dec[f"item_{i}"]["biases"][()])
                      for i in range(len(dec) - ("relu_factor" in dec))]
        x = z  # (D,)
        for i, (w, b) in enumerate(layers):
            x = w @ x + b  # (out,)
            if i < len(layers) - 1 and factor < 1:
                x = np.where(x > 0, x, factor * x)
        return f["mean_vertices"][()] + x.reshape(-1, 3)


def _mesh_mean(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """N vertices whose first 478 are a face layout; landmark i sits at vertex perm[i]."""
    face = synthetic_pca_arrays(LatentDims(1, 1, 0))["mean"]
    perm = rng.permutation(N)[:LANDMARKS]
    mean = rng.normal(0, 30, (N, 3))
    mean[perm] = face
    return mean, perm


def _write_correspondence_csv(path: Path, perm: np.ndarray) -> Path:
    with open(path, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["landmark", "v0", "v1", "v2", "w0", "w1", "w2"])
        for i, v in enumerate(perm):
            w.writerow([i, v, (v + 1) % N, (v + 2) % N, 1.0, 0.0, 0.0])
    return path


@pytest.fixture
def pca_file(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(1)
    mean, perm = _mesh_mean(rng)
    q, _ = np.linalg.qr(rng.standard_normal((3 * N, 20)))
    path = tmp_path / "inface_pca.h5"
    with h5py.File(path, "w") as f:
        f["components"] = q.T
        f["eigenvalues"] = (25.0 * 0.9 ** np.arange(20)) ** 2
        f["mean_vertices"] = mean
        f["triangles"] = np.array([[0, 1, 2], [2, 3, 4]])
        f["indices/upper_lip"] = perm[[0, 13, 37]]
        f.attrs["latent_split"] = [6, 14, 0]
    return path, _write_correspondence_csv(tmp_path / "corr.csv", perm)


def _write_ae(path: Path, sizes: tuple[int, int, int], hidden: tuple[int, ...],
              relu_factor: float, seed: int = 2, relu_in_decoder: bool = True,
              item_groups: bool = False) -> tuple[Path, np.ndarray]:
    """A disentangled autoencoder file in the authors' layout: every matrix stored (out, in)."""
    rng = np.random.default_rng(seed)
    mean, perm = _mesh_mean(rng)
    latent = sum(sizes)
    with h5py.File(path, "w") as f:
        f["latent_mean"] = rng.normal(0, 0.1, latent)
        f["latent_std"] = np.full(latent, 1.0)
        f["mean_vertices"] = mean
        for name, size in zip(("id_encoder", "exp_encoder", "age_encoder"), sizes, strict=True):
            f[f"{name}/matrix_mults/item_0"] = rng.normal(0, 0.01, (16, 3 * N))  # (out, in)
            f[f"{name}/matrix_mults/item_1"] = rng.normal(0, 0.1, (size, 16))
            f[f"{name}/biases/item_0"] = np.zeros(16)
            f[f"{name}/biases/item_1"] = np.zeros(size)
        widths = (latent, *hidden, 3 * N)
        for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
            w = rng.normal(0, 1.5 / np.sqrt(n_in), (n_out, n_in))  # (out, in)
            b = rng.normal(0, 0.1, n_out)
            if item_groups:
                f[f"decoder/item_{i}/matrix_mults"], f[f"decoder/item_{i}/biases"] = w, b
            else:
                f[f"decoder/matrix_mults/item_{i}"], f[f"decoder/biases/item_{i}"] = w, b
        f["decoder/relu_factor" if relu_in_decoder else "relu_factor"] = relu_factor
    return path, perm


@pytest.fixture
def ae_file(tmp_path: Path) -> tuple[Path, Path]:
    # identity, expression, age: INFACE's 32/64/1, shrunk; one non-square hidden layer.
    path, perm = _write_ae(tmp_path / "inface_ae.h5", (4, 8, 1), (32,), 0.2)
    corr = tmp_path / "corr.json"
    corr.write_text(json.dumps([{"landmark": i, "vertex": int(v)} for i, v in enumerate(perm)]))
    return path, corr


def test_pca_file_decodes_like_the_layout(pca_file: tuple[Path, Path]) -> None:
    path, corr = pca_file
    model = load_face_model(path, corr)
    assert (model.dims.identity, model.dims.expression, model.dims.age) == (6, 14, 0)
    z = np.random.default_rng(0).normal(0, 10, (5, 20))
    verts = model.decode(*model.split(torch.as_tensor(z, dtype=torch.float32)))  # (5, N, 3)
    for k in range(5):
        np.testing.assert_allclose(verts[k].numpy(), _reference_pca(path, z[k]), atol=1e-3)
    assert model.model_id.startswith("pca-") and len(model.lip_vertices) == 3


def test_autoencoder_file_decodes_like_the_layout(ae_file: tuple[Path, Path]) -> None:
    path, corr = ae_file
    model = load_face_model(path, corr)
    assert (model.dims.identity, model.dims.expression, model.dims.age) == (4, 8, 1)
    z = np.random.default_rng(0).normal(0, 1, (3, 13))
    verts = model.decode(*model.split(torch.as_tensor(z, dtype=torch.float32)))
    for k in range(3):
        np.testing.assert_allclose(verts[k].numpy(), _reference_ae(path, z[k]), atol=1e-3)
    aperture = model.mouth_aperture(verts)  # (3,)
    up, low = (int(np.argwhere(model.correspondence.landmarks == i)[0, 0]) for i in APERTURE)
    assert aperture.shape == (3,) and model.mouth_closed_threshold() > 0
    assert model.aperture_vertices == (int(model.correspondence.vertices[up, 0]),
                                       int(model.correspondence.vertices[low, 0]))


@pytest.mark.parametrize(("sizes", "hidden", "relu_factor", "relu_in_decoder", "item_groups"), [
    ((32, 64, 1), (97,), 0.2, True, False),  # INFACE's 97-97-3N: a square first layer
    ((32, 64, 1), (256, 256), 0.01, False, False),  # 97-256-256-3N: a square middle layer
    ((32, 64, 1), (97,), 1.0, True, True),  # a linear autoencoder, item groups per layer
    ((4, 8, 1), (32, 16), 0.01, True, False),  # nothing square
    ((4, 8, 1), (32,), 1.0, False, True),
], ids=["97-97-3N", "97-256-256-3N", "linear-97-97-3N", "non-square", "linear-non-square"])
def test_authors_layout_decodes_like_their_code(tmp_path: Path, sizes, hidden, relu_factor,
                                                relu_in_decoder, item_groups) -> None:
    """Square layers are transposed like all others; relu_factor >= 1 decodes linearly."""
    path, perm = _write_ae(tmp_path / "ae.h5", sizes, hidden, relu_factor,
                           relu_in_decoder=relu_in_decoder, item_groups=item_groups)
    corr = tmp_path / "corr.json"
    corr.write_text(json.dumps([{"landmark": i, "vertex": int(v)} for i, v in enumerate(perm)]))
    model = load_face_model(path, corr)
    assert (model.dims.identity, model.dims.expression, model.dims.age) == sizes
    z = np.random.default_rng(5).normal(0, 1, (4, sum(sizes)))
    with torch.no_grad():
        verts = model.decode(*model.split(torch.as_tensor(z, dtype=torch.float32)))
    scale = max(np.abs(_reference_ae(path, z[k])).max() for k in range(4))
    for k in range(4):
        # float32 decode against float64: 1e-5 of the output's magnitude.
        np.testing.assert_allclose(verts[k].numpy().astype(np.float64) / scale,
                                   _reference_ae(path, z[k]) / scale, atol=1e-5)


def test_the_other_orientation_is_refused(tmp_path: Path) -> None:
    """A file storing (in, out) matrices is not INFACE's layout: an error, never a guess."""
    path, _ = _write_ae(tmp_path / "ae.h5", (4, 8, 1), (32,), 0.2)
    with h5py.File(path, "r+") as f:
        for i in range(2):
            w = f[f"decoder/matrix_mults/item_{i}"][()]
            del f[f"decoder/matrix_mults/item_{i}"]
            f[f"decoder/matrix_mults/item_{i}"] = w.T
    with pytest.raises(FaceModelError, match=r"\(out, in\)"):
        load_face_model(path, None)


@pytest.mark.parametrize("which", ["pca", "ae"])
def test_inface_layouts_fit(which: str, pca_file, ae_file) -> None:
    path, corr = pca_file if which == "pca" else ae_file
    model = load_face_model(path, corr)
    synth = synthesise(model, 60, seed=3, noise_px=0.5)
    # The autoencoder has no linear start, so it takes larger steps from the prior mean.
    cfg = FitConfig(iterations=80, lr=0.05 if which == "pca" else 0.2)
    [fit] = fit_sequences(model, [FitInput(synth.landmarks, np.ones((60, LANDMARKS)), 0)], cfg)
    assert not fit.diverged
    assert np.nanmean(fit.residual_px) < 1.0  # near the 0.5 px noise: the model explains it
    assert np.corrcoef(fit.expression.ravel(), synth.expression.ravel())[0, 1] > 0.95


def test_a_missing_correspondence_says_what_to_supply(pca_file) -> None:
    with pytest.raises(FaceModelError, match="correspondence"):
        load_face_model(pca_file[0])
