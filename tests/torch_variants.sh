#!/bin/sh
# torch_variants.sh NETC NETRUN — the parameter counts of the U-Net variants
# of models/ against their PyTorch versions (bench/torch_variants.py), skipped
# (exit 77) when /usr/bin/python3 has no torch (see torch_check.sh).
set -u
here=$(dirname "$0")
exec "$here/torch_check.sh" "$here/../bench/torch_variants.py" "$@" "$here/../models"
