#!/bin/sh
# torch_check.sh SCRIPT ARGS... — runs a PyTorch check (SCRIPT ARGS... under
# /usr/bin/python3), skipped (exit 77) when that python has no torch.
# Always /usr/bin/python3: a python3 earlier on PATH may lack torch.
# For torch_ops.py, torch_optim.py and (through torch_variants.sh)
# bench/torch_variants.py.
set -u
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: $py cannot import torch (Debian: apt-get install python3-torch)"
    exit 77
fi
exec "$py" "$@"
