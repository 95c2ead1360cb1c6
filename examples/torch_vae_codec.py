"""A PyTorch VAE's latents through ``rn.Codec``: a template for neural compression with REC.

Trains a small VAE (784 -> 256 -> 16-D Gaussian latent -> 256 -> 784 Bernoulli) for a few Adam steps on
the 200 binarized MNIST test images shipped with the repository (``examples/mnist/data.py``
``load_fixture()``; nothing is downloaded), then:

1. sender: ``codec = rn.Codec.fit(mu, sigma, prior, seed=torch.tensor(7))`` builds the block plan from
   the training posteriors' KL per dimension; ``codec.save(path)`` writes the one file a receiver
   needs; ``codec.compress(mu, sigma, return_samples=True)`` turns a batch of encoder outputs (torch
   tensors that still require grad: they are detached) into one ``bytes`` record per image, plus the
   latent sample z (a float64 torch tensor) that the receiver will decode;
2. receiver: ``rn.Codec.load(path).decompress(records, like=mu)`` gives z back, bit for bit, as a
   torch tensor on ``mu``'s device, and the decoder reconstructs the images from it;
3. reports real bits per image (8 x record length, check byte included) against ``codec.rate_bits``
   (the KL per image, the number REC's code length approaches) and the one-off codec file size.

Run::

    python examples/torch_vae_codec.py                  # about 10 s on a 2-core VM (cached kernels)
    python examples/torch_vae_codec.py --steps 300 --batch 64 --json out.json

The VAE is barely trained (the point is the plumbing, not the rate): more steps lower the KL. A
latent sent this way is an exact sample of the posterior, so the decoder sees what it saw in
training (no quantisation mismatch).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

import numpy as np
import torch
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the ``mnist`` helper package beside this script

import recnumba as rn  # noqa: E402
from mnist import data as mnist_data  # noqa: E402

LATENT = 16


class VAE(nn.Module):
    def __init__(self, pixels=784, hidden=256, latent=LATENT):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(pixels, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, pixels))

    def posterior(self, x):
        """(mu, sigma), each (N, latent): the Gaussian posterior q(z | x)."""
        mu, log_sigma = self.encoder(x).chunk(2, dim=-1)
        return mu, log_sigma.clamp(-6.0, 2.0).exp()

    def negative_elbo_bits(self, x):
        """Mean over the batch of -ELBO in bits (reconstruction + KL against N(0, I))."""
        mu, sigma = self.posterior(x)
        z = mu + sigma * torch.randn_like(mu)
        logits = self.decoder(z)
        recon = nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
        kl = 0.5 * (mu ** 2 + sigma ** 2 - 1.0 - 2.0 * sigma.log()).sum(-1)
        return ((recon + kl) / np.log(2.0)).mean()


def train(images, steps, seed=0, batch=50):
    torch.manual_seed(seed)
    model = VAE()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    for step in range(steps):
        rows = torch.randint(0, images.shape[0], (batch,))
        loss = model.negative_elbo_bits(images[rows])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model, float(loss.detach())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=150, help="Adam steps (default 150)")
    parser.add_argument("--batch", type=int, default=32, help="images to compress (default 32)")
    parser.add_argument("--num-samples", type=int, default=1 << 16, help="ORC candidates per block")
    parser.add_argument("--block-bits", type=float, default=32.0, help="information per block (bits)")
    parser.add_argument("--json", type=pathlib.Path, help="write the numbers here")
    args = parser.parse_args(argv)

    images = torch.from_numpy(mnist_data.load_fixture().astype(np.float32))  # (200, 784) in {0, 1}
    started = time.perf_counter()
    model, loss = train(images, args.steps)
    trained = time.perf_counter() - started

    # ---------------------------------------------------------------- sender
    mu_train, sigma_train = model.posterior(images)               # tensors that require grad: fine
    prior = rn.Gaussian(np.zeros(LATENT), np.ones(LATENT))
    codec = rn.Codec.fit(mu_train, sigma_train, prior, seed=torch.tensor(7), block_bits=args.block_bits,
                         num_samples=args.num_samples)
    batch = images[: args.batch]
    mu, sigma = model.posterior(batch)
    started = time.perf_counter()
    records, z = codec.compress(mu, sigma, return_samples=True)   # list[bytes], z: float64 tensor
    compress_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "vae.rnc"
        codec.save(path)
        codec_file_bytes = path.stat().st_size

        # ------------------------------------------------------------ receiver
        receiver = rn.Codec.load(path)
        started = time.perf_counter()
        z_hat = receiver.decompress(records, like=mu)              # torch float64, mu's device
        decompress_s = time.perf_counter() - started

    identical = bool(torch.equal(z, z_hat)) and z.numpy().tobytes() == z_hat.numpy().tobytes()
    with torch.no_grad():
        logits = model.decoder(z_hat.to(torch.float32))
        recon_bits = float((nn.functional.binary_cross_entropy_with_logits(logits, batch, reduction="none")
                            .sum(-1) / np.log(2.0)).mean())
    real = rn.Codec.record_bits(records)
    rate = codec.rate_bits(mu, sigma)                              # torch float64 (N,)
    result = {
        "train_steps": args.steps, "train_seconds": round(trained, 2), "final_loss_bits": round(loss, 2),
        "images": len(records), "latent_dim": LATENT, "blocks": codec.num_blocks,
        "mean_record_bits": float(real.mean()), "mean_rate_bits": float(rate.mean()),
        "overhead_bits": float(real.mean() - rate.mean()), "codec_file_bytes": codec_file_bytes,
        "reconstruction_bits": round(recon_bits, 2), "bit_identical": identical,
        "compress_seconds": round(compress_s, 3), "decompress_seconds": round(decompress_s, 3),
        "z_type": f"{type(z_hat).__module__}.{type(z_hat).__name__} {z_hat.dtype} on {z_hat.device}",
    }
    print(f"trained {args.steps} steps in {trained:.1f} s (last -ELBO {loss:.1f} bits/image)")
    print(f"{len(records)} images, {LATENT}-D latent in {codec.num_blocks} block(s): "
          f"{real.mean():.1f} bits/image in records vs rate_bits (KL) {float(rate.mean()):.1f} "
          f"(overhead {real.mean() - float(rate.mean()):.1f} bits: index code, byte padding, check byte)")
    print(f"codec file (sent once): {codec_file_bytes} bytes; decoded z bit-identical: {identical}; "
          f"reconstruction -log2 p(x|z) {recon_bits:.1f} bits/image")
    print(f"compress {compress_s:.2f} s, decompress {decompress_s:.3f} s; z is {result['z_type']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
