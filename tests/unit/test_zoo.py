"""The model catalogue and ``models pull`` against a local HTTP server (never the internet).

Every download here is a file this test writes and serves from 127.0.0.1;
the catalogue's URL and hash are overridden the way a user with a mirror
would (``--url``, ``--sha256``), or the entry itself is replaced.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citywatch import zoo
from citywatch.cli import app
from citywatch.errors import ModelError


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``(base_url, folder)``: an HTTP server on a free local port serving ``folder``."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PAYLOAD = b"onnx weights stand-in " * 1000


def test_catalogue_is_complete_and_honest() -> None:
    names = [e.name for e in zoo.CATALOGUE]
    assert len(names) == len(set(names))
    assert {"yunet", "scrfd", "sface", "arcface", "dlib_resnet", "blazeface"} <= set(names)
    for e in zoo.CATALOGUE:
        assert e.licence and e.input and e.output
        assert (e.package is None) == e.downloadable, e.name
        if e.sha256 is not None:
            assert zoo.SHA256_RE.match(e.sha256), e.name
    for name in ("scrfd", "arcface"):  # InsightFace: research only, no published checksum
        e = zoo.entry(name)
        assert "NON-COMMERCIAL" in e.licence and e.sha256 is None
    assert zoo.entry("sface").dim == 128 and zoo.entry("arcface").dim == 512
    with pytest.raises(ModelError, match="unknown model 'nope'"):
        zoo.entry("nope")


def test_pull_verifies_and_saves(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "yunet.onnx").write_bytes(PAYLOAD)
    e = zoo.entry("yunet")
    dest = tmp_path / "models"
    seen: list[int] = []
    path = zoo.pull(
        e,
        dest,
        url=f"{base}/yunet.onnx",
        sha256=_sha(PAYLOAD),
        progress=lambda done, total: seen.append(done),
    )
    assert path == dest / "face_detection_yunet_2023mar.onnx"
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == len(PAYLOAD)
    assert [p.name for p in dest.iterdir()] == [path.name]  # no temporary file left
    assert zoo.installed(e, dest)


def test_pinned_hash_is_checked_and_a_mismatch_leaves_nothing(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = server
    (root / "sface.onnx").write_bytes(PAYLOAD)
    e = dataclasses.replace(zoo.entry("sface"), url=f"{base}/sface.onnx")  # the real pinned hash stays
    dest = tmp_path / "models"
    with pytest.raises(ModelError, match=r"SHA-256 mismatch .* expected 0ba9fbfa") as info:
        zoo.pull(e, dest)
    assert _sha(PAYLOAD) in str(info.value)
    assert list(dest.iterdir()) == []


def test_no_published_hash_needs_sha256(server: tuple[str, Path], tmp_path: Path) -> None:
    e = zoo.entry("arcface")
    with pytest.raises(ModelError, match=r"no SHA-256.*--sha256"):
        zoo.pull(e, tmp_path)
    with pytest.raises(ModelError, match="64 hex digits"):
        zoo.pull(e, tmp_path, sha256="abc")


def test_archive_member_is_extracted_after_the_archive_checks_out(
    server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = server
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("buffalo_l/det_10g.onnx", PAYLOAD)
        zf.writestr("buffalo_l/w600k_r50.onnx", b"other")
    (root / "pack.zip").write_bytes(buf.getvalue())
    dest = tmp_path / "models"
    path = zoo.pull(zoo.entry("scrfd"), dest, url=f"{base}/pack.zip", sha256=_sha(buf.getvalue()))
    assert path.name == "det_10g.onnx" and path.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dest.iterdir()) == ["det_10g.onnx"]


def test_bad_archive_and_http_errors(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "notzip.zip").write_bytes(PAYLOAD)
    with pytest.raises(ModelError, match="not a valid zip"):
        zoo.pull(zoo.entry("arcface"), tmp_path, url=f"{base}/notzip.zip", sha256=_sha(PAYLOAD))
    with pytest.raises(ModelError, match=r"download of .* failed"):
        zoo.pull(zoo.entry("yunet"), tmp_path, url=f"{base}/missing.onnx", sha256=_sha(PAYLOAD))
    with pytest.raises(ModelError, match="only http"):
        zoo.pull(zoo.entry("yunet"), tmp_path, url="file:///etc/passwd", sha256=_sha(PAYLOAD))
    with pytest.raises(ModelError, match="ship with the"):
        zoo.pull(zoo.entry("dlib_resnet"), tmp_path)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_existing_file_is_kept_unless_forced(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "y.onnx").write_bytes(PAYLOAD)
    (tmp_path / "face_detection_yunet_2023mar.onnx").write_bytes(b"old")
    e = zoo.entry("yunet")
    zoo.pull(e, tmp_path, url=f"{base}/y.onnx", sha256=_sha(PAYLOAD))
    assert (tmp_path / e.file).read_bytes() == b"old"  # type: ignore[operator]
    zoo.pull(e, tmp_path, url=f"{base}/y.onnx", sha256=_sha(PAYLOAD), force=True)
    assert (tmp_path / e.file).read_bytes() == PAYLOAD  # type: ignore[operator]


def test_cli_list_and_pull(server: tuple[str, Path], tmp_path: Path) -> None:
    base, root = server
    (root / "y.onnx").write_bytes(PAYLOAD)
    runner = CliRunner()
    res = runner.invoke(app, ["models", "list", "--json", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r for r in map(json.loads, res.stdout.splitlines())}
    assert rows["yunet"]["installed"] is False and rows["arcface"]["needs_sha256"] is True
    assert rows["arcface"]["dim"] == 512 and "NON-COMMERCIAL" in rows["scrfd"]["licence"]

    res = runner.invoke(app, ["models", "list", "--data-dir", str(tmp_path)])
    assert res.exit_code == 0 and "non-commercial research only" in res.stdout

    args = ["models", "pull", "yunet", "--url", f"{base}/y.onnx", "--data-dir", str(tmp_path)]
    res = runner.invoke(app, [*args, "--sha256", "0" * 64])
    assert res.exit_code == 1 and "mismatch" in res.output
    res = runner.invoke(app, [*args, "--sha256", _sha(PAYLOAD), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout.splitlines()[-1])["path"] == str(
        tmp_path / "models" / "face_detection_yunet_2023mar.onnx"
    )
    res = runner.invoke(app, ["models", "pull", "scrfd", "--data-dir", str(tmp_path)])
    assert res.exit_code == 1 and "--sha256" in res.output
