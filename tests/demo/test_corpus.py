"""The corpus as files: index, manifest, resume, determinism, contact sheet and HTTP server."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import time
import urllib.request
from pathlib import Path
from socketserver import BaseRequestHandler
from urllib.parse import urlsplit

import cv2
import pytest
import soundfile as sf

from demo.clip import render_clip
from demo.corpus import corpus_variants, generate_corpus
from demo.face import photo_landmarks
from demo.preview import write_contact_sheet
from demo.server import CorpusServer, serve_corpus
from demo.variants import LABEL_NAMES, VARIANTS, variant
from manifests.files import sha256_file
from manifests.records import Clip
from stages.config import load_config
from stages.download.stage import DownloadSettings, run
from stages.paths import DataRoot
from stages.sources.ontology import Ontology
from tests.conftest import DEMO_SEED as SEED

SHARED_AUDIOSET = Path(__file__).resolve().parents[4] / "shared" / "fixtures" / "audioset"


def test_index_lists_every_file_with_its_hash(corpus: Path) -> None:
    index = json.loads((corpus / "corpus.json").read_text())
    assert index["seed"] == SEED and index["version"]
    assert [c["name"] for c in index["clips"]] == [v.name for v in VARIANTS]
    for clip in index["clips"]:
        for name, digest in clip["sha256"].items():
            assert sha256_file(corpus / name) == digest
        if not variant(clip["name"]).derive:
            assert (corpus / f"{clip['name']}.infant.wav").is_file()


def test_segments_csv_is_in_audioset_format(corpus: Path) -> None:
    lines = (corpus / "segments.csv").read_text().splitlines()
    assert all(line.startswith("# ") for line in lines[:3])
    assert lines[2] == "# YTID, start_seconds, end_seconds, positive_labels"
    rows = [line.split(", ", 3) for line in lines[3:]]
    assert [r[0] for r in rows] == [v.name for v in VARIANTS]
    for (ytid, start, end, labels), v in zip(rows, VARIANTS, strict=True):
        assert (corpus / f"{ytid}.mp4").exists()
        assert float(start) == 0.0 and float(end) == v.duration_s
        assert labels.startswith('"') and labels.endswith('"')
    known = SHARED_AUDIOSET / "class_labels_indices.csv"
    if known.is_file():
        mids = {line.split(",")[1] for line in known.read_text().splitlines()[1:]}
        for row in rows:
            assert set(row[3].strip('"').split(",")) <= mids


def test_every_demo_label_is_named_as_audioset_names_it(shared: Path) -> None:
    """`cradle status` and dry runs name the demo's labels from `LABEL_NAMES` (the demo ships
    no ontology): every label a demo clip carries, by its name in AudioSet's ontology."""
    names = Ontology.load(shared / "fixtures" / "audioset" / "ontology.json").names
    assert {label for v in corpus_variants(12) for label in v.labels} == set(LABEL_NAMES)
    assert {mid: names[mid] for mid in LABEL_NAMES} == LABEL_NAMES


def test_rerun_with_the_same_seed_writes_nothing(corpus: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()}
    generate_corpus(corpus, seed=SEED)
    assert {p.name: p.stat().st_mtime_ns for p in corpus.iterdir()} == before


def test_a_clip_is_deterministic_for_a_seed(corpus: Path, tmp_path: Path) -> None:
    v = variant("clean_cry")
    landmarks = {v.photo: photo_landmarks(v.photo)}
    render_clip(v, SEED, tmp_path, landmarks)
    for suffix in (".json", ".infant.wav", ".mp4"):
        name = f"{v.name}{suffix}"
        assert sha256_file(tmp_path / name) == sha256_file(corpus / name), suffix
    other = tmp_path / "other"
    render_clip(v, SEED + 1, other, landmarks)
    a, _ = sf.read(corpus / f"{v.name}.infant.wav")
    b, _ = sf.read(other / f"{v.name}.infant.wav")
    assert a.shape != b.shape or abs(a - b).max() > 0.01


def test_contact_sheet_shows_every_variant(corpus: Path, tmp_path: Path) -> None:
    out = write_contact_sheet(corpus, tmp_path / "sheet.png")
    sheet = cv2.imread(str(out))
    assert sheet is not None and sheet.shape[0] >= len(VARIANTS) * 180


def test_server_answers_plain_and_range_requests(corpus: Path) -> None:
    data = (corpus / "clean_cry.mp4").read_bytes()
    with serve_corpus(corpus) as base:
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base + "clean_cry.mp4") as r:
            assert r.status == 200 and r.read() == data
            assert r.headers["Accept-Ranges"] == "bytes"
        request = urllib.request.Request(base + "clean_cry.mp4", headers={"Range": "bytes=100-199"})
        with urllib.request.urlopen(request) as r:
            assert r.status == 206 and r.read() == data[100:200]
            assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        request = urllib.request.Request(base + "clean_cry.mp4", headers={"Range": "bytes=-50"})
        with urllib.request.urlopen(request) as r:
            assert r.status == 206 and r.read() == data[-50:]
        request = urllib.request.Request(base + "clean_cry.mp4",
                                         headers={"Range": f"bytes={len(data) + 10}-"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == 416
        # ffmpeg seeks inside the mp4 over HTTP with ranges: the real download path.
        cut = subprocess.run(["ffmpeg", "-v", "error", "-ss", "4", "-i", base + "clean_cry.mp4",
                              "-t", "1", "-f", "null", "-"], capture_output=True, text=True,
                             check=False, env={**os.environ, "no_proxy": "*"})
        assert cut.returncode == 0, cut.stderr


def test_server_refuses_to_leave_loopback(corpus: Path) -> None:
    with pytest.raises(ValueError, match="loopback"), serve_corpus(corpus, host="0.0.0.0"):
        pass


def test_server_logs_a_client_hanging_up_at_debug_without_a_traceback(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture) -> None:
    (tmp_path / "big.bin").write_bytes(bytes(32 << 20))  # more than the socket buffers hold
    caplog.set_level(logging.DEBUG, logger="demo.server")
    with serve_corpus(tmp_path) as base:
        address = urlsplit(base)
        with socket.create_connection((address.hostname, address.port)) as client:
            client.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            client.recv(1024)  # the headers, as ffmpeg reads before it hangs up
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 10
        while "hung up" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [r.levelno for r in caplog.records if "hung up" in r.message] == [logging.DEBUG]
    assert "Traceback" not in caplog.text + capfd.readouterr().err


def test_server_still_logs_real_errors_with_their_traceback(
        caplog: pytest.LogCaptureFixture) -> None:
    with CorpusServer(("127.0.0.1", 0), BaseRequestHandler) as server:
        try:
            raise ValueError("a bug in the handler")
        except ValueError:
            server.handle_error(None, ("127.0.0.1", 9))
    [record] = caplog.records
    assert record.levelno == logging.ERROR and record.exc_info is not None
    assert record.exc_info[0] is ValueError


@pytest.mark.parametrize("name", ["corrupt_truncated", "corrupt_empty"])
def test_download_ends_a_corrupt_clip_as_its_ground_truth_says(corpus: Path, tmp_path: Path,
                                                               name: str) -> None:
    """Served whole but undecodable: failed at once, not retried as a network fault."""
    cfg = load_config(network={"retries": 2, "backoff_s": 0.01, "requests_per_second": 1000})
    with serve_corpus(corpus) as base:
        [result] = run([Clip(id=f"demo-{name}", url=f"{base}{name}.mp4", start_s=0.0,
                             end_s=variant(name).duration_s, split_group=name)],
                       DownloadSettings(cfg.download, cfg.network, "run"), DataRoot(tmp_path))
    expected = variant(name).expected()
    assert expected["stage"] == "download"
    assert (result.status.value, result.reason and result.reason.value) == (
        expected["verdict"], expected["reason"]), result.metrics
    assert result.metrics["attempts"] == 1
