"""llama.cpp's side of `qlm bench`, through llama-cpp-python's C API (same tests, same token
ids, same thread count), so both can be run side by side in one session:

    pip install llama-cpp-python==0.3.36
    python3 test/bench/bench_llamacpp.py MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 5] [-d 0]

pp N: N prompt tokens in batches of 512 from an empty cache (after -d tokens of depth);
tg N: N single-token decodes. Prints tokens/s mean ± sd as a markdown row per test.
Flash attention off, f16 KV cache: as the golden fixtures (test/fixtures/make_fixtures.py);
-k q8_0 / q4_0 quantises K and V with flash attention on (llama.cpp needs it for a quantised V)."""
import argparse, ctypes, statistics, time
import llama_cpp as L

ap = argparse.ArgumentParser()
ap.add_argument("model")
ap.add_argument("-p", type=int, default=512)
ap.add_argument("-n", type=int, default=128)
ap.add_argument("-t", type=int, default=2)
ap.add_argument("-r", type=int, default=5)
ap.add_argument("-d", type=int, default=0)
ap.add_argument("-k", default="f16", help="KV cache type of K and V: f16, q8_0, q4_0 (not f16: flash attention on, as llama.cpp needs)")
a = ap.parse_args()

L.llama_backend_init()
mp = L.llama_model_default_params()
model = L.llama_model_load_from_file(a.model.encode(), mp)
vocab = L.llama_model_get_vocab(model)
n_vocab = L.llama_vocab_n_tokens(vocab)
cp = L.llama_context_default_params()
cp.n_ctx = a.d + max(a.p, a.n) + 16
cp.n_batch = cp.n_ubatch = 512
cp.n_threads = cp.n_threads_batch = a.t
cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED if a.k == "f16" else L.LLAMA_FLASH_ATTN_TYPE_ENABLED
cp.type_k = cp.type_v = {"f16": 1, "q8_0": 8, "q4_0": 2}[a.k]
ctx = L.llama_init_from_model(model, cp)
total = a.d + max(a.p, a.n) + 1
toks = [(i * 7919 + 13) % n_vocab for i in range(total)]  # the ids qlm bench uses

def decode(ids, pos0):
    for s in range(0, len(ids), 512):
        chunk = ids[s:s + 512]
        b = L.llama_batch_init(len(chunk), 0, 1)
        b.n_tokens = len(chunk)
        for i, t in enumerate(chunk):
            b.token[i] = t; b.pos[i] = pos0 + s + i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0
            b.logits[i] = 1 if i == len(chunk) - 1 else 0
        rc = L.llama_decode(ctx, b)
        L.llama_batch_free(b)
        assert rc == 0, rc

filled = False
def fill():
    """the cache at depth -d: decoded once, then what each repetition added is dropped"""
    global filled
    mem = L.llama_get_memory(ctx)
    if a.d and filled:
        L.llama_memory_seq_rm(mem, 0, a.d, -1)
        return
    L.llama_memory_clear(mem, True)
    if a.d: decode(toks[:a.d], 0)
    filled = True

for test, n in (("pp", a.p), ("tg", a.n)):
    if n <= 0: continue
    rates = []
    for _ in range(a.r):
        fill()
        t0 = time.perf_counter()
        if test == "pp": decode(toks[a.d:a.d + n], a.d)
        else:
            for i in range(n): decode([toks[a.d + i]], a.d + i)
        rates.append(n / (time.perf_counter() - t0))
    sd = statistics.stdev(rates) if len(rates) > 1 else 0.0
    name = f"{test}{n}" + (f" @ d{a.d}" if a.d else "")
    print(f"| llama.cpp {L.__version__} | kv {a.k} | {a.t} | {name} | {statistics.mean(rates):.2f} ± {sd:.2f} |", flush=True)
