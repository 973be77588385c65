"""CBAM's whole block as compiled CPU loops over the images (numba): the forward and its backward.

Through torch's operations every step of a CBAM block (two descriptors per gate, two products, their
gradients, the routing of the maxima's gradients) is a pass of its own over the block's activations, and
the 7x7 convolution from two channels to one runs far below the CPU's speed (benchmarks/README.md,
"CBAM's training step"). Here one parallel loop over the images does a whole image's block while its
activations stay in the core's cache: the forward reads an image's input three times and writes its output
once; the backward reads the input and the output's gradient three times and writes the input's gradient
once.

Arrays are float32. An image's activations are ``(P, C)``: positions ``P = H * W`` in rows, channels
contiguous, which is a channels_last tensor's memory. The spatial descriptors sit in two zero-padded
planes ``(2, H + 6, W + 6)`` for the 7x7 convolution. The arithmetic is that of the plain
expressions (:class:`cnnlens.models.attention.CBAM` with ``fused = False``): the channel gate
``g = sigmoid(excite(mean) + excite(max))`` over the positions, ``y = x * g``, the spatial map
``a = sigmoid(conv([mean, max]))`` of ``y`` over the channels, and ``y * a``; a maximum's gradient is shared
evenly by the values equal to it, as ``amax``'s is. Only the order of the sums differs, so values and
gradients agree with autograd's to rounding (tests/test_cbam.py). A NaN in an image makes its channel's
mean, and through the MLP every gate, NaN, so the whole image's output is NaN, as in autograd's; the
maxima need no NaN case of their own.
"""

from __future__ import annotations

import numba
import numpy as np

REASSOCIATE = {"reassoc", "nsz", "contract"}  # lets a sum over a row vectorise; no shortcuts for NaN or inf
ROWS = 32  # positions summed in float32 before a float64 total: sums over many positions lose no precision
INT32_MIN = np.int32(-(2**31))
KERNEL = 7  # the spatial gate's convolution is 7x7 (cbam_fused.applies checks it)


@numba.njit(inline="always")
def _order_key(bits):
    """A float32's bits as an int32 that orders as the float does (int maxima vectorise, float ones do not)."""
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _sigmoid(z):
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-z))


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _channel_descriptors(image, descriptors):
    """Each channel's mean and maximum over the positions, into ``descriptors`` ``(2, C)``."""
    positions, channels = image.shape
    total = np.zeros(channels, np.float64)
    block = np.empty(channels, np.float32)
    maxima = image[0].copy()
    for start in range(0, positions, ROWS):
        block[:] = 0
        for p in range(start, min(start + ROWS, positions)):
            for c in range(channels):
                v = image[p, c]
                block[c] += v
                maxima[c] = v if v > maxima[c] else maxima[c]
        for c in range(channels):
            total[c] += block[c]
    for c in range(channels):
        descriptors[0, c] = np.float32(total[c] / positions)
        descriptors[1, c] = maxima[c]


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _channel_gate(descriptors, first, second, hidden, gate):
    """``gate = sigmoid(excite(mean) + excite(max))``, ``excite(d) = second @ relu(first @ d)``; each
    descriptor's hidden activations go to ``hidden`` ``(2, C // r)`` for the backward."""
    width, channels = first.shape
    score = np.zeros(channels, np.float32)
    for k in range(2):
        for j in range(width):
            h = np.float32(0)
            for c in range(channels):
                h += first[j, c] * descriptors[k, c]
            h = np.float32(0) if h <= 0 else h  # a NaN passes, as through torch's ReLU
            hidden[k, j] = h
            for c in range(channels):
                score[c] += second[c, j] * h
    for c in range(channels):
        gate[c] = _sigmoid(score[c])


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _spatial_descriptors(image, gate, pad, padded, maxima):
    """Each position's mean and maximum over the channels of ``y = x * gate``, into the planes ``padded``, and
    the maxima into ``maxima`` ``(P,)`` for the backward."""
    channels = image.shape[1]
    padded[:] = 0
    row = np.empty(channels, np.float32)
    row_bits = row.view(np.int32)
    best = np.empty(1, np.int32)
    best_value = best.view(np.float32)
    p = 0
    for y_at in range(pad, padded.shape[1] - pad):
        for x_at in range(pad, padded.shape[2] - pad):
            total = np.float32(0)
            for c in range(channels):
                y = image[p, c] * gate[c]
                row[c] = y
                total += y
            key = INT32_MIN
            for c in range(channels):
                candidate = _order_key(row_bits[c])
                key = candidate if candidate > key else key
            best[0] = _order_key(key)
            padded[0, y_at, x_at] = total / channels
            padded[1, y_at, x_at] = maxima[p] = best_value[0]
            p += 1


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _seven_taps(kernel, c, i):
    """Row ``i`` of the kernel's channel ``c``: the seven weights one output position takes from one input row."""
    return (
        kernel[c, i, 0], kernel[c, i, 1], kernel[c, i, 2], kernel[c, i, 3],
        kernel[c, i, 4], kernel[c, i, 5], kernel[c, i, 6],
    )  # fmt: skip


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _spatial_map(padded, kernel, spatial):
    """``spatial`` ``(P,)``: the sigmoid of the 7x7 convolution of the padded planes with ``kernel`` ``(2, 7, 7)``.
    Each output row takes its seven taps of an input row in one sweep."""
    height, width = padded.shape[1] - KERNEL + 1, padded.shape[2] - KERNEL + 1
    z = np.zeros((height, width), np.float32)
    for c in range(2):
        for i in range(KERNEL):
            w0, w1, w2, w3, w4, w5, w6 = _seven_taps(kernel, c, i)
            for y_at in range(height):
                source, target = padded[c, y_at + i], z[y_at]
                for x in range(width):
                    target[x] += (
                        w0 * source[x] + w1 * source[x + 1] + w2 * source[x + 2] + w3 * source[x + 3]
                        + w4 * source[x + 4] + w5 * source[x + 5] + w6 * source[x + 6]
                    )  # fmt: skip
    for y_at in range(height):
        for x_at in range(width):
            spatial[y_at * width + x_at] = _sigmoid(z[y_at, x_at])


@numba.njit(parallel=True, fastmath=REASSOCIATE, cache=True)
def forward(x, first, second, kernel, out, descriptors, hidden, gates, padded, spatial, maxima):
    """The block's output ``out`` ``(N, P, C)`` of ``x``: the MLP's weights ``first`` ``(C // r, C)`` and
    ``second`` ``(C, C // r)``, the convolution's ``kernel`` ``(2, 7, 7)``. Fills, per image, what
    :func:`backward` reads: the channel ``descriptors`` ``(N, 2, C)``, the MLP's ``hidden`` ``(N, 2, C // r)``,
    the ``gates`` ``(N, C)``, the ``padded`` spatial descriptors ``(N, 2, H + 6, W + 6)``, the
    ``spatial`` maps ``(N, P)``, and each position's maximum over the channels, ``maxima`` ``(N, P)``."""
    pad = KERNEL // 2
    for n in numba.prange(x.shape[0]):
        image, gate, a = x[n], gates[n], spatial[n]
        _channel_descriptors(image, descriptors[n])
        _channel_gate(descriptors[n], first, second, hidden[n], gate)
        _spatial_descriptors(image, gate, pad, padded[n], maxima[n])
        _spatial_map(padded[n], kernel, a)
        result = out[n]
        for p in range(image.shape[0]):
            a_p = a[p]  # read once: the compiler cannot tell that result does not alias it
            for c in range(image.shape[1]):
                result[p, c] = (image[p, c] * gate[c]) * a_p


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _map_gradient(grad_out, image, gate, spatial, maxima, grad_z, ties):
    """The gradient of the convolution's output ``grad_z`` ``(P,)``: ``sum_c grad_out * y``, through the
    sigmoid; and per position ``ties``, how many channels' ``y`` equal the maximum."""
    channels = image.shape[1]
    for p in range(image.shape[0]):
        largest = maxima[p]
        total = np.float32(0)
        count = np.float32(0)
        for c in range(channels):
            y = image[p, c] * gate[c]
            total += grad_out[p, c] * y
            count += np.float32(y == largest)
        a = spatial[p]
        grad_z[p] = total * a * (np.float32(1) - a)
        ties[p] = count


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _convolution_backward(padded, kernel, grad_z, grad_padded, grad_kernel):
    """The gradients of the padded planes (``grad_padded``) and of ``kernel`` (``grad_kernel``), from that of the
    convolution's output ``grad_z`` ``(H, W)``; each input row gathers its seven taps from an output row."""
    height, width = grad_z.shape
    wide = np.zeros((height, width + 2 * (KERNEL - 1)), np.float32)  # grad_z with six zeros on either side
    wide[:, KERNEL - 1 : KERNEL - 1 + width] = grad_z
    grad_padded[:] = 0
    products = np.empty((KERNEL, width), np.float32)
    for c in range(2):
        for i in range(KERNEL):
            w0, w1, w2, w3, w4, w5, w6 = _seven_taps(kernel, c, i)
            products[:] = 0
            for y_at in range(height):
                source, target, grad_row = wide[y_at], grad_padded[c, y_at + i], grad_z[y_at]
                for u in range(width + KERNEL - 1):  # input column u gets tap j from output column u - j
                    target[u] += (
                        w0 * source[u + 6] + w1 * source[u + 5] + w2 * source[u + 4] + w3 * source[u + 3]
                        + w4 * source[u + 2] + w5 * source[u + 1] + w6 * source[u]
                    )  # fmt: skip
                row = padded[c, y_at + i]
                for j in range(KERNEL):
                    for x in range(width):
                        products[j, x] += grad_row[x] * row[x + j]
            for j in range(KERNEL):
                grad_kernel[c, i, j] = products[j].sum()


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _descriptor_gradients(grad_padded, pad, channels, ties, mean_part, max_share):
    """Per position, what each channel's ``y`` gets: the mean descriptor's gradient over the ``channels`` it
    averages, and the max descriptor's gradient shared by its ``ties``."""
    p = 0
    for y_at in range(pad, grad_padded.shape[1] - pad):
        for x_at in range(pad, grad_padded.shape[2] - pad):
            mean_part[p] = grad_padded[0, y_at, x_at] / channels
            max_share[p] = grad_padded[1, y_at, x_at] / ties[p]
            p += 1


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _gated_gradient(grad_out, y, a, mean_part, largest, max_share):
    """The gradient of ``y = x * gate`` at one position and channel: through the product with the map ``a``,
    the mean over the channels, and the maximum where ``y`` is one. (Callers read the per-position values
    once, outside their loop over the channels: the arrays might alias, so the compiler would reload them.)"""
    share = max_share if y == largest else np.float32(0)
    return grad_out * a + mean_part + share


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _gate_gradient(grad_out, image, gate, spatial, mean_part, maxima, max_share, channel_max, grad_gate, ties):
    """The gate's gradient ``grad_gate[c] = sum_p grad_y * x``, and ``ties[c]``, how many positions equal the
    channel's maximum; summed like the channel means."""
    positions, channels = image.shape
    total_gradient = np.zeros(channels, np.float64)
    total_ties = np.zeros(channels, np.float64)
    block_gradient = np.empty(channels, np.float32)
    block_ties = np.empty(channels, np.float32)
    for start in range(0, positions, ROWS):
        block_gradient[:] = 0
        block_ties[:] = 0
        for p in range(start, min(start + ROWS, positions)):
            a, mean, largest, share = spatial[p], mean_part[p], maxima[p], max_share[p]
            for c in range(channels):
                v = image[p, c]
                block_gradient[c] += _gated_gradient(grad_out[p, c], v * gate[c], a, mean, largest, share) * v
                block_ties[c] += np.float32(v == channel_max[c])
        for c in range(channels):
            total_gradient[c] += block_gradient[c]
            total_ties[c] += block_ties[c]
    for c in range(channels):
        grad_gate[c] = np.float32(total_gradient[c])
        ties[c] = np.float32(total_ties[c])


@numba.njit(fastmath=REASSOCIATE, inline="always")
def _excite_backward(grad_gate, gate, descriptors, hidden, first, second, grad_first, grad_second, grad_descriptors):
    """Through the sigmoid and the shared MLP: the gradients of its weights (added) and of both descriptors."""
    width, channels = first.shape
    grad_score = np.empty(channels, np.float32)
    for c in range(channels):
        grad_score[c] = grad_gate[c] * gate[c] * (np.float32(1) - gate[c])
    grad_descriptors[:] = 0
    for k in range(2):
        for j in range(width):
            h = hidden[k, j]
            grad_h = np.float32(0)
            for c in range(channels):
                grad_second[c, j] += grad_score[c] * h
                grad_h += second[c, j] * grad_score[c]
            if h > 0:
                for c in range(channels):
                    grad_first[j, c] += grad_h * descriptors[k, c]
                    grad_descriptors[k, c] += first[j, c] * grad_h


@numba.njit(parallel=True, fastmath=REASSOCIATE, cache=True)
def backward(
    grad_out, x, first, second, kernel, descriptors, hidden, gates, padded, spatial, maxima,
    grad_x, grad_first, grad_second, grad_kernel,
):  # fmt: skip
    """The gradients of the block's input ``grad_x`` ``(N, P, C)`` and, per image (summed by the caller), of the
    weights: ``grad_first`` and ``grad_second`` (zeroed by the caller) and ``grad_kernel`` ``(N, 2, 7, 7)``; from
    the output's gradient ``grad_out`` and what :func:`forward` filled."""
    pad = KERNEL // 2
    height, width = padded.shape[2] - KERNEL + 1, padded.shape[3] - KERNEL + 1
    for n in numba.prange(x.shape[0]):
        image, dout, gate, a, channel_max = x[n], grad_out[n], gates[n], spatial[n], descriptors[n, 1]
        positions, channels = image.shape
        grad_z = np.empty(positions, np.float32)
        ties = np.empty(positions, np.float32)
        _map_gradient(dout, image, gate, a, maxima[n], grad_z, ties)
        grad_padded = np.empty_like(padded[n])
        _convolution_backward(padded[n], kernel, grad_z.reshape((height, width)), grad_padded, grad_kernel[n])
        mean_part = np.empty(positions, np.float32)
        max_share = np.empty(positions, np.float32)
        _descriptor_gradients(grad_padded, pad, channels, ties, mean_part, max_share)
        grad_gate = np.empty(channels, np.float32)
        channel_ties = np.empty(channels, np.float32)
        _gate_gradient(dout, image, gate, a, mean_part, maxima[n], max_share, channel_max, grad_gate, channel_ties)
        grad_descriptors = np.empty((2, channels), np.float32)
        _excite_backward(
            grad_gate, gate, descriptors[n], hidden[n], first, second, grad_first[n], grad_second[n], grad_descriptors
        )
        for c in range(channels):
            grad_descriptors[0, c] /= positions
            grad_descriptors[1, c] /= channel_ties[c]
        grad_mean, grad_max = grad_descriptors[0], grad_descriptors[1]
        result = grad_x[n]
        for p in range(positions):
            a_p, mean, largest, share = a[p], mean_part[p], maxima[n, p], max_share[p]
            for c in range(channels):
                v = image[p, c]
                grad_y = _gated_gradient(dout[p, c], v * gate[c], a_p, mean, largest, share)
                at_channel_max = grad_max[c] if v == channel_max[c] else np.float32(0)
                result[p, c] = grad_y * gate[c] + grad_mean[c] + at_channel_max
