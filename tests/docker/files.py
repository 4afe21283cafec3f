"""What the project and its container files say, read without a Docker engine.

No Docker engine runs in this suite, so the images are never built: the Dockerfiles are read
instruction by instruction and the compose and Prefect files as YAML, and the test modules beside
this one check every fact they repeat (pins, the mediapipe version, the `cradle` script, commands
and options, ports, the data root, the work pool, the schedule) against where the project defines
it. The readers and parsers live here, once, so those modules share one reading of each file.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]  # tests/docker/files.py -> the repository
DOCKER = ROOT / "docker"
DOCKERFILES = {"cpu": DOCKER / "Dockerfile", "cuda": DOCKER / "Dockerfile.cuda"}
CRADLE_SERVICES = ("prefect-server", "worker", "review")  # the services on Cradle's image
# A stand-in for the password compose requires; it must reach every URL that needs it.
PASSWORD = "not-a-real-password"


# --- what the project says ----------------------------------------------------------------------

@cache
def lock_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


@cache
def makefile() -> str:
    return (ROOT / "Makefile").read_text()


def makefile_mediapipe() -> str:
    match = re.search(r"pip install .*--no-deps mediapipe==(\S+)", makefile())
    assert match, "the Makefile no longer installs mediapipe with --no-deps"
    return match.group(1)


@cache
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


@cache
def prefect_yaml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "prefect.yaml").read_text())


def cradle_default(command: str, option: str) -> Any:
    """The default of `cradle COMMAND --OPTION`, as the CLI itself has it."""
    import typer.main

    from flows.cli import app

    click_command = typer.main.get_command(app).commands[command]
    return next(p.default for p in click_command.params if p.name == option)


def nightly_deployment() -> dict[str, Any]:
    (deployment,) = prefect_yaml()["deployments"]
    return deployment


# --- the Dockerfiles ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Dockerfile:
    """A Dockerfile as (KEYWORD, arguments) pairs: continuations joined, comments dropped."""

    instructions: tuple[tuple[str, str], ...]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        instructions, pending = [], ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):  # Docker drops comments inside continuations too
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            keyword, _, args = (pending + line).partition(" ")
            instructions.append((keyword.upper(), args.strip()))
            pending = ""
        assert not pending, f"{path.name} ends inside a line continuation"
        return cls(tuple(instructions))

    def args(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.args(keyword)
        assert found, f"no {keyword} instruction"
        return found[-1]

    @property
    def env(self) -> dict[str, str]:
        return dict(pair.split("=", 1) for args in self.args("ENV") for pair in shlex.split(args))

    @property
    def commands(self) -> list[list[str]]:
        """Every shell command of every RUN, split at `&&`, as words."""
        return [shlex.split(part) for args in self.args("RUN") for part in args.split("&&")]

    def pip_installs(self) -> list[list[str]]:
        return [c[2:] for c in self.commands if c[:2] == ["pip", "install"]]

    def copies(self) -> list[tuple[list[str], str]]:
        """(sources, destination) of each COPY from the build context."""
        out = []
        for args in self.args("COPY"):
            words = shlex.split(args)
            assert not any(w.startswith("--from") for w in words), "a multi-stage COPY: update me"
            out.append((words[:-1], words[-1]))
        return out


@cache
def dockerfile(kind: str) -> Dockerfile:
    return Dockerfile.read(DOCKERFILES[kind])


def image_home(kind: str = "cpu") -> str:
    return dockerfile(kind).env["CRADLE_HOME"]


# --- compose ------------------------------------------------------------------------------------

class MissingVariable(Exception):
    """What `docker compose` reports for a `${NAME:?message}` that is not set."""


VARIABLE = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution, over a whole file."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, word = match.groups()
        current = env.get(name)
        # `:-` and `:?` treat an empty value as unset; `-` and `?` only a missing one.
        unset = current is None or (current == "" and operator in (":-", ":?"))
        if operator in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {word}")
        if operator in (":-", "-") and unset:
            return word
        return current or ""

    return VARIABLE.sub(substitute, value)


@cache
def compose_raw(name: str = "compose.yaml") -> dict[str, Any]:
    return yaml.safe_load((DOCKER / name).read_text())


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(compose_raw(), {"POSTGRES_PASSWORD": PASSWORD} if env is None else env)


def service(name: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    return compose(env)["services"][name]


def service_env(name: str) -> dict[str, str]:
    """A container's environment: the image's ENV, then what compose sets."""
    image = {} if name == "postgres" else dockerfile("cpu").env
    image = {k: v for k, v in image.items() if "$" not in v}  # PATH=/opt/venv/bin:$PATH
    return {**image, **{k: str(v) for k, v in service(name).get("environment", {}).items()}}


@contextmanager
def environment_of(name: str) -> Iterator[None]:
    """This process's environment as the service's container has it (for Cradle and Prefect)."""
    with pytest.MonkeyPatch.context() as patch:
        for key in list(os.environ):
            if key.startswith(("CRADLE_", "PREFECT_")):
                patch.delenv(key)
        for key, value in service_env(name).items():
            patch.setenv(key, value)
        yield


def argv(name: str) -> list[str]:
    spec, image = service(name), dockerfile("cpu")
    entrypoint = spec.get("entrypoint") or json.loads(image.last("ENTRYPOINT"))
    return [*entrypoint, *(spec.get("command") or json.loads(image.last("CMD")))]


def option(words: list[str], name: str) -> str:
    return words[words.index(name) + 1]


def published(name: str) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each port a service publishes."""
    out = []
    for spec in service(name).get("ports", []):
        address, host, container = spec.split(":")
        out.append((address, int(host), int(container)))
    return out


def prefect_command(words: list[str]) -> tuple[str, dict[str, Any]]:
    """The Prefect CLI command `words` name and its bound arguments, parsed by Prefect's own CLI
    (cyclopts) without running it: an unknown option or a bad value raises."""
    from prefect.cli._app import _app

    quiet = {"exit_on_error": False, "print_error": False}
    _, session, _ = _app.meta.parse_args(words, **quiet)  # --no-prompt, --profile
    command, bound, _ = _app.parse_args(list(session.arguments.get("tokens", ())), **quiet)
    return f"{command.__module__}:{command.__name__}", dict(bound.arguments)


def check_command(name: str, words: list[str]) -> None:
    """`words` are a command the `name` service's image runs: `cradle ...` or `prefect ...`."""
    from flows.cli import app

    if words[0] == "prefect":
        prefect_command(words[1:])
        return
    assert words[0] == "cradle", f"{name} runs {words[0]}"
    result = CliRunner().invoke(app, [*words[1:], "--help"])  # an unknown option would fail
    assert result.exit_code == 0, f"{name}: {shlex.join(words)}\n{result.output}"
