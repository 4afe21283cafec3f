"""Atomic writes: a failed write leaves the previous file whole and no partial file behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from manifests.files import atomic_path, atomic_write_json, atomic_write_text


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    atomic_write_json(target, {"clips": 3})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"clips": ')
        raise RuntimeError("killed mid-write")
    assert target.read_text() == '{\n  "clips": 3\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_temporary_name_keeps_the_suffix_for_format_sniffing_tools(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "deep" / "clip.mp4") as tmp:
        assert tmp.suffix == ".mp4" and tmp.parent == tmp_path / "deep"
        tmp.write_bytes(b"x")
    assert (tmp_path / "deep" / "clip.mp4").read_bytes() == b"x"


def test_equal_json_is_byte_identical(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    atomic_write_json(tmp_path / "b.json", {"a": [1, 2], "b": 1})
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    atomic_write_text(tmp_path / "a.json", "replaced")
    assert (tmp_path / "a.json").read_text() == "replaced"


def test_files_get_the_usual_permissions(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
