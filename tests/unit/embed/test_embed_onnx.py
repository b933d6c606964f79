"""SFace and ArcFace plugins on small ONNX graphs built here, and the 5-point alignment.

The test network averages each colour channel of its 112x112 input and maps
the three means (plus a constant) to a 4-d output, so the expected vector is
known: it checks the input layout (NCHW, RGB), each model's normalisation,
batching (dynamic batch vs a fixed batch of 1), L2 normalisation and the
errors. Accuracy needs the real weights (docs/models.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package builds the test graphs")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from citywatch.config import ArcFaceConfig, SFaceConfig  # noqa: E402
from citywatch.embed import FaceInput, build_embedder  # noqa: E402
from citywatch.embed.align import ARCFACE_TEMPLATE, norm_crop, similarity_transform  # noqa: E402
from citywatch.embed.onnx_embedders import ArcFaceEmbedder, SFaceEmbedder  # noqa: E402
from citywatch.errors import ModelError  # noqa: E402

BIAS = 50.0


def mean_colour_model(path: Path, *, batch: int | str = "n", side: int = 112, zero: bool = False) -> Path:
    """(N, 3, side, side) -> (N, 4): the three channel means and a constant ``BIAS``."""
    weight = np.zeros((3, 4), np.float32) if zero else np.eye(3, 4, dtype=np.float32)
    bias = np.zeros(4, np.float32) if zero else np.array([0, 0, 0, BIAS], np.float32)
    nodes = [
        helper.make_node("ReduceMean", ["data"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "w"], ["proj"]),
        helper.make_node("Add", ["proj", "b"], ["fc1"]),
    ]
    graph = helper.make_graph(
        nodes,
        "embed",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [batch, 3, side, side])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [batch, 4])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def face(rgb: tuple[int, int, int], scale: float = 2.0, angle: float = 0.0) -> FaceInput:
    """A uniform 400x400 image with landmarks: the template scaled, rotated and moved into the middle."""
    image = np.empty((400, 400, 3), np.uint8)
    image[:] = rgb
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]], np.float32)
    kps = ((ARCFACE_TEMPLATE - 56.0) @ rot.T) * scale + 200.0
    box = np.array([100, 100, 300, 300], np.float32)
    return FaceInput(image, box, kps.astype(np.float32))


def unit(v: list[float]) -> np.ndarray:
    a = np.asarray(v, np.float64)
    return a / np.linalg.norm(a)


@pytest.fixture(scope="module")
def dynamic_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mean_colour_model(tmp_path_factory.mktemp("emb") / "dyn.onnx")


def test_sface_feeds_raw_rgb_and_normalises(dynamic_model: Path) -> None:
    emb = build_embedder(SFaceConfig(model_path=str(dynamic_model)))
    assert isinstance(emb, SFaceEmbedder)
    vec = emb.embed([face((200, 100, 50))])
    assert vec.shape == (1, 4) and vec.dtype == np.float32 and emb.dim == 4
    np.testing.assert_allclose(vec[0], unit([200, 100, 50, BIAS]), atol=1e-5)


def test_arcface_normalises_pixels_around_127_5(dynamic_model: Path) -> None:
    emb = build_embedder(ArcFaceConfig(model_path=str(dynamic_model)))
    assert isinstance(emb, ArcFaceEmbedder)
    vec = emb.embed([face((200, 100, 50))])[0]
    expected = [(200 - 127.5) / 127.5, (100 - 127.5) / 127.5, (50 - 127.5) / 127.5, BIAS]
    np.testing.assert_allclose(vec, unit(expected), atol=1e-5)
    raw = ArcFaceEmbedder(ArcFaceConfig(model_path=str(dynamic_model), input_mean=0, input_std=1))
    np.testing.assert_allclose(raw.embed([face((200, 100, 50))])[0], unit([200, 100, 50, BIAS]), atol=1e-5)


@pytest.mark.parametrize("batch", ["n", 1], ids=["dynamic-batch", "fixed-batch-1"])
def test_batches_give_the_same_vectors_as_one_by_one(tmp_path: Path, batch: int | str) -> None:
    path = mean_colour_model(tmp_path / "m.onnx", batch=batch)
    emb = SFaceEmbedder(SFaceConfig(model_path=str(path), batch_size=2))
    faces = [face((30 * i, 255 - 20 * i, 7 * i + 1)) for i in range(5)]
    together = emb.embed(faces)
    alone = np.concatenate([emb.embed([f]) for f in faces])
    assert together.shape == (5, 4)
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    assert emb.embed([]).shape == (0, 4)


def test_model_id_names_the_vector_space(dynamic_model: Path) -> None:
    assert SFaceEmbedder(SFaceConfig(model_path=str(dynamic_model))).model_id == "sface-dyn"
    assert (
        ArcFaceEmbedder(ArcFaceConfig(model_path=str(dynamic_model), model_id="arc_v2")).model_id == "arc_v2"
    )
    assert SFaceEmbedder(SFaceConfig()).model_id == "sface-face_recognition_sface_2021dec"


def test_zero_output_is_an_error_not_a_face(tmp_path: Path) -> None:
    emb = SFaceEmbedder(SFaceConfig(model_path=str(mean_colour_model(tmp_path / "z.onnx", zero=True))))
    with pytest.raises(ModelError, match="zero or non-finite"):
        emb.embed([face((10, 20, 30))])


def test_wrong_input_size_is_refused(tmp_path: Path) -> None:
    emb = SFaceEmbedder(SFaceConfig(model_path=str(mean_colour_model(tmp_path / "s.onnx", side=64))))
    with pytest.raises(ModelError, match="112 x 112"):
        emb.load()


def test_missing_file_says_how_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="models pull arcface"):
        ArcFaceEmbedder(ArcFaceConfig(model_path=str(tmp_path / "nope.onnx"))).load()
    with pytest.raises(ModelError, match="models pull sface"):
        build_embedder(SFaceConfig(), model_dir=tmp_path).load()


# --- alignment ----------------------------------------------------------------------


def test_similarity_transform_recovers_rotation_scale_shift() -> None:
    src = ARCFACE_TEMPLATE
    ang = 0.3
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = (src @ rot.T) * 1.7 + [12.0, -5.0]
    m = similarity_transform(src, dst.astype(np.float32))
    np.testing.assert_allclose(m[:, :2], 1.7 * rot, atol=1e-5)
    np.testing.assert_allclose(m[:, 2], [12.0, -5.0], atol=1e-4)
    with pytest.raises(ValueError, match="point sets"):
        similarity_transform(src, dst[:3].astype(np.float32))


def test_norm_crop_puts_landmarks_on_the_template() -> None:
    f = face((0, 0, 0), scale=2.5, angle=0.4)
    image = f.image.copy()
    for x, y in f.kps:  # a bright dot on each landmark
        image[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    chip = norm_crop(image, f.kps)
    assert chip.shape == (112, 112, 3)
    for tx, ty in ARCFACE_TEMPLATE:
        x, y = int(round(tx)), int(round(ty))
        assert chip[y, x].min() > 200, (tx, ty)
