#!/usr/bin/env bash
# Installs torch for `make install` when it is missing, and says which build.
#
# Without an NVIDIA GPU, PyTorch's own CPU wheel index is asked first: from the
# default index, torch on Linux is a CUDA build that pulls several GB of
# nvidia-* packages a CPU never uses. When that index cannot be reached, the
# default index is the fallback (said out loud, since it is the large build).
# Where nvidia-smi sees a GPU, the default index's CUDA build is what is wanted.
set -u
PYTHON=${PYTHON:-python}
VERSION=${TORCH_VERSION:-2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "Installing torch $VERSION, CUDA build (nvidia-smi sees a GPU)..."
  "$PYTHON" -m pip install -q "torch==$VERSION" || exit 1
else
  echo "Installing torch $VERSION, CPU build (no NVIDIA GPU found)..."
  if ! "$PYTHON" -m pip install -q --index-url "$CPU_INDEX" --timeout 20 \
      --retries 1 "torch==$VERSION"; then
    echo "PyTorch's CPU wheel index could not be reached: falling back to the" \
      "default index, whose Linux torch is the CUDA build (several GB)."
    "$PYTHON" -m pip install -q "torch==$VERSION" || exit 1
  fi
fi
"$PYTHON" -W ignore -c "import torch; build = f'CUDA {torch.version.cuda}' if torch.version.cuda else 'CPU'; print(f'Installed torch {torch.__version__} ({build} build).')"
