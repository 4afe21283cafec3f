"""Hostile source lists: each bad row or file is one problem naming file and line, and skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from stages.sources.rows import SourceProblem
from stages.sources.stage import read_audioset_csv
from tests.stages.sources.test_stage import SEGMENTS

HOSTILE_SEGMENTS = [
    *SEGMENTS.splitlines(keepends=True)[:4],  # lines 1-4: the header and one good row
    "abcDEF12345, 30.000\n",
    'abcDEF12345, abc, 40.000, "/t/dd00001"\n',
    'abcDEF12345, inf, 40.000, "/t/dd00001"\n',
    'abcDEF12345, 1e400, 40.000, "/t/dd00001"\n',
    'abcDEF12345, nan, 40.000, "/t/dd00001"\n',
    'abcDEF12345, -1, 40.000, "/t/dd00001"\n',
    'abcDEF12345, 40.000, 30.000, "/t/dd00001"\n',
    ', 0.000, 10.000, "/t/dd00001"\n',
    'bad id!, 0.000, 10.000, "/t/dd00001"\n',
    'abcDEF12345, 0.000, 10.000, "/t/dd00001\n',
    "abc\udcffDEF, 0.000, 10.000, \"/t/dd00001\"\n",  # written as the lone byte 0xff
    "\n",
    'abcDEF12345, 30.000, 40.000, "/t/dd00001"\n',
]
HOSTILE_GOOD_LINES = (4, 17)
HOSTILE_SEGMENT_PROBLEMS = [
    "hostile.csv:5: expected 4 fields (YTID, start_seconds, end_seconds, positive_labels), "
    "found 2",
    "hostile.csv:6: start 'abc' is not a number of seconds",
    "hostile.csv:7: start 'inf' is not a finite number of seconds",
    "hostile.csv:8: start '1e400' is not a finite number of seconds",
    "hostile.csv:9: start 'nan' is not a finite number of seconds",
    "hostile.csv:10: start '-1' is negative",
    "hostile.csv:11: end '30.000' is not after start '40.000'",
    "hostile.csv:12: empty YTID",
    "hostile.csv:13: YTID 'bad id!' is not a video id",
    "hostile.csv:14: not a CSV row (unexpected end of data)",
    "hostile.csv:15: not UTF-8 text (byte 0xff at column 4)",
]


def _write(path: Path, text: str, prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + text.encode("utf-8", "surrogateescape"))
    return path


def test_every_kind_of_bad_segment_row_is_one_problem_on_its_line(tmp_path: Path) -> None:
    """Used to abort the list on the first bad row: `inf` and `1e400` with an uncaught
    OverflowError, the 0xff byte with a UnicodeDecodeError naming neither file nor line; a
    negative start was accepted, and the unclosed quote swallowed the rows after it."""
    path = _write(tmp_path / "hostile.csv", "".join(HOSTILE_SEGMENTS))
    problems: list[SourceProblem] = []
    clips = read_audioset_csv(path, problems=problems)
    assert [c.id for c in clips] == ["yt---aE2O5G5WE-0-10000", "yt-abcDEF12345-30000-40000"]
    assert [str(p) for p in problems] == HOSTILE_SEGMENT_PROBLEMS
    assert problems[1] == SourceProblem("hostile.csv", 6, "start 'abc' is not a number of seconds")


def test_every_kind_of_bad_url_row_is_one_problem_on_its_line(tmp_path: Path) -> None:
    """Used to abort the list on the first bad row, and to take a negative start, an empty URL
    (as the list's folder) and URLs that yt-dlp can only fail on."""
    from stages.sources.stage import read_url_list

    path = _write(tmp_path / "urls.csv", "url,start,end,labels\n"
                  "https://youtu.be/dQw4w9WgXcQ,1,3,Baby laughter\n"
                  "https://example.org/a.mp4,0,5,Baby cry, infant cry\n"
                  ",0,5,\n"
                  "http://[::1/v.mp4,0,5,\n"
                  "https:///v.mp4,0,5,\n"
                  "ht tp://example.org/v.mp4,0,5,\n"
                  "https://example.org:port/v.mp4,0,5,\n"
                  "https://example.org/v.mp4,zero,5,\n"
                  "https://example.org/v.mp4,-1,5,\n"
                  "https://example.org/v.mp4,5,5,\n"
                  "baby.mp4,2,4\n"
                  "https://example.org/v.mp4,0\n")
    problems: list[SourceProblem] = []
    clips = read_url_list(path, problems)
    assert [(c.url, c.start_s) for c in clips] == [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", 1.0),
        ((tmp_path / "baby.mp4").as_uri(), 2.0)]
    assert [str(p) for p in problems] == [
        "urls.csv:3: expected 3 to 4 fields (url, start, end, labels), found 5; quote a field "
        "that contains commas",
        "urls.csv:4: empty url",
        "urls.csv:5: url 'http://[::1/v.mp4' is not a URL (Invalid IPv6 URL)",
        "urls.csv:6: url 'https:///v.mp4' is not a URL (no host)",
        "urls.csv:7: url 'ht tp://example.org/v.mp4' is not a URL (no scheme)",
        "urls.csv:8: url 'https://example.org:port/v.mp4' is not a URL (Port could not be cast "
        "to integer value as 'port')",
        "urls.csv:9: start 'zero' is not a number of seconds",
        "urls.csv:10: start '-1' is negative",
        "urls.csv:11: end '5' is not after start '5'",
        "urls.csv:13: expected 3 to 4 fields (url, start, end, labels), found 2",
    ]


@pytest.mark.parametrize(("value", "message"), [
    ("inf", "'inf' is not a finite number of seconds"),
    ("-Infinity", "'-Infinity' is not a finite number of seconds"),
    ("1e400", "'1e400' is not a finite number of seconds"),
    ("nan", "'nan' is not a finite number of seconds"),
    ("-1", "'-1' is negative"),
    ("1e300", "'1e300' is more than 604800 seconds (a week)"),
])
def test_times_that_are_not_usable_seconds_are_refused(tmp_path: Path, value: str,
                                                       message: str) -> None:
    """`inf` and `1e400` used to escape as OverflowError (from the clip id's milliseconds), `nan`
    as a bare ValueError, and `-1` was accepted as a start."""
    from stages.sources.stage import read_url_list

    segments = _write(tmp_path / "segments.csv",
                      SEGMENTS + f'abcDEF12345, {value}, 40.000, "/t/dd00001"\n')
    urls = _write(tmp_path / "urls.csv", f"url,start,end\nhttps://youtu.be/dQw4w9WgXcQ,0,{value}\n")
    problems: list[SourceProblem] = []
    assert len(read_audioset_csv(segments, problems=problems)) == 2
    assert read_url_list(urls, problems) == []
    assert [str(p) for p in problems] == [f"segments.csv:6: start {message}",
                                          f"urls.csv:2: end {message}"]


def test_a_utf8_bom_is_accepted_in_both_formats(shared: Path, tmp_path: Path) -> None:
    """A URL list saved with a BOM (Excel's "CSV UTF-8") used to be refused as KeyError('url'),
    and an AudioSet list with one was not recognised as AudioSet."""
    import shutil

    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect, read_url_list

    bom = b"\xef\xbb\xbf"
    shutil.copy(shared / "fixtures/audioset/ontology.json", tmp_path)
    segments = _write(tmp_path / "segments.csv", SEGMENTS, prefix=bom)
    urls = _write(tmp_path / "urls.csv", "url,start,end,labels\nhttps://youtu.be/dQw4w9WgXcQ,1,3,\n",
                  prefix=bom)
    problems: list[SourceProblem] = []
    assert len(read_audioset_csv(segments, problems=problems)) == 2
    assert [c.id for c in read_url_list(urls, problems)] == ["yt-dQw4w9WgXcQ-1000-3000"]
    collected = collect([segments, urls], SourcesConfig())
    assert len(collected.clips) == 3
    assert problems == collected.problems == []


def test_a_line_that_is_not_utf8_costs_only_that_line(tmp_path: Path) -> None:
    """Used to end the whole read with a UnicodeDecodeError that named neither file nor line."""
    from stages.sources.stage import read_url_list

    path = tmp_path / "urls.csv"
    path.write_bytes(b"url,start,end,labels\n"
                     b"https://example.org/caf\xe9.mp4,0,5,\n"
                     b"https://youtu.be/dQw4w9WgXcQ,1,3,Baby laughter\r\n")
    problems: list[SourceProblem] = []
    assert [c.id for c in read_url_list(path, problems)] == ["yt-dQw4w9WgXcQ-1000-3000"]
    assert [str(p) for p in problems] == ["urls.csv:2: not UTF-8 text (byte 0xe9 at column 24)"]


def test_whole_file_problems_are_one_line_each(tmp_path: Path) -> None:
    """A UTF-16 list used to fail on its first byte, and a list without the header on a
    KeyError: now each is one problem naming the file."""
    from stages.sources.stage import read_url_list

    utf16 = tmp_path / "utf16.csv"
    utf16.write_text("url,start,end\nhttps://youtu.be/dQw4w9WgXcQ,1,3\n", encoding="utf-16")
    headless = _write(tmp_path / "headless.csv", "https://youtu.be/dQw4w9WgXcQ,1,3\n")
    problems: list[SourceProblem] = []
    assert read_url_list(utf16, problems) == read_url_list(headless, problems) == []
    assert [str(p) for p in problems] == [
        "utf16.csv: is UTF-16 text; save it as UTF-8",
        "headless.csv:1: the header must name url, start, end (and optionally labels), not "
        "'https://youtu.be/dQw4w9WgXcQ, 1, 3'"]


def test_collect_skips_a_missing_list_and_keeps_the_others(tmp_path: Path) -> None:
    """A missing list used to raise FileNotFoundError with its absolute path, ending the run."""
    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    urls = _write(tmp_path / "urls.csv", "url,start,end\nhttps://youtu.be/dQw4w9WgXcQ,1,3\n")
    collected = collect([tmp_path / "missing.csv", urls], SourcesConfig())
    assert [c.id for c in collected.clips] == ["yt-dQw4w9WgXcQ-1000-3000"]
    assert collected.problems == [SourceProblem("missing.csv", None, "no such file")]


def test_collect_fails_only_when_nothing_is_left_and_names_the_first_problems(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Used to stop at the first problem with a traceback, then to log every problem and list
    them all again in the error; now the error alone names the first few and counts the rest,
    and no message shows a local absolute path."""
    from manifests.errors import ConfigError
    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    segments = _write(tmp_path / "hostile.csv", "".join(  # the good rows blanked out
        "\n" if number in HOSTILE_GOOD_LINES else line
        for number, line in enumerate(HOSTILE_SEGMENTS, start=1)))
    urls = _write(tmp_path / "urls.csv", "url,start,end\n,1,3\n")
    (tmp_path / "folder.csv").mkdir()
    with caplog.at_level("WARNING", logger="stages.sources"), \
            pytest.raises(ConfigError) as raised:
        collect([segments, tmp_path / "missing.csv", urls, tmp_path / "folder.csv"],
                SourcesConfig())
    lines = str(raised.value).splitlines()
    assert lines[0] == ("no valid source rows in hostile.csv, missing.csv, urls.csv, folder.csv "
                        "(14 problems; is each an AudioSet segment CSV or a url,start,end,labels "
                        "list?):")
    assert lines[1:] == [*HOSTILE_SEGMENT_PROBLEMS[:5], "... and 9 more"]
    assert not caplog.records
    assert str(tmp_path) not in str(raised.value)


def test_collect_logs_each_skipped_row_once_unless_told_not_to(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`cradle run` checks the lists before the run reads them again: the check stays quiet,
    so each skipped row is logged once, by the run."""
    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    urls = _write(tmp_path / "urls.csv", "url,start,end\nhttps://youtu.be/dQw4w9WgXcQ,1,3\n,1,3\n")
    with caplog.at_level("WARNING", logger="stages.sources"):
        assert len(collect([urls], SourcesConfig(), log_skipped=False).clips) == 1
        assert not caplog.records
        assert len(collect([urls], SourcesConfig()).clips) == 1
    assert [r.getMessage() for r in caplog.records] == ["skipped urls.csv:3: empty url"]


def test_problems_name_a_relative_list_as_given(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages used to carry the list's path however it was given, absolute ones included."""
    from stages.sources.stage import read_url_list

    monkeypatch.chdir(tmp_path)
    (tmp_path / "lists").mkdir()
    _write(tmp_path / "lists/urls.csv", "url,start,end\nhttps://youtu.be/dQw4w9WgXcQ,inf,3\n")
    problems: list[SourceProblem] = []
    read_url_list(Path("lists/urls.csv"), problems)
    assert [str(p) for p in problems] == [
        "lists/urls.csv:2: start 'inf' is not a finite number of seconds"]


def test_a_long_list_of_problems_is_cut_short_in_the_error(tmp_path: Path) -> None:
    """A wrong file of millions of rows must not make an error of millions of lines."""
    from manifests.errors import ConfigError
    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    urls = _write(tmp_path / "urls.csv", "url,start,end\n" + "https://youtu.be/x,a,b\n" * 60)
    with pytest.raises(ConfigError) as raised:
        collect([urls], SourcesConfig())
    lines = str(raised.value).splitlines()
    assert len(lines) == 7 and lines[-1] == "... and 55 more"


def test_lists_without_any_row_fail_with_their_names(tmp_path: Path) -> None:
    """Empty lists used to pass as a run with nothing to do, hiding a wrong file name."""
    from manifests.errors import ConfigError
    from stages.sources.config import SourcesConfig
    from stages.sources.stage import collect

    empty = _write(tmp_path / "empty.csv", "")
    header_only = _write(tmp_path / "header.csv", "url,start,end,labels\n")
    with pytest.raises(ConfigError, match=r"^no source rows in empty\.csv, header\.csv$"):
        collect([empty, header_only], SourcesConfig())
