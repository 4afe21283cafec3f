"""One loader for INFACE's published HDF5 layouts, which Cradle's open model also uses.

PCA file: `components` (K, 3N), `eigenvalues` (K,), `mean_vertices` (N, 3), `triangles` (F, 3),
optional `indices` group of named vertex sets. Autoencoder file: `latent_mean`, `latent_std`,
`encoder` or `id_encoder`/`exp_encoder`/`age_encoder`, `decoder`; each network holds lists
`matrix_mults` and `biases` (groups whose keys are all `item_i`), or a list of `item_i` groups
each with one `matrix_mults` and one `biases`; a `relu_factor` dataset gives the leaky ReLU's
negative slope between hidden layers.

The layout is read as the authors' own loader reads it, never guessed from shapes: each layer's
matrix is stored (out, in) and applied as `W @ x + b` (so a square layer, e.g. 97 -> 97, is
transposed like every other one), a leaky ReLU with `relu_factor` follows every layer but the
last, and a `relu_factor` of 1 or more means a linear autoencoder (no activation at all).

Cradle's additions, all optional: a root attribute `latent_split` = (identity, expression, age)
component counts (else a PCA file is all expression, a single-encoder autoencoder too, and a
disentangled autoencoder splits by its encoders' output sizes, 32/64/1 for INFACE: identity
0-32, expression 32-96, age 96-97); an `indices` set `mediapipe` giving the vertex of each of
the 478 landmarks (then no correspondence file is needed); an `indices` set whose name contains
"lip" as the lip vertex set; a root attribute `negative_slope` for files without `relu_factor`
(else 0.2).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from manifests.facemesh import LANDMARKS, LIPS
from manifests.files import atomic_path
from model.face.autoencoder import AutoencoderFaceModel
from model.face.base import Correspondence, FaceModel, FaceModelError, LatentDims, file_digest
from model.face.correspondence import load_correspondence
from model.face.pca import PCAFaceModel

log = logging.getLogger(__name__)

_ITEM = re.compile(r"item_(\d+)$")
DEFAULT_SLOPE = 0.2  # the leaky ReLU slope when a file names none


def read_tree(node: h5py.Group | h5py.Dataset) -> Any:
    """An HDF5 node as numpy arrays, dicts, and lists (for groups whose keys are all `item_i`)."""
    if isinstance(node, h5py.Dataset):
        return node[()]
    keys = list(node.keys())
    if keys and all(_ITEM.match(k) for k in keys):
        return [read_tree(node[k]) for k in sorted(keys, key=lambda k: int(k[5:]))]
    return {k: read_tree(node[k]) for k in keys}


def load_face_model(path: Path, correspondence: Path | None = None) -> FaceModel:
    """Loads a PCA or autoencoder face model file.

    Args:
        path: the HDF5 file.
        correspondence: the MediaPipe-to-vertex file (model/face/correspondence.py); optional
            when the file holds an `indices/mediapipe` set, as Cradle's open model does.

    Raises:
        FaceModelError: the file is missing or matches neither layout.
    """
    path = Path(path)
    if not path.is_file():
        raise FaceModelError(f"face model file {path} not found; build the open model with "
                             f"`cradle build-face-model` or point the config at an INFACE file")
    with h5py.File(path, "r") as f:
        tree = read_tree(f)
        attrs = dict(f.attrs)
    sources = [path] if correspondence is None else [path, Path(correspondence)]
    digest = file_digest(*sources)
    if "components" in tree:
        return _pca(tree, attrs, correspondence, f"pca-{digest}")
    if "decoder" in tree:
        return _autoencoder(tree, attrs, correspondence, f"ae-{digest}")
    raise FaceModelError(f"{path} has neither `components` (PCA) nor `decoder` (autoencoder)")


def _pca(tree: dict[str, Any], attrs: dict[str, Any], corr_path: Path | None,
         model_id: str) -> PCAFaceModel:
    mean = np.asarray(tree["mean_vertices"], dtype=np.float64).reshape(-1, 3)
    components = np.asarray(tree["components"], dtype=np.float64)
    if components.shape[1] != mean.size:
        raise FaceModelError(f"components are {components.shape}, mean has {mean.size} values")
    dims = _split(attrs, LatentDims(0, len(components), 0))
    if dims.total != len(components):
        raise FaceModelError(f"latent_split {dims} does not add up to {len(components)} rows")
    indices = tree.get("indices", {})
    corr = _correspondence(corr_path, indices, len(mean))
    return PCAFaceModel(mean, components, np.asarray(tree["eigenvalues"]), dims, corr,
                        _lips(indices, corr), model_id, triangles=tree.get("triangles"))


def _autoencoder(tree: dict[str, Any], attrs: dict[str, Any], corr_path: Path | None,
                 model_id: str) -> AutoencoderFaceModel:
    latent_mean = np.asarray(tree["latent_mean"], dtype=np.float64).reshape(-1)
    weights, biases = _network(tree["decoder"], len(latent_mean), "decoder")
    n = len(biases[-1]) // 3
    if "id_encoder" in tree:
        sizes = [len(_network(tree[k], 3 * n, k)[1][-1])
                 for k in ("id_encoder", "exp_encoder", "age_encoder")]
        default = LatentDims(*sizes)
    else:
        default = LatentDims(0, len(latent_mean), 0)
    dims = _split(attrs, default)
    if dims.total != len(latent_mean):
        raise FaceModelError(f"latent blocks {dims} do not add up to latent size "
                             f"{len(latent_mean)}")
    indices = tree.get("indices", {})
    corr = _correspondence(corr_path, indices, n)
    offset = np.asarray(tree.get("mean_vertices", np.zeros((n, 3)))).reshape(n, 3)
    return AutoencoderFaceModel(
        weights, biases, latent_mean, np.asarray(tree["latent_std"]).reshape(-1), dims, corr,
        _lips(indices, corr), model_id, offset,
        negative_slope=_negative_slope(tree, attrs), triangles=tree.get("triangles"))


def _network(net: Any, in_dim: int,
             name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Layer matrices as (in, out) for `x @ W`, and their biases.

    INFACE stores each matrix (out, in) and computes `W @ x`; every one is transposed, whatever
    its shape. A layer whose stored input width does not follow the previous layer's output is
    an error, not a cue to flip it: a file in the other orientation would decode wrongly.
    """
    if isinstance(net, dict) and "matrix_mults" in net:
        mats, biases = net["matrix_mults"], net["biases"]
    else:
        if isinstance(net, dict):  # item_i groups beside a `relu_factor` dataset
            net = [net[k] for k in sorted((k for k in net if _ITEM.match(k)),
                                          key=lambda k: int(k[5:]))]
        mats, biases = [item["matrix_mults"] for item in net], [item["biases"] for item in net]
    if len(mats) != len(biases):
        raise FaceModelError(f"{name} has {len(mats)} matrices but {len(biases)} bias vectors")
    oriented, bias_vectors, dim = [], [], in_dim
    for i, (w, b) in enumerate(zip(mats, biases, strict=True)):
        w = np.asarray(w, dtype=np.float64)  # (out, in), as the authors store it
        b = np.asarray(b, dtype=np.float64).reshape(-1)  # (out,)
        if w.ndim != 2 or w.shape[1] != dim or len(b) != w.shape[0]:
            raise FaceModelError(
                f"{name} layer {i} is {w.shape} with {len(b)} biases after width {dim}; INFACE "
                f"stores each layer (out, in) = (n, {dim}) with n biases")
        oriented.append(w.T)  # (in, out)
        bias_vectors.append(b)
        dim = w.shape[0]
    return oriented, bias_vectors


def _negative_slope(tree: dict[str, Any], attrs: dict[str, Any]) -> float:
    """The leaky ReLU slope: the `relu_factor` dataset (root or decoder group), as the authors
    read it; a factor of 1 or more means a linear autoencoder, which a slope of 1 gives."""
    decoder = tree["decoder"]
    factor = decoder.get("relu_factor") if isinstance(decoder, dict) else None
    if factor is None:
        factor = tree.get("relu_factor")
    if factor is None:
        return float(attrs.get("negative_slope", DEFAULT_SLOPE))
    value = float(np.asarray(factor).reshape(-1)[0])
    return 1.0 if value >= 1.0 else value


def _split(attrs: dict[str, Any], default: LatentDims) -> LatentDims:
    if "latent_split" in attrs:
        return LatentDims(*(int(v) for v in attrs["latent_split"]))
    if default.identity == 0:
        log.warning("face model has no latent_split attribute: every component is fitted per "
                    "frame as expression, none is held per clip as identity")
    return default


def _correspondence(path: Path | None, indices: dict[str, Any], vertices: int) -> Correspondence:
    if path is not None:
        return load_correspondence(path, vertices)
    if "mediapipe" in indices and len(indices["mediapipe"]) == LANDMARKS:
        return Correspondence.from_vertices(np.arange(LANDMARKS), indices["mediapipe"])
    raise FaceModelError("this face model needs a MediaPipe-to-vertex correspondence file "
                         "(see model/face/correspondence.py for the format)")


def _lips(indices: dict[str, Any], corr: Correspondence) -> np.ndarray:
    for name, values in indices.items():
        if "lip" in name.lower():
            return np.asarray(values, dtype=np.int64).reshape(-1)
    covered = [i for i in LIPS if i in set(corr.landmarks.tolist())]
    return np.array(sorted({corr.vertex_of(i) for i in covered}), dtype=np.int64)


def save_pca(path: Path, mean: np.ndarray, components: np.ndarray, eigenvalues: np.ndarray,
             triangles: np.ndarray, dims: LatentDims, indices: dict[str, np.ndarray]) -> Path:
    """Writes a PCA model in INFACE's layout (plus Cradle's `latent_split` attribute)."""
    with atomic_path(Path(path)) as tmp, h5py.File(tmp, "w") as f:
        f["mean_vertices"] = mean.astype(np.float64)
        f["components"] = components.astype(np.float64)
        f["eigenvalues"] = eigenvalues.astype(np.float64)
        f["triangles"] = triangles.astype(np.int64)
        group = f.create_group("indices")
        for name, values in indices.items():
            group[name] = np.asarray(values, dtype=np.int64)
        f.attrs["latent_split"] = np.array([dims.identity, dims.expression, dims.age])
    return Path(path)
