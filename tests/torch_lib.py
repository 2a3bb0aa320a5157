"""torch_lib.py — what the PyTorch checks (torch_ops.py, torch_optim.py)
share: reading the safetensors file their netrun side dumps."""
import json
import struct

import torch


def read_safetensors(path):
    """The tensors of a safetensors file (F32 and I32) by name, as torch
    tensors of their shapes; __metadata__ is skipped."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dtype = {"F32": torch.float32, "I32": torch.int32}[info["dtype"]]
        t = torch.frombuffer(bytearray(buf[8 + n + b:8 + n + e]), dtype=dtype).clone()
        out[name] = t.reshape(info["shape"])
    return out
