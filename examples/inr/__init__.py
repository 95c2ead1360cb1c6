"""Helpers for the INR (implicit neural representation) lossy image-compression example (issue #13)."""
