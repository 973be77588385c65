"""Showing deconvnet projections: signed pixel-space maps, contrast-stretched and cropped to what they reach.

Shared by the per-model explanation figures and the VGG16 depth figures. Projections shrink by orders of
magnitude from shallow to deep layers, so each panel is stretched on its own (zero is mid-gray), as ZFNet did.
"""

from __future__ import annotations

import numpy as np

from cnnlens.plots.style import percentile
from cnnlens.texts import text

CLIP_QUANTILE = 0.99  # of a projection's absolute deviations: the value shown at full contrast


def stretch_projection(projection: np.ndarray) -> np.ndarray:
    """Contrast-stretch signed ``(..., 3, H, W)`` projections into ``(..., H, W, 3)`` images in ``[0, 1]``.

    Per image: subtract its mean, divide by the :data:`CLIP_QUANTILE` quantile of the absolute deviation over the
    pixels the projection reaches (a conv1 projection covers only a few pixels, so a quantile over the whole image
    would be zero), clip, and map ``[-1, 1]`` to ``[0, 1]``. Zero deviation is mid-gray; a flat or empty map is all
    gray. :func:`stretch_description` says the same in a caption.
    """
    values = np.moveaxis(np.asarray(projection, dtype=np.float64), -3, -1)
    images = values.reshape(-1, values.shape[-3] * values.shape[-2], values.shape[-1])
    stretched = np.full_like(images, 0.5)
    for image, out in zip(images, stretched, strict=False):
        deviation = image - image.mean()
        support = np.abs(image).max(axis=1) > 0
        scale = np.quantile(np.abs(deviation[support]), CLIP_QUANTILE) if support.any() else 0.0
        if scale > 0:
            out[:] = 0.5 + 0.5 * np.clip(deviation / scale, -1, 1)
    return stretched.reshape(values.shape)


def stretch_description() -> str:
    """How :func:`stretch_projection` shows a projection, as the captions of projection figures say it."""
    return text("projections.stretch", quantile=percentile(CLIP_QUANTILE))


def support_box(projection: np.ndarray, size: tuple[int, int] | None = None) -> tuple[slice, slice]:
    """``(rows, columns)`` slices of the smallest box holding every non-zero pixel of a ``(3, H, W)`` projection.

    This is the part of the image the projected activation can see (its receptive field, clipped at the
    border); an all-zero projection gives the whole image. Slices always have a start and a stop. With
    ``size = (height, width)`` the box is grown around its centre to that size, shifted to stay inside the image,
    so crops of one grid share one scale.
    """
    reached = np.abs(np.asarray(projection)).max(axis=0) > 0
    if not reached.any():
        return slice(0, reached.shape[0]), slice(0, reached.shape[1])
    rows, columns = np.flatnonzero(reached.any(axis=1)), np.flatnonzero(reached.any(axis=0))
    box = []
    for found, extent, wanted in zip((rows, columns), reached.shape, size or (0, 0), strict=False):
        start, stop = int(found[0]), int(found[-1]) + 1
        if wanted > stop - start:
            start = max(0, min(start - (wanted - (stop - start)) // 2, extent - wanted))
            stop = start + wanted
        box.append(slice(start, stop))
    return box[0], box[1]
