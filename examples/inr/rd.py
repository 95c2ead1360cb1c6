"""Rate-distortion helpers for the INR example: Bjøntegaard delta rate, classical codecs, the RD figure.

* :func:`bd_rate`: the Bjøntegaard delta rate (VCEG-M33) of a test RD curve against a reference curve:
  fit log(rate) as a cubic polynomial of PSNR for each curve (least squares; exact for 4 points),
  integrate both over the overlapping PSNR interval, and return ``exp(mean difference) - 1``: the
  average relative rate change of the test curve at equal PSNR (-0.1 = 10 % fewer bits).
* :func:`classical_codecs`: JPEG and WebP (lossy, several qualities) and PNG (lossless) through Pillow
  on the same uint8 images; bpp from the bytes each encoder writes (headers included: on 32x32 images
  a baseline JPEG's headers alone are a few hundred bytes), PSNR of the decoded images.
* :func:`plot_rd`: the RD figure (matplotlib, Agg).
"""

from __future__ import annotations

import io

import numpy as np


def _curve(rate, psnr, name):
    r = np.asarray(rate, dtype=np.float64).ravel()
    p = np.asarray(psnr, dtype=np.float64).ravel()
    if r.size != p.size:
        raise ValueError(f"{name}: rate and psnr must have the same length; got {r.size} and {p.size}")
    if r.size < 2:
        raise ValueError(f"{name}: an RD curve needs at least 2 points; got {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(r > 0) and np.all(np.isfinite(p))):
        raise ValueError(f"{name}: rates must be finite and > 0, PSNRs finite")
    if np.unique(p).size != p.size:
        raise ValueError(f"{name}: PSNR values must be distinct (log-rate is fitted as a function of PSNR)")
    return r, p


def bd_rate(rate_ref, psnr_ref, rate_test, psnr_test, degree=3):
    """Bjøntegaard delta rate of the test curve against the reference, a fraction (-0.05 = 5 % fewer bits).

    rate_*: rates (any unit, e.g. bpp; > 0), psnr_*: PSNR (dB), same length per curve (>= 2 points).
    log(rate) is fitted as a polynomial of PSNR of degree ``min(degree, points - 1)`` (3: the standard
    cubic), both fits are integrated over the overlapping PSNR range [max of minima, min of maxima],
    and the result is ``exp((integral_test - integral_ref) / range) - 1``.

    Raises ValueError for malformed curves or when the PSNR ranges do not overlap.
    """
    if isinstance(degree, bool) or not isinstance(degree, (int, np.integer)) or degree < 1:
        raise ValueError(f"degree must be an integer >= 1; got {degree!r}")
    ra, pa = _curve(rate_ref, psnr_ref, "reference curve")
    rb, pb = _curve(rate_test, psnr_test, "test curve")
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if not hi > lo:
        raise ValueError(f"the PSNR ranges do not overlap: reference [{pa.min():.3f}, {pa.max():.3f}] dB, "
                         f"test [{pb.min():.3f}, {pb.max():.3f}] dB")
    fa = np.polyint(np.polyfit(pa, np.log(ra), min(degree, ra.size - 1)))
    fb = np.polyint(np.polyfit(pb, np.log(rb), min(degree, rb.size - 1)))
    ia = np.polyval(fa, hi) - np.polyval(fa, lo)
    ib = np.polyval(fb, hi) - np.polyval(fb, lo)
    return float(np.expm1((ib - ia) / (hi - lo)))


def psnr_uint8(a, b):
    """Per-image PSNR (dB, peak 255) of uint8 batches (B, H, W, C)."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = (d.reshape(d.shape[0], -1) ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0 ** 2 / mse)


def classical_codecs(images_uint8, jpeg_qualities=(5, 10, 20, 30, 50, 70, 90),
                     webp_qualities=(0, 5, 10, 20, 40, 60, 80)):
    """JPEG / WebP at each quality and lossless PNG on uint8 images (N, H, W, 3), through Pillow.

    Returns {"jpeg": [{"quality", "bpp", "psnr"}, ...], "webp": [...], "png": {"bpp", "psnr"}}; bpp is
    the mean over images of 8 * bytes / pixels, psnr the mean of per-image PSNRs of the decoded images
    (inf for PNG).
    """
    from PIL import Image

    x = np.asarray(images_uint8)
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"images_uint8 must be uint8 (N, H, W, 3); got {x.dtype} {x.shape}")
    pixels = x.shape[1] * x.shape[2]

    def run(fmt, **kw):
        bits, dec = [], []
        for im in x:
            buf = io.BytesIO()
            Image.fromarray(im).save(buf, format=fmt, **kw)
            bits.append(8 * buf.tell())
            dec.append(np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")))
        return float(np.mean(bits) / pixels), psnr_uint8(np.stack(dec), x)

    out = {"jpeg": [], "webp": []}
    for q in jpeg_qualities:
        bpp, ps = run("JPEG", quality=int(q))
        out["jpeg"].append(dict(quality=int(q), bpp=bpp, psnr=float(ps.mean())))
    for q in webp_qualities:
        bpp, ps = run("WEBP", quality=int(q), method=6)
        out["webp"].append(dict(quality=int(q), bpp=bpp, psnr=float(ps.mean())))
    bpp, ps = run("PNG", optimize=True)
    out["png"] = dict(bpp=bpp, psnr=float(ps.mean()))
    return out


STYLE = {
    "plain-orc-16": dict(color="C0", marker="o", ls="-", label="plain ORC, 16-bit blocks, fine-tuned"),
    "partitioned-orc-48": dict(color="C3", marker="s", ls="-",
                               label="partitioned ORC, 48-bit blocks (by information), fine-tuned"),
    "plain-orc-16-no-ft": dict(color="C0", marker="o", ls=":", mfc="none", label="plain ORC 16, no fine-tuning"),
    "partitioned-orc-48-no-ft": dict(color="C3", marker="s", ls=":", mfc="none",
                                     label="partitioned ORC 48, no fine-tuning"),
    "partitioned-orc-32": dict(color="C1", marker="D", ls="-", label="partitioned ORC, 32-bit blocks, fine-tuned (extra)"),
    "partitioned-orc-48-random": dict(color="C2", marker="^", ls="none", label="ablation: random intervals"),
    "partitioned-orc-48-collapsed-only": dict(color="C4", marker="v", ls="none",
                                              label="ablation: collapsed-only intervals"),
}


def plot_rd(result, path, title=None):
    """RD figure (PSNR vs bpp) of an ``inr_cifar.run`` result with its "classical" entry, saved to ``path``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for name, rows in result["methods"].items():
        rows = sorted(rows, key=lambda r: r["bpp"])
        st = dict(STYLE.get(name, dict(marker="x", ls="-", label=name)))
        ax.plot([r["bpp"] for r in rows], [r["psnr"] for r in rows], **st)
    cl = result.get("classical")
    if cl:
        for key, st in (("jpeg", dict(color="0.4", marker="d", ls="--", label="JPEG (Pillow, headers incl.)")),
                        ("webp", dict(color="0.1", marker="P", ls="--", label="WebP (Pillow)"))):
            ax.plot([r["bpp"] for r in cl[key]], [r["psnr"] for r in cl[key]], ms=5, **st)
        ax.set_title((title or "") + f"\nlossless PNG: {cl['png']['bpp']:.1f} bpp", fontsize=9)
    elif title:
        ax.set_title(title, fontsize=9)
    rec_bpp = [r["bpp"] for rows in result["methods"].values() for r in rows]
    rec_psnr = [r["psnr"] for rows in result["methods"].values() for r in rows]
    ax.set_xlim(0, max(max(rec_bpp) * 1.6, 6.6))
    ax.set_ylim(min(rec_psnr) - 2, max(rec_psnr) + 4)
    ax.set_xlabel("bits per pixel (from the bytes written)")
    ax.set_ylabel("PSNR (dB, mean over images)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
