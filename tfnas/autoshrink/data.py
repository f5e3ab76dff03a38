"""AutoShrink's data entry points; the loaders live in `pipelines/vision/images.py` and `pipelines/text/sources.py`."""
from __future__ import annotations

from pipelines.text.sources import load_text  # noqa: F401
from pipelines.vision.images import ImageData, load_images, proxy_subset  # noqa: F401
