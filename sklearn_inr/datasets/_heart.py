"""A parametric heart: LV, myocardium and RV at any point of the cardiac cycle.

The geometry is written in *heart coordinates* (mm): ``w`` runs along the
LV long axis from the apex (negative) to the base plane (``w = 0``), and
``(u, v)`` span the short-axis plane, with the septum and the RV in the
direction ``theta = 0``.

- The LV cavity is a half prolate ellipsoid truncated at the base plane:
  at height ``w`` its cross-section has radius ``a(theta) * s(w)``, with
  ``s(w) = sqrt(1 - (w / c) ** 2)``, so its volume is
  ``(c / 3) * integral of a(theta) ** 2 dtheta`` (``pi a^2 c * 2 / 3`` for a
  circular cross-section).
- The myocardium is the shell between that cavity and a second half
  ellipsoid of radius ``a(theta) + t(theta)`` and half-length
  ``c + t_apex``: ``t(theta)`` is the wall thickness, which lets a group
  thicken the septum (HCM) or thin an infarcted sector (MINF).
- The RV cavity is a crescent on the LV's epicardium around the septum:
  at height ``w`` and angle ``theta`` it reaches from the epicardium out by
  ``h * s_rv(w) * sqrt(1 - (theta / alpha) ** 2)``, for ``|theta| < alpha``,
  with ``s_rv`` the same taper as the LV's over the RV's length ``c_rv``.
  Its volume is quadratic in ``h`` (:func:`solve_rv`).

Every volume is solved for in closed form or by a vectorised search, so a
patient's ED and ES hearts hit the sampled volumes and ejection fractions
before any voxel is drawn. The statistics of the groups are in
``_acdc_synthetic.py``.
"""

import numpy as np

N_THETA = 144
THETA = np.linspace(-np.pi, np.pi, N_THETA, endpoint=False)
_DTHETA = 2 * np.pi / N_THETA
# Myocardial density (g/mL), the value CMR studies use to turn volume into mass.
MYO_DENSITY = 1.05
# RV free wall thickness (mm): about 3 mm in adults. Drawn, not labelled:
# ACDC's label 2 is the LV myocardium only.
RV_WALL_MM = 3.0


def lv_volume(a, c):
    """Volume (mL) of a cavity of radius table ``a`` (mm) and half-length ``c``."""
    return c / 3 * np.sum(a**2) * _DTHETA / 1000


def epi_volume(a, t, c, t_apex):
    """Volume (mL) enclosed by the epicardium (cavity plus myocardium)."""
    return (c + t_apex) / 3 * np.sum((a + t) ** 2) * _DTHETA / 1000


def solve_cavity(volume_ml, shape, c):
    """Scale a radius profile ``shape`` (mean 1) so the cavity holds ``volume_ml``."""
    return shape * np.sqrt(volume_ml * 1000 / (c / 3 * np.sum(shape**2) * _DTHETA))


def solve_rv(volume_ml, frame, n_levels=64):
    """The crescent's radial reach ``h`` (mm) for an RV of ``volume_ml``.

    At height ``w`` the crescent's area is the integral over ``theta`` of
    ``((R + h p) ** 2 - R ** 2) / 2``, with ``R`` the epicardium's radius and
    ``p`` the tapered angular profile, so the volume is ``k1 h + k2 h ** 2``.
    """
    c_rv, alpha = frame["c_rv"], frame["alpha"]
    w = -c_rv * (np.arange(n_levels) + 0.5) / n_levels
    s_rv = np.sqrt(1 - (w / c_rv) ** 2)[:, None]
    c_epi = frame["c"] + frame["t_apex"]
    radius = (frame["a"] + frame["t"]) * np.sqrt(
        np.clip(1 - (w / c_epi) ** 2, 0, None)
    )[:, None]
    p = s_rv * rv_profile(THETA, alpha)
    step = _DTHETA * c_rv / n_levels / 1000
    k1 = np.sum(radius * p) * step
    k2 = np.sum(p**2) / 2 * step
    return float((-k1 + np.sqrt(k1**2 + 4 * k2 * volume_ml)) / (2 * k2))


def rv_profile(theta, alpha):
    """The crescent's angular profile: 1 facing the septum, 0 beyond ``alpha``."""
    return np.sqrt(np.clip(1 - (theta / alpha) ** 2, 0, None))


def interpolate(ed, es, f):
    """Frame parameters a fraction ``f`` of the way from ED (0) to ES (1)."""
    return {key: (1 - f) * ed[key] + f * es[key] for key in ed}


def cycle(n_frames, ed_frame, es_frame):
    """Contraction fraction (0 at ED, 1 at ES) of frames 1 to ``n_frames``.

    A half cosine from ED to ES (systole), then back to 0 at the frame after
    the last (diastole), as in a periodic cine acquisition.
    """
    t = np.arange(1, n_frames + 1)
    rel = (t - ed_frame) % n_frames
    sys = (es_frame - ed_frame) % n_frames
    return np.where(
        rel <= sys,
        (1 - np.cos(np.pi * rel / max(sys, 1))) / 2,
        (1 + np.cos(np.pi * (rel - sys) / max(n_frames - sys, 1))) / 2,
    )


def at_voxels(frame, theta):
    """Add the cavity and epicardium radii at the voxels' angles to ``frame``.

    They are linear in the radius tables, so :func:`interpolate` can blend the
    ED and ES values of every frame instead of interpolating again.
    """
    a = np.interp(theta, THETA, frame["a"], period=2 * np.pi).astype(np.float32)
    t = np.interp(theta, THETA, frame["t"], period=2 * np.pi).astype(np.float32)
    p = rv_profile(theta, frame["alpha"]).astype(np.float32)
    return {**frame, "a_vox": a, "epi_vox": a + t, "rv_vox": p}


def rasterise(frame, u, v, w, pixel_mm, slice_mm):
    """Labels and soft occupancies of one frame on points in heart coordinates.

    Parameters
    ----------
    frame : dict
        Frame parameters (see :func:`interpolate`), with the radii at the
        voxels (:func:`at_voxels`).
    u, v, w : ndarray
        Heart coordinates (mm) of the voxel centres, broadcastable.
    pixel_mm, slice_mm : float
        In-plane and through-plane voxel size, the widths of the soft edges.

    Returns
    -------
    labels : ndarray of uint8
        ACDC labels at the voxel centres: 0 background, 1 RV cavity,
        2 myocardium, 3 LV cavity.
    occupancy : dict of ndarray
        Fractions of ``"blood"`` (both cavities and the atrium) and
        ``"muscle"`` (LV myocardium and RV free wall) in each voxel.
    """
    w = w + float(frame["descent"])  # the base moves towards the apex in systole
    rho = np.hypot(u, v)
    a, epi = frame["a_vox"], frame["epi_vox"]
    c, c_rv = float(frame["c"]), float(frame["c_rv"])
    c_epi = c + float(frame["t_apex"])
    below = _ramp(-w / slice_mm)  # through-plane partial volume at the base
    s_cav = np.sqrt(np.clip(1 - (w / c) ** 2, 0, None))
    s_epi = np.sqrt(np.clip(1 - (w / c_epi) ** 2, 0, None))
    s_rv = np.sqrt(np.clip(1 - (w / c_rv) ** 2, 0, None))
    d_cav = rho - a * s_cav
    d_epi = rho - epi * s_epi
    cav = _ramp(-d_cav / pixel_mm) * below * (s_cav > 0)
    epi_occ = _ramp(-d_epi / pixel_mm) * below * (s_epi > 0)
    # RV crescent, and its free wall: a band of RV_WALL_MM outside it.
    epi_r = epi * s_epi
    reach = float(frame["h"]) * s_rv * frame["rv_vox"]
    d_rv = rho - epi_r - reach
    support = below * (reach > 0) * (1 - epi_occ)
    rv = _ramp(-d_rv / pixel_mm) * support
    rv_wall = _ramp((RV_WALL_MM - d_rv) / pixel_mm) * support - rv
    # The left atrium above the base: blood in the image, no label (as in ACDC).
    la_r = 0.75 * float(np.mean(frame["a"]))
    la = _ramp(-(np.hypot(rho / la_r, (w - 28.0) / 26.0) - 1) * la_r / pixel_mm)
    la = la * (1 - below)
    labels = np.zeros(np.broadcast_shapes(u.shape, v.shape, w.shape), np.uint8)
    inside = w < 0
    lv_in = inside & (d_cav < 0) & (s_cav > 0)
    epi_in = inside & (d_epi < 0) & (s_epi > 0)
    labels[inside & (d_rv < 0) & (reach > 0) & ~epi_in] = 1
    labels[epi_in] = 2
    labels[lv_in] = 3
    return labels, {
        "blood": np.clip(cav + rv + la, 0, 1),
        "muscle": np.clip(epi_occ - cav + rv_wall, 0, 1),
    }


def _ramp(x):
    """A linear step from 0 to 1 over one unit: the soft edge of a shape."""
    return np.clip(0.5 + x, 0.0, 1.0)
