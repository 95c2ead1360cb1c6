#!/usr/bin/env bash
# Everything recnumba measures on a lent GPU machine, in one call of the `device` tool:
#   1. benchmarks/gpu/check.py: CPU/GPU agreement and the throughput table (issue #3);
#   2. the whole MNIST test set, every default method, on the CUDA backend (issue #4's time target).
#
# Prepare once, here, in the project root (.whl/ is git-ignored; about 30 MB to carry):
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
#     -d .whl numpy==2.4.6 constriction==0.5.0 tqdm==4.67.1
#   mkdir -p .whl/mnist && cp ~/.cache/recnumba/mnist/mnist_uint8.npz .whl/mnist/   # after one local MNIST run
# Then run it with carry [".whl"] and a timeout that leaves room (about 10 minutes):
#   bash benchmarks/gpu/run_on_device.sh
# Results land in $OUT: gpu_check.json, check.txt, mnist_lossless_10000_gpu.json, mnist.txt.
set -euo pipefail
out="${OUT:-/tmp/recnumba-gpu-out}"
mkdir -p "$out"
# numpy 2.5 on the GPU machine breaks numba-cuda's compiler; constriction and tqdm are not installed there.
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
export PYTHONPATH="/tmp/site:$PWD"
export RECNUMBA_CACHE="$PWD/.whl"  # the MNIST cache, as there is no network
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee "$out/nvidia-smi.txt" || true
# A disagreement (exit status 1) is recorded, and the MNIST run still goes ahead.
python3 benchmarks/gpu/check.py --out "$out" 2>&1 | grep -v "NumbaPerformanceWarning" | tee "$out/check.txt" \
  || echo "check.py FAILED (see check.txt)" | tee -a "$out/check.txt"
python3 examples/mnist_lossless.py --backend cuda --chunk 10000 --no-progress \
  --json "$out/mnist_lossless_10000_gpu.json" 2>&1 | tee "$out/mnist.txt"
