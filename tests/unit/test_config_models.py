"""Config for the ONNX plugins: the ``type:`` picks detector/embedder, errors point at the YAML line."""

from __future__ import annotations

import pytest

from citywatch.config import ArcFaceConfig, ScrfdConfig, SFaceConfig, YuNetConfig, check_config_text


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("detector: {type: yunet, model_path: /m/y.onnx}", "detector", YuNetConfig),
        ("detector: {type: scrfd, input_size: 320}", "detector", ScrfdConfig),
        ("embedder: {type: sface, batch_size: 8}", "embedder", SFaceConfig),
        (
            "embedder: {type: arcface, providers: [CUDAExecutionProvider, CPUExecutionProvider]}",
            "embedder",
            ArcFaceConfig,
        ),
    ],
    ids=["yunet", "scrfd", "sface", "arcface"],
)
def test_type_picks_the_plugin(text: str, kind: str, expected: type) -> None:
    cfg, issues = check_config_text(text, env={})
    assert issues == [] and cfg is not None
    assert isinstance(getattr(cfg, kind), expected)


def test_arcface_providers_and_defaults() -> None:
    cfg, _ = check_config_text(
        "embedder:\n  type: arcface\n  providers: [CUDAExecutionProvider, CPUExecutionProvider]\n", env={}
    )
    assert cfg is not None and isinstance(cfg.embedder, ArcFaceConfig)
    assert cfg.embedder.providers == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert (cfg.embedder.input_mean, cfg.embedder.input_std, cfg.embedder.model_id) == (127.5, 127.5, "")


@pytest.mark.parametrize(
    ("text", "path", "line"),
    [
        ("cameras: []\ndetector:\n  type: scrfd\n  input_size: 100\n", "detector.input_size", 4),
        ("embedder:\n  type: sface\n  batch_size: 0\n", "embedder.batch_size", 3),
        ("embedder:\n  type: arcface\n  model_id: ../escape\n", "embedder.model_id", 3),
        ("detector:\n  type: yunet\n  unknown: 1\n", "detector.unknown", 3),
        ("embedder:\n  type: facenet\n", "embedder", 1),
    ],
    ids=["input-not-multiple-of-32", "batch-zero", "model-id-path", "unknown-key", "unknown-type"],
)
def test_bad_values_point_at_their_line(text: str, path: str, line: int) -> None:
    cfg, issues = check_config_text(text, env={})
    assert cfg is None
    assert any(i.path == path and i.line == line for i in issues), issues


@pytest.mark.parametrize("model", [YuNetConfig, ScrfdConfig, SFaceConfig, ArcFaceConfig])
def test_every_field_has_a_description(model: type) -> None:
    for name, field in model.model_fields.items():  # type: ignore[attr-defined]
        assert field.description, f"{model.__name__}.{name} has no description"
