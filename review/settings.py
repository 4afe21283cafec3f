"""The review UI's settings: `CRADLE_REVIEW_*` environment variables over the defaults below.

Checked when the server starts, so a bad value stops it with one line instead of surfacing as a
broken page later.
"""

from __future__ import annotations

import ipaddress

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from manifests.errors import ConfigError


class ReviewSettings(BaseSettings):
    """How the review server listens, whom it lets in, and what the queue shows."""

    model_config = SettingsConfigDict(env_prefix="CRADLE_REVIEW_", frozen=True, extra="forbid")

    # Loopback unless told otherwise: infant media is not served to the network by accident.
    host: str = "127.0.0.1"
    port: int = Field(8008, ge=1, le=65535)
    # Accepted clips sampled into the queue for spot checks; the sample is a hash of the clip id
    # and the seed, so every annotator and every restart sees the same clips.
    spot_check_fraction: float = Field(0.05, ge=0.0, le=1.0)
    spot_check_seed: int = 0
    page_size: int = Field(50, ge=1, le=500)
    session_hours: float = Field(8.0, gt=0, le=24 * 14)
    # Secure cookies; None: when the request came over HTTPS (directly or via a proxy header).
    secure_cookies: bool | None = None
    # Failed logins allowed per account and per client address within the window.
    login_attempts: int = Field(5, ge=1, le=1000)
    login_window_s: int = Field(900, ge=1)
    # Trust X-Forwarded-Proto from a reverse proxy that terminates TLS in front of the server.
    behind_proxy: bool = False
    # Where annotators reach the UI (e.g. https://review.lab.example behind a proxy): run
    # reports link each rejected clip there. None: http://host:port.
    public_url: str | None = None

    @field_validator("host")
    @classmethod
    def _an_address(cls, host: str) -> str:
        if host != "localhost":
            try:
                ipaddress.ip_address(host)
            except ValueError as e:
                raise ValueError(f"{host!r} is not an IP address (or 'localhost')") from e
        return host

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def on_loopback(self) -> bool:
        return self.host == "localhost" or ipaddress.ip_address(self.host).is_loopback


def load_settings(**overrides: object) -> ReviewSettings:
    """Reads the settings, turning validation errors into one readable ConfigError."""
    try:
        return ReviewSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                             for err in e.errors())
        raise ConfigError(f"invalid review settings: {problems}") from e
