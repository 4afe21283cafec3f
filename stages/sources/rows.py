"""Source lists read line by line, so that one hostile row costs that row and not the list.

Each problem becomes a `SourceProblem`: the file as it was named (a basename when the name was
absolute, so messages never show a local path), the line, and what is wrong in words. Problems
go to the caller's list, which decides how to show them (`collect` logs them once, or puts the
first few in its error), or are logged where they are found when the caller keeps no list.
"""

from __future__ import annotations

import codecs
import csv
import logging
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

# Longer than any video or recording; also keeps `round(seconds * 1000)` in clip ids finite.
MAX_SECONDS = 7 * 24 * 3600.0
_SHOWN_CHARS = 40  # of a hostile value quoted in a message, which stays one short line
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_SCHEMELESS = ("file",)  # URL schemes that need no host
_WHITESPACE = re.compile(r"\s")


@dataclass(frozen=True)
class SourceProblem:
    """One row (or, with `line` None, a whole file) of a source list that had to be skipped."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class BadRow(ValueError):
    """A row's fields are not what its list's format needs; the message says why, in words."""


def shown_name(path: Path) -> str:
    """The list's name for messages: as given when relative, its basename when absolute."""
    path = Path(path)
    return path.name if path.is_absolute() else str(path)


def shown(text: str) -> str:
    """A field's value quoted for a message: escaped onto one line and cut short."""
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def report(problems: list[SourceProblem] | None, problem: SourceProblem) -> None:
    """Hands a problem to the caller's list, or logs it as one line when there is none."""
    if problems is None:
        log.warning("skipped %s", problem)
    else:
        problems.append(problem)


def csv_rows(path: Path, problems: list[SourceProblem] | None) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line that is UTF-8 text and one CSV record.

    Lines are split and decoded one at a time, so a stray quote or a byte that is not UTF-8 is
    reported on its own line instead of swallowing or aborting the rest. A UTF-8 BOM is dropped.
    A file that cannot be opened, or is UTF-16, is one problem without a line.
    """
    name = shown_name(path)
    try:
        with open(path, "rb") as handle:
            yield from _records(name, handle, problems)
    except OSError as e:
        missing = isinstance(e, FileNotFoundError)
        reason = "no such file" if missing else f"cannot be read ({e.strerror})"
        report(problems, SourceProblem(name, None, reason))


def field_count(fields: list[str], least: int, most: int, columns: str) -> None:
    """Refuses a row whose field count does not fit its format.

    Raises:
        BadRow: too few or too many fields.
    """
    if least <= len(fields) <= most:
        return
    hint = "; quote a field that contains commas" if len(fields) > most else ""
    wanted = str(most) if least == most else f"{least} to {most}"
    raise BadRow(f"expected {wanted} fields ({columns}), found {len(fields)}{hint}")


def span(start: str, end: str) -> tuple[float, float]:
    """A segment's (start, end) in seconds: finite, from 0, at most `MAX_SECONDS`, end after start.

    Raises:
        BadRow: either time is not such a number, or the end is not after the start.
    """
    start_s, end_s = _seconds("start", start), _seconds("end", end)
    if end_s <= start_s:
        raise BadRow(f"end {shown(end)} is not after start {shown(start)}")
    return start_s, end_s


def checked_url(text: str, base: Path) -> str:
    """A URL as yt-dlp will be given it, or a local file path made a `file:` URL against `base`.

    Raises:
        BadRow: the field is empty, or it is not a URL (no scheme, no host, a bad port or IPv6
            address, whitespace) or not a file name.
    """
    url = text.strip()
    if not url:
        raise BadRow("empty url")
    if "://" not in url and not url.startswith("file:"):
        try:
            return (base / url).resolve().as_uri()
        except (OSError, ValueError) as e:  # an OSError's text would show the absolute path
            reason = e.strerror if isinstance(e, OSError) else str(e)
            raise BadRow(f"url {shown(url)} is not a file name ({reason})") from e
    try:
        parts = urlsplit(url)
        _ = parts.port  # parsed lazily: a port that is not a number raises only here
    except ValueError as e:
        raise BadRow(f"url {shown(url)} is not a URL ({e})") from e
    if not parts.scheme:
        raise BadRow(f"url {shown(url)} is not a URL (no scheme)")
    if _WHITESPACE.search(url):
        raise BadRow(f"url {shown(url)} is not a URL (it contains whitespace)")
    if parts.scheme not in _SCHEMELESS and not parts.hostname:
        raise BadRow(f"url {shown(url)} is not a URL (no host)")
    return url


def _seconds(name: str, text: str) -> float:
    if not text.strip():
        raise BadRow(f"{name} is empty")
    try:
        value = float(text)
    except ValueError:
        raise BadRow(f"{name} {shown(text)} is not a number of seconds") from None
    if not math.isfinite(value):  # `inf`, `nan`, and `1e400`, which float() makes inf
        raise BadRow(f"{name} {shown(text)} is not a finite number of seconds")
    if value < 0:
        raise BadRow(f"{name} {shown(text)} is negative")
    if value > MAX_SECONDS:
        raise BadRow(f"{name} {shown(text)} is more than {MAX_SECONDS:.0f} seconds (a week)")
    return value


def _records(name: str, lines: Iterable[bytes], problems: list[SourceProblem] | None
             ) -> Iterator[tuple[int, list[str]]]:
    for number, raw in enumerate(lines, start=1):
        if number == 1:
            if raw.startswith(_UTF16_BOMS):
                report(problems, SourceProblem(name, None, "is UTF-16 text; save it as UTF-8"))
                return
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError as e:
            column = len(raw[:e.start].decode("utf-8")) + 1
            report(problems, SourceProblem(
                name, number, f"not UTF-8 text (byte 0x{raw[e.start]:02x} at column {column})"))
            continue
        try:
            fields = next(csv.reader([text], skipinitialspace=True, strict=True))
        except csv.Error as e:
            reason = str(e).split(" - ")[0]  # csv's hint about newline mode is for programmers
            report(problems, SourceProblem(name, number, f"not a CSV row ({reason})"))
            continue
        if fields:
            yield number, fields
