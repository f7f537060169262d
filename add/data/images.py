"""Reading images as every face path does (extraction's demo photos aside): ``add predict``, the cross-dataset sets.

The suffixes that count as images and videos when a folder is walked, and :func:`read_image`, which decodes a huge
image at a reduced size so that its pixels never exist at full size in memory. Only the standard library is imported
at module level (``add predict --help`` stays fast); OpenCV, NumPy and Pillow load on the first read.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from add.core.errors import AddError

if TYPE_CHECKING:
    import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".dib", ".tif", ".tiff", ".pbm",
                  ".pgm", ".ppm", ".pnm")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".m2v", ".flv", ".f4v", ".wmv",
                  ".asf", ".3gp", ".3g2", ".ts", ".mts", ".m2ts", ".vob", ".ogv", ".mxf", ".qt", ".divx", ".y4m",
                  ".gif")
MAX_IMAGE_SIDE = 4096  # images are decoded with their longer side reduced towards this (JPEG: 1/2, 1/4, 1/8 scale)


class ImageError(AddError):
    """An image cannot be read; the message names the file."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def is_media(path: Path) -> bool:
    """Whether a folder walk takes ``path`` as a video or an image (by its suffix)."""
    return path.suffix.lower() in IMAGE_SUFFIXES + VIDEO_SUFFIXES


def read_image(path: Path) -> tuple[np.ndarray, int]:
    """An RGB uint8 image (EXIF orientation applied, alpha dropped, grey expanded) and the factor it was reduced by
    (1, 2, 4 or 8): an image whose longer side is over :data:`MAX_IMAGE_SIDE` is decoded at the largest of 1/2, 1/4,
    1/8 scale that keeps it at least that long (libjpeg scales while decoding, so a 12000x8000 JPEG never exists
    at full size in memory)."""
    import cv2
    import numpy as np

    factor = 1
    side = _image_side(path)
    while factor < 8 and side // (factor * 2) >= MAX_IMAGE_SIDE:
        factor *= 2
    flags = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
             8: cv2.IMREAD_REDUCED_COLOR_8}[factor]
    try:
        blob = np.fromfile(path, np.uint8)
    except OSError as e:
        raise ImageError(f"{path}: cannot read it: {e.strerror or e}") from None
    size = blob.size
    image = cv2.imdecode(blob, flags) if size else None
    del blob
    if image is None:
        raise ImageError(f"{path}: not a readable image ({'empty file' if not size else 'cannot decode it'})")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB, dst=image), factor


def _image_side(path: Path) -> int:
    """The longer side of an image from its header (Pillow reads no pixels); 0 when it cannot tell."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # only the header is read
            try:
                with Image.open(path) as im:
                    return max(im.size)
            finally:
                Image.MAX_IMAGE_PIXELS = limit
    except Exception:  # not an image Pillow knows: cv2 decides below
        return 0
