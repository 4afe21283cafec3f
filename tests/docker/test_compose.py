"""The compose stack comes up as the project expects: its services, ports, volumes and secrets.

Each service's command is parsed by the CLI that runs it, its environment read by Cradle's and
Prefect's own settings, and the commands docker/README.md gives are checked the same way. A drift
here is a stack that does not come up, or one that publishes more than it should.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.docker.files import (
    CRADLE_SERVICES,
    DOCKER,
    PASSWORD,
    ROOT,
    MissingVariable,
    argv,
    check_command,
    compose,
    compose_raw,
    cradle_default,
    dockerfile,
    environment_of,
    image_home,
    nightly_deployment,
    option,
    prefect_command,
    published,
    service,
)


def test_compose_needs_a_password_and_holds_none() -> None:
    """`docker compose up` refuses to start without POSTGRES_PASSWORD, and no password, secret
    or token is written in the files: each is a `${NAME:?...}` that compose must be given."""
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD"):
        compose({})
    required = re.compile(r"\$\{\w+:\?[^}]*\}")
    for file in ("compose.yaml", "compose.gpu.yaml"):
        for spec in compose_raw(file)["services"].values():
            for key, value in spec.get("environment", {}).items():
                if re.search(r"PASSWORD|SECRET|TOKEN", key):
                    assert required.fullmatch(str(value)), key
                # In a URL, a password may only be a required variable.
                masked = re.sub(r"\$\{[^}]*\}", "x", required.sub("REQUIRED", str(value)))
                for url in re.findall(r"\w[\w+.-]*://\S+", masked):
                    assert urlsplit(url).password in (None, "REQUIRED"), key
    for text in ((DOCKER / "compose.gpu.yaml").read_text(), (ROOT / "prefect.yaml").read_text()):
        assert "password" not in text.lower()


def test_compose_runs_the_four_services_on_postgres_16() -> None:
    """The stack is Prefect's server, PostgreSQL 16 (its data on a named volume, a healthcheck
    the others wait for), a worker and the review UI."""
    stack = compose()
    assert set(stack["services"]) == {"prefect-server", "postgres", "worker", "review"}
    postgres = stack["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    volume = next(v.split(":")[0] for v in postgres["volumes"]
                  if v.split(":")[1] == "/var/lib/postgresql/data")
    assert volume in stack["volumes"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    for name in CRADLE_SERVICES:
        assert stack["services"][name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert (stack["services"]["worker"]["depends_on"]["prefect-server"]["condition"]
            == "service_healthy")


def test_cradle_services_run_the_cpu_image_built_from_this_repository() -> None:
    """Prefect's server runs Cradle's image too, so it has the lock's Prefect and SQLAlchemy
    (< 2.1: 2.1 breaks Prefect's scheduler) rather than whatever another image resolved."""
    for name in CRADLE_SERVICES:
        spec = service(name)
        assert (DOCKER / spec["build"]["context"]).resolve() == ROOT
        assert spec["build"]["dockerfile"] == "docker/Dockerfile"
        assert spec["image"] == service("worker")["image"]


def test_review_service_runs_a_real_cradle_command_on_the_review_port() -> None:
    """`cradle review serve --host 0.0.0.0 --port 8008` exists, its values pass the review UI's
    settings, and the port is the one its settings default to and compose publishes."""
    from review.settings import ReviewSettings, load_settings

    words = argv("review")
    check_command("review", words)
    assert words[:3] == ["cradle", "review", "serve"]
    settings = load_settings(host=option(words, "--host"), port=int(option(words, "--port")))
    assert not settings.on_loopback  # reachable from the published port
    default_port = ReviewSettings.model_fields["port"].default
    assert settings.port == default_port
    assert [(p[1], p[2]) for p in published("review")] == [(default_port, default_port)]


def test_prefect_server_service_serves_the_api_on_prefects_port() -> None:
    """`prefect server start` on 0.0.0.0:4200 (Prefect's default port, the one `cradle serve`
    uses), published as 4200, its database the compose PostgreSQL's `prefect`."""
    from prefect.settings import Settings

    words = argv("prefect-server")
    assert words[0] == "prefect"
    command, bound = prefect_command(words[1:])
    assert command == "prefect.cli.server:start"
    port = cradle_default("serve", "port")
    assert bound == {"host": "0.0.0.0", "port": port}
    assert [(p[1], p[2]) for p in published("prefect-server")] == [(port, port)]

    with environment_of("prefect-server"):
        settings = Settings()
    assert settings.server.api.port == port
    database = urlsplit(settings.server.database.connection_url.get_secret_value())
    assert (database.scheme, database.hostname, database.port, database.path) == (
        "postgresql+asyncpg", "postgres", 5432, "/prefect")
    assert database.password == PASSWORD
    assert service("postgres")["environment"]["POSTGRES_DB"] == "prefect"
    assert urlsplit(settings.server.ui.api_url).port == port
    # The UI's files are copied on start to a folder the image's user can write.
    user = dockerfile("cpu").last("USER")
    assert settings.server.ui.static_directory.startswith(f"/home/{user}/")


def test_published_ports_stay_on_loopback_by_default() -> None:
    """Prefect's UI has no login and the review UI serves infant media over plain HTTP: neither
    is published beyond the host unless CRADLE_PUBLISH_ADDRESS says so."""
    for name in ("prefect-server", "review"):
        assert {p[0] for p in published(name)} == {"127.0.0.1"}
    opened = compose({"POSTGRES_PASSWORD": PASSWORD, "CRADLE_PUBLISH_ADDRESS": "0.0.0.0"})
    assert opened["services"]["review"]["ports"] == ["0.0.0.0:8008:8008"]


def test_run_reports_link_the_published_review_ui() -> None:
    """The worker writes run reports that link each rejected clip in the review UI: they point
    where compose publishes it, not at the container's own address."""
    from review.settings import load_settings

    [(address, port, _)] = published("review")
    with environment_of("worker"):
        assert load_settings().base_url == f"http://{address}:{port}"


def test_worker_polls_the_pool_the_nightly_deployment_uses() -> None:
    """The worker is `prefect worker start` on prefect.yaml's work pool, as a process worker,
    talking to the compose Prefect server: scheduled nightly runs are picked up."""
    from prefect.settings import Settings

    words = argv("worker")
    assert words[0] == "prefect"
    command, bound = prefect_command(words[1:])
    assert command == "prefect.cli.worker:start"
    assert bound["work_pool_name"] == nightly_deployment()["work_pool"]["name"]
    assert bound["worker_type"] == "process"

    with environment_of("worker"):
        api = urlsplit(Settings().api.url)
    server = prefect_command(argv("prefect-server")[1:])[1]
    assert (api.hostname, api.port, api.path) == ("prefect-server", server["port"], "/api")


def test_worker_and_review_share_the_ledger_and_the_data_root() -> None:
    """The worker writes and the review UI reads the same ledger (PostgreSQL's `cradle`, made by
    the init script) and the same data root: one named volume at the image's CRADLE_HOME, as the
    image's user in both, so files the worker keeps owner-only are readable by the UI."""
    from stages.config import load_config

    stack = compose()
    configs = {}
    for name in ("worker", "review"):
        with environment_of(name):
            configs[name] = load_config()
        spec = stack["services"][name]
        assert f"cradle-data:{image_home()}" in spec["volumes"]
        assert "user" not in spec
    assert "cradle-data" in stack["volumes"]
    assert "volumes" not in stack["services"]["prefect-server"]
    worker, review = configs["worker"], configs["review"]
    assert worker.model_dump() == review.model_dump()
    assert worker.home == Path("/data")
    postgres = stack["services"]["postgres"]
    ledger = urlsplit(worker.ledger_url)
    assert (ledger.scheme, ledger.hostname, ledger.port) == ("postgresql+psycopg", "postgres", 5432)
    assert (ledger.username, ledger.password) == (postgres["environment"]["POSTGRES_USER"],
                                                  PASSWORD)

    init = next(v.split(":")[0] for v in postgres["volumes"]
                if v.split(":")[1] == "/docker-entrypoint-initdb.d")
    sql = " ".join(p.read_text() for p in sorted((DOCKER / init).glob("*.sql")))
    created = re.findall(r"CREATE DATABASE (\w+)", sql)
    assert ledger.path.lstrip("/") in created
    assert postgres["environment"]["POSTGRES_DB"] not in created  # Prefect's, made by the image
    assert ledger.path.lstrip("/") != postgres["environment"]["POSTGRES_DB"]  # two alembic_version


def test_commands_the_docker_readme_gives_are_real() -> None:
    """Each `docker compose ... run` in docker/README.md and prefect.yaml runs a command the
    service's image has, with options it takes."""
    texts = ((DOCKER / "README.md").read_text(), (ROOT / "prefect.yaml").read_text())
    lines = [re.sub(r"^#\s*", "", line.strip()) for text in texts
             for line in re.sub(r"\\\n\s*#?\s*", " ", text).splitlines()]
    runs = [shlex.split(line.split("#")[0]) for line in lines
            if line.startswith("docker compose") and " run " in line]
    assert len(runs) >= 5
    for words in runs:
        words = words[words.index("run") + 1:]
        entrypoint = None
        while words[0].startswith("-"):
            flag = words.pop(0)
            if flag == "--entrypoint":
                entrypoint = words.pop(0)
        name, *args = words
        assert name in CRADLE_SERVICES
        image = dockerfile("cpu")
        check_command(name, [*(entrypoint.split() if entrypoint
                               else json.loads(image.last("ENTRYPOINT"))), *args])


def test_gpu_override_puts_the_worker_on_the_cuda_image() -> None:
    """compose.gpu.yaml changes the worker only: the CUDA image and the machine's NVIDIA GPUs."""
    override = compose_raw("compose.gpu.yaml")["services"]
    assert set(override) == {"worker"}
    worker = override["worker"]
    assert (DOCKER / worker["build"]["context"]).resolve() == ROOT
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.cuda"
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]
    assert worker["image"] != service("worker")["image"]
