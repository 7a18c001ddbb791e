"""numpy arrays to torch tensors, for the host runtime's batches (torch is imported only here)."""
from __future__ import annotations

import numpy as np

# unsigned types torch indexes and computes with poorly, and the signed type that holds every value
WIDEN = {np.dtype(np.uint16): np.dtype(np.int32), np.dtype(np.uint32): np.dtype(np.int64)}


def to_torch(a: np.ndarray, widen: bool = True):
    """``a`` as a torch tensor: shares memory unless it must be widened, copied or made writable."""
    import torch
    if widen and a.dtype in WIDEN:
        a = a.astype(WIDEN[a.dtype])
    if not a.flags.c_contiguous or not a.flags.writeable:
        a = np.array(a, copy=True, order="C")
    return torch.from_numpy(a)
