"""Unblurring: a second, different user approves; the approval is used once; everything is logged."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from citywatch.cli import app as cli
from citywatch.errors import PolicyError
from citywatch.governance.export import ExportResult, decide_unblur, export_evidence, request_unblur
from citywatch.images import load_image
from citywatch.store.exports import decide_unblur_request, get_unblur_request, list_exports
from conftest import ExportWorld


def test_unblur_needs_a_second_user_and_is_used_once(export_world: ExportWorld, tmp_path: Path) -> None:
    w, store = export_world, export_world.app.store
    req = request_unblur(
        store, case_ref="CASE-U", alert_id=w.subject_alert, reason="identify a witness", requested_by="ivy"
    )
    assert req.status == "pending"

    def export(user: str, name: str) -> ExportResult:
        return export_evidence(
            store,
            w.app.detector,
            case_ref="CASE-U",
            alert_id=w.subject_alert,
            exporter=user,
            output=tmp_path / name,
            unblur_request_id=req.id,
        )

    with pytest.raises(PolicyError, match="pending"):
        export("ivy", "early.zip")
    with pytest.raises(PolicyError, match=r"may not export\.unblur\.approve"):
        decide_unblur(store, req.id, "ivy", approve=True)  # investigators cannot approve at all
    with pytest.raises(PolicyError, match="a different user must decide"):
        decide_unblur_request(store, req.id, "ivy", approve=True)  # and nobody approves their own request
    approved = decide_unblur(store, req.id, "sam", approve=True)
    assert approved.status == "approved" and approved.decided_by == "sam"
    with pytest.raises(PolicyError, match="only they may use it"):
        export("ian", "other.zip")

    res = export("ivy", "clear.zip")
    assert res.unblurred and res.unblur_approved_by == "sam"
    assert get_unblur_request(store, req.id).status == "used"
    with zipfile.ZipFile(res.path) as z:
        manifest = json.loads(z.read("manifest.json"))
        frames = [load_image(z.read(n["file"])) for n in manifest["frames"]]
    assert manifest["unblurred"] is True and manifest["unblur_approved_by"] == "sam"
    # the unblurred package really shows the bystander: the redaction test has teeth
    assert sum(len(w.app.detector.detect(f)) >= 2 for f in frames) >= 5

    with pytest.raises(PolicyError, match="is used"):
        export("ivy", "again.zip")
    rows = list_exports(store, "CASE-U")
    assert [(r.unblurred, r.unblur_approved_by) for r in rows] == [(True, "sam")]
    actions = [(a.action, a.actor) for a in store.list_audit() if a.case_ref == "CASE-U"]
    assert actions == [
        ("export.unblur_request", "ivy"),
        ("export.unblur_approve", "sam"),
        ("export", "ivy"),
    ]
    export_entry = next(a for a in store.list_audit() if a.case_ref == "CASE-U" and a.action == "export")
    assert export_entry.details is not None and export_entry.details["unblur_approved_by"] == "sam"


def test_cli_forms(export_world: ExportWorld) -> None:
    w = export_world
    base = ["--data-dir", str(w.home), "--config", str(w.config)]
    runner = CliRunner()
    refused = runner.invoke(
        cli, ["export", "--case", "CASE-C", "--alert", str(w.bystander_alert), "--as", "ivy", *base]
    )
    assert refused.exit_code == 1 and "only confirmed matches" in refused.output
    made = runner.invoke(
        cli,
        [
            "export",
            "unblur-request",
            "--case",
            "CASE-C",
            "--alert",
            str(w.subject_alert),
            "--reason",
            "r",
            "--as",
            "ivy",
            "--json",
            *base,
        ],
    )
    assert made.exit_code == 0, made.output
    rid = json.loads(made.stdout.strip().splitlines()[-1])["request_id"]
    own = runner.invoke(cli, ["export", "unblur-approve", str(rid), "--as", "ivy", *base])
    assert own.exit_code == 1
    refused_by_sam = runner.invoke(
        cli, ["export", "unblur-approve", str(rid), "--refuse", "--as", "sam", *base]
    )
    assert refused_by_sam.exit_code == 0 and "refused" in refused_by_sam.output
    missing = runner.invoke(cli, ["export", "--alert", "1", "--as", "ivy", *base])
    assert missing.exit_code == 2 and "--case" in missing.output
