"""The CLI's main path (enrol, process a clip, search) on the city-scale stores.

Each database backend (SQLite, PostgreSQL) with Milvus (a milvus-lite file in
the data directory) for the vectors, reached the way a deployment reaches
them: ``CITYWATCH_DATABASE_URL`` and ``CITYWATCH_VECTOR_URI`` in the
environment of the real CLI, in subprocesses. (``test_cli_flow.py`` covers the
embedded default, SQLite and FAISS, in depth.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_world import CONFIG, World, json_lines

from citywatch.config import GovernanceConfig
from citywatch.governance.access import add_user
from citywatch.governance.authorisations import grant, request
from citywatch.governance.cases import open_case
from citywatch.governance.watchlist import decide
from citywatch.store import Store, outbox

pytestmark = pytest.mark.slow


def test_enroll_process_search_on_database_and_milvus(
    tmp_path: Path, assets: tuple[Path, Path, Path], db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed")
    clip, photo, probe = assets
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    home = tmp_path / "home"
    monkeypatch.setenv("CITYWATCH_DATABASE_URL", db_url)
    monkeypatch.setenv("CITYWATCH_VECTOR_URI", "vectors.db")  # a milvus-lite file in the data directory
    w = World(tmp_path, home, cfg, clip, photo, probe)
    # in this process only rows are touched (no vectors): the CLI subprocesses own the milvus-lite file
    with Store.open(db_url, home) as store:
        add_user(store, None, "root", "admin")
        add_user(store, "root", "tester", "investigator")
        add_user(store, "root", "sup", "supervisor")
    w.run(
        "enroll", "--watchlist", "wl", "--name", "Astronaut", "--photo", str(photo),
        "--legal-basis", "Test statute s.1", "--legal-reference", "ORD-1", "--provenance", "test asset",
        check=True,
    )  # fmt: skip
    now = datetime.now(UTC)
    with Store.open(db_url, home) as store:
        decide(store, "sup", 1, approve=True)
        open_case(store, "tester", "C-1", "test case")
        a = request(
            store, GovernanceConfig(), "tester", case_ref="C-1", authority="Test court", reference="AZ-1",
            purpose="listed_offence", use="post_event", targets=[1], cameras=["gate"],
            window_start=now - timedelta(days=30), window_end=now + timedelta(days=1),
        )  # fmt: skip
        grant(store, "sup", a.id)

    res = w.run("process", str(clip), "--camera", "gate", "--case", "C-1", "--json", check=True)
    alerts = [x for x in json_lines(res.stdout) if x["type"] == "alert"]
    assert len(alerts) == 1 and alerts[0]["identity"] == "Astronaut"

    day = ("--since", (now - timedelta(days=1)).isoformat())
    search = ("search", "--photo", str(probe), "--case", "C-1", "--reason", "test", *day, "--json")
    hits = json_lines(w.run(*search, check=True).stdout)
    assert [h["camera"] for h in hits] == ["gate"] and hits[0]["above_threshold"] is True
    assert json_lines(w.run(*search, "--camera", "plaza", check=True).stdout) == []  # filtered in Milvus

    # the vectors went to Milvus, not to FAISS files; the alert's outbox row is in the database
    assert (home / "vectors.db").is_dir()
    assert not list(home.rglob("*.faiss"))
    with Store.open(db_url, home) as store:
        (alert,) = store.list_alerts()
        assert [r.destination for r in outbox.list_outbox(store, alert.id)] == ["*"]
        assert store.verify_audit() == (True, None)
