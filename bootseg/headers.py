"""An image's size read from its file header, so that a huge image is refused before it is decoded.

PNG, JPEG and BMP give their height and width in the first bytes; decoding a 20000 × 20000 JPEG only to refuse
it would take more than a gigabyte first. TIFF sizes are read by ``tifffile`` from the TIFF header
(:mod:`bootseg.tiff`).
"""

from __future__ import annotations

__all__ = ["header_size"]

#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they hold the size.
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: JPEG markers without a length field.
_JPEG_BARE = frozenset({0x01, *range(0xD0, 0xD9)})


def header_size(data: bytes) -> tuple[int, int] | None:
    """``(height, width)`` from a PNG, JPEG or BMP header, without decoding; ``None`` for other (or unclear) data.

    >>> info = (40).to_bytes(4, "little") + (30).to_bytes(4, "little") + (-20).to_bytes(4, "little", signed=True)
    >>> header_size(b"BM" + bytes(12) + info)   # a top-down BMP of 30 x 20 pixels
    (20, 30)
    >>> header_size(b"GIF89a") is None
    True
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24 and data[12:16] == b"IHDR":
        return int.from_bytes(data[20:24], "big"), int.from_bytes(data[16:20], "big")
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:2] == b"BM" and len(data) >= 26:
        return _bmp_size(data)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _JPEG_BARE:
            at += 2
            continue
        if marker == 0xDA:  # start of scan: the size comes before it, or not at all
            return None
        if marker in _JPEG_FRAMES:
            if at + 9 > len(data):
                return None
            return int.from_bytes(data[at + 5 : at + 7], "big"), int.from_bytes(data[at + 7 : at + 9], "big")
        at += 2 + int.from_bytes(data[at + 2 : at + 4], "big")
    return None


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    info = int.from_bytes(data[14:18], "little")
    if info == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        return int.from_bytes(data[20:22], "little"), int.from_bytes(data[18:20], "little")
    if info >= 40:  # BITMAPINFOHEADER and later: 32-bit sides, a negative height for top-down rows
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)
        return abs(height), abs(width)
    return None
