"""Marker corners from the four edges of the black border, each located at sub-pixel precision (no rclpy).

Why: cv2.aruco's corners sit inside the marker. Its contour polygon runs through the centres of the outermost
black pixels, half a pixel inside the true edge; ``CORNER_REFINE_SUBPIX`` recovers about half of that on a
filtered (slightly blurred) image, ``CORNER_REFINE_CONTOUR`` none. On the rendered 30 mm marker
(docs/perception.md) the corners came out 0.25 px (subpix), 0.53 px (none), 0.72 px (contour) inside the
projected true corners, so the marker looked ~1-3 % smaller than declared and PnP alone put it a few mm
(up to 13 mm in earlier runs) too far; ``CORNER_REFINE_APRILTAG`` has the right size but is shifted by
~(0.43, 0.44) px (another pixel-centre convention). The texture itself is mapped exactly (its black/white
edges measured within 0.1 mm of the declared 15 mm from the marker centre).

:func:`refine_edges` takes the detector's quad and, for each side, samples intensity profiles across the
edge (bilinear, :data:`STEP_PX`) at :data:`SAMPLES` points along it, finds where each profile crosses half-way
between the dark border and the light surround, fits a line to those crossings, and intersects adjacent lines.
Sizes are in pixels, OpenCV's pixel-centre convention (pixel (0, 0) centred at (0, 0)).
"""

from __future__ import annotations

import cv2
import numpy as np

SAMPLES = 9
"""Profiles per edge, spread over its middle 70 %."""
HALF_WIDTH = 0.45
"""Half the profile's length, as a fraction of the marker's border cell (marker side / 6), inwards and out."""
STEP_PX = 0.1
MIN_CONTRAST = 20.0
"""Grey levels between the light and dark ends of a profile for its crossing to count."""


def _crossing(profile: np.ndarray, offsets: np.ndarray) -> float | None:
    """Offset (px) where ``profile`` (light outside at the start, dark inside at the end) first crosses
    half-way between its ends' levels; None without enough contrast."""
    light, dark = float(np.median(profile[:5])), float(np.median(profile[-5:]))
    if light - dark < MIN_CONTRAST:
        return None
    below = np.flatnonzero(profile < (light + dark) / 2)
    if not below.size or below[0] == 0:
        return None
    i = below[0]
    a, b = profile[i - 1], profile[i]
    return float(offsets[i - 1] + (a - (light + dark) / 2) / (a - b) * (offsets[i] - offsets[i - 1]))


def _edge_line(gray: np.ndarray, p: np.ndarray, q: np.ndarray, inward: np.ndarray,
               half: float) -> tuple[np.ndarray, np.ndarray] | None:
    """(point, unit direction) of the edge from ``p`` to ``q`` (2,) px fitted to the profiles' crossings;
    ``inward`` (2,) is the unit normal pointing into the marker. None if fewer than 3 profiles count."""
    offsets = np.arange(-half, half + 1e-9, STEP_PX)
    points = []
    for t in np.linspace(0.15, 0.85, SAMPLES):
        base = p + t * (q - p)
        xy = (base[None] + offsets[:, None] * inward[None]).astype(np.float32)
        profile = cv2.remap(gray, xy[None, :, 0], xy[None, :, 1], cv2.INTER_LINEAR)[0]
        offset = _crossing(profile, offsets)
        if offset is not None:
            points.append(base + offset * inward)
    if len(points) < 3:
        return None
    pts = np.asarray(points)
    centre = pts.mean(axis=0)
    _, _, vt = np.linalg.svd(pts - centre)
    return centre, vt[0]


def _intersect(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> np.ndarray | None:
    (p, u), (q, v) = a, b
    matrix = np.column_stack([u, -v])
    if abs(np.linalg.det(matrix)) < 1e-6:
        return None
    s, _ = np.linalg.solve(matrix, q - p)
    return p + s * u


def refine_edges(gray: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Corners (4, 2) px of the marker whose detected corners are ``quad`` (4, 2) px (cv2.aruco order), from
    its four border edges; ``quad`` itself where an edge has too little contrast (occlusion, blur) or a
    corner moves more than a quarter of a border cell (a wrong fit)."""
    gray = np.asarray(gray, dtype=np.float32)
    quad = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    centre = quad.mean(axis=0)
    side = np.mean([np.linalg.norm(quad[i] - quad[(i + 1) % 4]) for i in range(4)])
    half = max(HALF_WIDTH * side / 6, 1.0)
    lines = []
    for i in range(4):
        p, q = quad[i], quad[(i + 1) % 4]
        direction = (q - p) / np.linalg.norm(q - p)
        inward = np.array([-direction[1], direction[0]])
        if np.dot(inward, centre - (p + q) / 2) < 0:
            inward = -inward
        line = _edge_line(gray, p, q, inward, half)
        if line is None:
            return quad
        lines.append(line)
    corners = [_intersect(lines[(i - 1) % 4], lines[i]) for i in range(4)]  # corner i: edges i-1 and i
    if any(c is None for c in corners):
        return quad
    refined = np.asarray(corners)
    if np.max(np.linalg.norm(refined - quad, axis=1)) > side / 24:
        return quad
    return refined
