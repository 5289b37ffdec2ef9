"""Drawing the synthetic images of the embedded benchmark: one image and its instances at a
time (maiou/data/synthetic.py writes them as a COCO-format dataset).

COCO cannot be downloaded on CI and a CPU cannot train a ResNet-50 YOLACT, so the embedded
benchmark trains small YOLACTs on images drawn here. The data is built to exercise what
maIoU is about: for many objects the box says little about where the object's pixels are.

* Eight categories with distinct silhouettes. Three are compact (``disc``, ``square``,
  ``triangle``: mask fills much of its box); five are thin or concave (``ring``,
  ``crescent``, ``bracket``, ``cross``, ``bar``: mask area well below box area). The
  ``supercategory`` field says which group a category belongs to.
* Heavy mutual occlusion: objects are painted back to front, often clustered around one
  another; pixels covered by a nearer object are removed from the masks of the objects
  behind it, and boxes, areas and RLEs describe the *visible* mask only.
* Textured objects (two shades of the category's own hue mixed by stripes, checks or
  smooth noise, plus pixel noise) on greyish, varied backgrounds (gradients, smooth noise,
  un-annotated clutter), at small to large scales and random rotations.

Occluded-away objects. An object whose visible part is smaller than
:data:`MIN_VISIBLE_PIXELS` pixels or :data:`MIN_VISIBLE_FRACTION` of its in-image area is
dropped from the annotations but stays painted: it still hides what lies behind it (so the
masks of the others stay true to the image), and the few pixels of it that show are just
background clutter, like the unlabelled fragments COCO has. Annotating such slivers would
ask the detector for objects nobody could recognise.

Determinism. :func:`generate_image` draws everything from the generator it is given, with
numpy arithmetic on pixel centres (no rasteriser whose output could change between library
versions): the same generator state gives the same image and instances.
"""

from __future__ import annotations

import math

import numpy as np

# ----------------------------------------------------------------------------------------
# Defaults: the sizes the embedded benchmark's CPU budget is tuned for
# (docs/embedded-benchmark.md has the measurements behind them).
# ----------------------------------------------------------------------------------------
DEFAULT_IMAGE_SIZE = 128
"""Side of the square images, pixels."""
DEFAULT_MIN_OBJECTS = 3
"""Fewest objects painted in an image (annotated ones can be fewer, see module doc)."""
DEFAULT_MAX_OBJECTS = 6
"""Most objects painted in an image."""
MIN_VISIBLE_PIXELS = 60
"""An object with fewer visible pixels than this is not annotated (absolute, pixels)."""
MIN_VISIBLE_FRACTION = 0.25
"""An object showing less than this fraction of its in-image area is not annotated."""

GENERATOR_VERSION = 4
"""Bumped whenever the drawing code changes its output, so old datasets get regenerated."""

# (id, name, supercategory). "compact": the mask fills most of its box; "thin": thin or
# concave silhouettes whose mask covers well under half of the box on average.
CATEGORIES = (
    (1, "disc", "compact"),
    (2, "square", "compact"),
    (3, "triangle", "compact"),
    (4, "ring", "thin"),
    (5, "crescent", "thin"),
    (6, "bracket", "thin"),
    (7, "cross", "thin"),
    (8, "bar", "thin"),
)


# Characteristic object size (extent of the unrotated silhouette) as a fraction of the
# image side: small / medium / large, with probabilities; large enough that a short CPU run
# learns to segment them. Thin parts never go below _MIN_THICKNESS pixels: YOLACT's
# prototypes have a 4-pixel stride, and thinner parts can hardly be segmented.
_SCALE_BANDS = ((0.2, 0.3), (0.3, 0.45), (0.45, 0.7))
_SCALE_PROBS = (0.3, 0.45, 0.25)
_MIN_THICKNESS = 4.0
# Probability that an object is placed overlapping an earlier one (drives occlusion).
_CLUSTER_PROB = 0.65
# Saturation of object colours; backgrounds and clutter stay below 0.35 (_random_colour).
_OBJECT_SAT = (0.65, 1.0)


# ----------------------------------------------------------------------------------------
# Silhouettes: boolean (H, W) masks evaluated on pixel centres in object coordinates.
# ----------------------------------------------------------------------------------------
def _local_coords(rows: slice, cols: slice, cx: float, cy: float, angle: float):
    """Pixel centres of an image window in an object's frame.

    ``rows``, ``cols`` select the window; returns ``(u, v)``, two (len(rows), len(cols))
    float64 arrays in pixels: the offset of each pixel centre from ``(cx, cy)`` (image
    coordinates) rotated by ``-angle`` (radians), so that a shape defined axis-aligned in
    (u, v) appears rotated by ``angle`` in the image.
    """
    dx = np.arange(cols.start, cols.stop, dtype=np.float64)[None, :] + 0.5 - cx
    dy = np.arange(rows.start, rows.stop, dtype=np.float64)[:, None] + 0.5 - cy
    c, s = math.cos(angle), math.sin(angle)
    return dx * c + dy * s, -dx * s + dy * c


def _rect(u, v, half_w: float, half_h: float, u0: float = 0.0, v0: float = 0.0):
    """Axis-aligned rectangle of half-sides (half_w, half_h) centred at (u0, v0)."""
    return (np.abs(u - u0) <= half_w) & (np.abs(v - v0) <= half_h)


def _shape_mask(name: str, u, v, s: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of one silhouette of characteristic size ``s`` pixels.

    ``u``, ``v`` come from :func:`_local_coords`; shape parameters (aspect, thickness, ...)
    are drawn from ``rng`` so that instances of a category vary.
    """
    t_min = _MIN_THICKNESS
    if name == "disc":
        a = s / 2
        b = a * rng.uniform(0.75, 1.0)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0
    if name == "square":
        # Rounded rectangle: signed-distance test against a rectangle shrunk by the radius.
        a = s / 2
        b = a * rng.uniform(0.7, 1.0)
        r = b * rng.uniform(0.0, 0.35)
        qu, qv = np.abs(u) - (a - r), np.abs(v) - (b - r)
        outside = np.hypot(np.maximum(qu, 0), np.maximum(qv, 0))
        inside = np.minimum(np.maximum(qu, qv), 0)
        return outside + inside <= r
    if name == "triangle":
        base = math.pi / 2 + np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3])
        ang = base + rng.uniform(-0.25, 0.25, size=3)
        px, py = s / 2 * np.cos(ang), s / 2 * np.sin(ang)
        # Inside when the pixel lies on the same side of all three (counter-clockwise) edges.
        inside = np.ones(u.shape, dtype=bool)
        for i in range(3):
            j = (i + 1) % 3
            cross = (px[j] - px[i]) * (v - py[i]) - (py[j] - py[i]) * (u - px[i])
            inside &= cross >= 0
        return inside
    if name == "ring":
        a = s / 2
        b = a * rng.uniform(0.8, 1.0)
        k = rng.uniform(0.45, 0.65)  # inner/outer radius
        k = min(k, 1.0 - t_min / b)  # keep the band at least t_min wide
        d = (u / a) ** 2 + (v / b) ** 2
        return (d <= 1.0) & (d > k * k)
    if name == "crescent":
        r = s / 2
        r2 = r * rng.uniform(0.8, 1.0)
        off = r * rng.uniform(0.35, 0.6)
        return (u**2 + v**2 <= r * r) & ((u - off) ** 2 + v**2 > r2 * r2)
    if name == "bracket":
        # "L": a vertical arm of length s and a horizontal arm of length ~s sharing a corner.
        t = max(s * rng.uniform(0.22, 0.32), t_min)
        lw = s * rng.uniform(0.6, 1.0)
        left, top = -lw / 2, -s / 2
        vertical = _rect(u, v, t / 2, s / 2, left + t / 2, 0.0)
        horizontal = _rect(u, v, lw / 2, t / 2, 0.0, top + s - t / 2)
        return vertical | horizontal
    if name == "cross":
        t = max(s * rng.uniform(0.22, 0.32), t_min)
        lw = s * rng.uniform(0.7, 1.0)
        return _rect(u, v, t / 2, s / 2) | _rect(u, v, lw / 2, t / 2)
    if name == "bar":
        t = max(s * rng.uniform(0.14, 0.22), t_min)
        return _rect(u, v, s / 2, t / 2)
    raise ValueError(f"unknown shape {name!r}")


def _shape_angle(name: str, rng: np.random.Generator) -> float:
    """Rotation (radians) of one object. Bars are kept diagonal (20-70 degrees off an axis)
    because an axis-aligned bar fills its box, which is not what that category is for."""
    if name == "bar":
        return float(
            rng.uniform(math.radians(20), math.radians(70)) + rng.integers(4) * math.pi / 2
        )
    return float(rng.uniform(0.0, 2 * math.pi))


# ----------------------------------------------------------------------------------------
# Textures and backgrounds: float (H, W) or (H, W, 3) arrays in [0, 255].
# ----------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """(height, width) float64 value noise in [0, 1].

    A random lattice with ``cells`` cells along the longer side, smoothstep-interpolated
    between lattice points (pure numpy, so it does not depend on a resize implementation).
    """
    step = max(height, width) / cells
    ny, nx = math.ceil(height / step), math.ceil(width / step)
    lattice = rng.random((ny + 1, nx + 1))

    def axis(n_pix, n_cells):
        pos = (np.arange(n_pix) + 0.5) / step
        i0 = np.minimum(pos.astype(np.int64), n_cells - 1)
        f = pos - i0
        return i0, f * f * (3 - 2 * f)

    iy, fy = axis(height, ny)
    ix, fx = axis(width, nx)
    fx = fx[None, :]
    top = lattice[iy][:, ix] * (1 - fx) + lattice[iy][:, ix + 1] * fx
    bottom = lattice[iy + 1][:, ix] * (1 - fx) + lattice[iy + 1][:, ix + 1] * fx
    return top * (1 - fy[:, None]) + bottom * fy[:, None]


def _colour(hue: float, sat: float, val: float) -> np.ndarray:
    """(3,) float64 RGB colour in [0, 255] of an HSV triple (hue in turns, wraps around)."""
    k = (np.array([5.0, 3.0, 1.0]) + (hue % 1.0) * 6) % 6
    return 255 * val * (1 - sat * np.clip(np.minimum(k, 4 - k), 0, 1))


def _random_colour(rng: np.random.Generator, sat=(0.0, 0.35), val=(0.2, 0.95)) -> np.ndarray:
    """(3,) float64 RGB colour in [0, 255] from a random hue and the given S/V ranges.
    The default ranges are the greyish ones of backgrounds and clutter."""
    return _colour(rng.random(), rng.uniform(*sat), rng.uniform(*val))


def _category_colours(rng: np.random.Generator, category_id: int):
    """Two (3,) float64 RGB colours in [0, 255] for one object of ``category_id``.

    Each category owns a hue (eighths of the colour circle, jittered by +-0.025) and is
    strongly saturated, while backgrounds and clutter are greyish. So telling categories
    apart is easy for a tiny net trained for a few CPU-minutes; what stays hard is *where*
    each object's pixels are -- thin and concave silhouettes, occlusion -- which is what
    maIoU is about.
    """
    hue = (category_id - 1) / len(CATEGORIES) + rng.uniform(-0.025, 0.025)
    return tuple(
        _colour(hue, rng.uniform(*_OBJECT_SAT), rng.uniform(*val))
        for val in ((0.55, 1.0), (0.3, 0.7))
    )


def _pattern(rng: np.random.Generator, rows: slice, cols: slice, scale: float) -> np.ndarray:
    """(len(rows), len(cols)) float64 mixing weight in [0, 1] for a two-colour fill.

    One of: stripes at a random angle, a rotated checkerboard, smooth noise, or a linear
    gradient, over the given image window. ``scale`` (pixels) sets the period so textures
    follow the object's size.
    """
    kind = rng.integers(4)
    u, v = _local_coords(rows, cols, 0.0, 0.0, rng.uniform(0, math.pi))
    period = max(3.0, scale * rng.uniform(0.15, 0.4))
    if kind == 0:  # stripes
        return 0.5 + 0.5 * np.sin(2 * math.pi * u / period + rng.uniform(0, 2 * math.pi))
    if kind == 1:  # checks
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float64)
    if kind == 2:  # blotches
        return _smooth_noise(rng, u.shape[0], u.shape[1], int(rng.integers(2, 6)))
    return np.clip((u - u.min()) / max(np.ptp(u), 1e-6), 0, 1)  # gradient


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) float64 background: a two-colour gradient modulated by smooth noise,
    with un-annotated clutter (blobs and line segments) drawn on top.

    Clutter gives the detector texture and edges that are not objects, so it cannot learn
    "anything that differs from a smooth background is an instance".
    """
    c0 = _random_colour(rng)
    c1 = _random_colour(rng)
    phi = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    g = xx * math.cos(phi) + yy * math.sin(phi)
    g = (g - g.min()) / max(np.ptp(g), 1e-6)
    img = c0 * (1 - g[..., None]) + c1 * g[..., None]
    img *= (0.75 + 0.5 * _smooth_noise(rng, size, size, int(rng.integers(2, 8))))[..., None]

    # Blobs: thresholded high-frequency noise gives irregular patches unlike any category.
    for _ in range(int(rng.integers(0, 4))):
        blob = _smooth_noise(rng, size, size, int(rng.integers(6, 14))) > rng.uniform(0.75, 0.88)
        img[blob] = 0.5 * img[blob] + 0.5 * _random_colour(rng)
    # Line segments (1-2 px wide): edges that belong to no object.
    centres = np.arange(size, dtype=np.float64) + 0.5
    for _ in range(int(rng.integers(0, 5))):
        p0, p1 = rng.uniform(0, size, 2), rng.uniform(0, size, 2)
        d = p1 - p0
        t = ((centres[None, :] - p0[0]) * d[0] + (centres[:, None] - p0[1]) * d[1]) / max(
            d @ d, 1e-6
        )
        t = np.clip(t, 0, 1)
        dist = np.hypot(
            centres[None, :] - (p0[0] + t * d[0]), centres[:, None] - (p0[1] + t * d[1])
        )
        line = dist <= rng.uniform(0.5, 1.0)
        img[line] = _random_colour(rng)
    return img


# ----------------------------------------------------------------------------------------
# One image.
# ----------------------------------------------------------------------------------------
def _sample_layout(rng: np.random.Generator, size: int, num: int):
    """Category, size (pixels), centre and angle of ``num`` objects, back to front.

    With probability :data:`_CLUSTER_PROB` an object is centred near an earlier one (closer
    than the sum of their radii), which is what produces heavy occlusion.
    """
    objects = []
    for k in range(num):
        cid, name, _ = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        band = _SCALE_BANDS[int(rng.choice(len(_SCALE_BANDS), p=_SCALE_PROBS))]
        s = float(rng.uniform(*band) * size)
        if k > 0 and rng.random() < _CLUSTER_PROB:
            other = objects[int(rng.integers(k))]
            dist = rng.uniform(0.25, 0.8) * (s + other["size"]) / 2
            theta = rng.uniform(0, 2 * math.pi)
            cx = other["cx"] + dist * math.cos(theta)
            cy = other["cy"] + dist * math.sin(theta)
        else:
            cx, cy = rng.uniform(0.1, 0.9, 2) * size
        # Keep centres inside so truncation by the border stays partial.
        cx = float(np.clip(cx, 0.05 * size, 0.95 * size))
        cy = float(np.clip(cy, 0.05 * size, 0.95 * size))
        objects.append(
            {
                "category_id": cid,
                "name": name,
                "size": s,
                "cx": cx,
                "cy": cy,
                "angle": _shape_angle(name, rng),
            }
        )
    return objects


def generate_image(
    rng: np.random.Generator,
    image_size: int = DEFAULT_IMAGE_SIZE,
    min_objects: int = DEFAULT_MIN_OBJECTS,
    max_objects: int = DEFAULT_MAX_OBJECTS,
):
    """Draw one image and its annotated instances.

    Returns ``(image, instances)``: ``image`` is (image_size, image_size, 3) uint8 RGB;
    ``instances`` is a list (back to front) of dicts with ``category_id``, ``mask`` (H, W)
    bool visible mask, ``full_area`` (in-image pixels before occlusion) and
    ``occluded_fraction`` (1 - visible / full, in [0, 1)). Only objects passing the
    visibility thresholds (:data:`MIN_VISIBLE_PIXELS`, :data:`MIN_VISIBLE_FRACTION`) are
    returned; the others are painted but not listed.
    """
    size = int(image_size)
    img = _background(rng, size)
    layout = _sample_layout(rng, size, int(rng.integers(min_objects, max_objects + 1)))

    full_masks = []
    for obj in layout:
        # Every silhouette lies within size / sqrt(2) of its centre (square and bracket
        # corners are the farthest; thin parts add at most _MIN_THICKNESS), so only that
        # window is evaluated.
        reach = 0.75 * obj["size"] + _MIN_THICKNESS + 1
        rows = slice(max(0, int(obj["cy"] - reach)), min(size, int(obj["cy"] + reach) + 1))
        cols = slice(max(0, int(obj["cx"] - reach)), min(size, int(obj["cx"] + reach) + 1))
        u, v = _local_coords(rows, cols, obj["cx"], obj["cy"], obj["angle"])
        local = _shape_mask(obj["name"], u, v, obj["size"], rng)
        c0, c1 = _category_colours(rng, obj["category_id"])
        w = _pattern(rng, rows, cols, obj["size"])[local][:, None] * rng.uniform(0.3, 1.0)
        img[rows, cols][local] = c0 * (1 - w) + c1 * w  # painted in order: later objects are nearer
        mask = np.zeros((size, size), dtype=bool)
        mask[rows, cols] = local
        full_masks.append(mask)

    # Walk front to back, accumulating the pixels already claimed by nearer objects.
    covered = np.zeros((size, size), dtype=bool)
    instances = []
    for obj, mask in zip(reversed(layout), reversed(full_masks)):
        visible = mask & ~covered
        covered |= mask
        full_area = int(mask.sum())
        vis_area = int(visible.sum())
        if (
            full_area == 0
            or vis_area < MIN_VISIBLE_PIXELS
            or vis_area < MIN_VISIBLE_FRACTION * full_area
        ):
            continue
        instances.append(
            {
                "category_id": obj["category_id"],
                "mask": visible,
                "full_area": full_area,
                "occluded_fraction": 1.0 - vis_area / full_area,
            }
        )
    instances.reverse()

    # Sensor noise, so flat fills are not trivially separable from each other.
    img += rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), instances
