/* Golden end-to-end test against llama.cpp: prompt tokens, top-5 logits of the first positions
   and the greedy 64-token continuation, from test/fixtures/smollm2_golden.txt (made by
   test/fixtures/make_fixtures.py). Also: batch == one-by-one, chunked prompts, truncation,
   and context-full errors. Public API only. Usage: test_model [MODEL] [FIXTURE] */
#include "../qlm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How close is close enough. Measured on SmolLM2 (see the closing note of the foundation
   issue): llama.cpp's own logits for the same prompt differ between n_batch=1 and n_batch=512
   by a standard deviation of 0.1-0.26 and up to 1.7 on single logits, because its batched
   kernels round differently; qlm differs from llama.cpp's n_batch=512 run by the same amount
   (0.03-0.27). Bit-equality would mean copying every rounding of ggml's SIMD kernels.
   So: a reference top-5 logit may differ by LOGIT_TOL, and a greedy token may differ only
   where llama.cpp's own top-1/top-2 gap is below NEAR_TIE (a coin toss at that noise level).
   The greedy loop is teacher-forced (llama.cpp's token is fed back), so every one of the 64
   steps is checked, not only those before the first near-tie. NEAR_TIE was 0.4 until the
   softmax became one exponential recipe for every variant: last-bit changes there move the
   scalar path's logits by ~0.06 (8-bit activations flip codes), and at record 12 step 17
   llama.cpp's gap is 0.443 while the scalar path now puts the other token ahead by 0.055 (the
   SIMD paths keep llama.cpp's token): a 0.5 shift, within 2 sigma of llama.cpp's own batch-size
   noise above. */
static float LOGIT_TOL = 0.75f, NEAR_TIE = 0.5f;
static int MIN_RECORDS = 8; /* --min-records N: fixtures with fewer prompts (test_quant.sh) */
/* Gemma 3 (test/run.sh passes --tol 4 1): its activations are large (norm weights up to ~300,
   embeddings times 25), and llama.cpp's own logits deviate from a float64 forward pass by a
   standard deviation of up to 1.3 at early positions, qlm's by up to 0.7 (measured on the
   record that starts "2 168 173 174"); the largest top-5 difference seen is 3.35 (same record,
   position 2, logit std there ~4.5). The bounds scale with that noise. */

#include "check.h"

typedef struct {
    char *prompt;
    int n_tok, n_greedy, n_top, n_margin;
    int32_t tok[4096], greedy[128];
    float margin[128]; /* llama.cpp's top-1 minus top-2 logit at each greedy step */
    int top_pos[4];
    int32_t top_id[4][5];
    float top_logit[4][5];
} record;

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
static char *unhex(const char *h) {
    size_t n = strlen(h) / 2, i;
    char *s = (char *)malloc(n + 1);
    for (i = 0; i < n; i++) s[i] = (char)(hexval(h[2 * i]) * 16 + hexval(h[2 * i + 1]));
    s[n] = 0;
    return s;
}

/* Read the next record; 0 at the end of the file. */
static int read_record(FILE *f, record *r) {
    static char line[1 << 16];
    memset(r, 0, sizeof *r);
    while (fgets(line, sizeof line, f)) {
        char *p = line, *e;
        int i, n;
        line[strcspn(line, "\r\n")] = 0;
        if (strncmp(line, "# margins ", 10) == 0) {
            p += 10;
            n = (int)strtol(p, &e, 10);
            p = e;
            for (i = 0; i < n && i < 128; i++) {
                r->margin[i] = strtof(p, &e);
                p = e;
            }
            r->n_margin = n;
            continue;
        }
        if (line[0] == '#' || !line[0]) continue;
        if (strncmp(line, "prompt ", 7) == 0) r->prompt = unhex(line + 7);
        else if (strncmp(line, "tokens ", 7) == 0 || strncmp(line, "greedy ", 7) == 0) {
            int32_t *dst = line[0] == 't' ? r->tok : r->greedy;
            int cap = line[0] == 't' ? 4096 : 128;
            p += 7;
            n = (int)strtol(p, &e, 10);
            p = e;
            for (i = 0; i < n && i < cap; i++) {
                dst[i] = (int32_t)strtol(p, &e, 10);
                p = e;
            }
            if (line[0] == 't') r->n_tok = n; else r->n_greedy = n;
        } else if (strncmp(line, "top5 ", 5) == 0 && r->n_top < 4) {
            int k = r->n_top++;
            p += 5;
            r->top_pos[k] = (int)strtol(p, &e, 10);
            p = e;
            for (i = 0; i < 5; i++) {
                r->top_id[k][i] = (int32_t)strtol(p, &e, 10);
                p = e + 1; /* skip ':' */
                r->top_logit[k][i] = strtof(p, &e);
                p = e;
            }
        } else if (strcmp(line, "end") == 0) return r->prompt != NULL;
    }
    return 0;
}

static int argmax(const float *l, int n) {
    int i, b = 0;
    for (i = 1; i < n; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static void golden(qlm_model *m, const char *fixture) {
    FILE *f = fopen(fixture, "r");
    record *r = (record *)malloc(sizeof *r);
    qlm_ctx_params cp = qlm_ctx_default_params();
    int n_rec = 0, nv = qlm_model_n_vocab(m), greedy_same = 0, greedy_tie = 0;
    /* QLM_GOLDEN_STEPS caps the greedy steps per prompt (the sanitizer run uses it: every
       prompt, long ones included, is still evaluated; only decoding is shortened) */
    int max_steps = getenv("QLM_GOLDEN_STEPS") ? atoi(getenv("QLM_GOLDEN_STEPS")) : 1 << 30;
    float worst = 0;
    CHECK(f != NULL, "cannot open %s", fixture);
    if (!f) return;
    cp.n_ctx = 2048;
    cp.n_batch = 512;
    while (read_record(f, r)) {
        qlm_ctx *c = NULL;
        int32_t toks[4096], n = 0, i, k;
        int ok_tok, ok_greedy = 1, first_bad = -1;
        n_rec++;
        CHECK(qlm_tokenize(m, r->prompt, (int32_t)strlen(r->prompt), toks, 4096, 1, 1, &n) ==
                  QLM_OK, "tokenize");
        ok_tok = n == r->n_tok;
        for (i = 0; ok_tok && i < n; i++) ok_tok = toks[i] == r->tok[i];
        CHECK(ok_tok, "record %d: prompt tokens differ (%d vs %d tokens)", n_rec, n, r->n_tok);
        if (qlm_ctx_new(m, cp, &c) != QLM_OK) {
            CHECK(0, "ctx: %s", qlm_last_error());
            break;
        }
        if (n_rec == 1) { /* test/run.sh runs this once per --cpu path: the path asked for is the one used */
            const char *want = getenv("QLM_CPU");
            printf("golden: CPU kernels %s\n", qlm_ctx_cpu(c));
            if (want && *want && strcmp(want, "auto") != 0)
                CHECK(strcmp(qlm_ctx_cpu(c), want) == 0, "QLM_CPU=%s but the kernels are %s", want, qlm_ctx_cpu(c));
        }
        /* evaluate llama.cpp's own tokens so the logits check does not depend on the tokenizer */
        CHECK(qlm_decode(c, r->tok, r->n_tok, 1) == QLM_OK, "decode: %s", qlm_ctx_errmsg(c));
        for (k = 0; k < r->n_top; k++) {
            const float *l = qlm_logits(c, r->top_pos[k]);
            float d = 0, gap = r->top_logit[k][0] - r->top_logit[k][1];
            if (!l) break;
            for (i = 0; i < 5; i++) {
                float e = fabsf(l[r->top_id[k][i]] - r->top_logit[k][i]);
                if (e > d) d = e;
            }
            if (d > worst) worst = d;
            CHECK(argmax(l, nv) == r->top_id[k][0] || gap < NEAR_TIE,
                  "record %d pos %d: top token %d vs %d (llama.cpp's gap %.3f)", n_rec,
                  r->top_pos[k], argmax(l, nv), r->top_id[k][0], gap);
            CHECK(d <= LOGIT_TOL, "record %d pos %d: logit error %g", n_rec, r->top_pos[k], d);
        }
        CHECK(r->n_margin == r->n_greedy, "record %d: %d margins for %d greedy tokens", n_rec,
              r->n_margin, r->n_greedy);
        for (i = 0; i < r->n_greedy && i < r->n_margin && i < max_steps; i++) {
            int32_t t = (int32_t)argmax(qlm_logits(c, -1), nv), want = r->greedy[i];
            if (t == want) greedy_same++;
            else if (r->margin[i] < NEAR_TIE) greedy_tie++;
            else {
                ok_greedy = 0;
                if (first_bad < 0) first_bad = i;
            }
            if (qlm_token_is_eog(m, want)) break;
            if (qlm_decode(c, &want, 1, 0) != QLM_OK) { /* teacher forcing */
                ok_greedy = 0;
                break;
            }
        }
        CHECK(ok_greedy, "record %d: greedy token %d differs where llama.cpp is decisive", n_rec,
              first_bad);
        qlm_ctx_free(c);
        free(r->prompt);
    }
    fclose(f);
    CHECK(n_rec >= MIN_RECORDS, "only %d records in %s", n_rec, fixture);
    printf("golden: %d prompts, largest top-5 logit difference %.5f (limit %.2f); greedy steps: "
           "%d identical, %d differ at near-ties (gap < %.2f)\n",
           n_rec, worst, LOGIT_TOL, greedy_same, greedy_tie, NEAR_TIE);
    CHECK(greedy_same >= 10 * greedy_tie || greedy_tie <= 1, "too many near-tie differences");
    free(r);
}

/* The same text through one batch, token by token, and in small chunks gives the same logits.
   The context that truncates and re-decodes runs one thread: with more, one token's attention
   range is split into parts merged afterwards (flash-decoding), which rounds otherwise than the
   batch's single pass (by luck equal at some lengths only), and the check wants the bits. */
static void consistency(qlm_model *m) {
    const char *text = "The quick brown fox jumps over the lazy dog. Then it ran into the forest "
                       "and was never seen again, or so the story goes.";
    int32_t toks[128], n = 0, i;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *a = NULL, *b = NULL, *c = NULL;
    int nv = qlm_model_n_vocab(m);
    float d1 = 0, d2 = 0;
    float *last = (float *)malloc((size_t)nv * sizeof(float));
    qlm_tokenize(m, text, (int32_t)strlen(text), toks, 128, 1, 0, &n);
    cp.n_ctx = 64;
    cp.n_threads = 1;
    CHECK(qlm_ctx_new(m, cp, &a) == QLM_OK, "ctx");
    cp.n_threads = 0;
    cp.n_batch = 7;
    CHECK(qlm_ctx_new(m, cp, &b) == QLM_OK, "ctx");
    cp.n_batch = 1;
    cp.n_threads = 1;
    CHECK(qlm_ctx_new(m, cp, &c) == QLM_OK, "ctx");
    if (!a || !b || !c) return;
    CHECK(qlm_decode(a, toks, n, 1) == QLM_OK, "batch");
    CHECK(qlm_decode(b, toks, n, 1) == QLM_OK, "chunks of 7");
    for (i = 0; i < n; i++) {
        const float *la = qlm_logits(a, i), *lb = qlm_logits(b, i), *lc;
        int j;
        CHECK(qlm_decode(c, &toks[i], 1, 0) == QLM_OK, "one by one");
        lc = qlm_logits(c, -1);
        for (j = 0; j < nv; j++) {
            if (fabsf(la[j] - lb[j]) > d1) d1 = fabsf(la[j] - lb[j]);
            if (fabsf(la[j] - lc[j]) > d2) d2 = fabsf(la[j] - lc[j]);
        }
    }
    CHECK(d1 < 1e-3f && d2 < 1e-3f, "batch vs chunked %g, batch vs single %g", d1, d2);
    memcpy(last, qlm_logits(a, n - 1), (size_t)nv * sizeof(float));
    /* truncate and recompute the last token: same logits */
    CHECK(qlm_ctx_truncate(a, n - 1) == QLM_OK && qlm_ctx_n_past(a) == n - 1, "truncate");
    CHECK(qlm_decode(a, &toks[n - 1], 1, 0) == QLM_OK, "re-decode");
    CHECK(memcmp(qlm_logits(a, -1), last, (size_t)nv * sizeof(float)) == 0,
          "logits after truncate differ");
    /* context full: a clear error, and the cache is unchanged */
    CHECK(qlm_decode(a, toks, 64, 0) == QLM_ERR_CONTEXT_FULL && qlm_ctx_n_past(a) == n,
          "context full");
    CHECK(strstr(qlm_ctx_errmsg(a), "context") != NULL, "message: %s", qlm_ctx_errmsg(a));
    CHECK(qlm_ctx_kv_bytes(a) == (uint64_t)2 * 30 * 3 * 64 * 2 * 64, "KV bytes %llu",
          (unsigned long long)qlm_ctx_kv_bytes(a));
    {
        int32_t bad = 1 << 30;
        CHECK(qlm_decode(a, &bad, 1, 0) == QLM_ERR_INVALID_ARG, "token out of range");
    }
    free(last);
    qlm_ctx_free(a);
    qlm_ctx_free(b);
    qlm_ctx_free(c);
}

/* Sampling: deterministic for a seed, greedy at temp 0. */
static void sampling(qlm_model *m) {
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_sampler_params sp = qlm_sampler_default_params();
    qlm_ctx *c = NULL;
    int32_t toks[16], n = 0, a[3][24], i, r;
    cp.n_ctx = 64;
    if (qlm_ctx_new(m, cp, &c) != QLM_OK) {
        CHECK(0, "ctx");
        return;
    }
    qlm_tokenize(m, "Once upon a time", 16, toks, 16, 1, 0, &n);
    for (r = 0; r < 3; r++) {
        sp.seed = r < 2 ? 42 : 43;
        sp.temp = 1.0f;
        qlm_sampler_set(c, sp);
        qlm_ctx_truncate(c, 0);
        qlm_decode(c, toks, n, 0);
        for (i = 0; i < 24; i++) {
            qlm_sample(c, &a[r][i]);
            qlm_decode(c, &a[r][i], 1, 0);
        }
    }
    CHECK(memcmp(a[0], a[1], sizeof a[0]) == 0, "same seed, same tokens");
    CHECK(memcmp(a[0], a[2], sizeof a[0]) != 0, "another seed, other tokens");
    sp.temp = 0;
    qlm_sampler_set(c, sp);
    qlm_ctx_truncate(c, 0);
    qlm_decode(c, toks, n, 0);
    {
        int32_t t, best = (int32_t)argmax(qlm_logits(c, -1), qlm_model_n_vocab(m));
        qlm_sample(c, &t);
        CHECK(t == best, "temp 0 is argmax");
    }
    qlm_ctx_free(c);
}

/* Synthetic qwen2 / qwen3 / llama-Q4_K_M models (written here by qlm_write_synthetic, exactly as
   `qlm synth` writes them) against llama.cpp's logits on the same files: the architecture's
   arithmetic, where no real model of it is available. Random weights give small, flat logits
   (std ~0.5), so the bounds are absolute and small. */
#define SYNTH_TOL 0.05f
static void synthetic(const char *vocab_model, const char *fixture) {
    FILE *f = fopen(fixture, "r");
    char line[4096], arch[16], type[16], path[256];
    int n_models = 0;
    CHECK(f != NULL, "cannot open %s", fixture);
    if (!f) return;
    snprintf(path, sizeof path, "/tmp/qlm_test_synth_%d.gguf", (int)getpid());
    while (fgets(line, sizeof line, f)) {
        qlm_synth_params sp;
        qlm_model *m = NULL;
        qlm_ctx *c = NULL;
        qlm_ctx_params cp = qlm_ctx_default_params();
        int32_t toks[64], n = 0, i, pos;
        float worst = 0;
        char *p, *e;
        if (sscanf(line, "model %15s %15s", arch, type) != 2) continue;
        memset(&sp, 0, sizeof sp);
        sp.arch = arch;
        sp.seed = 1;
        sp.type = strcmp(type, "q4_0") == 0 ? QLM_TYPE_Q4_0 : strcmp(type, "q8_0") == 0 ? QLM_TYPE_Q8_0
                                                                                        : QLM_TYPE_Q4_K;
        sp.mix_k_m = strcmp(type, "q4_k_m") == 0;
        CHECK(qlm_write_synthetic(path, vocab_model, sp, NULL, NULL) == QLM_OK, "synth %s: %s", arch,
              qlm_last_error());
        CHECK(qlm_model_load(path, qlm_model_default_params(), &m) == QLM_OK, "load %s: %s", arch,
              qlm_last_error());
        cp.n_ctx = 256;
        if (!m || qlm_ctx_new(m, cp, &c) != QLM_OK) break;
        n_models++;
        while (fgets(line, sizeof line, f) && strncmp(line, "end", 3) != 0) {
            if (strncmp(line, "tokens ", 7) == 0) {
                p = line + 7;
                n = (int32_t)strtol(p, &e, 10);
                for (i = 0, p = e; i < n && i < 64; i++, p = e) toks[i] = (int32_t)strtol(p, &e, 10);
                CHECK(qlm_decode(c, toks, n, 1) == QLM_OK, "decode %s", arch);
            } else if (sscanf(line, "top5 %d", &pos) == 1) {
                const float *l = qlm_logits(c, pos);
                int32_t id[5];
                float lg[5], d = 0;
                p = strchr(line + 5, ' ');
                for (i = 0; i < 5 && p; i++) {
                    id[i] = (int32_t)strtol(p, &e, 10);
                    lg[i] = strtof(e + 1, &e);
                    p = e;
                    if (l && fabsf(l[id[i]] - lg[i]) > d) d = fabsf(l[id[i]] - lg[i]);
                }
                if (d > worst) worst = d;
                CHECK(l && (argmax(l, qlm_model_n_vocab(m)) == id[0] || lg[0] - lg[1] < SYNTH_TOL),
                      "%s pos %d: top token", arch, pos);
                CHECK(d <= SYNTH_TOL, "%s pos %d: logit error %g", arch, pos, d);
            }
        }
        printf("synthetic %s %s: largest top-5 logit difference %.5f (limit %.2f)\n", arch, type,
               worst, SYNTH_TOL);
        qlm_ctx_free(c);
        qlm_model_free(m);
    }
    remove(path);
    fclose(f);
    CHECK(n_models == 3, "%d synthetic models", n_models);
}

/* ---- KV cache (issue 4): types, windows, sinks, H2O, the planner -------------------------- */

/* ~700 tokens of plain prose (written for this test) */
static const char *const k_kv_text =
    "The lighthouse at the end of the northern pier was built in 1871, when the harbour still "
    "belonged to the fishing families who had settled the bay a century earlier. Its keeper lived "
    "in a narrow stone cottage beside the tower, and every evening he climbed the ninety-two steps "
    "to light the lamp, trim the wick and polish the great lens until it shone. In winter the storms "
    "came in from the west, and the waves broke so high against the wall that the spray reached the "
    "gallery. The keeper kept a logbook in which he wrote the weather, the ships that passed and the "
    "hours he had spent awake. Most entries were short: wind from the south-west, rain at dusk, two "
    "steamers and a schooner bound for the river. A few were longer. On the night of the great gale "
    "of 1893 he wrote four pages about a cargo ship that lost its rudder and drifted towards the "
    "rocks, and about the crew of the lifeboat who rowed out three times before they brought every "
    "sailor home.\n\n"
    "When the railway reached the town, the harbour changed. Merchants built warehouses along the "
    "quay, the old market moved inland, and the fishing fleet shrank as the young men found work in "
    "the new factories. The lighthouse stayed. Its lamp was converted to gas, then to electricity, "
    "and in 1958 the last keeper locked the cottage door and handed the key to the harbour master. "
    "For a while the building stood empty. Children dared each other to climb the fence, and "
    "visitors photographed the tower against the sunset without knowing anything about the people "
    "who had lived there.\n\n"
    "Today the cottage is a small museum. The logbooks are kept in a glass case, open at the pages "
    "about the gale, and a volunteer explains how the lens works: hundreds of prisms arranged in "
    "rings, each bending the light a little, so that a single flame could be seen twenty miles out "
    "at sea. School classes visit in spring. They count the steps, look at the brass fittings and "
    "ask whether the keeper was lonely. The volunteer usually answers that he was busy rather than "
    "lonely, that his wife ran the household and kept the accounts, and that their children rowed "
    "to school across the bay when the road was flooded.\n\n"
    "Cooking in the cottage was simple. Bread was baked twice a week in an iron stove, fish came "
    "from the boats that tied up at the pier, and vegetables grew in a walled garden that sheltered "
    "them from the salt wind. The family kept hens and a goat, and in good years they sold eggs to "
    "the sailors. Letters from relatives arrived with the supply boat, which also brought oil, "
    "paint, rope and, once a year, a crate of books from the lending library in the city. The "
    "keeper's daughter later wrote that those crates were the happiest days of her childhood: she "
    "read every book twice, first quickly to find out what happened and then slowly to remember "
    "the words.\n\n"
    "Engineers who study old lighthouses admire how much was achieved with simple tools. The "
    "foundations were laid at low tide, stone by stone, each block shaped to lock into its "
    "neighbours so that the sea could not pull the wall apart. The iron lantern was cast in a "
    "foundry two hundred miles away and carried by ship in pieces. Nothing about the work was "
    "fast, but almost all of it has lasted, and on clear nights the beam still sweeps across the "
    "water, now switched on by a timer instead of a tired man with a box of matches.";

/* the first n tokens of k_kv_text (n <= what it has) */
static int kv_tokens(qlm_model *m, int32_t *toks, int cap) {
    int32_t n = 0;
    CHECK(qlm_tokenize(m, k_kv_text, (int32_t)strlen(k_kv_text), toks, cap, 1, 0, &n) == QLM_OK,
          "tokenize the KV text: %s", qlm_last_error());
    return n;
}

/* A context with these parameters (NULL on failure, counted). */
static qlm_ctx *kv_ctx(qlm_model *m, qlm_ctx_params cp, const char *what) {
    qlm_ctx *c = NULL;
    qlm_status st = qlm_ctx_new(m, cp, &c);
    CHECK(st == QLM_OK, "%s: qlm_ctx_new: %s", what, qlm_last_error());
    return st == QLM_OK ? c : NULL;
}

/* max |a - b| over n floats */
static float max_abs_diff(const float *a, const float *b, size_t n) {
    size_t i;
    float d = 0;
    for (i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= d)) d = fabsf(a[i] - b[i]);
    return d;
}

/* qlm_plan sizes exactly what qlm_ctx_new allocates, for every kind of layout. */
static void kv_plan(qlm_model *m) {
    typedef struct {
        const char *name;
        int n_ctx, n_batch, tk, tv, no_rot, swa, sinks, h2o, budget;
    } pcase;
    static const pcase cases[] = {
        {"f16 n_ctx 512", 512, 0, QLM_KV_F16, QLM_KV_F16, 0, 0, 0, 0, 0},
        {"q8_0 n_ctx 2048", 2048, 0, QLM_KV_Q8_0, QLM_KV_Q8_0, 0, 0, 0, 0, 0},
        {"q4 K fp8 V n_ctx 300 n_batch 50", 300, 50, QLM_KV_Q4, QLM_KV_FP8, 0, 0, 0, 0, 0},
        {"q4_0 K f16 V no rotation", 256, 32, QLM_KV_Q4_0, QLM_KV_F16, 1, 0, 0, 0, 0},
        {"swa 64 n_batch 16", 128, 16, QLM_KV_F16, QLM_KV_F16, 0, 64, 0, 0, 0},
        {"swa 100 q8_0/q4 n_ctx 1024", 1024, 0, QLM_KV_Q8_0, QLM_KV_Q4, 0, 100, 0, 0, 0},
        {"sinks 4 n_ctx 128", 128, 0, QLM_KV_F16, QLM_KV_F16, 0, 0, 4, 0, 0},
        {"sinks 4 swa 32 fp8", 256, 16, QLM_KV_FP8, QLM_KV_FP8, 0, 32, 4, 0, 0},
        {"h2o budget 64 q8_0", 256, 0, QLM_KV_Q8_0, QLM_KV_Q8_0, 0, 0, 0, 1, 64},
        {"h2o default budget", 512, 32, QLM_KV_F16, QLM_KV_F16, 0, 0, 0, 1, 0},
    };
    int i;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const pcase *k = &cases[i];
        qlm_ctx_params cp = qlm_ctx_default_params();
        qlm_plan_info pi;
        qlm_ctx *c;
        cp.n_ctx = k->n_ctx;
        cp.n_batch = k->n_batch;
        cp.type_k = (qlm_kv_type)k->tk;
        cp.type_v = (qlm_kv_type)k->tv;
        cp.no_kv_rot = k->no_rot;
        cp.swa = k->swa;
        cp.n_sinks = k->sinks;
        cp.kv_evict = k->h2o ? QLM_KV_EVICT_H2O : QLM_KV_EVICT_NONE;
        cp.kv_budget = k->budget;
        cp.n_threads = 1;
        CHECK(qlm_plan(m, cp, &pi) == QLM_OK, "plan %s: %s", k->name, qlm_last_error());
        if (!(c = kv_ctx(m, cp, k->name))) continue;
        CHECK(pi.kv_bytes == qlm_ctx_kv_bytes(c), "%s: plan %llu bytes, context %llu", k->name,
              (unsigned long long)pi.kv_bytes, (unsigned long long)qlm_ctx_kv_bytes(c));
        CHECK(pi.n_ctx == qlm_ctx_n_ctx(c) && !pi.bounded == !qlm_ctx_bounded(c), "%s: n_ctx / bounded",
              k->name);
        CHECK(pi.n_layer == 30 && pi.n_head_kv == 3 && pi.head_dim == 64, "%s: shape", k->name);
        CHECK(pi.kv_bytes_per_token == (uint64_t)30 * 3 * (pi.seg_k_bytes + pi.seg_v_bytes),
              "%s: per token %llu", k->name, (unsigned long long)pi.kv_bytes_per_token);
        CHECK(!pi.bounded == (k->swa == 0 && k->sinks == 0 && !k->h2o), "%s: bounded %d", k->name,
              (int)pi.bounded);
        /* every layer grows: per token x n_ctx exactly for f16; a quantised cache may add small
           per-layer extras (row padding, per-head K statistics): at most 2% + 64 KiB, and a
           quantised K its 32 recent and 4 first keys in F16 with their positions */
        if (pi.bounded)
            CHECK(pi.n_layer_full == 0 && pi.kv_bytes_fixed == pi.kv_bytes, "%s: every layer fixed", k->name);
        else
            CHECK(pi.n_layer_full == 30 && pi.kv_bytes_fixed == 0 &&
                      pi.kv_bytes >= pi.kv_bytes_per_token * (uint64_t)pi.n_ctx &&
                      pi.kv_bytes <= pi.kv_bytes_per_token * (uint64_t)pi.n_ctx * 51 / 50 + 65536 +
                                         (k->tk != QLM_KV_F16 ? 30 * (36 * 3 * 64 * 2 + 36 * 4) : 0) &&
                      (k->tk != QLM_KV_F16 || k->tv != QLM_KV_F16 ||
                       pi.kv_bytes == pi.kv_bytes_per_token * (uint64_t)pi.n_ctx),
                  "%s: every layer grows: %llu vs %llu x %d", k->name, (unsigned long long)pi.kv_bytes,
                  (unsigned long long)pi.kv_bytes_per_token, (int)pi.n_ctx);
        if (i == 0) /* plain f16: 2 (K, V) x 30 layers x 3 KV heads x 64 x 2 bytes */
            CHECK(pi.kv_bytes_per_token == 2 * 30 * 3 * 64 * 2 && pi.kv_bytes == (uint64_t)23040 * 512 &&
                      pi.seg_k_bytes == 128 && pi.weights_bytes == qlm_model_size(m),
                  "f16 plan: %llu bytes per token", (unsigned long long)pi.kv_bytes_per_token);
        if (i == 1) /* q8_0: 30 x 3 x 64 x (1.0625 + 1.0625) */
            CHECK(pi.kv_bytes_per_token == 12240 && pi.seg_k_bytes == 68, "q8_0 plan: %llu bytes per token",
                  (unsigned long long)pi.kv_bytes_per_token);
        if (i == 2) CHECK(pi.n_batch == 50 && pi.seg_k_bytes == 40 && pi.seg_v_bytes == 68, "q4/fp8 segments");
        if (i == 4) CHECK(pi.kv_bytes == (uint64_t)30 * 80 * 3 * 128 * 2, "swa 64 + 16: 80 cells a layer");
        qlm_ctx_free(c);
    }
    {   /* a bad combination: the planner and the context say no alike */
        qlm_ctx_params cp = qlm_ctx_default_params();
        qlm_plan_info pi;
        qlm_ctx *c = NULL;
        cp.n_sinks = 4;
        cp.kv_evict = QLM_KV_EVICT_H2O;
        CHECK(qlm_plan(m, cp, &pi) == QLM_ERR_INVALID_ARG, "plan: sinks + H2O refused");
        CHECK(qlm_ctx_new(m, cp, &c) == QLM_ERR_INVALID_ARG && c == NULL, "ctx: sinks + H2O refused");
        cp = qlm_ctx_default_params();
        cp.type_k = QLM_KV_COUNT;
        CHECK(qlm_plan(m, cp, &pi) == QLM_ERR_INVALID_ARG, "plan: unknown K type refused");
    }
    {
        qlm_kv_type t = QLM_KV_F16;
        int ok = 1, k;
        for (k = 0; k < QLM_KV_COUNT; k++)
            ok &= qlm_kv_type_parse(qlm_kv_type_name((qlm_kv_type)k), &t) == QLM_OK && t == (qlm_kv_type)k;
        CHECK(ok, "qlm_kv_type_parse(qlm_kv_type_name(t)) == t");
        CHECK(qlm_kv_type_parse("q5_0", &t) == QLM_ERR_INVALID_ARG && qlm_kv_type_parse(NULL, &t) == QLM_ERR_INVALID_ARG &&
                  strstr(qlm_last_error(), "q8_0") != NULL,
              "unknown KV type names refused, the message lists the known ones");
    }
}

/* Gemma 3 (18 layers, 5 of every 6 with a 512-token window, 1 KV head of 256): the plan equals
   the allocation, and its parts add up: the window layers are fixed, the 3 global layers grow.
   Skipped with a note when the model file is absent. */
static void kv_plan_gemma(const char *path) {
    static const struct { int n_ctx, n_batch, tk, tv, swa, sinks; } cases[] = {
        {4096, 16, QLM_KV_F16, QLM_KV_F16, 0, 0},  {256, 16, QLM_KV_F16, QLM_KV_F16, 0, 0},
        {8192, 16, QLM_KV_Q8_0, QLM_KV_Q4, 0, 0}, {2048, 16, QLM_KV_FP8, QLM_KV_FP8, 128, 0},
        {1024, 16, QLM_KV_F16, QLM_KV_Q8_0, 0, 4},
    };
    qlm_model *m = NULL;
    qlm_model_params mp = qlm_model_default_params();
    FILE *f = fopen(path, "rb");
    int i;
    if (!f) {
        printf("note: %s absent: Gemma plan checks skipped\n", path);
        return;
    }
    fclose(f);
    CHECK(qlm_model_load(path, mp, &m) == QLM_OK, "load %s: %s", path, qlm_last_error());
    if (!m) return;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        qlm_ctx_params cp = qlm_ctx_default_params();
        qlm_plan_info pi;
        qlm_ctx *c;
        cp.n_ctx = cases[i].n_ctx;
        cp.n_batch = cases[i].n_batch;
        cp.type_k = (qlm_kv_type)cases[i].tk;
        cp.type_v = (qlm_kv_type)cases[i].tv;
        cp.swa = cases[i].swa;
        cp.n_sinks = cases[i].sinks;
        cp.n_threads = 1;
        CHECK(qlm_plan(m, cp, &pi) == QLM_OK, "gemma plan %d: %s", i, qlm_last_error());
        if (!(c = kv_ctx(m, cp, "gemma"))) continue;
        CHECK(pi.kv_bytes == qlm_ctx_kv_bytes(c), "gemma case %d: plan %llu bytes, context %llu", i,
              (unsigned long long)pi.kv_bytes, (unsigned long long)qlm_ctx_kv_bytes(c));
        CHECK(pi.n_layer == 18 && pi.n_head_kv == 1 && pi.head_dim == 256 && !pi.bounded == !qlm_ctx_bounded(c),
              "gemma case %d: shape", i);
        if (!pi.bounded) { /* exact for f16, small extras allowed for quantised caches (as above) */
            uint64_t grow = pi.kv_bytes_per_token / 18 * 3 * (uint64_t)pi.n_ctx;
            CHECK(pi.n_layer_full == 3 && pi.kv_bytes >= pi.kv_bytes_fixed + grow &&
                      pi.kv_bytes <= pi.kv_bytes_fixed + grow * 51 / 50 + 65536 &&
                      (cases[i].tk != QLM_KV_F16 || cases[i].tv != QLM_KV_F16 || pi.kv_bytes == pi.kv_bytes_fixed + grow),
                  "gemma case %d: %llu vs fixed %llu + 3 growing layers x %d", i, (unsigned long long)pi.kv_bytes,
                  (unsigned long long)pi.kv_bytes_fixed, (int)pi.n_ctx);
        }
        else
            CHECK(pi.n_layer_full == 0 && pi.kv_bytes_fixed == pi.kv_bytes, "gemma case %d: all fixed", i);
        if (i == 0) /* 15 window layers x (512 + 16) cells x 1024 bytes, 3 x 4096 x 1024 */
            CHECK(pi.kv_bytes_fixed == (uint64_t)15 * 528 * 1024 && pi.kv_bytes_per_token == 18 * 1024,
                  "gemma f16: fixed %llu", (unsigned long long)pi.kv_bytes_fixed);
        if (i == 1) /* n_ctx 256 < window: every layer n_ctx cells */
            CHECK(pi.kv_bytes == (uint64_t)18 * 256 * 1024, "gemma n_ctx 256: %llu", (unsigned long long)pi.kv_bytes);
        qlm_ctx_free(c);
    }
    qlm_model_free(m);
}

/* f16's top-1 minus top-2 logit */
static float gap2(const float *l, int n) {
    int i, b = argmax(l, n);
    float second = -INFINITY;
    for (i = 0; i < n; i++)
        if (i != b && l[i] > second) second = l[i];
    return l[b] - second;
}
#define KV_DECISIVE 1.0f

/* Quantised caches against f16, teacher-forced over the text: top-1 agreement, largest and
   mean squared logit difference. */
static void kv_quality(qlm_model *m) {
    enum { N = 200 };
    typedef struct {
        const char *name;
        int tk, tv, no_rot, recent;
        double min_agree, min_decisive, max_mse;
        float max_diff;
    } qcase;
    /* Limits from measurements on SmolLM2-135M Q4_1, this text, 200 positions, x86 (AVX-512 and
       AVX2 kernels alike):   top-1 agreement | where f16's gap >= 1 | max |diff| | mean sq.
         q8_0                   97.5%           87/87                  1.51         0.050
         fp8                    96.5%           87/87                  1.73         0.088
         q4 (rotated)           89.5%           87/87                  5.81         0.546
         q4, no rotation        85.5%           85/87                  5.42         0.827
         q4_0 (rotated)         84.0%           86/87                  4.93         0.549
       (later, with centred K: q4 0.32-0.55 rotated / 0.51-0.83 plain, q4_0 0.39-0.46 / 1.23-1.43,
       depending on the kernel variant's rounding: see the rotation check below)
       (later still, with K smoothed before centring, AVX-512: q8_0 0.044, fp8 0.075, q4 0.202 /
       0.442 plain, q4_0 0.288 / 0.651 plain; q4 93.5% top-1, max |diff| 2.88; AVX2 and ref: q4
       0.24 / 0.27, q4_0 0.32 / 0.31)
       (q4 with plain q4_1 rounding, before its least-squares refit: 88.5%, 87/87, 4.76, 0.468;
       without rotation 82.5%, 86/87, 7.47, 0.823)
       The noise floor: f16 against f16 where only the attention's summation order differs (n_batch
       1 on 2 threads: the range split and merged) agrees on 98.0% with a max |diff| of 1.25 (this
       model amplifies 1-ulp changes; see the golden notes at the top). So q8_0 sits at the floor,
       and the 97% / 90% targets for top-1 agreement cannot be hard limits here: the limits below
       leave ~2-3 points of margin, and where f16 is decisive (gap >= 1) nothing may flip.
       These cases score every key from its codes (kv_recent -1), so they measure the codes; the
       last one is the default cache, whose recent and first keys are exact (see kv_recent):
       measured q4 96.0%, 87/87, 2.20, 0.096 (AVX-512). With the AVX2 kernels it flips one
       decisive position, 93.0%, 88/89, 2.52, 0.094: position 168, where f16's gap is 1.20 and
       the codes move logits by up to 2.5, so the default's limit is q4's 97%, not "none". */
    static const qcase cases[] = {
        {"q8_0", QLM_KV_Q8_0, QLM_KV_Q8_0, 0, -1, 0.95, 1.0, 0.10, 3.0f},
        {"fp8", QLM_KV_FP8, QLM_KV_FP8, 0, -1, 0.93, 1.0, 0.15, 3.5f},
        {"q4", QLM_KV_Q4, QLM_KV_Q4, 0, -1, 0.85, 0.97, 0.8, 8.0f},
        {"q4 no rotation", QLM_KV_Q4, QLM_KV_Q4, 1, -1, 0.0, 0.0, 1e30, 1e30f},
        {"q4_0", QLM_KV_Q4_0, QLM_KV_Q4_0, 0, -1, 0.0, 0.0, 1e30, 1e30f},
        {"q4_0 no rotation", QLM_KV_Q4_0, QLM_KV_Q4_0, 1, -1, 0.0, 0.0, 1e30, 1e30f},
        {"q4 (default)", QLM_KV_Q4, QLM_KV_Q4, 0, 0, 0.90, 0.97, 0.3, 5.0f},
    };
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), i, p;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *c;
    float *ref;
    double mse[7] = {0};
    CHECK(n >= N, "text has %d tokens", n);
    if (n < N) return;
    cp.n_ctx = 256;
    if (!(c = kv_ctx(m, cp, "f16"))) return;
    ref = (float *)malloc((size_t)N * (size_t)nv * sizeof(float));
    CHECK(qlm_decode(c, toks, N, 1) == QLM_OK, "f16 decode: %s", qlm_ctx_errmsg(c));
    for (p = 0; p < N; p++) memcpy(ref + (size_t)p * nv, qlm_logits(c, p), (size_t)nv * sizeof(float));
    qlm_ctx_free(c);
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        const qcase *k = &cases[i];
        int agree = 0, decisive = 0, agree_decisive = 0;
        float worst = 0;
        double se = 0;
        cp.type_k = (qlm_kv_type)k->tk;
        cp.type_v = (qlm_kv_type)k->tv;
        cp.no_kv_rot = k->no_rot;
        cp.kv_recent = k->recent;
        if (!(c = kv_ctx(m, cp, k->name))) continue;
        CHECK(qlm_decode(c, toks, N, 1) == QLM_OK, "%s decode: %s", k->name, qlm_ctx_errmsg(c));
        for (p = 0; p < N; p++) {
            const float *l = qlm_logits(c, p), *r = ref + (size_t)p * nv;
            int j;
            float d;
            if (!l) break;
            agree += argmax(l, nv) == argmax(r, nv);
            if (gap2(r, nv) >= KV_DECISIVE) {
                decisive++;
                agree_decisive += argmax(l, nv) == argmax(r, nv);
            }
            d = max_abs_diff(l, r, (size_t)nv);
            if (!(d <= worst)) worst = d;
            for (j = 0; j < nv; j++) se += (double)(l[j] - r[j]) * (l[j] - r[j]);
        }
        mse[i] = se / ((double)N * nv);
        printf("kv %-14s vs f16: top-1 agreement %5.1f%% (%d/%d where f16's top-2 gap >= %.1f), max |logit diff| "
               "%.3f, mean squared %.5f\n", k->name, 100.0 * agree / N, agree_decisive, decisive, (double)KV_DECISIVE,
               (double)worst, mse[i]);
        CHECK(agree >= k->min_agree * N, "%s: top-1 agreement with f16 %d of %d", k->name, agree, N);
        CHECK(agree_decisive >= k->min_decisive * decisive, "%s: top-1 agreement where f16 is decisive %d of %d",
              k->name, agree_decisive, decisive);
        CHECK(worst <= k->max_diff, "%s: max |logit diff| %.3f > %.3f", k->name, (double)worst, (double)k->max_diff);
        CHECK(mse[i] <= k->max_mse, "%s: mean squared logit diff %.4f > %.4f", k->name, mse[i], k->max_mse);
        qlm_ctx_free(c);
    }
    /* Rotation is asserted on q4_0, where it matters most: measured rotated vs plain 0.50 vs 1.35
       (ref), 0.55 vs 1.54 (avx2), 0.65 vs 1.26 (avx512), i.e. 1.9-2.8x lower. The spread is this
       one 200-token text's: any 1e-6 change in the scores flips some 4-bit codes and the error
       takes another, equally likely value (the variants differ only in rounding), so the bound
       is 1.67x. For q4 the centred K already removes most of what rotation fixes (0.27-0.30 vs
       0.47-0.58), so q4 is printed only. */
    CHECK(mse[4] < 0.6 * mse[5], "rotation helps q4_0: mean squared logit error %.5f rotated vs %.5f plain (measured "
          "0.50-0.65 vs 1.26-1.54)", mse[4], mse[5]);
    printf("kv rotation: q4 mean squared %.5f rotated vs %.5f plain; q4_0 %.5f vs %.5f\n", mse[2], mse[3], mse[4], mse[5]);
    free(ref);
}

/* Rows [p0, p1) of ctx's last all-logits decode that started at position `first`, copied. */
static float *kv_rows(qlm_ctx *c, int nv, int n) {
    float *r = (float *)malloc((size_t)n * (size_t)nv * sizeof(float));
    int p;
    for (p = 0; r && p < n; p++) {
        const float *l = qlm_logits(c, p);
        if (!l) {
            free(r);
            return NULL;
        }
        memcpy(r + (size_t)p * nv, l, (size_t)nv * sizeof(float));
    }
    return r;
}

/* --swa: a ring of W + n_batch cells per layer. Positions below W see everything (as full
   attention, with the same blocks: bit-identical); past that the context decodes without end
   at fixed memory; the window's result does not depend on the batch size (so the ring wraps
   right); truncation inside the ring keeps the cache, beyond it clears it. */
static void kv_window(qlm_model *m) {
    enum { W = 64, N = 200 };
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), p, same = 0;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *full, *a, *b;
    float *full_rows, *full_last, *a_rows = NULL, d_first = 0, d_batch = 0, d_trunc = 0, d_last;
    uint64_t bytes;
    if (n < N) return;
    cp.n_ctx = 512;
    cp.n_batch = 16;
    if (!(full = kv_ctx(m, cp, "full attention"))) return;
    CHECK(qlm_decode(full, toks, W, 1) == QLM_OK, "full decode");
    full_rows = kv_rows(full, nv, W);
    CHECK(qlm_decode(full, toks + W, N - W, 0) == QLM_OK, "full decode");
    full_last = kv_rows(full, nv, 1);
    qlm_ctx_free(full);
    cp.n_ctx = 128;
    cp.swa = W;
    if (!full_rows || !full_last || !(a = kv_ctx(m, cp, "swa 64"))) return;
    bytes = qlm_ctx_kv_bytes(a);
    CHECK(qlm_ctx_bounded(a), "swa: bounded");
    CHECK(qlm_decode(a, toks, W, 1) == QLM_OK, "swa: first %d", W);
    for (p = 0; p < W; p++) {
        float d = max_abs_diff(qlm_logits(a, p), full_rows + (size_t)p * nv, (size_t)nv);
        same += d == 0.0f;
        if (d > d_first) d_first = d;
    }
    CHECK(d_first <= 1e-4f, "swa: positions < W differ from full attention by %g", (double)d_first);
    CHECK(qlm_decode(a, toks + W, N - W, 1) == QLM_OK, "swa: decode past n_ctx: %s", qlm_ctx_errmsg(a));
    CHECK(qlm_ctx_n_past(a) == N && N > qlm_ctx_n_ctx(a), "swa: n_past %d", qlm_ctx_n_past(a));
    CHECK(qlm_ctx_kv_bytes(a) == bytes, "swa: KV bytes changed");
    a_rows = kv_rows(a, nv, N - W);
    d_last = max_abs_diff(qlm_logits(a, N - W - 1), full_last, (size_t)nv);
    CHECK(d_last > 0.01f, "swa: at position %d the window must differ from full attention (%g)", N - 1, (double)d_last);
    /* the same window in batches of 7: a ring of 71 cells wraps elsewhere, same attention */
    cp.n_batch = 7;
    if (a_rows && (b = kv_ctx(m, cp, "swa 64, n_batch 7")) != NULL) {
        CHECK(qlm_decode(b, toks, N, 1) == QLM_OK, "swa, batches of 7");
        for (p = W; p < N; p++) {
            float d = max_abs_diff(qlm_logits(b, p), a_rows + (size_t)(p - W) * nv, (size_t)nv);
            if (d > d_batch) d_batch = d;
        }
        CHECK(d_batch <= 1e-4f, "swa: n_batch 16 vs 7 differ by %g past the wrap", (double)d_batch);
        qlm_ctx_free(b);
    }
    /* rewind inside the ring (it holds 120..199, 190 needs 126..189): kept, same logits */
    CHECK(qlm_ctx_truncate(a, N - 10) == QLM_OK && qlm_ctx_n_past(a) == N - 10, "swa: truncate to %d keeps (%d)",
          N - 10, qlm_ctx_n_past(a));
    CHECK(qlm_decode(a, toks + N - 10, 10, 1) == QLM_OK, "swa: re-decode the last 10");
    for (p = 0; a_rows && p < 10; p++) {
        float d = max_abs_diff(qlm_logits(a, p), a_rows + (size_t)(N - 10 - W + p) * nv, (size_t)nv);
        if (d > d_trunc) d_trunc = d;
    }
    CHECK(d_trunc <= 1e-4f, "swa: after truncate, logits differ by %g", (double)d_trunc);
    /* too far back for the ring: cleared */
    CHECK(qlm_ctx_truncate(a, 100) == QLM_OK && qlm_ctx_n_past(a) == 0, "swa: truncate to 100 clears (%d)",
          qlm_ctx_n_past(a));
    printf("kv swa %d: positions < W vs full attention max diff %g (%d of %d bit-identical); past the wrap, "
           "n_batch 16 vs 7 max diff %g; after truncate %g; last position vs full attention %.3f\n",
           W, (double)d_first, same, W, (double)d_batch, (double)d_trunc, (double)d_last);
    qlm_ctx_free(a);
    free(a_rows);
    free(full_rows);
    free(full_last);
}

/* Recent keys of a quantised K (see "Recent keys" in qlm.h). The ring and the batch's own keys
   hold the same F16 keys, so the logits do not depend on how the tokens are batched; with every
   key recent a q4 K scores as an F16 cache does; a truncated cache never reads a ring slot that
   the dropped tokens wrote. One thread, so attention's summation order is the same throughout. */
static float kv_mse(const float *a, const float *b, size_t n) {
    double se = 0;
    size_t i;
    for (i = 0; i < n; i++) se += (double)(a[i] - b[i]) * (a[i] - b[i]);
    return (float)(se / (double)n);
}
static float *kv_recent_run(qlm_model *m, qlm_ctx_params cp, const int32_t *first, int n0, const int32_t *rest,
                            int n, int step, const char *what) {
    qlm_ctx *c = kv_ctx(m, cp, what);
    int nv = qlm_model_n_vocab(m), p, k;
    float *rows = (float *)malloc((size_t)n * (size_t)nv * sizeof(float));
    if (!c || !rows) {
        qlm_ctx_free(c);
        free(rows);
        return NULL;
    }
    CHECK(qlm_decode(c, first, n0, 0) == QLM_OK, "%s: first batch: %s", what, qlm_ctx_errmsg(c));
    for (p = 0; p < n; p += step) {
        int len = n - p < step ? n - p : step;
        CHECK(qlm_decode(c, rest + p, len, 1) == QLM_OK, "%s: decode: %s", what, qlm_ctx_errmsg(c));
        for (k = 0; k < len; k++) memcpy(rows + (size_t)(p + k) * nv, qlm_logits(c, k), (size_t)nv * sizeof(float));
    }
    qlm_ctx_free(c);
    return rows;
}
static void kv_recent(qlm_model *m) {
    enum { N0 = 40, N = 120 };
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), i, k;
    size_t sz = (size_t)N * (size_t)nv;
    qlm_ctx_params cp = qlm_ctx_default_params();
    float *f16 = NULL, *batch = NULL, *tok = NULL, *seven = NULL, *all = NULL, *none = NULL, d_tok, d_seven;
    float mse_all, mse_def, mse_none;
    qlm_ctx *x;
    if (n < N0 + N + 60) return;
    cp.n_ctx = 512;
    cp.n_batch = 64;
    cp.n_threads = 1;
    cp.type_v = QLM_KV_F16;
    f16 = kv_recent_run(m, cp, toks, N0, toks + N0, N, N, "recent: f16");
    cp.type_k = QLM_KV_Q4;
    batch = kv_recent_run(m, cp, toks, N0, toks + N0, N, N, "recent: q4 K, batches of 64");
    tok = kv_recent_run(m, cp, toks, N0, toks + N0, N, 1, "recent: q4 K, one token at a time");
    seven = kv_recent_run(m, cp, toks, N0, toks + N0, N, 7, "recent: q4 K, 7 at a time");
    cp.kv_recent = 512;
    all = kv_recent_run(m, cp, toks, N0, toks + N0, N, N, "recent: q4 K, every key recent");
    cp.kv_recent = -1;
    none = kv_recent_run(m, cp, toks, N0, toks + N0, N, N, "recent: q4 K, none");
    if (f16 && batch && tok && seven && all && none) {
        d_tok = max_abs_diff(batch, tok, sz);
        d_seven = max_abs_diff(batch, seven, sz);
        mse_all = kv_mse(all, f16, sz);
        mse_def = kv_mse(batch, f16, sz);
        mse_none = kv_mse(none, f16, sz);
        CHECK(d_tok <= 1e-4f && d_seven <= 1e-4f, "recent: batches of 64 vs 1 vs 7 differ by %g / %g", (double)d_tok,
              (double)d_seven);
        /* measured 0.050 with all, 0.045 with the default (32 recent + the first 4), 0.175 with
           none; q8_0's floor on this model is ~0.044 (kv_quality). (32 recent keys without the
           first ones gave 0.216 here: on one short text the sink key decides.) */
        CHECK(mse_all < 0.4f * mse_none, "recent: every key recent, q4 K vs f16 mean squared %.5f, none recent %.5f",
              (double)mse_all, (double)mse_none);
        CHECK(mse_def < 0.5f * mse_none, "recent: default, q4 K vs f16 mean squared %.5f, none recent %.5f",
              (double)mse_def, (double)mse_none);
        printf("kv recent (q4 K, f16 V, %d positions after %d): logits mean squared vs f16 %.5f with no exact keys, "
               "%.5f with 32 recent + 4 first, %.5f with all; batches of 64 vs 1 vs 7 max diff %g / %g\n", N, N0, (double)mse_none,
               (double)mse_def, (double)mse_all, (double)d_tok, (double)d_seven);
    }
    /* stale slots: decode 30 tokens, drop them, go on; whichever 30 were dropped (their keys
       are still in the slots, under positions that the new tokens take), the logits are the
       same. Dropped back to N0 (the ring) and to 2 (the first keys' slots too). */
    cp.kv_recent = 0;
    free(tok);
    for (k = 0; k < 2; k++) {
        int keep = k ? 2 : N0;
        float d = -1;
        tok = NULL;
        for (i = 0; i < 2; i++) {
            float *rows = (float *)malloc((size_t)30 * (size_t)nv * sizeof(float));
            int j;
            if (!rows || !(x = kv_ctx(m, cp, "recent: truncation"))) {
                free(rows);
                break;
            }
            CHECK(qlm_decode(x, toks, N0, 0) == QLM_OK && qlm_decode(x, toks + 100 + 50 * i, 30, 0) == QLM_OK &&
                      qlm_ctx_truncate(x, keep) == QLM_OK && qlm_ctx_n_past(x) == keep,
                  "recent: decode, truncate to %d", keep);
            for (j = 0; j < 30; j++) {
                CHECK(qlm_decode(x, toks + N0 + 30 + j, 1, 0) == QLM_OK, "recent: decode after truncate");
                memcpy(rows + (size_t)j * nv, qlm_logits(x, 0), (size_t)nv * sizeof(float));
            }
            qlm_ctx_free(x);
            if (i == 0) tok = rows;
            else {
                d = max_abs_diff(tok, rows, (size_t)30 * nv);
                free(rows);
            }
        }
        CHECK(d == 0.0f, "recent: after truncation to %d the dropped tokens' keys changed the logits by %g", keep,
              (double)d);
        free(tok);
    }
    free(f16);
    free(batch);
    free(seven);
    free(all);
    free(none);
}

/* The last logits after decoding toks[0..n) with these parameters (copied; NULL on failure). */
static float *kv_last(qlm_model *m, qlm_ctx_params cp, const int32_t *toks, int n, const char *what) {
    qlm_ctx *c = kv_ctx(m, cp, what);
    float *r = NULL;
    if (!c) return NULL;
    CHECK(qlm_decode(c, toks, n, 0) == QLM_OK, "%s: decode %d: %s", what, n, qlm_ctx_errmsg(c));
    if (qlm_ctx_n_past(c) == n) r = kv_rows(c, qlm_model_n_vocab(m), 1);
    qlm_ctx_free(c);
    return r;
}

/* StreamingLLM sinks: fixed memory for long runs, and the first tokens stay attended.
   Exactness against full attention needs the same blocks of 32 cells (attention is exact to
   ~1e-7 either way, but this model turns 1-ulp differences in attention into logit changes of
   up to ~1: llama.cpp's n_batch 1 vs 512 differ as much, see the top of this file), so the
   bit-level check uses 32 sinks, whose block is the full cache's first. */
static void kv_sinks(qlm_model *m, const float *full64) {
    enum { N = 600, N2 = 128 };
    int32_t toks[1024], alt[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), p;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *c;
    float d_first = 0, d_first4 = 0, d_sinks, d_swa, *x, *y;
    uint64_t bytes;
    if (n < N) return;
    cp.n_ctx = 128;
    cp.n_sinks = 4; /* n_batch 64 (the default when bounded): window 128 - 4 - 64 = 60 */
    if ((c = kv_ctx(m, cp, "sinks 4")) != NULL) {
        bytes = qlm_ctx_kv_bytes(c);
        CHECK(qlm_ctx_bounded(c), "sinks: bounded");
        CHECK(qlm_decode(c, toks, 64, 1) == QLM_OK, "sinks: first 64");
        for (p = 0; full64 && p < 64; p++) { /* reported: other blocks, so rounding-level only */
            float d = max_abs_diff(qlm_logits(c, p), full64 + (size_t)p * nv, (size_t)nv);
            if (d > d_first4) d_first4 = d;
        }
        CHECK(qlm_decode(c, toks + 64, N - 64, 0) == QLM_OK, "sinks: decode to %d: %s", N, qlm_ctx_errmsg(c));
        CHECK(qlm_ctx_n_past(c) == N && N > qlm_ctx_n_ctx(c) && qlm_ctx_kv_bytes(c) == bytes,
              "sinks: n_past %d, bytes constant", qlm_ctx_n_past(c));
        qlm_ctx_free(c);
    }
    cp.n_sinks = 32; /* window 128 - 32 - 64 = 32: positions < 64 see everything, in the same blocks */
    if ((c = kv_ctx(m, cp, "sinks 32")) != NULL) {
        CHECK(qlm_decode(c, toks, 64, 1) == QLM_OK, "sinks 32: first 64");
        for (p = 0; full64 && p < 64; p++) {
            float d = max_abs_diff(qlm_logits(c, p), full64 + (size_t)p * nv, (size_t)nv);
            if (d > d_first) d_first = d;
        }
        CHECK(d_first <= 1e-4f, "sinks 32: positions < 64 differ from full attention by %g", (double)d_first);
        qlm_ctx_free(c);
    }
    /* The first 4 tokens replaced: with sinks the last logits change; with the same window and
       no sinks they cannot (30 layers x 3 positions back = 90 < 124: out of reach) and must be
       bit-identical. */
    memcpy(alt, toks, sizeof(int32_t) * N2);
    alt[0] = 504, alt[1] = 2365, alt[2] = 6354, alt[3] = 16438;
    cp = qlm_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.swa = 4;
    cp.n_sinks = 4;
    x = kv_last(m, cp, toks, N2, "sinks 4 + swa 4");
    y = kv_last(m, cp, alt, N2, "sinks 4 + swa 4, other first tokens");
    d_sinks = x && y ? max_abs_diff(x, y, (size_t)nv) : -1;
    CHECK(d_sinks > 1e-2f, "sinks: the first tokens must change the logits at %d (max diff %g)", N2 - 1,
          (double)d_sinks);
    free(x);
    free(y);
    cp.n_sinks = 0;
    x = kv_last(m, cp, toks, N2, "swa 4");
    y = kv_last(m, cp, alt, N2, "swa 4, other first tokens");
    d_swa = x && y ? max_abs_diff(x, y, (size_t)nv) : -1;
    CHECK(x && y && memcmp(x, y, (size_t)nv * sizeof(float)) == 0,
          "swa 4 without sinks: the first tokens are out of reach, logits must be identical (max diff %g)",
          (double)d_swa);
    free(x);
    free(y);
    printf("kv sinks: 4 sinks, %d tokens at fixed memory (positions < 64 vs full attention: max diff %.3f, "
           "other blocks); 32 sinks: max diff %g; other first 4 tokens change the last logits by %.3f with "
           "sinks, %g without\n",
           N, (double)d_first4, (double)d_first, (double)d_sinks, (double)d_swa);
}

/* H2O: budget + batch slots per head, fixed memory, and until the first eviction the same
   attention as the full cache; truncation. */
static void kv_h2o(qlm_model *m, const float *full64) {
    enum { N = 400, F = 128, N2 = 256 };
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), p;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *c;
    float d_first = 0, *first = NULL, *last = NULL;
    uint64_t bytes;
    if (n < N) return;
    cp.n_ctx = 256;
    cp.kv_evict = QLM_KV_EVICT_H2O;
    cp.kv_budget = 64; /* n_batch 64: 128 slots, the first eviction after the second batch */
    if (!(c = kv_ctx(m, cp, "h2o"))) return;
    bytes = qlm_ctx_kv_bytes(c);
    CHECK(qlm_ctx_bounded(c), "h2o: bounded");
    CHECK(qlm_decode(c, toks, F, 1) == QLM_OK, "h2o: first %d", F);
    for (p = 0; full64 && p < F; p++) {
        float d = max_abs_diff(qlm_logits(c, p), full64 + (size_t)p * nv, (size_t)nv);
        if (d > d_first) d_first = d;
    }
    CHECK(d_first <= 1e-4f, "h2o: positions < %d (nothing evicted) differ from full attention by %g", F,
          (double)d_first);
    first = kv_rows(c, nv, F);
    CHECK(qlm_decode(c, toks + F, N2 - F, 0) == QLM_OK, "h2o: decode to %d: %s", N2, qlm_ctx_errmsg(c));
    last = kv_rows(c, nv, 1); /* after three evictions */
    CHECK(qlm_decode(c, toks + N2, N - N2, 0) == QLM_OK, "h2o: decode to %d: %s", N, qlm_ctx_errmsg(c));
    CHECK(qlm_ctx_n_past(c) == N && N > qlm_ctx_n_ctx(c) && qlm_ctx_kv_bytes(c) == bytes,
          "h2o: n_past %d past n_ctx, bytes constant", qlm_ctx_n_past(c));
    /* after evictions a rewind cannot be served: cleared; then the same run again, exactly */
    CHECK(qlm_ctx_truncate(c, 200) == QLM_OK && qlm_ctx_n_past(c) == 0, "h2o: truncate after eviction clears (%d)",
          qlm_ctx_n_past(c));
    CHECK(qlm_decode(c, toks, F, 1) == QLM_OK, "h2o: again");
    for (p = 0; first && p < F; p++)
        if (memcmp(qlm_logits(c, p), first + (size_t)p * nv, (size_t)nv * sizeof(float)) != 0) break;
    CHECK(first && p == F, "h2o: after truncate(0) position %d differs from the first run", p);
    CHECK(qlm_decode(c, toks + F, N2 - F, 0) == QLM_OK, "h2o: again to %d", N2);
    CHECK(last && memcmp(qlm_logits(c, -1), last, (size_t)nv * sizeof(float)) == 0,
          "h2o: after evictions, the rerun's last logits differ from the first run");
    /* before any eviction a rewind keeps the cache */
    CHECK(qlm_ctx_truncate(c, 0) == QLM_OK && qlm_ctx_n_past(c) == 0, "h2o: truncate to 0");
    CHECK(qlm_decode(c, toks, 40, 0) == QLM_OK && qlm_ctx_truncate(c, 20) == QLM_OK && qlm_ctx_n_past(c) == 20,
          "h2o: truncate to 20 of 40 keeps (%d)", qlm_ctx_n_past(c));
    CHECK(qlm_decode(c, toks + 20, 44, 1) == QLM_OK, "h2o: re-decode 20..63");
    for (p = 20; first && p < 64; p++) /* 64 slots in use: no eviction yet */
        if (max_abs_diff(qlm_logits(c, p - 20), first + (size_t)p * nv, (size_t)nv) > 1e-4f) break;
    CHECK(first && p == 64, "h2o: after truncate(20) position %d differs", p);
    printf("kv h2o budget 64: positions < %d vs full attention max diff %g; %d tokens at fixed memory; "
           "rerun after truncate bit-identical\n", F, (double)d_first, N);
    free(first);
    free(last);
    qlm_ctx_free(c);
}

/* Attention tiles (qlm__op_attn): a batch's queries go through the cache QLM__ATT_TILE at a time,
   each masked to its own range, with blocks that end at the same positions. So a batch gives
   the same logits as one token at a time, to the bit: full attention, a window whose first
   position is not a multiple of the block (45: every tile's queries start in different
   blocks), and a quantised K with its exact recent keys (the first 36 tokens in one batch in
   both: they set K's smoothing). One thread, so a single token's range
   is not split into parts (which sums in another order). */
static void att_tiles(qlm_model *m) {
    enum { N = 100 };
    static const struct { const char *what; int swa; qlm_kv_type k; } cases[] = {
        {"f16", 0, QLM_KV_F16}, {"f16, swa 45", 45, QLM_KV_F16}, {"q4 K (recent keys exact)", 0, QLM_KV_Q4}};
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024), nv = qlm_model_n_vocab(m), p, k;
    if (n < N) return;
    for (k = 0; k < (int)(sizeof cases / sizeof cases[0]); k++) {
        qlm_ctx_params cp = qlm_ctx_default_params();
        qlm_ctx *a, *b;
        float *rows;
        cp.n_ctx = 256;
        cp.n_batch = 64;
        cp.n_threads = 1;
        cp.swa = cases[k].swa;
        cp.type_k = cases[k].k;
        if (!(a = kv_ctx(m, cp, cases[k].what))) continue;
        if (!(b = kv_ctx(m, cp, cases[k].what))) {
            qlm_ctx_free(a);
            continue;
        }
        CHECK(qlm_decode(a, toks, 36, 0) == QLM_OK && qlm_decode(a, toks + 36, 64, 1) == QLM_OK,
              "tiles %s: batch: %s", cases[k].what, qlm_ctx_errmsg(a));
        rows = kv_rows(a, nv, 64);
        CHECK(qlm_decode(b, toks, 36, 0) == QLM_OK, "tiles %s: first batch", cases[k].what); /* K's smoothing */
        for (p = 36; p < N; p++) {
            CHECK(qlm_decode(b, toks + p, 1, 1) == QLM_OK, "tiles %s: token %d", cases[k].what, p);
            if (rows && memcmp(qlm_logits(b, 0), rows + (size_t)(p - 36) * nv, (size_t)nv * sizeof(float))) break;
        }
        CHECK(rows && p == N, "tiles %s: position %d differs between a batch and one token at a time (max diff %g)",
              cases[k].what, p, rows && p < N ? (double)max_abs_diff(qlm_logits(b, 0), rows + (size_t)(p - 36) * nv, (size_t)nv) : 0.0);
        free(rows);
        qlm_ctx_free(a);
        qlm_ctx_free(b);
    }
    printf("attention tiles: a batch of 64 after 36 tokens equals one token at a time, to the bit (f16, swa 45, q4 K)\n");
}

static void kvcache(qlm_model *m) {
    int32_t toks[1024];
    int n = kv_tokens(m, toks, 1024);
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *full;
    float *full64 = NULL;
    kv_plan(m);
    kv_plan_gemma(getenv("QLM_TEST_GEMMA") ? getenv("QLM_TEST_GEMMA") : "models/gemma-3-270m-Q4_K_M.gguf");
    kv_quality(m);
    kv_recent(m);
    kv_window(m);
    att_tiles(m);
    cp.n_ctx = 512;
    cp.n_batch = 64;
    if (n >= 128 && (full = kv_ctx(m, cp, "full attention, n_batch 64")) != NULL) {
        CHECK(qlm_decode(full, toks, 128, 1) == QLM_OK, "full attention: 128");
        full64 = kv_rows(full, qlm_model_n_vocab(m), 128);
        qlm_ctx_free(full);
    }
    kv_sinks(m, full64);
    kv_h2o(m, full64);
    free(full64);
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : getenv("QLM_TEST_MODEL");
    const char *fixture = argc > 2 ? argv[2] : "test/fixtures/smollm2_golden.txt";
    int golden_only = 0, i;
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--golden-only") == 0) golden_only = 1;
        else if (strcmp(argv[i], "--tol") == 0 && i + 2 < argc) {
            LOGIT_TOL = strtof(argv[i + 1], NULL);
            NEAR_TIE = strtof(argv[i + 2], NULL);
            i += 2;
        } else if (strcmp(argv[i], "--min-records") == 0 && i + 1 < argc) {
            MIN_RECORDS = atoi(argv[++i]);
        }
    }
    qlm_model *m = NULL;
    if (!model) model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    if (qlm_model_load(model, qlm_model_default_params(), &m) != QLM_OK) {
        printf("FAIL: cannot load %s: %s\n", model, qlm_last_error());
        printf("0 passed, 1 failed\n");
        return 1;
    }
    golden(m, fixture);
    if (!golden_only) {
        consistency(m);
        sampling(m);
        kvcache(m);
    }
    qlm_model_free(m);
    if (!golden_only) synthetic(model, "test/fixtures/synth_golden.txt");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
