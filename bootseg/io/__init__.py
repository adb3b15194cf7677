"""Reading images and masks from files and folders, and writing results without half-written files.

Reading keeps what the file holds: a uint8 image stays uint8, a 16-bit image stays uint16, a float TIFF
stays float. Colour comes back as RGB (OpenCV's BGR is converted); an alpha channel is dropped, so RGBA
becomes RGB and grey+alpha becomes grey. PNG, JPEG and BMP are decoded by OpenCV from the file's bytes (so
names with spaces or non-ASCII characters work on every platform); TIFF is read by ``tifffile``, and a stack
or time series in one TIFF as its planes (:func:`read_planes`).

Every write goes through :func:`atomic_write`: the data go to a temporary file in the target's folder, are
flushed to disk, and replace the target in one ``os.replace`` step. A crash or an error leaves either the old
file or the new one, never a truncated one, and no temporary file behind.
"""

from __future__ import annotations

from .atomic import atomic_write, write_bytes_atomic
from .formats import IMAGE_SUFFIXES, ImageReadError
from .reading import (
    index_by_stem,
    list_images,
    pick_channel,
    pixel_limit_reason,
    read_image,
    read_images,
    read_mask,
    read_planes,
)
from .writing import write_image, write_mask

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "atomic_write",
    "index_by_stem",
    "list_images",
    "pick_channel",
    "pixel_limit_reason",
    "read_image",
    "read_images",
    "read_mask",
    "read_planes",
    "write_bytes_atomic",
    "write_image",
    "write_mask",
]
