"""YuNet and SCRFD plugins on small ONNX graphs built here (no weights needed).

The graphs have the real models' input and output names and layouts, and
"detect" a face wherever one 8x8 cell of the input is a pure colour: YuNet's
fires on blue (it must receive BGR), SCRFD's on red (it must receive RGB,
normalised). That checks the plumbing (pre-processing, padding/letterboxing,
output decoding, landmark order, NMS, scaling back to frame pixels); accuracy
needs the real weights (docs/models.md).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package builds the test graphs")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from citywatch.config import ScrfdConfig, YuNetConfig  # noqa: E402
from citywatch.detect import build_detector  # noqa: E402
from citywatch.detect.scrfd import ScrfdDetector  # noqa: E402
from citywatch.detect.yunet import YuNetDetector  # noqa: E402
from citywatch.errors import ModelError  # noqa: E402
from citywatch.onnx_session import available_providers, choose_providers  # noqa: E402

# landmark offsets in stride units, as (x, y): eyes, nose, mouth corners of an upright face
KPS = np.array([[0.3, 0.3], [0.7, 0.3], [0.5, 0.5], [0.35, 0.75], [0.65, 0.75]], np.float32)


def _head(
    name: str, src: str, stride: int, channels: int, weight: np.ndarray, bias: np.ndarray, *, sigmoid: bool
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """AveragePool(stride) -> 1x1 Conv -> [Sigmoid] -> NHWC -> Reshape(out_shape): one output per cell."""
    w = numpy_helper.from_array(weight.reshape(channels, 3, 1, 1).astype(np.float32), f"{name}_w")
    b = numpy_helper.from_array(bias.astype(np.float32), f"{name}_b")
    nodes = [
        helper.make_node(
            "AveragePool", [src], [f"{name}_pool"], kernel_shape=[stride, stride], strides=[stride, stride]
        ),
        helper.make_node("Conv", [f"{name}_pool", f"{name}_w", f"{name}_b"], [f"{name}_conv"]),
    ]
    last = f"{name}_conv"
    if sigmoid:
        nodes.append(helper.make_node("Sigmoid", [last], [f"{name}_sig"]))
        last = f"{name}_sig"
    nodes.append(helper.make_node("Transpose", [last], [f"{name}_nhwc"], perm=[0, 2, 3, 1]))
    return nodes, [w, b]


def _save(nodes: list, inits: list, inputs: list, outputs: list, path: Path) -> Path:
    graph = helper.make_graph(nodes, "test", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yunet_model(path: Path) -> Path:
    """YuNet's interface: input ``input`` (1, 3, H, W) BGR 0-255; cls/obj/bbox/kps per stride 8/16/32."""
    nodes: list = []
    inits: list = []
    outputs = []
    for kind, channels in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
        for stride in (8, 16, 32):
            name = f"{kind}_{stride}"
            weight = np.zeros((channels, 3), np.float32)
            if kind == "cls":
                if stride == 8:
                    weight[0, 0] = 0.1  # channel 0 of BGR: blue
                bias = np.array([-12.75 if stride == 8 else -20.0])
            elif kind == "obj":
                bias = np.array([20.0])
            elif kind == "bbox":
                bias = np.array([0.5, 0.5, np.log(2.0), np.log(2.0)])  # centred in the cell, 2 strides wide
            else:
                bias = KPS.reshape(-1)
            n, i = _head(name, "input", stride, channels, weight, bias, sigmoid=kind in ("cls", "obj"))
            shape = numpy_helper.from_array(np.array([1, -1, channels], np.int64), f"{name}_shape")
            n.append(helper.make_node("Reshape", [f"{name}_nhwc", f"{name}_shape"], [name]))
            nodes += n
            inits += [*i, shape]
            outputs.append(
                helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, f"n{stride}", channels])
            )
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "h", "w"])
    return _save(nodes, inits, [inp], outputs, path)


def scrfd_model(path: Path, *, with_kps: bool = True, fixed: int | None = None) -> Path:
    """SCRFD's interface: RGB (x - 127.5) / 128; scores, boxes, landmarks per stride, 2 anchors, no batch dim."""
    nodes: list = []
    inits: list = []
    outputs = []
    kinds = [("score", 1), ("bbox", 4)] + ([("kps", 10)] if with_kps else [])
    for kind, per_anchor in kinds:
        for stride in (8, 16, 32):
            name = f"{kind}_{stride}"
            channels = 2 * per_anchor
            weight = np.zeros((channels, 3), np.float32)
            if kind == "score":
                if stride == 8:
                    weight[0, 0] = 10.0  # anchor 0 fires on red
                bias = np.array([0.0 if stride == 8 else -20.0, -20.0])
            elif kind == "bbox":
                bias = np.full(8, 2.0)  # 2 strides to every side of the anchor centre
            else:
                bias = np.tile((KPS - 0.5).reshape(-1), 2)
            n, i = _head(name, "input.1", stride, channels, weight, bias, sigmoid=kind == "score")
            shape = numpy_helper.from_array(np.array([-1, per_anchor], np.int64), f"{name}_shape")
            n.append(helper.make_node("Reshape", [f"{name}_nhwc", f"{name}_shape"], [name]))
            nodes += n
            inits += [*i, shape]
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [f"n{stride}", per_anchor]))
    side: list[int | str] = [fixed, fixed] if fixed else ["h", "w"]
    inp = helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, *side])
    return _save(nodes, inits, [inp], outputs, path)


def _block(h: int, w: int, row: int, col: int, rgb: tuple[int, int, int], side: int = 8) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[row : row + side, col : col + side] = rgb
    return image


# --- YuNet --------------------------------------------------------------------------


def test_yunet_decodes_a_face_in_frame_pixels(tmp_path: Path) -> None:
    det = build_detector(YuNetConfig(model_path=str(yunet_model(tmp_path / "yunet.onnx"))))
    assert isinstance(det, YuNetDetector)
    # 100x70: not a multiple of 32, so OpenCV pads; blue cell at row 5, column 7 (stride 8)
    found = det.detect(_block(70, 100, 40, 56, (0, 0, 255)))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [52, 36, 68, 52], atol=1e-3)  # centre (60, 44), 16 px
    expected = (KPS + np.array([7, 5], np.float32)) * 8
    np.testing.assert_allclose(found.kps[0], expected, atol=1e-3)
    assert found.confidence[0] > 0.99


def test_yunet_gets_bgr_so_red_is_not_blue(tmp_path: Path) -> None:
    det = YuNetDetector(YuNetConfig(model_path=str(yunet_model(tmp_path / "yunet.onnx"))))
    assert len(det.detect(_block(64, 64, 8, 8, (255, 0, 0)))) == 0
    assert len(det.detect(np.zeros((64, 64, 3), np.uint8))) == 0


def test_yunet_follows_frame_size_and_downscales(tmp_path: Path) -> None:
    path = str(yunet_model(tmp_path / "yunet.onnx"))
    det = YuNetDetector(YuNetConfig(model_path=path, max_side=64))
    # 128x128 with a 16x16 blue block: downscaled by 2 to 64x64 it fills the 8x8 cell at row 2, column 3
    found = det.detect(_block(128, 128, 32, 48, (0, 0, 255), side=16))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [40, 24, 72, 56], atol=0.5)  # back in 128x128 pixels
    assert len(det.detect(_block(40, 48, 8, 16, (0, 0, 255)))) == 1  # another size: input re-set


def test_yunet_landmarks_are_ordered_as_seen() -> None:
    row = np.zeros((1, 15), np.float32)
    row[0, :4] = [10, 10, 20, 20]
    # the model lists the subject's right eye first; here it sits on the image's right (a mirrored face)
    row[0, 4:14] = [25, 15, 15, 15, 20, 20, 25, 25, 15, 25]
    row[0, 14] = 0.9
    dets = YuNetDetector.decode(row, 1.0, 100, 100)
    np.testing.assert_allclose(dets.kps[0], [[15, 15], [25, 15], [20, 20], [15, 25], [25, 25]])


def test_yunet_missing_or_bad_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="models pull yunet"):
        YuNetDetector(YuNetConfig(model_path=str(tmp_path / "none.onnx"))).load()
    with pytest.raises(ModelError, match="no model file configured"):
        YuNetDetector(YuNetConfig()).load()
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        YuNetDetector(YuNetConfig(model_path=str(bad))).load()


def test_default_file_is_looked_up_in_the_model_folder(tmp_path: Path) -> None:
    yunet_model(tmp_path / "face_detection_yunet_2023mar.onnx")
    det = build_detector(YuNetConfig(), model_dir=tmp_path)
    assert len(det.detect(_block(64, 64, 8, 8, (0, 0, 255)))) == 1


# --- SCRFD --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scrfd_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return scrfd_model(tmp_path_factory.mktemp("scrfd") / "scrfd.onnx")


def test_scrfd_decodes_boxes_and_landmarks(scrfd_path: Path) -> None:
    det = build_detector(ScrfdConfig(model_path=str(scrfd_path), input_size=64))
    assert isinstance(det, ScrfdDetector)
    found = det.detect(_block(64, 64, 16, 24, (255, 0, 0)))  # cell row 2, column 3
    assert len(found) == 1
    # anchor centre at the cell corner (24, 16), 2 strides each way
    np.testing.assert_allclose(found.xyxy[0], [8, 0, 40, 32], atol=1e-3)
    np.testing.assert_allclose(found.kps[0], (KPS - 0.5) * 8 + [24, 16], atol=1e-3)
    assert found.confidence[0] > 0.99


def test_scrfd_letterbox_maps_back_to_frame_pixels(scrfd_path: Path) -> None:
    det = ScrfdDetector(ScrfdConfig(model_path=str(scrfd_path), input_size=64))
    # 32x24 frame -> scaled by 2 into the 64x64 input (48 rows used, the rest black)
    found = det.detect(_block(24, 32, 8, 12, (255, 0, 0), side=4))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy[0], [4, 0, 20, 16], atol=1e-3)
    assert (found.xyxy[:, 3] <= 24).all()


def test_scrfd_wants_rgb(scrfd_path: Path) -> None:
    det = ScrfdDetector(ScrfdConfig(model_path=str(scrfd_path), input_size=64))
    assert len(det.detect(_block(64, 64, 16, 24, (0, 0, 255)))) == 0


def test_scrfd_fixed_input_size_wins(tmp_path: Path) -> None:
    det = ScrfdDetector(ScrfdConfig(model_path=str(scrfd_model(tmp_path / "s.onnx", fixed=32))))
    found = det.detect(_block(32, 32, 8, 8, (255, 0, 0)))
    assert len(found) == 1


def test_scrfd_needs_landmarks(tmp_path: Path) -> None:
    det = ScrfdDetector(ScrfdConfig(model_path=str(scrfd_model(tmp_path / "nokps.onnx", with_kps=False))))
    with pytest.raises(ModelError, match="6 outputs; expected 9 or 15"):
        det.load()


def test_scrfd_cuda_request_falls_back_to_cpu_with_a_warning(
    scrfd_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = ScrfdConfig(
        model_path=str(scrfd_path), input_size=64, providers=("CUDAExecutionProvider", "CPUExecutionProvider")
    )
    det = ScrfdDetector(cfg)
    assert det.active_providers == []
    with caplog.at_level(logging.WARNING, logger="citywatch.onnx_session"):
        found = det.detect(_block(64, 64, 16, 24, (255, 0, 0)))
    assert len(found) == 1
    assert det.active_providers[-1] == "CPUExecutionProvider"
    if "CUDAExecutionProvider" not in available_providers():  # the usual build here: CPU only
        assert det.active_providers == ["CPUExecutionProvider"]
        assert any(
            "CUDAExecutionProvider" in r.getMessage() and "CPU" in r.getMessage() for r in caplog.records
        )


def test_choose_providers_keeps_order_and_a_cpu_floor() -> None:
    avail = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["CUDAExecutionProvider"], avail, "t") == avail
    assert choose_providers([], avail, "t") == ["CPUExecutionProvider"]
    assert choose_providers(["TensorrtExecutionProvider", "CPUExecutionProvider"], avail, "t") == [
        "CPUExecutionProvider"
    ]
