/* test_quant.c — the >>quantize section of qlm.h: qlm_quantize, qlm_imatrix and their parts.
 *
 *   build/test_quant MODEL [--fixture test/fixtures/quant_smollm2.txt OUTDIR]
 *
 * What is checked:
 *   - round trip per type: quantise -> dequantise on random rows, relative RMS error under a
 *     named per-type limit, with and without an importance matrix; the importance-weighted
 *     error of the imatrix quantisers is well under the plain ones';
 *   - every GPTQ grid (value = a * code + b) reproduces the block's own dequantised values and
 *     re-packs to the same bytes;
 *   - FP8 E4M3: every code round-trips, rounding ties to even, saturation, the dot product,
 *     the private type id on disk and the refusal of the bare slot number;
 *   - imatrix files: qlm's write/read round trip with llama.cpp's names and keys, a file laid
 *     out as llama.cpp writes it (2-D tensors, extra .in_sum), the legacy .dat format;
 *   - GPTQ and AWQ on a synthetic layer cut the output error tr(dW H dW^T) against RTN on the
 *     same activations (and GPTQ against importance-weighted RTN);
 *   - a synthetic model through qlm_quantize with GPTQ and AWQ: same bytes with 1 and 2
 *     threads, loads and runs; qlm_imatrix on the real model;
 *   - bad input: unknown type, missing / corrupt input, output = input, unwritable output,
 *     missing calibration: an error with a message, and neither OUT nor OUT.tmp left behind;
 *   - with --fixture: the per-tensor types of every llama.cpp file type against the types
 *     llama.cpp's own quantizer chose for the same model, a hand-written rule table for
 *     Q4_K_M, and for some file types the SHA-256 of the whole tensor data section against
 *     llama.cpp's file (RTN is bit-identical to llama.cpp); Q4_K_M and Q8_0 files are left in
 *     OUTDIR (written with 2 threads, checked equal to 1 thread) for test/test_quant.sh.
 * The last line printed is "N passed, N failed". */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include "check.h"

/* ---- random numbers ------------------------------------------------------------------------ */
static uint64_t g_rng = 88172645463325252ull;
static double unif(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}
static float normal(void) {
    double u1 = unif() + 1e-12, u2 = unif();
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* ---- SHA-256 (FIPS 180-4), for comparing tensor data with llama.cpp's files ------------------ */
typedef struct {
    uint32_t h[8];
    uint64_t n;
    uint8_t buf[64];
} sha256_ctx;
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};
#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))
static void sha_block(sha256_ctx *c, const uint8_t *p) {
    uint32_t w[64], a, b, cc, d, e, f, g, h, t1, t2;
    int i;
    for (i = 0; i < 16; i++) w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (i = 16; i < 64; i++)
        w[i] = w[i - 16] + (ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3)) + w[i - 7] +
               (ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10));
    a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5], g = c->h[6], h = c->h[7];
    for (i = 0; i < 64; i++) {
        t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K256[i] + w[i];
        t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & cc) ^ (b & cc));
        h = g, g = f, f = e, e = d + t1, d = cc, cc = b, b = a, a = t1 + t2;
    }
    c->h[0] += a, c->h[1] += b, c->h[2] += cc, c->h[3] += d, c->h[4] += e, c->h[5] += f, c->h[6] += g, c->h[7] += h;
}
static void sha_init(sha256_ctx *c) {
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, h0, sizeof h0);
    c->n = 0;
}
static void sha_update(sha256_ctx *c, const uint8_t *p, size_t n) {
    while (n) {
        size_t k = 64 - (size_t)(c->n % 64);
        if (k > n) k = n;
        memcpy(c->buf + c->n % 64, p, k);
        c->n += k, p += k, n -= k;
        if (c->n % 64 == 0) sha_block(c, c->buf);
    }
}
static void sha_hex(sha256_ctx *c, char out[65]) {
    uint64_t bits = c->n * 8;
    uint8_t pad = 0x80, z = 0, len[8];
    int i;
    sha_update(c, &pad, 1);
    while (c->n % 64 != 56) sha_update(c, &z, 1);
    for (i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha_update(c, len, 8);
    for (i = 0; i < 8; i++) sprintf(out + 8 * i, "%08x", c->h[i]);
}

/* SHA-256 of a GGUF file's data section (all tensor data with its padding). */
static int data_sha(const char *path, char out[65]) {
    qlm__gguf *g;
    sha256_ctx c;
    if (qlm__gguf_open(path, &g) != QLM_OK) return 0;
    sha_init(&c);
    sha_update(&c, g->base + g->data_offset, (size_t)g->data_size);
    sha_hex(&c, out);
    qlm__gguf_close(g);
    return 1;
}

static int file_exists(const char *p) {
    FILE *f = fopen(p, "rb");
    if (f) fclose(f);
    return f != NULL;
}

static int files_equal(const char *a, const char *b) {
    qlm__file fa, fb;
    int eq;
    if (qlm__file_open(&fa, a, 1) != QLM_OK) return 0;
    if (qlm__file_open(&fb, b, 1) != QLM_OK) {
        qlm__file_close(&fa);
        return 0;
    }
    eq = fa.size == fb.size && memcmp(fa.data, fb.data, (size_t)fa.size) == 0;
    qlm__file_close(&fa);
    qlm__file_close(&fb);
    return eq;
}

/* ---- round trip per type ------------------------------------------------------------------- */
static void test_roundtrip(void) {
    static const struct {
        qlm_type t;
        double lim;     /* relative RMS error, plain quantiser */
        double lim_w;   /* with an importance matrix */
        double gain;    /* importance-weighted error, imatrix / plain, at most */
    } k[] = {
        {QLM_TYPE_F16, 3e-4, 3e-4, 1.0},      {QLM_TYPE_BF16, 2e-3, 2e-3, 1.0},
        {QLM_TYPE_Q8_0, 0.0065, 0.0065, 1.0}, {QLM_TYPE_Q6_K, 0.021, 0.023, 0.7},
        {QLM_TYPE_Q5_0, 0.050, 0.052, 0.7},   {QLM_TYPE_Q5_1, 0.044, 0.045, 0.6},
        {QLM_TYPE_Q5_K, 0.042, 0.045, 0.6},   {QLM_TYPE_Q4_0, 0.100, 0.103, 0.7},
        {QLM_TYPE_Q4_1, 0.091, 0.092, 0.6},   {QLM_TYPE_Q4_K, 0.083, 0.090, 0.6},
        {QLM_TYPE_Q3_K, 0.175, 0.187, 0.65},  {QLM_TYPE_Q2_K, 0.34, 0.36, 0.5},
        {QLM_TYPE_FP8_E4M3, 0.028, 0.028, 1.0},
    };
    enum { N = 4096, R = 32 };
    static float x[N], y[N], qw[N];
    static uint8_t q[N * 4];
    size_t i;
    for (i = 0; i < sizeof k / sizeof k[0]; i++) {
        double e0 = 0, e1 = 0, s = 0, w0 = 0, w1 = 0;
        int r, j;
        for (r = 0; r < R; r++) {
            for (j = 0; j < N; j++) {
                x[j] = normal() * (r % 4 == 3 ? 1e-3f : 1.0f); /* some tiny rows too */
                qw[j] = (float)exp(2.0 * normal());
                s += (double)x[j] * x[j];
            }
            qlm__quantize_row(k[i].t, x, q, N, NULL);
            qlm__type_traits[k[i].t].to_float(q, y, N);
            for (j = 0; j < N; j++) {
                double d = (double)x[j] - y[j];
                e0 += d * d;
                w0 += qw[j] * d * d;
            }
            qlm__quantize_row(k[i].t, x, q, N, qw);
            qlm__type_traits[k[i].t].to_float(q, y, N);
            for (j = 0; j < N; j++) {
                double d = (double)x[j] - y[j];
                e1 += d * d;
                w1 += qw[j] * d * d;
            }
        }
        CHECK(sqrt(e0 / s) <= k[i].lim, "%s: relative RMS error %.5f > %.5f",
              qlm__type_traits[k[i].t].name, sqrt(e0 / s), k[i].lim);
        CHECK(sqrt(e1 / s) <= k[i].lim_w, "%s with imatrix: relative RMS error %.5f > %.5f",
              qlm__type_traits[k[i].t].name, sqrt(e1 / s), k[i].lim_w);
        CHECK(w1 <= k[i].gain * w0, "%s: importance-weighted error %.4g vs plain %.4g (limit x%.2f)",
              qlm__type_traits[k[i].t].name, w1, w0, k[i].gain);
    }
    /* all-zero rows stay zero, NaN-free */
    {
        static const qlm_type ts[] = {QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1,
                                      QLM_TYPE_Q2_K, QLM_TYPE_Q3_K, QLM_TYPE_Q4_K, QLM_TYPE_Q5_K,
                                      QLM_TYPE_Q6_K, QLM_TYPE_FP8_E4M3};
        int j, bad = 0;
        for (i = 0; i < sizeof ts / sizeof ts[0]; i++) {
            memset(x, 0, sizeof x);
            for (j = 0; j < N; j++) qw[j] = 1.0f;
            qlm__quantize_row(ts[i], x, q, 512, qw);
            qlm__type_traits[ts[i]].to_float(q, y, 512);
            for (j = 0; j < 512; j++) bad += y[j] != 0.0f;
            CHECK(bad == 0, "%s: zero row comes back with %d non-zeros", qlm__type_traits[ts[i]].name, bad);
        }
    }
}

/* ---- GPTQ grids ---------------------------------------------------------------------------- */
static void test_grids(void) {
    static const qlm_type ts[] = {QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1,
                                  QLM_TYPE_Q8_0, QLM_TYPE_Q2_K, QLM_TYPE_Q3_K, QLM_TYPE_Q4_K,
                                  QLM_TYPE_Q5_K, QLM_TYPE_Q6_K};
    enum { N = 1024 };
    static float x[N], y[N], qw[N], a[256], b[256];
    static uint8_t q[N * 2], q2[N * 2], L[256];
    size_t i;
    int pass, j;
    for (i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        const qlm__type_traits_t *tt = &qlm__type_traits[ts[i]];
        int bad_val = 0, bad_bytes = 0;
        for (pass = 0; pass < 2; pass++) {
            int64_t blk;
            for (j = 0; j < N; j++) x[j] = normal(), qw[j] = (float)exp(normal());
            qlm__quantize_row(ts[i], x, q, N, pass ? qw : NULL);
            tt->to_float(q, y, N);
            memcpy(q2, q, qlm__row_size(ts[i], N));
            for (blk = 0; blk < N / tt->blck_size; blk++) {
                uint8_t *bp = q2 + blk * tt->type_size;
                int e, qmax = qlm__block_grid(ts[i], bp, a, b);
                for (e = 0; e < tt->blck_size; e++) {
                    float v = y[blk * tt->blck_size + e];
                    int c = a[e] != 0.0f ? qlm__nearest_int((v - b[e]) / a[e]) : 0;
                    if (a[e] != 0.0f && (c < 0 || c > qmax || fabsf(a[e] * c + b[e] - v) > 1e-5f * (fabsf(v) + fabsf(a[e]))))
                        bad_val++;
                    L[e] = (uint8_t)(c < 0 ? 0 : c > qmax ? qmax : c);
                }
                if (a[0] != 0.0f || ts[i] == QLM_TYPE_Q4_1 || ts[i] == QLM_TYPE_Q5_1) qlm__block_put_codes(ts[i], bp, L);
            }
            bad_bytes += memcmp(q, q2, qlm__row_size(ts[i], N)) != 0;
        }
        CHECK(bad_val == 0, "%s: %d values off their grid", tt->name, bad_val);
        CHECK(bad_bytes == 0, "%s: codes re-packed from the grid differ from the block", tt->name);
    }
}

/* ---- FP8 ----------------------------------------------------------------------------------- */
static void test_fp8(const char *tmpdir) {
    int c, bad = 0;
    for (c = 0; c < 256; c++) {
        if ((c & 0x7f) == 0x7f) continue; /* NaN */
        if (qlm__f32_to_e4m3(qlm__e4m3_to_f32((uint8_t)c)) != c) bad++;
    }
    CHECK(bad == 0, "%d E4M3 codes do not round-trip", bad);
    CHECK(qlm__e4m3_to_f32(0x7e) == 448.0f && qlm__e4m3_to_f32(0x01) == 1.0f / 512 &&
              qlm__e4m3_to_f32(0x38) == 1.0f && qlm__e4m3_to_f32(0xb8) == -1.0f,
          "E4M3 decode of 0x7e 0x01 0x38 0xb8");
    CHECK(qlm__f32_to_e4m3(1000.0f) == 0x7e && qlm__f32_to_e4m3(-1e30f) == 0xfe &&
              qlm__f32_to_e4m3(464.0f) == 0x7e,
          "E4M3 saturates at 448");
    CHECK(qlm__f32_to_e4m3(1.0625f) == 0x38 && qlm__f32_to_e4m3(1.1875f) == 0x3a &&
              qlm__f32_to_e4m3(1.0f / 1024) == 0x00 && qlm__f32_to_e4m3(3.0f / 1024) == 0x02,
          "E4M3 rounds ties to even (normal and subnormal)");
    CHECK(qlm__f32_to_e4m3(NAN) == 0 && qlm__f32_to_e4m3(-0.0f) == 0x80, "E4M3 NaN -> 0, -0 kept");
    {   /* the dot product against dequantise-then-dot */
        enum { N = 256 };
        float x[N], y[N], d[N], s;
        uint8_t q[N * 2];
        double ref = 0;
        int j;
        for (j = 0; j < N; j++) x[j] = normal(), y[j] = normal();
        qlm__quant_row_fp8_ref(x, q, N);
        qlm__dequant_row_fp8_ref(q, d, N);
        for (j = 0; j < N; j++) ref += (double)d[j] * y[j];
        qlm__vec_dot_fp8_ref(N, &s, q, y);
        CHECK(fabs(s - ref) < 1e-4 * (1 + fabs(ref)), "fp8 dot %g vs %g", s, ref);
    }
    {   /* on disk: the private id, and the bare slot number refused */
        char path[512];
        qlm__gguf_writer w;
        qlm__gguf *g = NULL;
        float src[64];
        uint8_t blk[68];
        int64_t ne = 64;
        qlm_status st;
        int j;
        for (j = 0; j < 64; j++) src[j] = normal();
        qlm__quant_row_fp8_ref(src, blk, 64);
        snprintf(path, sizeof path, "%s/fp8.gguf", tmpdir);
        memset(&w, 0, sizeof w);
        qlm__gw_string(&w, "general.architecture", "test");
        qlm__gw_tensor_add(&w, "w", QLM_TYPE_FP8_E4M3, 1, &ne, blk);
        CHECK(qlm__gw_write(&w, path) == QLM_OK, "write an fp8 tensor");
        qlm__gw_free(&w);
        st = qlm__gguf_open(path, &g);
        CHECK(st == QLM_OK && g->n_tensors == 1 && g->tensors[0].type == QLM_TYPE_FP8_E4M3,
              "fp8 tensor reads back as QLM_TYPE_FP8_E4M3 (%s)", qlm_last_error());
        if (st == QLM_OK) {
            /* the type id in the file is the private one: find it after the tensor name */
            const uint8_t *p = g->base;
            uint64_t o;
            uint32_t id = 0;
            for (o = 0; o + 9 < g->size; o++)
                if (memcmp(p + o, "\x01\x00\x00\x00\x00\x00\x00\x00w", 9) == 0) {
                    memcpy(&id, p + o + 9 + 4 + 8, 4);
                    break;
                }
            CHECK(id == QLM_GGUF_TYPE_FP8_E4M3, "fp8 tensor type id on disk 0x%x", id);
            {
                qlm__file f;
                uint8_t *copy;
                qlm__gguf g2;
                qlm__file_open(&f, path, 1);
                copy = (uint8_t *)malloc((size_t)f.size);
                memcpy(copy, f.data, (size_t)f.size);
                memcpy(copy + o + 9 + 4 + 8, "\x2f\x00\x00\x00", 4); /* 47, the slot number */
                memset(&g2, 0, sizeof g2);
                st = qlm__gguf_parse(&g2, copy, f.size, "crafted");
                CHECK(st == QLM_ERR_UNSUPPORTED, "a file using the bare slot number 47 is refused (%d)", st);
                qlm__gguf_free_parsed(&g2);
                free(copy);
                qlm__file_close(&f);
            }
            qlm__gguf_close(g);
        }
        remove(path);
    }
}

/* ---- imatrix files ------------------------------------------------------------------------- */
static void test_imatrix_files(const char *tmpdir) {
    char path[512];
    qlm__imatrix im, rd;
    qlm__gguf *g = NULL;
    int64_t i, j;
    int ok = 1;
    memset(&im, 0, sizeof im);
    snprintf(path, sizeof path, "%s/im.gguf", tmpdir);
    {
        static const char *const names[] = {"blk.1.ffn_down.weight", "blk.0.attn_q.weight", "blk.0.ffn_up.weight"};
        static const int64_t n[] = {96, 64, 64};
        for (i = 0; i < 3; i++) {
            qlm__imat_entry *e = qlm__imatrix_add(&im, names[i], n[i]);
            for (j = 0; j < n[i]; j++) e->sum2[j] = 1.0 + (double)j * 0.25 + (double)i;
            e->count = 100 + (double)i;
        }
    }
    im.chunk_count = 7;
    im.chunk_size = 128;
    snprintf(im.dataset, sizeof im.dataset, "wiki.txt");
    CHECK(qlm__imatrix_write(&im, path) == QLM_OK, "imatrix write: %s", qlm_last_error());
    CHECK(qlm__imatrix_read(path, &rd, NULL) == QLM_OK, "imatrix read: %s", qlm_last_error());
    CHECK(rd.n_e == 3 && rd.chunk_count == 7 && rd.chunk_size == 128 && strcmp(rd.dataset, "wiki.txt") == 0,
          "imatrix round trip: %d entries, chunks %d size %d dataset '%s'", rd.n_e, rd.chunk_count,
          rd.chunk_size, rd.dataset);
    for (i = 0; i < im.n_e; i++) {
        const qlm__imat_entry *e = qlm__imatrix_find(&rd, im.e[i].name);
        if (!e || e->n != im.e[i].n || e->count != im.e[i].count) {
            ok = 0;
            continue;
        }
        for (j = 0; j < e->n; j++) ok &= fabs(e->sum2[j] - im.e[i].sum2[j]) < 1e-6 * im.e[i].sum2[j];
    }
    CHECK(ok, "imatrix round trip: sums and counts");
    /* llama.cpp's names: <name>.in_sum2 / <name>.counts, sorted, and its metadata keys */
    if (qlm__gguf_open(path, &g) == QLM_OK) {
        int64_t kv = qlm__gguf_find(g, "general.type");
        CHECK(kv >= 0 && qlm__str_eq(qlm__gguf_get_str(g, kv), "imatrix"), "general.type = imatrix");
        kv = qlm__gguf_find(g, "imatrix.datasets");
        CHECK(kv >= 0 && qlm__gguf_kv_type(g, kv) == QLM__GGUF_ARR && qlm__gguf_arr_n(g, kv) == 1 &&
                  qlm__str_eq(qlm__gguf_arr_str(g, kv, 0), "wiki.txt"),
              "imatrix.datasets = [wiki.txt]");
        CHECK(qlm__gguf_kv_type(g, qlm__gguf_find(g, "imatrix.chunk_count")) == QLM__GGUF_U32 &&
                  qlm__gguf_kv_type(g, qlm__gguf_find(g, "imatrix.chunk_size")) == QLM__GGUF_U32,
              "imatrix.chunk_count / chunk_size are u32");
        CHECK(g->n_tensors == 6 && qlm__str_eq(g->tensors[0].name, "blk.0.attn_q.weight.in_sum2") &&
                  qlm__str_eq(g->tensors[1].name, "blk.0.attn_q.weight.counts") &&
                  g->tensors[0].ne[0] == 64 && g->tensors[1].ne[0] == 1 &&
                  g->tensors[0].type == QLM_TYPE_F32 && g->tensors[1].type == QLM_TYPE_F32,
              "tensors <name>.in_sum2 [n] and <name>.counts [1], F32, sorted by name");
        qlm__gguf_close(g);
    } else {
        CHECK(0, "reopen the imatrix: %s", qlm_last_error());
    }
    qlm__imatrix_free(&rd);
    /* as llama.cpp writes it: 2-D [n, 1] and [1, 1] tensors, plus <name>.in_sum */
    {
        qlm__gguf_writer w;
        float s2[32], cnt = 50.0f, s1[32];
        int64_t ne2[2] = {32, 1}, nec[2] = {1, 1};
        const char *ds = "x";
        memset(&w, 0, sizeof w);
        for (j = 0; j < 32; j++) s2[j] = (float)(j + 1), s1[j] = 0.5f;
        qlm__gw_string(&w, "general.type", "imatrix");
        qlm__gw_arr_str(&w, "imatrix.datasets", &ds, 1);
        qlm__gw_u32(&w, "imatrix.chunk_count", 3);
        qlm__gw_u32(&w, "imatrix.chunk_size", 512);
        qlm__gw_tensor_add(&w, "blk.0.attn_k.weight.counts", QLM_TYPE_F32, 2, nec, &cnt);
        qlm__gw_tensor_add(&w, "blk.0.attn_k.weight.in_sum", QLM_TYPE_F32, 2, ne2, s1);
        qlm__gw_tensor_add(&w, "blk.0.attn_k.weight.in_sum2", QLM_TYPE_F32, 2, ne2, s2);
        qlm__gw_write(&w, path);
        qlm__gw_free(&w);
        CHECK(qlm__imatrix_read(path, &rd, NULL) == QLM_OK && rd.n_e == 1 && rd.e[0].n == 32 &&
                  rd.e[0].count == 50.0 && rd.e[0].sum2[31] == 32.0 && rd.chunk_count == 3,
              "reads llama.cpp's layout (2-D tensors, extra .in_sum): %s", qlm_last_error());
        qlm__imatrix_free(&rd);
    }
    /* llama.cpp's legacy .dat */
    {
        FILE *f = fopen(path, "wb");
        int32_t v;
        float vals[8];
        const char *nm = "blk.2.attn_v.weight";
        for (j = 0; j < 8; j++) vals[j] = 4.0f * (float)(j + 1); /* mean square * ncall */
        v = 1; fwrite(&v, 4, 1, f);
        v = (int32_t)strlen(nm); fwrite(&v, 4, 1, f); fwrite(nm, 1, strlen(nm), f);
        v = 4; fwrite(&v, 4, 1, f);
        v = 8; fwrite(&v, 4, 1, f); fwrite(vals, 4, 8, f);
        v = 9; fwrite(&v, 4, 1, f);
        fclose(f);
        CHECK(qlm__imatrix_read(path, &rd, NULL) == QLM_OK && rd.n_e == 1 && rd.e[0].n == 8 &&
                  rd.e[0].sum2[1] / rd.e[0].count == 2.0 && rd.chunk_count == 9,
              "reads the legacy .dat layout: %s", qlm_last_error());
        qlm__imatrix_free(&rd);
        f = fopen(path, "wb");
        fwrite("JUNKJUNKJUNK", 1, 12, f);
        fclose(f);
        CHECK(qlm__imatrix_read(path, &rd, NULL) == QLM_ERR_FORMAT, "junk is not an imatrix");
    }
    qlm__imatrix_free(&im);
    remove(path);
}

/* ---- GPTQ and AWQ on a synthetic layer ----------------------------------------------------- */
typedef struct {
    int64_t K, R, T;
    float *W, *H, *X;
    double *mabs;
    float *qw;
} layer_case;

/* correlated inputs with uneven channel scales; `outliers` channels 20x larger */
static void make_layer(layer_case *c, int64_t K, int64_t R, int64_t T, int outliers) {
    int64_t i, j, t;
    float *mix = (float *)malloc((size_t)(K * 8) * sizeof(float)), *scale = (float *)malloc((size_t)K * sizeof(float));
    c->K = K, c->R = R, c->T = T;
    c->W = (float *)malloc((size_t)(R * K) * sizeof(float));
    c->X = (float *)malloc((size_t)(T * K) * sizeof(float));
    c->H = (float *)calloc((size_t)(K * K), sizeof(float));
    c->mabs = (double *)calloc((size_t)K, sizeof(double));
    c->qw = (float *)malloc((size_t)K * sizeof(float));
    for (i = 0; i < K * 8; i++) mix[i] = normal();
    for (j = 0; j < K; j++) scale[j] = (float)exp(0.5 * normal()) * (j < outliers ? 20.0f : 1.0f);
    for (i = 0; i < R * K; i++) c->W[i] = normal() * 0.05f;
    for (t = 0; t < T; t++) {
        float f[8];
        for (i = 0; i < 8; i++) f[i] = normal();
        for (j = 0; j < K; j++) {
            float v = 0.5f * normal();
            for (i = 0; i < 8; i++) v += mix[j * 8 + i] * f[i] * 0.3f; /* shared factors */
            c->X[t * K + j] = v * scale[j];
        }
    }
    for (t = 0; t < T; t++)
        for (i = 0; i < K; i++) {
            float a = c->X[t * K + i];
            c->mabs[i] += fabs((double)a) / (double)T;
            for (j = 0; j < K; j++) c->H[i * K + j] += a * c->X[t * K + j];
        }
    for (j = 0; j < K; j++) c->qw[j] = c->H[j * K + j] / (float)T;
    free(mix);
    free(scale);
}
static void free_layer(layer_case *c) {
    free(c->W), free(c->X), free(c->H), free(c->mabs), free(c->qw);
}
/* tr(dW H dW^T) for the dequantised rows Q (R x K) */
static double out_err(const layer_case *c, const float *Q) {
    double e = 0;
    int64_t r, i, j;
    for (r = 0; r < c->R; r++) {
        const float *w = c->W + r * c->K, *q = Q + r * c->K;
        for (i = 0; i < c->K; i++) {
            double di = (double)w[i] - q[i], s = 0;
            for (j = 0; j < c->K; j++) s += (double)c->H[i * c->K + j] * ((double)w[j] - q[j]);
            e += di * s;
        }
    }
    return e;
}
static void rtn_rows(const layer_case *c, qlm_type t, const float *qw, float *Q) {
    uint8_t *q = (uint8_t *)malloc(qlm__row_size(t, c->K));
    int64_t r;
    for (r = 0; r < c->R; r++) {
        qlm__quantize_row(t, c->W + r * c->K, q, c->K, qw);
        qlm__type_traits[t].to_float(q, Q + r * c->K, c->K);
    }
    free(q);
}

static void test_gptq_awq_layer(void) {
    static const struct {
        qlm_type t;
        double vs_rtn;  /* GPTQ output error / RTN's, at most */
    } k[] = {{QLM_TYPE_Q4_0, 0.7}, {QLM_TYPE_Q4_K, 0.7}, {QLM_TYPE_Q3_K, 0.7}, {QLM_TYPE_Q2_K, 0.7}, {QLM_TYPE_Q5_0, 0.8}};
    layer_case c;
    qlm__pool *pool = NULL;
    float *U, *Q;
    uint8_t *out;
    size_t i;
    int64_t r;
    qlm__pool_new(2, &pool);
    make_layer(&c, 256, 48, 1536, 4);
    U = (float *)malloc((size_t)(c.K * c.K) * sizeof(float));
    Q = (float *)malloc((size_t)(c.R * c.K) * sizeof(float));
    out = (uint8_t *)malloc((size_t)(c.R * c.K) * 2);
    CHECK(qlm__gptq_factor(pool, c.H, c.K, 0.01, U) == QLM_OK, "GPTQ factor: %s", qlm_last_error());
    {   /* U^T U = (H + damp)^-1: check (U^T U)(H + damp I) ~ I on a few columns */
        double mean = 0, worst = 0;
        int64_t a, b2, m;
        for (a = 0; a < c.K; a++) mean += c.H[a * c.K + a];
        mean = 0.01 * mean / (double)c.K;
        for (b2 = 0; b2 < c.K; b2 += 37) {
            for (a = 0; a < c.K; a += 5) {
                double s = 0;
                for (m = 0; m < c.K; m++) {
                    double inv = 0; /* (U^T U)[a][m] */
                    int64_t l;
                    for (l = 0; l <= (a < m ? a : m); l++) inv += (double)U[l * c.K + a] * U[l * c.K + m];
                    s += inv * ((double)c.H[m * c.K + b2] + (m == b2 ? mean : 0.0));
                }
                s -= a == b2 ? 1.0 : 0.0;
                worst = fabs(s) > worst ? fabs(s) : worst;
            }
        }
        CHECK(worst < 2e-3, "U^T U (H + damping) = I to %.2g", worst);
    }
    for (i = 0; i < sizeof k / sizeof k[0]; i++) {
        qlm__gptq_job gj;
        double e_rtn, e_imat, e_gptq;
        rtn_rows(&c, k[i].t, NULL, Q);
        e_rtn = out_err(&c, Q);
        rtn_rows(&c, k[i].t, c.qw, Q);
        e_imat = out_err(&c, Q);
        memset(&gj, 0, sizeof gj);
        gj.type = k[i].t, gj.K = c.K, gj.R = c.R, gj.W = c.W, gj.U = U, gj.qw = c.qw, gj.out = out;
        qlm__pool_run(pool, qlm__gptq_rows, &gj);
        for (r = 0; r < c.R; r++)
            qlm__type_traits[k[i].t].to_float(out + r * qlm__row_size(k[i].t, c.K), Q + r * c.K, c.K);
        e_gptq = out_err(&c, Q);
        printf("# GPTQ %-5s output error: RTN %.4g, imatrix RTN %.4g (%.0f%%), GPTQ %.4g (%.0f%%)\n",
               qlm__type_traits[k[i].t].name, e_rtn, e_imat, 100 * (1 - e_imat / e_rtn), e_gptq,
               100 * (1 - e_gptq / e_rtn));
        CHECK(e_gptq < k[i].vs_rtn * e_rtn && e_gptq < e_imat,
              "GPTQ %s: output error %.4g vs RTN %.4g, imatrix RTN %.4g", qlm__type_traits[k[i].t].name,
              e_gptq, e_rtn, e_imat);
    }
    /* AWQ: the scale search on the same layer, with outlier channels */
    {
        static const qlm_type ta[] = {QLM_TYPE_Q4_0, QLM_TYPE_Q4_K, QLM_TYPE_Q3_K};
        for (i = 0; i < sizeof ta / sizeof ta[0]; i++) {
            qlm__awq_job aj;
            float *s = (float *)malloc((size_t)c.K * sizeof(float)), *qws = (float *)malloc((size_t)c.K * sizeof(float));
            float *Ws = (float *)malloc((size_t)(c.R * c.K) * sizeof(float));
            uint8_t *q = (uint8_t *)malloc(qlm__row_size(ta[i], c.K));
            double e_rtn, e_awq;
            int best = 0, a2;
            int64_t j;
            memset(&aj, 0, sizeof aj);
            aj.n_mat = 1, aj.W[0] = c.W, aj.R[0] = c.R, aj.type[0] = ta[i], aj.K = c.K, aj.H = c.H,
            aj.mabs = c.mabs, aj.qw = c.qw;
            qlm__pool_run(pool, qlm__awq_eval, &aj);
            for (a2 = 1; a2 < QLM__AWQ_GRID; a2++)
                if (aj.err[a2] < aj.err[best]) best = a2;
            qlm__awq_scales(c.mabs, c.K, (double)best / QLM__AWQ_GRID, s);
            for (j = 0; j < c.K; j++) qws[j] = c.qw[j] / (s[j] * s[j]);
            for (r = 0; r < c.R; r++) { /* Q = quantise(W diag(s)) / s */
                for (j = 0; j < c.K; j++) Ws[r * c.K + j] = c.W[r * c.K + j] * s[j];
                qlm__quantize_row(ta[i], Ws + r * c.K, q, c.K, qws);
                qlm__type_traits[ta[i]].to_float(q, Q + r * c.K, c.K);
                for (j = 0; j < c.K; j++) Q[r * c.K + j] /= s[j];
            }
            e_awq = out_err(&c, Q);
            rtn_rows(&c, ta[i], NULL, Q);
            e_rtn = out_err(&c, Q);
            printf("# AWQ  %-5s output error: RTN %.4g, AWQ %.4g (%.0f%%, alpha %.2f)\n",
                   qlm__type_traits[ta[i]].name, e_rtn, e_awq, 100 * (1 - e_awq / e_rtn),
                   (double)best / QLM__AWQ_GRID);
            CHECK(best > 0 && e_awq < 0.8 * e_rtn, "AWQ %s: alpha %d/20, output error %.4g vs RTN %.4g",
                  qlm__type_traits[ta[i]].name, best, e_awq, e_rtn);
            free(s), free(qws), free(Ws), free(q);
        }
    }
    free(U), free(Q), free(out);
    free_layer(&c);
    qlm__pool_free(pool);
}

/* ---- the whole pipeline on a synthetic model ----------------------------------------------- */
static const char *k_calib =
    "The river ran past the old mill, where the miller's daughter counted sacks of grain and "
    "wrote the numbers in a ledger. In spring the water rose and the wheel turned faster; in "
    "autumn the leaves clogged the sluice and the work slowed. Travellers stopped to ask the "
    "way to the city, and she drew them maps on the back of receipts. One of them, a surveyor "
    "with a brass instrument, stayed a week and measured the height of every hill around. ";

static char *calib_text(size_t *len) {
    size_t n = strlen(k_calib), i;
    char *t = (char *)malloc(n * 12 + 1);
    for (i = 0; i < 12; i++) memcpy(t + i * n, k_calib, n);
    t[n * 12] = 0;
    *len = n * 12;
    return t;
}

static void test_pipeline(const char *model, const char *tmpdir) {
    char syn[512], o1[512], o2[512], tmp[600], bad[512];
    qlm_synth_params sp;
    qlm_quantize_params qp;
    qlm_status st;
    size_t len;
    char *text = calib_text(&len);
    int m;
    memset(&sp, 0, sizeof sp);
    sp.n_embd = 256, sp.n_layer = 2, sp.n_head = 4, sp.n_head_kv = 2, sp.n_ff = 512;
    sp.type = QLM_TYPE_F16;
    sp.seed = 7;
    snprintf(syn, sizeof syn, "%s/syn.gguf", tmpdir);
    st = qlm_write_synthetic(syn, model, sp, NULL, NULL);
    CHECK(st == QLM_OK, "synthetic model: %s", qlm_last_error());
    if (st != QLM_OK) {
        free(text);
        return;
    }
    for (m = QLM_QUANT_AWQ; m <= QLM_QUANT_GPTQ; m++) {
        const char *mn = m == QLM_QUANT_AWQ ? "awq" : "gptq";
        qlm_model *qm = NULL;
        snprintf(o1, sizeof o1, "%s/syn_%s_t1.gguf", tmpdir, mn);
        snprintf(o2, sizeof o2, "%s/syn_%s_t2.gguf", tmpdir, mn);
        qp = qlm_quantize_default_params();
        qp.type = "Q4_K_M";
        qp.method = (qlm_quant_method)m;
        qp.calib_text = text;
        qp.calib_len = len;
        qp.calib_ctx = 64;
        qp.calib_chunks = 2;
        qp.n_threads = 1;
        st = qlm_quantize(syn, o1, qp);
        CHECK(st == QLM_OK, "%s with 1 thread: %s", mn, qlm_last_error());
        qp.n_threads = 2;
        st = qlm_quantize(syn, o2, qp);
        CHECK(st == QLM_OK, "%s with 2 threads: %s", mn, qlm_last_error());
        CHECK(files_equal(o1, o2), "%s: the same bytes with 1 and 2 threads", mn);
        snprintf(tmp, sizeof tmp, "%s.tmp", o2);
        CHECK(!file_exists(tmp), "%s: no %s left", mn, tmp);
        st = qlm_model_load(o2, qlm_model_default_params(), &qm);
        CHECK(st == QLM_OK, "%s output loads: %s", mn, qlm_last_error());
        if (st == QLM_OK) {
            qlm_ctx *c = NULL;
            qlm_ctx_params cp = qlm_ctx_default_params();
            int32_t toks[4] = {1, 2, 3, 4};
            cp.n_ctx = 64;
            cp.n_threads = 2;
            CHECK(qlm_ctx_new(qm, cp, &c) == QLM_OK && qlm_decode(c, toks, 4, 0) == QLM_OK &&
                      qlm_logits(c, -1) && qlm_logits(c, -1)[0] == qlm_logits(c, -1)[0],
                  "%s output runs", mn);
            qlm_ctx_free(c);
            qlm_model_free(qm);
        }
        remove(o1);
        remove(o2);
    }
    /* FP8: every matrix fp8, metadata, runs close to the original */
    {
        qlm_model *a = NULL, *b = NULL;
        snprintf(o1, sizeof o1, "%s/syn_fp8.gguf", tmpdir);
        qp = qlm_quantize_default_params();
        qp.type = "FP8";
        qp.n_threads = 2;
        st = qlm_quantize(syn, o1, qp);
        CHECK(st == QLM_OK, "FP8: %s", qlm_last_error());
        if (st == QLM_OK && qlm_model_load(syn, qlm_model_default_params(), &a) == QLM_OK &&
            qlm_model_load(o1, qlm_model_default_params(), &b) == QLM_OK) {
            qlm_ctx *ca = NULL, *cb = NULL;
            qlm_ctx_params cp = qlm_ctx_default_params();
            int32_t toks[8] = {10, 200, 3000, 40, 500, 6000, 70, 800};
            const float *la, *lb;
            int n_fp8 = 0, i, nv = qlm_model_n_vocab(a);
            double num = 0, den = 0;
            int64_t kv = qlm__gguf_find(b->gguf, "qlm.fp8.format");
            for (i = 0; i < qlm_model_tensor_count(b); i++) {
                const char *nm;
                qlm_type t;
                int64_t ne[4];
                uint64_t by;
                qlm_model_tensor(b, i, &nm, &t, ne, &by);
                n_fp8 += t == QLM_TYPE_FP8_E4M3;
            }
            CHECK(n_fp8 == 2 * 7 + 1, "FP8: %d fp8 tensors (14 matrices + token_embd)", n_fp8);
            CHECK(kv >= 0 && qlm__str_eq(qlm__gguf_get_str(b->gguf, kv), "e4m3fn") &&
                      qlm__gguf_find(b->gguf, "qlm.fp8.block_size") >= 0,
                  "FP8 metadata qlm.fp8.format / block_size");
            cp.n_ctx = 64;
            cp.n_threads = 2;
            qlm_ctx_new(a, cp, &ca);
            qlm_ctx_new(b, cp, &cb);
            qlm_decode(ca, toks, 8, 0);
            qlm_decode(cb, toks, 8, 0);
            la = qlm_logits(ca, -1), lb = qlm_logits(cb, -1);
            for (i = 0; i < nv; i++) num += ((double)la[i] - lb[i]) * ((double)la[i] - lb[i]), den += (double)la[i] * la[i];
            CHECK(sqrt(num / den) < 0.1, "FP8 logits within %.3f (relative RMS) of the F16 model", sqrt(num / den));
            qlm_ctx_free(ca);
            qlm_ctx_free(cb);
        }
        qlm_model_free(a);
        qlm_model_free(b);
        remove(o1);
    }
    /* bad input: an error with a message, and no OUT or OUT.tmp */
    {
        struct {
            const char *in, *out, *type;
            int method, calib;
            qlm_status want;
            const char *what;
        } bc[6];
        int i, n = 0;
        FILE *f;
        snprintf(o1, sizeof o1, "%s/bad_out.gguf", tmpdir);
        snprintf(o2, sizeof o2, "%s/no/such/dir/out.gguf", tmpdir);
        snprintf(bad, sizeof bad, "%s/truncated.gguf", tmpdir);
        {   /* a truncated copy of the synthetic model */
            qlm__file sf;
            qlm__file_open(&sf, syn, 1);
            f = fopen(bad, "wb");
            fwrite(sf.data, 1, (size_t)(sf.size / 2), f);
            fclose(f);
            qlm__file_close(&sf);
        }
#define BC(i_, o_, t_, m_, c_, w_, s_) \
    bc[n].in = i_, bc[n].out = o_, bc[n].type = t_, bc[n].method = m_, bc[n].calib = c_, bc[n].want = w_, bc[n].what = s_, n++
        BC(syn, o1, "Q4_X", 0, 0, QLM_ERR_INVALID_ARG, "unknown type");
        BC("/nonexistent/in.gguf", o1, "Q4_0", 0, 0, QLM_ERR_IO, "missing input");
        BC(bad, o1, "Q4_0", 0, 0, QLM_ERR_FORMAT, "truncated input");
        BC(syn, syn, "Q4_0", 0, 0, QLM_ERR_INVALID_ARG, "output = input");
        BC(syn, o2, "Q4_0", 0, 0, QLM_ERR_IO, "unwritable output");
        BC(syn, o1, "Q4_0", QLM_QUANT_GPTQ, 0, QLM_ERR_INVALID_ARG, "gptq without calibration");
#undef BC
        for (i = 0; i < n; i++) {
            qp = qlm_quantize_default_params();
            qp.type = bc[i].type;
            qp.method = (qlm_quant_method)bc[i].method;
            qp.n_threads = 2;
            qlm__err_buf[0] = 0;
            st = qlm_quantize(bc[i].in, bc[i].out, qp);
            snprintf(tmp, sizeof tmp, "%s.tmp", bc[i].out);
            CHECK(st == bc[i].want && qlm_last_error()[0] != 0, "%s: status %d (want %d), '%s'",
                  bc[i].what, st, bc[i].want, qlm_last_error());
            CHECK(!file_exists(tmp) && (bc[i].out == syn || !file_exists(bc[i].out)),
                  "%s: no output file left behind", bc[i].what);
        }
        remove(bad);
    }
    remove(syn);
    free(text);
}

/* qlm_imatrix on the real model: every layer matrix, counts = tokens seen. */
static void test_imatrix_model(const char *model, const char *tmpdir) {
    char out[512];
    qlm_imatrix_params ip = qlm_imatrix_default_params();
    qlm__imatrix rd;
    size_t len;
    char *text = calib_text(&len);
    qlm_status st;
    snprintf(out, sizeof out, "%s/model_imatrix.gguf", tmpdir);
    ip.n_ctx = 32;
    ip.n_chunks = 2;
    ip.n_threads = 2;
    ip.dataset = "calib";
    st = qlm_imatrix(model, text, len, out, ip);
    CHECK(st == QLM_OK, "qlm_imatrix: %s", qlm_last_error());
    if (st == QLM_OK && qlm__imatrix_read(out, &rd, NULL) == QLM_OK) {
        const qlm__imat_entry *q = qlm__imatrix_find(&rd, "blk.0.attn_q.weight"),
                              *k = qlm__imatrix_find(&rd, "blk.0.attn_k.weight"),
                              *d = qlm__imatrix_find(&rd, "blk.29.ffn_down.weight");
        int same = q && k && q->n == k->n, pos = 1;
        int64_t j;
        for (j = 0; same && j < q->n; j++) same &= q->sum2[j] == k->sum2[j];
        for (j = 0; d && j < d->n; j++) pos &= d->sum2[j] >= 0;
        CHECK(rd.n_e == 30 * 7 && rd.chunk_count == 2 && rd.chunk_size == 32,
              "imatrix of SmolLM2: %d entries (210), %d chunks of %d", rd.n_e, rd.chunk_count, rd.chunk_size);
        CHECK(q && q->count == 64 && d && d->n == 1536 && d->count == 64 && pos,
              "attn_q / ffn_down entries: 576 / 1536 columns, 64 tokens each");
        CHECK(same, "attn_q and attn_k see the same inputs");
        qlm__imatrix_free(&rd);
    }
    remove(out);
    free(text);
}

/* ---- rules and llama.cpp's fixture --------------------------------------------------------- */

/* Q4_K_M on SmolLM2 (30 layers, rows of 576 and 1536, tied embeddings), written out by hand
   from llama.cpp's rules: 576 is no multiple of 256, so Q4_K falls back to Q5_0 and Q6_K to
   Q8_0; ffn_down rows (1536) keep the k-quants. */
static qlm_type q4km_expect(const char *name, int layer) {
    int more = layer < 3 || layer >= 26 || (layer - 3) % 3 == 2;
    if (strstr(name, "_norm")) return QLM_TYPE_F32;
    if (strcmp(name, "token_embd.weight") == 0) return QLM_TYPE_Q8_0;
    if (strstr(name, "attn_v.weight")) return more ? QLM_TYPE_Q8_0 : QLM_TYPE_Q5_0;
    if (strstr(name, "ffn_down.weight")) return more ? QLM_TYPE_Q6_K : QLM_TYPE_Q4_K;
    return QLM_TYPE_Q5_0;
}

static int plan_types(const char *model, const char *ft_name, qlm__qstate *s) {
    qlm__rules ru;
    qlm_quantize_params p = qlm_quantize_default_params();
    int64_t nq = 0;
    int fp8 = 0;
    const qlm__ftype_info *ft = qlm__ftype_find(ft_name);
    memset(s, 0, sizeof *s);
    memset(&ru, 0, sizeof ru);
    if (!ft || qlm__gguf_open(model, &s->g) != QLM_OK) return 0;
    return qlm__q_plan(s, &ru, ft, &p, &nq, &fp8) == QLM_OK;
}
static void plan_free(qlm__qstate *s) {
    QLM_FREE(s->t);
    qlm__gguf_close(s->g);
    while (s->n_keep > 0) QLM_FREE(s->keep[--s->n_keep]);
    QLM_FREE(s->keep);
}

static void test_rules(const char *model) {
    qlm__qstate s;
    int64_t i;
    int bad = 0;
    if (!plan_types(model, "Q4_K_M", &s)) {
        CHECK(0, "plan Q4_K_M for %s", model);
        return;
    }
    for (i = 0; i < s.n_t; i++) {
        qlm_type want = q4km_expect(s.t[i].name, s.t[i].layer);
        if (s.t[i].to != want) {
            if (bad++ < 5) printf("FAIL %s: %s, expected %s\n", s.t[i].name, qlm_type_name(s.t[i].to), qlm_type_name(want));
        }
    }
    CHECK(s.n_t == 272 && bad == 0, "Q4_K_M types against the hand-written rule table: %d wrong", bad);
    plan_free(&s);
    /* --pure and a --tensor-type override */
    {
        qlm__rules ru;
        qlm_quantize_params p = qlm_quantize_default_params();
        const char *tt[] = {"attn_v=q8_0", "blk\\.1[0-9]\\.ffn_down=Q2_K", NULL};
        int64_t nq = 0;
        int fp8 = 0, ok_v = 1, ok_d = 1, ok_o = 1;
        memset(&s, 0, sizeof s);
        memset(&ru, 0, sizeof ru);
        p.tensor_types = tt;
        p.pure = 1;
        qlm__gguf_open(model, &s.g);
        CHECK(qlm__q_plan(&s, &ru, qlm__ftype_find("q4_0"), &p, &nq, &fp8) == QLM_OK, "plan with overrides");
        for (i = 0; i < s.n_t; i++) {
            const char *n = s.t[i].name;
            if (strstr(n, "attn_v.weight")) ok_v &= s.t[i].to == QLM_TYPE_Q8_0;
            else if (strstr(n, "ffn_down") && s.t[i].layer >= 10 && s.t[i].layer <= 19) ok_d &= s.t[i].to == QLM_TYPE_Q2_K;
            else if (!strstr(n, "norm")) ok_o &= s.t[i].to == QLM_TYPE_Q4_0;
        }
        CHECK(ok_v && ok_d && ok_o, "--pure Q4_0 with overrides: attn_v %d, blk.1x ffn_down %d, rest q4_0 %d", ok_v, ok_d, ok_o);
#if !defined(_WIN32)
        for (i = 0; i < ru.n_re; i++) regfree(&ru.re[i]);
        QLM_FREE(ru.re);
#endif
        QLM_FREE(ru.re_type);
        plan_free(&s);
    }
}

/* make_quant_fixtures.py's synthetic importance matrix: no forward pass, the same on every
   machine. Column j of blk.* matrix `name`: 1 + ((fnv1a(name) + j * 2654435761) mod 2^32)
   mod 997, count 1. */
static int synthetic_imatrix(const char *model, const char *path) {
    qlm__gguf *g;
    qlm__imatrix im;
    int64_t i, j;
    int ok;
    memset(&im, 0, sizeof im);
    if (qlm__gguf_open(model, &g) != QLM_OK) return 0;
    for (i = 0; i < g->n_tensors; i++) {
        const qlm__gguf_tensor *t = &g->tensors[i];
        char nm[80];
        uint32_t h = 2166136261u;
        qlm__imat_entry *e;
        snprintf(nm, sizeof nm, "%.*s", (int)t->name.len, t->name.ptr);
        if (strncmp(nm, "blk.", 4) != 0 || t->n_dims != 2 || strstr(nm, "norm")) continue;
        for (j = 0; nm[j]; j++) h = (h ^ (uint8_t)nm[j]) * 16777619u;
        e = qlm__imatrix_add(&im, nm, t->ne[0]);
        for (j = 0; j < t->ne[0]; j++) e->sum2[j] = 1 + (uint32_t)(h + (uint32_t)j * 2654435761u) % 997;
        e->count = 1;
    }
    qlm__gguf_close(g);
    ok = qlm__imatrix_write(&im, path) == QLM_OK;
    qlm__imatrix_free(&im);
    return ok;
}

/* fixture lines: "names N n1 n2 ...", "types FT t1 t2 ...", "datasha FT hex",
   "imatsha FT hex" */
static void test_fixture(const char *model, const char *fixture, const char *outdir) {
    FILE *f = fopen(fixture, "r");
    static char line[65536];
    char **names = NULL;
    int n_names = 0, n_types = 0, n_sha = 0;
    CHECK(f != NULL, "open %s", fixture);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        char *tok = strtok(line, " \n");
        if (!tok || tok[0] == '#') continue;
        if (strcmp(tok, "names") == 0) {
            int n = atoi(strtok(NULL, " \n")), i;
            names = (char **)calloc((size_t)n, sizeof(char *));
            for (i = 0; i < n; i++) {
                const char *nm = strtok(NULL, " \n");
                names[i] = qlm__strndup(nm ? nm : "", nm ? strlen(nm) : 0);
            }
            n_names = n;
        } else if (strcmp(tok, "types") == 0) {
            char *ft = strtok(NULL, " \n");
            qlm__qstate s;
            int i, bad = 0;
            if (!plan_types(model, ft, &s)) {
                CHECK(0, "plan %s", ft);
                continue;
            }
            for (i = 0; i < n_names; i++) {
                char *want = strtok(NULL, " \n");
                int64_t k;
                for (k = 0; k < s.n_t; k++)
                    if (strcmp(s.t[k].name, names[i]) == 0) break;
                if (!want || k == s.n_t || !qlm__strieq(qlm_type_name(s.t[k].to), want)) {
                    if (bad++ < 3)
                        printf("FAIL %s %s: qlm %s, llama.cpp %s\n", ft, names[i],
                               k < s.n_t ? qlm_type_name(s.t[k].to) : "(missing)", want ? want : "?");
                }
            }
            CHECK(bad == 0 && s.n_t == n_names, "%s: %d of %d tensor types differ from llama.cpp's", ft, bad, n_names);
            n_types++;
            plan_free(&s);
        } else if (strcmp(tok, "datasha") == 0 || strcmp(tok, "imatsha") == 0) {
            char *ft = strtok(NULL, " \n"), *want = strtok(NULL, " \n"), out[512], out1[512], got[65] = "";
            char imat[512];
            qlm_quantize_params qp = qlm_quantize_default_params();
            qlm_status st;
            qp.type = ft;
            qp.n_threads = 2;
            if (tok[0] == 'i') {
                snprintf(imat, sizeof imat, "%s/synthetic_imatrix.gguf", outdir);
                CHECK(synthetic_imatrix(model, imat), "write the synthetic imatrix");
                qp.imatrix_path = imat;
                snprintf(out, sizeof out, "%s/smollm2_%s_imatrix.gguf", outdir, ft);
                st = qlm_quantize(model, out, qp);
                CHECK(st == QLM_OK && data_sha(out, got) && strcmp(got, want) == 0,
                      "%s with an imatrix: tensor data sha256 %s, llama.cpp's %s (%s)", ft, got, want,
                      qlm_last_error());
                remove(out);
                remove(imat);
                n_sha++;
                continue;
            }
            snprintf(out, sizeof out, "%s/smollm2_%s.gguf", outdir, ft);
            st = qlm_quantize(model, out, qp);
            CHECK(st == QLM_OK && data_sha(out, got) && strcmp(got, want) == 0,
                  "%s: tensor data sha256 %s, llama.cpp's %s (%s)", ft, got, want, qlm_last_error());
            if (strcmp(ft, "Q4_K_M") == 0 || strcmp(ft, "Q8_0") == 0) {
                qp.n_threads = 1;
                snprintf(out1, sizeof out1, "%s/smollm2_%s_t1.gguf", outdir, ft);
                st = qlm_quantize(model, out1, qp);
                CHECK(st == QLM_OK && files_equal(out, out1), "%s: the same file with 1 and 2 threads", ft);
                remove(out1);
            } else {
                remove(out);
            }
            n_sha++;
        }
    }
    fclose(f);
    CHECK(n_types >= 10 && n_sha >= 6, "fixture has %d type lists and %d data hashes", n_types, n_sha);
    while (n_names > 0) QLM_FREE(names[--n_names]);
    free(names);
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : getenv("QLM_TEST_MODEL");
    const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    int i;
    if (!model) model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    for (i = 2; i < argc; i++)
        if (strcmp(argv[i], "--fixture") == 0 && i + 2 < argc) {
            test_fixture(model, argv[i + 1], argv[i + 2]);
            printf("%d passed, %d failed\n", g_pass, g_fail);
            return g_fail != 0;
        }
    test_roundtrip();
    test_grids();
    test_fp8(tmpdir);
    test_imatrix_files(tmpdir);
    test_gptq_awq_layer();
    test_rules(model);
    test_pipeline(model, tmpdir);
    test_imatrix_model(model, tmpdir);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
