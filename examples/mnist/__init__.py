"""MNIST data loader and numpy VAE for the REC lossless-compression example (see data.py, vae.py)."""
