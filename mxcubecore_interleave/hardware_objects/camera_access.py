"""The sample camera as RGB arrays, whatever mxcubecore camera a site has."""

from __future__ import annotations

from typing import Any

import numpy as np


class RgbCamera:
    """Any mxcubecore camera with ``get_last_image() -> (rgb bytes, w, h)``, as arrays."""

    def __init__(self, camera: Any) -> None:
        self._camera = camera

    def get_image_array(self) -> np.ndarray:
        data, width, height = self._camera.get_last_image()
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
