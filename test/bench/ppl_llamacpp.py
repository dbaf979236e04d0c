"""llama.cpp's side of `qlm perplexity` with a quantised KV cache, through llama-cpp-python:

    pip install llama-cpp-python==0.3.36
    python3 test/bench/ppl_llamacpp.py MODEL.gguf TEXT [-c 2048] [--chunks 8] [-t 2] [-k q8_0 q4_0]

The same scheme as qlm perplexity (and llama-perplexity): the text's tokens in chunks of -c,
each from an empty cache starting with BOS when the model adds one, the second half scored.
Every chunk is evaluated with an f16 KV cache and with each -k type (K and V both; flash
attention on, which llama.cpp needs for a quantised V), and the KL divergence of each to the
f16 run is taken token by token. Prints PPL, mean KLD, 99th percentile and same-top rate."""
import argparse, ctypes
import numpy as np
import llama_cpp as L

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("text")
ap.add_argument("-c", type=int, default=2048)
ap.add_argument("--chunks", type=int, default=8)
ap.add_argument("-t", type=int, default=2)
ap.add_argument("-k", nargs="+", default=["q8_0", "q4_0"])
a = ap.parse_args()
GGML = {"f16": 1, "q8_0": 8, "q4_0": 2, "q4_1": 3}

L.llama_backend_init()
model = L.llama_model_load_from_file(a.model.encode(), L.llama_model_default_params())
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)
text = open(a.text, "rb").read()
buf = (L.llama_token * (len(text) + 16))()
n = L.llama_tokenize(vocab, text, len(text), buf, len(buf), True, False)
toks = list(buf[:n])
probe = (L.llama_token * 4)()
bos = probe[0] if L.llama_tokenize(vocab, b"", 0, probe, 4, True, False) == 1 else None
n_chunk = min(a.chunks, len(toks) // a.c)
first = a.c // 2

def context(kind):
    cp = L.llama_context_default_params()
    cp.n_ctx = a.c
    cp.n_batch = cp.n_ubatch = 512
    cp.n_threads = cp.n_threads_batch = a.t
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_ENABLED
    cp.type_k = cp.type_v = GGML[kind]
    return L.llama_init_from_model(model, cp)

def logprobs(ctx, ids):
    """log-softmax of the logits at positions first .. c-2 (predicting first+1 .. c-1)"""
    L.llama_memory_clear(L.llama_get_memory(ctx), True)
    out = np.empty((a.c - first - 1, n_vocab), dtype=np.float32)
    for s in range(0, a.c, 512):
        chunk = ids[s:s + 512]
        b = L.llama_batch_init(len(chunk), 0, 1)
        b.n_tokens = len(chunk)
        for i, t in enumerate(chunk):
            b.token[i] = t; b.pos[i] = s + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0
            b.logits[i] = 1 if first <= s + i < a.c - 1 else 0
        assert L.llama_decode(ctx, b) == 0
        for i in range(len(chunk)):
            j = s + i
            if first <= j < a.c - 1:
                row = np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), shape=(n_vocab,)).astype(np.float64)
                m = row.max()
                out[j - first] = row - (m + np.log(np.exp(row - m).sum()))
        L.llama_batch_free(b)
    return out

kinds = ["f16"] + [k for k in a.k if k != "f16"]
ctxs = {k: context(k) for k in kinds}
nll = {k: [] for k in kinds}; kld = {k: [] for k in kinds}; same = {k: [] for k in kinds}
for c in range(n_chunk):
    ids = toks[c * a.c:(c + 1) * a.c]
    if bos is not None: ids[0] = bos
    nxt = np.array(ids[first + 1:a.c])
    base = None
    for k in kinds:
        lp = logprobs(ctxs[k], ids)
        nll[k].extend(-lp[np.arange(len(nxt)), nxt])
        if base is None: base = lp
        else:
            p = np.exp(base.astype(np.float64))
            kld[k].extend((p * (base - lp)).sum(axis=1))
            same[k].extend(base.argmax(1) == lp.argmax(1))
    print(f"chunk {c + 1}/{n_chunk}: " + ", ".join(f"{k} {np.exp(np.mean(nll[k])):.4f}" for k in kinds), flush=True)
print(f"\nllama.cpp {L.__version__}, -c {a.c}, {n_chunk} chunks, {len(nll['f16'])} scored tokens")
print("| KV (K=V) | PPL | vs f16 | mean KLD | 99% KLD | same top |")
print("| -------- | --: | -----: | -------: | ------: | -------: |")
p0 = np.exp(np.mean(nll["f16"]))
for k in kinds:
    p = np.exp(np.mean(nll[k]))
    if k == "f16": print(f"| f16 | {p:.4f} | | | | |"); continue
    print(f"| {k} | {p:.4f} | {100 * (p / p0 - 1):+.2f}% | {np.mean(kld[k]):.6f} | {np.percentile(kld[k], 99):.6f} | {100 * np.mean(same[k]):.2f}% |")
