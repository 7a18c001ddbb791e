"""The functions a pipeline may call on floats (op ``call[fn=...]``): numpy's, exactly.

No NIC has floating point, so a ``call`` always runs on the host (the partition pass
puts it there); the reference interpreter and the host part compute it with the numpy
ufunc named here, in the operands' float type, so results are numpy's bit for bit.

    >>> HOST_FUNCS["log1p"].ufunc is np.log1p
    True
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HostFunc:
    name: str
    ufunc: np.ufunc
    arity: int
    cost_ns: float          # a rough host cost per element (the partition pass weighs host work with it)


HOST_FUNCS = {f.name: f for f in (
    HostFunc("log1p", np.log1p, 1, 4.0), HostFunc("log", np.log, 1, 4.0), HostFunc("log2", np.log2, 1, 4.0),
    HostFunc("exp", np.exp, 1, 4.0), HostFunc("expm1", np.expm1, 1, 4.0), HostFunc("sqrt", np.sqrt, 1, 1.0),
    HostFunc("tanh", np.tanh, 1, 5.0), HostFunc("absolute", np.absolute, 1, 0.5),
    HostFunc("negative", np.negative, 1, 0.5), HostFunc("minimum", np.minimum, 2, 0.5),
    HostFunc("maximum", np.maximum, 2, 0.5), HostFunc("power", np.power, 2, 8.0),
)}


def call(name: str, *args: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``name`` applied elementwise to ``args`` in ``dtype`` (numpy's own result, no widening)."""
    f = HOST_FUNCS[name]
    return f.ufunc(*(np.asarray(a, dtype=dtype) for a in args), dtype=dtype)
