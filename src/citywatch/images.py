"""Safe still-image loading shared by enrolment, search, eval and image-folder sources.

Pillow reads the header first, so a 20,000 x 20,000 "pixel bomb" is refused
before a single pixel is decoded. EXIF orientation is applied because phone
photos are often stored sideways, and a sideways face is not found.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from citywatch.errors import InvalidImageError
from citywatch.types import ImageArray

DEFAULT_MAX_PIXELS = 40_000_000


def load_image(
    src: Path | bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None
) -> ImageArray:
    """Decode ``src`` (a path or the file's bytes) to RGB uint8.

    Raises :class:`InvalidImageError` naming the file when it is missing, not an
    image, truncated, or larger than ``max_pixels``.
    """
    label = name or (str(src) if isinstance(src, Path) else "upload")
    try:
        fp = io.BytesIO(src) if isinstance(src, bytes) else open(src, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InvalidImageError(f"{label}: cannot open ({exc.strerror})") from exc
    with fp:
        try:
            with warnings.catch_warnings():
                # our own limit below is the one that counts; Pillow's warning would be noise
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(fp)
                w, h = img.size
                if w * h > max_pixels:
                    raise InvalidImageError(
                        f"{label}: too large to decode safely: {w}x{h} pixels, over the limit of {max_pixels:,} "
                        "(refused before decoding)"
                    )
                rgb = ImageOps.exif_transpose(img).convert("RGB")
        except InvalidImageError:
            raise
        except Image.DecompressionBombError as exc:
            raise InvalidImageError(
                f"{label}: too large to decode safely, refused before decoding ({exc})"
            ) from exc
        except UnidentifiedImageError as exc:
            raise InvalidImageError(f"{label}: not a readable image ({exc})") from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise InvalidImageError(f"{label}: damaged image ({exc})") from exc
    arr: ImageArray = np.asarray(rgb, dtype=np.uint8)
    return arr


def encode_jpeg(image: ImageArray, quality: int = 90) -> bytes:
    """RGB uint8 -> JPEG bytes."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
