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
   steps is checked, not only those before the first near-tie. */
static float LOGIT_TOL = 0.75f, NEAR_TIE = 0.4f;
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

/* The same text through one batch, token by token, and in small chunks gives the same logits. */
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
    CHECK(qlm_ctx_new(m, cp, &a) == QLM_OK, "ctx");
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
    }
    qlm_model_free(m);
    if (!golden_only) synthetic(model, "test/fixtures/synth_golden.txt");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
