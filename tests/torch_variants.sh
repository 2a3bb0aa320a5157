#!/bin/sh
# torch_variants.sh NETC NETRUN — the parameter counts of the U-Net variants
# of models/ against their PyTorch versions (bench/torch_variants.py), skipped
# (exit 77) when /usr/bin/python3 has no torch.
set -u
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: $py cannot import torch (Debian: apt-get install python3-torch)"
    exit 77
fi
here=$(dirname "$0")
exec "$py" "$here/../bench/torch_variants.py" "$@" "$here/../models"
