"""Helpers of the lossless 8-bit MNIST example (``examples/mnist8_lossless.py``): beta-binomial VAE."""
