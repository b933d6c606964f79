from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from citywatch.cli import app
from citywatch.config import Config, check_config_text, load_config, resolve_home
from citywatch.errors import ConfigError

runner = CliRunner()


def test_empty_file_is_all_defaults() -> None:
    cfg, issues = check_config_text("", env={})
    assert issues == []
    assert cfg == Config()
    assert cfg.detector.type == "blazeface"


def test_every_field_has_a_description() -> None:
    def walk(model: type) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            assert field.description, f"{model.__name__}.{name} has no description"

    from citywatch import config as c

    for m in (
        c.BlazeFaceConfig,
        c.DlibHogConfig,
        c.DlibCnnConfig,
        c.TrackerConfig,
        c.MatchConfig,
        c.IngestConfig,
        c.MotionConfig,
        c.CameraConfig,
        c.Config,
    ):
        walk(m)


def test_errors_carry_yaml_lines() -> None:
    text = "detector:\n  type: blazeface\n  min_confidence: 3\ncameras:\n  - name: a\n    bogus: 1\n"
    cfg, issues = check_config_text(text, env={})
    assert cfg is None
    by_path = {i.path: i.line for i in issues}
    assert by_path == {"detector.min_confidence": 3, "cameras.0.bogus": 6}


def test_env_overrides_and_alias() -> None:
    cfg, _ = check_config_text(
        "match:\n  target_far: 0.01\n",
        env={"CITYWATCH_MATCH__TARGET_FAR": "1e-4", "CITYWATCH_DATABASE_URL": "sqlite:///x.db"},
    )
    assert cfg is not None
    assert cfg.match.target_far == pytest.approx(1e-4)
    assert cfg.database.url == "sqlite:///x.db"


def test_bad_yaml_and_duplicate_cameras(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("cameras: [\n")
    with pytest.raises(ConfigError):
        load_config(p, env={})
    p.write_text("cameras:\n  - name: a\n  - name: a\n")
    with pytest.raises(ConfigError, match="duplicate camera"):
        load_config(p, env={})


def test_home_resolution(tmp_path: Path) -> None:
    assert resolve_home(tmp_path / "x", env={}) == (tmp_path / "x").resolve()
    assert resolve_home(None, env={"CITYWATCH_HOME": str(tmp_path / "h")}) == (tmp_path / "h").resolve()
    assert resolve_home(None, env={}).name == "citywatch-data"


def test_cli_validate(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("cameras:\n  - name: lobby\n    source: x.mp4\n")
    res = runner.invoke(app, ["config", "validate", str(good)])
    assert res.exit_code == 0, res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("tracker:\n  best_shots: 0\n")
    res = runner.invoke(app, ["config", "validate", str(bad), "--json"])
    assert res.exit_code == 1
    assert '"line": 2' in res.output
    res = runner.invoke(app, ["config", "validate"])
    assert res.exit_code == 2
