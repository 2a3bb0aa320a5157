#!/bin/sh
# torch_optim.sh NETC TORCH_OPTIM_RUN — the optimizers, clip_norm and the
# learning-rate schedules against torch.optim (tests/torch_optim.py), skipped
# (exit 77) when /usr/bin/python3 has no torch.
set -u
py=/usr/bin/python3
if ! [ -x "$py" ] || ! "$py" -c 'import torch' >/dev/null 2>&1; then
    echo "SKIP: $py cannot import torch (Debian: apt-get install python3-torch)"
    exit 77
fi
exec "$py" "$(dirname "$0")/torch_optim.py" "$@"
