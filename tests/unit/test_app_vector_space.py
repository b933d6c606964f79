"""A change of embedder is a new vector space: searching a store of other models is refused, loudly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from citywatch.app import App
from citywatch.config import Config
from citywatch.errors import ModelError
from citywatch.store import Store


def _vec() -> np.ndarray:
    v = np.zeros((1, 128), np.float32)
    v[0, 0] = 1.0
    return v


def test_search_refuses_a_store_of_other_embedders(tmp_path: Path) -> None:
    app = App(Config(), tmp_path, Store.open("", tmp_path))
    try:
        app.check_vector_space()  # empty store: nothing to mix up
        other = app.store.vector_index("sface-face_recognition_sface_2021dec", dim=128)
        assert other is not None
        other.add("2026-01-01", np.array([1], np.int64), _vec())
        other.flush()
        with pytest.raises(ModelError, match=r"sface-face_recognition_sface_2021dec.*dlib_resnet_v1") as info:
            app.check_vector_space()
        assert "cannot be compared" in str(info.value)
        own = app.store.vector_index("dlib_resnet_v1", dim=128)
        assert own is not None
        own.add("2026-01-01", np.array([2], np.int64), _vec())
        app.check_vector_space()  # its own vectors exist: searching them is fine
    finally:
        app.close()
