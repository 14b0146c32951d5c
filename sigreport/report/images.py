"""Small PNGs made with zlib and struct: thumbnails, mosaics, mean images.

Reports embed these as ``data:`` URIs so they open offline with no image files
beside them. Thumbnails for hover can use 4-bit grey levels, which is a third
smaller and looks the same at that size. Grey images (n, H, W) are shown dark on
light, as digits on paper; colour images (n, H, W, 3) as they are, 8 bits per channel.
"""

from __future__ import annotations

import base64
import struct
import zlib

import numpy as np

__all__ = ["as_shown", "build_mosaic", "encode_png", "encode_pngs", "png_data_uri",
           "png_data_uris"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def as_shown(images: np.ndarray) -> np.ndarray:
    """A uint8 stack of images as a report shows them: grey ones (n, H, W) inverted (dark
    on light), colour ones (n, H, W, 3) unchanged."""
    images = np.asarray(images, dtype=np.uint8)
    return images if images.ndim == 4 else 255 - images


def _scanlines(images: np.ndarray, bits: int) -> np.ndarray:
    """Each image's PNG scanlines, filter byte first: uint8 (n_images, height, 1 + row bytes)."""
    if images.ndim == 4:  # colour: 8 bits per channel, the channels of a pixel together
        rows = images.reshape(images.shape[0], images.shape[1], -1)
    elif bits == 4:
        levels = ((images.astype(np.uint16) * 15 + 127) // 255).astype(np.uint8)
        if images.shape[2] % 2:
            levels = np.pad(levels, ((0, 0), (0, 0), (0, 1)))
        rows = (levels[:, :, 0::2] << 4) | levels[:, :, 1::2]
    elif bits == 8:
        rows = images
    else:
        raise ValueError(f"bits must be 4 or 8, got {bits}")
    # Filter type 0 (None) on every row: digits are mostly flat black, which deflate likes.
    return np.concatenate([np.zeros(rows.shape[:2] + (1,), np.uint8), rows], axis=2)


def encode_pngs(images: np.ndarray, bits: int = 8) -> list[bytes]:
    """Encode grayscale or colour images of one size as PNG files.

    Parameters
    ----------
    images:
        uint8 array of shape (n_images, height, width), 0 = black, or
        (n_images, height, width, 3), RGB.
    bits:
        8 (256 grey levels) or 4 (16 levels, smaller files); colour is always 8 bits
        per channel.

    Returns
    -------
    list of bytes
        One complete PNG file per image. The images are packed together; only the
        compressed data differs from one file to the next.
    """
    images = np.asarray(images, dtype=np.uint8)
    if images.ndim != 3 and not (images.ndim == 4 and images.shape[3] == 3):
        raise ValueError(f"expected a stack of 2-D images, got shape {images.shape}")
    height, width = images.shape[1:3]
    # Colour type 0 (grey) or 2 (RGB, 8 bits per channel).
    depth, colour = (8, 2) if images.ndim == 4 else (bits, 0)
    head = _SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour,
                                                    0, 0, 0))
    tail = _chunk(b"IEND", b"")
    return [head + _chunk(b"IDAT", zlib.compress(raw.tobytes(), 9)) + tail
            for raw in _scanlines(images, bits)]


def encode_png(image: np.ndarray, bits: int = 8) -> bytes:
    """Encode one image, uint8 (height, width) or (height, width, 3), as PNG (see
    :func:`encode_pngs`)."""
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim != 2 and not (image.ndim == 3 and image.shape[2] == 3):
        raise ValueError(f"expected a 2-D image, got shape {image.shape}")
    return encode_pngs(image[None], bits)[0]


def png_data_uris(images: np.ndarray, bits: int = 8) -> list[str]:
    """``data:image/png;base64,...`` for each uint8 image of a (n_images, height, width) or
    (n_images, height, width, 3) stack."""
    return ["data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for png in encode_pngs(images, bits)]


def png_data_uri(image: np.ndarray, bits: int = 8) -> str:
    """``data:image/png;base64,...`` for a uint8 (height, width) or (height, width, 3) image."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image, bits)).decode("ascii")


def build_mosaic(images: np.ndarray, n_cols: int, pad: int = 2, background: int = 255,
                 invert: bool | None = None) -> np.ndarray:
    """Tile images into one grid, row by row.

    Parameters
    ----------
    images:
        uint8 array of shape (n_images, height, width) or (n_images, height, width, 3).
    n_cols:
        Images per row; the last row is padded with background.
    pad:
        Pixels of background between and around the images.
    invert:
        Show digits dark on light (255 - pixel), as on paper; None: grey images only.

    Returns
    -------
    np.ndarray
        uint8 array of shape (n_rows * (height + pad) + pad, n_cols * (width + pad) + pad),
        with a last axis of 3 for colour images.
    """
    images = np.asarray(images, dtype=np.uint8)
    n, h, w = images.shape[:3]
    invert = images.ndim == 3 if invert is None else invert
    n_cols = max(1, min(n_cols, n)) if n else 1
    n_rows = max(1, -(-n // n_cols))
    out = np.full((n_rows * (h + pad) + pad, n_cols * (w + pad) + pad, *images.shape[3:]),
                  background, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, n_cols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        out[y:y + h, x:x + w] = 255 - img if invert else img
    return out
