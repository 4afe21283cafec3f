"""The Dockerfiles and the build context agree with the lock, the Makefile and pyproject.toml.

A drift here is an image that installs other versions than the tests ran, lacks a tool a worker
runs, or ships a file that should stay private.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import re
from fnmatch import fnmatch
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.docker.files import (
    DOCKERFILES,
    ROOT,
    dockerfile,
    image_home,
    lock_pins,
    makefile,
    makefile_mediapipe,
    pyproject,
)


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_images_install_the_versions_of_requirements_lock(kind: str) -> None:
    """An image runs what the tests ran: every pin it names is the lock's (mediapipe: the
    Makefile's), and every pip install of Cradle or its dependencies is constrained by the lock."""
    image = dockerfile(kind)
    pins = lock_pins()
    named = re.findall(r"([A-Za-z0-9][A-Za-z0-9._\-]*)==([^\s\"';&]+)", " ".join(image.args("RUN")))
    assert named, "the image pins nothing"
    for name, version in named:
        if canonicalize_name(name) == "mediapipe":
            assert version == makefile_mediapipe()
        else:
            assert pins.get(canonicalize_name(name)) == version, f"{name}=={version}"

    installs = image.pip_installs()
    assert ["--no-deps", f"mediapipe=={makefile_mediapipe()}"] in installs
    locked = [words for words in installs if "-c" in words]
    assert all(words[words.index("-c") + 1] == "requirements.lock" for words in locked)
    for words in installs:
        if words not in locked:  # only pip itself and mediapipe (as the Makefile does) go unlocked
            assert words in (["--upgrade", "pip"],
                             ["--no-deps", f"mediapipe=={makefile_mediapipe()}"])
    assert any(words[-1] == "." for words in locked), "Cradle itself is not installed"
    # The lock is in the image before the first install that reads it.
    first_copy = next(i for i, (kw, a) in enumerate(image.instructions)
                      if kw == "COPY" and "requirements.lock" in a)
    first_use = next(i for i, (kw, a) in enumerate(image.instructions)
                     if kw == "RUN" and "-c requirements.lock" in a)
    assert first_copy < first_use


def test_the_lock_pins_everything_the_images_install() -> None:
    """`-c requirements.lock` constrains only what the lock lists: every dependency of Cradle,
    direct or not (as installed here, extras and markers followed), is in it at the version that
    satisfies its dependents, so nothing floats to a newer release in an image built later."""
    from packaging.requirements import Requirement

    pins = lock_pins()
    # Not in a `pip freeze`: setuptools (torch asks for >=77); pip installs a current one.
    unpinned = {"setuptools"}
    todo = [Requirement(r) for r in pyproject()["project"]["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen or name in unpinned:
            continue
        seen.add((name, frozenset(requirement.extras)))
        assert name in pins, f"{name} (for {requirement}) is not in requirements.lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), str(requirement)
        for line in importlib.metadata.distribution(name).requires or []:
            needed = Requirement(line)
            extras = {"", *requirement.extras}
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                todo.append(needed)


def test_torch_wheels_come_from_the_matching_pytorch_index() -> None:
    """The CPU image takes PyTorch's CPU wheels; the CUDA one the wheels of the CUDA release the
    lock's nvidia-* pins are (cuda-toolkit 13.0.x: cu130), so torch finds the libraries it was
    built for."""
    cuda = Version(lock_pins()["cuda-toolkit"])
    expected = {"cpu": "https://download.pytorch.org/whl/cpu",
                "cuda": f"https://download.pytorch.org/whl/cu{cuda.major}{cuda.minor}"}
    for kind, index in expected.items():
        locked = [w for w in dockerfile(kind).pip_installs() if "-c" in w]
        assert locked
        for words in locked:
            assert words[words.index("--extra-index-url") + 1] == index, kind


def test_both_images_share_one_base_with_the_projects_python() -> None:
    """Both images start from the same Debian and the Python that pyproject.toml and the Makefile
    ask for, so a clip is judged by the same ffmpeg and Python on either."""
    bases = {dockerfile(kind).last("FROM") for kind in DOCKERFILES}
    assert len(bases) == 1
    (base,) = bases
    name, tag = base.split(":")
    assert name == "python"
    version = tag.split("-")[0]
    assert Version(version) in SpecifierSet(pyproject()["project"]["requires-python"])
    assert re.search(rf"^PYTHON \?= python{re.escape(version)}$", makefile(), re.M)
    assert "bookworm" in tag  # Debian 12, like the machines the Makefile sets up


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_images_have_the_debian_tools_a_worker_runs(kind: str) -> None:
    """ffmpeg and espeak-ng from the Makefile's list are there; chromium (browser tests) and
    postgresql (its own container) are not."""
    listed = set(re.search(r"^APT_PACKAGES := (.+)$", makefile(), re.M).group(1).split())
    installs = [c for c in dockerfile(kind).commands if "apt-get" in c and "install" in c]
    assert len(installs) == 1
    installed = {w for w in installs[0][installs[0].index("install") + 1:]
                 if not w.startswith("-")}
    not_for_workers = {"chromium", "postgresql"}
    assert not_for_workers <= listed, "the Makefile's list changed: revisit the images"
    assert listed - not_for_workers <= installed
    assert not installed & not_for_workers


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_runs_the_cradle_script_as_a_user_on_the_data_volume(kind: str) -> None:
    """`docker run IMAGE status` is `cradle status`: the script pyproject.toml defines, run by a
    user who is not root and owns the data root, which is the image's volume."""
    image = dockerfile(kind)
    assert json.loads(image.last("ENTRYPOINT")) == ["cradle"]
    module, _, attribute = pyproject()["project"]["scripts"]["cradle"].partition(":")
    import typer

    assert isinstance(getattr(importlib.import_module(module), attribute), typer.Typer)

    user = image.last("USER")
    assert user not in ("root", "0")
    assert any(c[:1] == ["useradd"] and c[-1] == user for c in image.commands)
    home = image_home(kind)
    assert any(f"-o {user}" in " ".join(c) and c[-1] == home for c in image.commands), \
        "the data root is not the image user's"
    assert home in json.loads(image.last("VOLUME"))


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_image_sets_the_data_root_cradle_reads(kind: str, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    """CRADLE_HOME in the image is the setting Cradle's configuration reads as its data root."""
    from stages.config import load_config

    monkeypatch.setenv("CRADLE_HOME", image_home(kind))
    assert load_config().home == Path(image_home(kind)) == Path("/data")


@pytest.mark.parametrize("kind", DOCKERFILES)
def test_flow_runs_in_the_image_keep_cradles_privacy_settings(
        kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A worker's flow runs skip `cradle run`'s prepare_environment, so the image sets what it
    does: no pyannote or Prefect telemetry, MediaPipe's logs quiet."""
    from flows.runtime import prepare_environment
    from stages.paths import DataRoot

    prepared = {"PREFECT_HOME": str(tmp_path)}
    monkeypatch.setattr(os, "environ", prepared)
    prepare_environment(DataRoot(tmp_path))
    monkeypatch.undo()
    env = dockerfile(kind).env
    for name in ("PYANNOTE_METRICS_ENABLED", "PREFECT_SERVER_ANALYTICS_ENABLED", "DO_NOT_TRACK",
                 "GLOG_minloglevel"):
        assert env.get(name) == prepared[name], name


def test_build_context_holds_what_the_images_copy_and_nothing_private() -> None:
    """.dockerignore lets in what the Dockerfiles copy (all of it in the repository) and keeps
    out the 7 GB .venv, a data root and a local cradle.yaml (it may hold a proxy password)."""
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def sent(path: str) -> bool:  # the last pattern matching the path or a folder above it wins
        verdict = True
        parts = path.split("/")
        for pattern in patterns:
            negated, glob = pattern.startswith("!"), pattern.lstrip("!").rstrip("/")
            if any(fnmatch("/".join(parts[:i]), glob) for i in range(1, len(parts) + 1)):
                verdict = negated
        return verdict

    for kind in DOCKERFILES:
        for sources, _ in dockerfile(kind).copies():
            for source in sources:
                assert (ROOT / source).exists(), source
                assert sent(source.rstrip("/")), f"{source} is not in the build context"
    assert sent("flows/nightly.py") and sent("review/templates/base.html")
    for private in (".venv/bin/python", "cradle-data/ledger.sqlite", "cradle.yaml", ".git/HEAD",
                    "flows/__pycache__/cli.cpython-311.pyc", "tests/conftest.py"):
        assert not sent(private), private
