#!/bin/sh
# torch_ops.sh NETC TORCH_OPS_RUN — the PyTorch forward checks of the new ops
# (tests/torch_ops.py), skipped (exit 77) when /usr/bin/python3 has no torch.
# Always /usr/bin/python3: a python3 earlier on PATH may lack torch.
set -u
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: $py cannot import torch (Debian: apt-get install python3-torch)"
    exit 77
fi
exec "$py" "$(dirname "$0")/torch_ops.py" "$@"
