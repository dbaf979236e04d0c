#!/usr/bin/env python3
"""llama.cpp's own quantiser (llama_model_quantize) for the rows of test/bench/quant_table.sh:

    pip install llama-cpp-python==0.3.36 gguf
    python3 test/bench/quantize_llamacpp.py IN.gguf OUT.gguf TYPE [--imatrix IMAT.gguf] [-t 2]

TYPE is a llama-quantize name (Q8_0, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, ...). The input may be
F16/F32 or quantised (allow_requantize is set, as in test/fixtures/make_quant_fixtures.py).

--imatrix reads an importance matrix in llama.cpp's imatrix GGUF layout (what `qlm imatrix`
and llama-imatrix write: per tensor `<name>.in_sum2`, shape [n_col, n_expert], and
`<name>.counts`, shape [n_expert]) and hands llama.cpp what llama-quantize's own loader hands
it: per expert, in_sum2 / count per column, or 1.0 where the count is 0. The C API takes the
already-averaged values through llama_model_quantize_params.imatrix (llama_model_imatrix_data).
Nothing is built or downloaded; this uses the installed llama-cpp-python.
"""
import argparse
import ctypes
import sys

import numpy as np

import gguf
import llama_cpp

FTYPES = {  # llama-quantize name -> llama_ftype
    "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q2_K": 10, "Q3_K_S": 11,
    "Q3_K_M": 12, "Q3_K_L": 13, "Q4_K_S": 14, "Q4_K_M": 15, "Q5_K_S": 16, "Q5_K_M": 17,
    "Q6_K": 18, "F16": 1, "BF16": 32,
}
SUM2, COUNTS = ".in_sum2", ".counts"


def read_imatrix(path):
    """[(tensor name, float32 per-column means)] from an imatrix GGUF."""
    r = gguf.GGUFReader(path)
    t = {x.name: x for x in r.tensors}
    out = []
    for name, x in t.items():
        if not name.endswith(SUM2):
            continue
        base = name[:-len(SUM2)]
        if base + COUNTS not in t:
            sys.exit("error: %s has %s but no %s" % (path, name, base + COUNTS))
        counts = np.asarray(t[base + COUNTS].data, dtype=np.float32).reshape(-1)
        s2 = np.asarray(x.data, dtype=np.float32).reshape(len(counts), -1)  # [n_expert][n_col]
        m = np.ones_like(s2)
        for e, c in enumerate(counts):
            if c > 0:
                m[e] = s2[e] / c
        out.append((base, np.ascontiguousarray(m.reshape(-1), dtype=np.float32)))
    if not out:
        sys.exit("error: %s holds no <name>.in_sum2 tensors (not an imatrix GGUF?)" % path)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("type", choices=sorted(FTYPES))
    ap.add_argument("--imatrix")
    ap.add_argument("-t", type=int, default=2)
    a = ap.parse_args()

    p = llama_cpp.llama_model_quantize_default_params()
    p.ftype = FTYPES[a.type]
    p.allow_requantize = True
    p.nthread = a.t
    keep = None
    if a.imatrix:
        ents = read_imatrix(a.imatrix)
        arr = (llama_cpp.llama_model_imatrix_data * (len(ents) + 1))()
        names = [n.encode() for n, _ in ents]
        for i, ((_, v), nm) in enumerate(zip(ents, names)):
            arr[i].name = nm
            arr[i].data = v.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
            arr[i].size = v.size
        arr[len(ents)].name = None
        keep = (arr, ents, names)  # the C side points into these until quantize returns
        p.imatrix = arr
    rc = llama_cpp.llama_model_quantize(a.inp.encode(), a.out.encode(), ctypes.byref(p))
    del keep
    if rc != 0:
        sys.exit("error: llama_model_quantize failed (%d) for %s" % (rc, a.type))


if __name__ == "__main__":
    main()
