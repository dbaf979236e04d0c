/* test_kernels.c — the SIMD kernels (the >>kernels-x86 and >>kernels-arm sections of qlm.h) against
 * their scalar twins in its >>types section.
 *
 *   gcc -std=c99 -O2 -g -Wall -Wextra -Wpedantic -Wundef -I. test/test_kernels.c -o test_kernels -lm -lpthread
 *   ./test_kernels            run the tests
 *   ./test_kernels --bench    ns per call and GB/s of weight bytes, ref vs each variant, and
 *                             the 8-row dots against the one-row ones (cache-resident rows;
 *                             K = 576, 1536, 2048: the K-quants at 1536 and 2048)
 *
 * For every kernel variant this CPU runs (others are skipped with a note and count nothing):
 *   - coverage: the variant really replaces every dot product and activation quantiser it
 *     is meant to (so a forgotten fill line fails, rather than silently testing the ref);
 *   - quantisers (q8_0, q8_1, q8_K, f16, bf16 rows): bytes EXACTLY equal to the reference,
 *     on random rows, exact rounding ties, zeros, constants, one-hot rows, equal +-max ties,
 *     subnormal / huge magnitudes, and (f16/bf16) inf and NaN;
 *   - dot products, every weight type against its activation type, on 1..8 blocks (1..3
 *     super-blocks for the K-quants) plus real row lengths (576, 2048): quantised random
 *     rows, random bytes, and adversarial blocks (every byte 0x00 / 0xff / 0x77 / 0x88 /
 *     0x7f / 0x81 / 0x55, scales zero, subnormal, smallest normal, one, largest finite).
 *     Quantised types must be bit-identical to the reference (integer sums are exact and
 *     the kernels repeat the reference's float expressions in its order).  Float rows
 *     (f32/f16/bf16) sum in a different order, so there the check is
 *         |simd - ref| <= tol[type] * M + 1e-30,
 *     M = sum over elements of |x_j| * |y_j| from the dequantised rows (for types with a
 *     min, |scale part| + |min part| of x_j, so cancelling terms still count), which bounds
 *     the size of every partial sum.  The tolerances are in k_dot_cases below.
 *   - the 8-row dots (vec_dot8 on x86: the 32-block types and q3_K..q6_K): each of the 8
 *     results bit-identical to the reference and to the one-row dot on its own row.
 * The last line printed is "N passed, N failed"; the exit status is 1 on failure. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, for --bench */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include <time.h>

#include "check.h"

/* ---- deterministic random numbers (xorshift64*) ------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) {
    g_rng ^= g_rng >> 12; g_rng ^= g_rng << 25; g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}
static uint32_t rng_below(uint32_t n) { return (uint32_t)((rng_u64() >> 32) % n); }
static float rng_uniform(void) { return (float)(rng_u64() >> 40) / 16777216.0f; } /* [0,1) */
static float rng_normal(void) {
    int64_t s = 0;
    int k;
    for (k = 0; k < 4; k++) s += (int64_t)(rng_u64() >> 40);
    return (float)(s - 33554432) * (1.7320508f / 16777216.0f);
}

/* ---- the cases ----------------------------------------------------------- */

/* Limits, relative to M (see the top).  EXACT (0) means bit-identical to the reference.
 *  TOL_FLOAT_ROW  f32/f16/bf16: the ref sums float products in double, the SIMD code in 32
 *                 float lanes (FMA: products unrounded); with n <= 2048 a lane adds <= 64
 *                 terms, plus the 5-step reduction: error <= ~70 * 2^-24 * M = 4.2e-6 * M;
 *                 the limit is ~2x that, still ~1e5 below one wrong element.
 *  EXACT          every quantised type (q4_0 q4_1 q5_0 q5_1 q8_0 q2_K..q6_K): the kernels
 *                 sum integers exactly and then repeat the reference's float expressions in
 *                 its order (per block for the 32-blocks; per index-mod-8 lane for the
 *                 K-quants), so any difference at all is a bug. */
#define TOL_FLOAT_ROW 1e-5
#define EXACT         0.0
#define ABS_FLOOR     1e-30 /* results in the float subnormal range lose relative precision */

typedef struct {
    qlm_type type;
    double   tol;
    int      d_off, m_off; /* byte offsets of the fp16 scale and min fields, -1 if none */
} dot_case;

static const dot_case k_dot_cases[] = {
    {QLM_TYPE_F32, TOL_FLOAT_ROW, -1, -1},
    {QLM_TYPE_F16, TOL_FLOAT_ROW, -1, -1},
    {QLM_TYPE_BF16, TOL_FLOAT_ROW, -1, -1},
    {QLM_TYPE_Q4_0, EXACT, (int)offsetof(qlm__block_q4_0, d), -1},
    {QLM_TYPE_Q4_1, EXACT, (int)offsetof(qlm__block_q4_1, d), (int)offsetof(qlm__block_q4_1, m)},
    {QLM_TYPE_Q5_0, EXACT, (int)offsetof(qlm__block_q5_0, d), -1},
    {QLM_TYPE_Q5_1, EXACT, (int)offsetof(qlm__block_q5_1, d), (int)offsetof(qlm__block_q5_1, m)},
    {QLM_TYPE_Q8_0, EXACT, (int)offsetof(qlm__block_q8_0, d), -1},
    {QLM_TYPE_Q2_K, EXACT, (int)offsetof(qlm__block_q2_K, d), (int)offsetof(qlm__block_q2_K, dmin)},
    {QLM_TYPE_Q3_K, EXACT, (int)offsetof(qlm__block_q3_K, d), -1},
    {QLM_TYPE_Q4_K, EXACT, (int)offsetof(qlm__block_q4_K, d), (int)offsetof(qlm__block_q4_K, dmin)},
    {QLM_TYPE_Q5_K, EXACT, (int)offsetof(qlm__block_q5_K, d), (int)offsetof(qlm__block_q5_K, dmin)},
    {QLM_TYPE_Q6_K, EXACT, (int)offsetof(qlm__block_q6_K, d), -1},
};
#define N_DOT_CASES ((int)(sizeof k_dot_cases / sizeof k_dot_cases[0]))

/* activation quantisers a variant must provide */
static const qlm_type k_act_types[] = {QLM_TYPE_Q8_0, QLM_TYPE_Q8_1, QLM_TYPE_Q8_K, QLM_TYPE_F16, QLM_TYPE_BF16};
#define N_ACT_TYPES ((int)(sizeof k_act_types / sizeof k_act_types[0]))

static const char *const k_variants[] = {"avx2", "avx512", "neon"};
#define N_VARIANTS ((int)(sizeof k_variants / sizeof k_variants[0]))

#define MAX_N 4096
#define MAX_BYTES (MAX_N * 4 + 1024)

static void put_f16(uint8_t *p, qlm__f16 h) { memcpy(p, &h, 2); }

/* ---- activation quantisers: exact bytes ---------------------------------- */

/* Fill n floats with pattern `mode` (see the switch); blk = the type's block size. */
static void gen_floats(float *x, int n, int mode, int blk) {
    int i, j;
    float sc;
    switch (mode) {
    case 0: /* normal, random per-block scale over 60 decades */
        for (i = 0; i < n; i += blk) {
            sc = powf(10.0f, (float)rng_below(61) - 30.0f);
            for (j = i; j < i + blk && j < n; j++) x[j] = rng_normal() * sc;
        }
        break;
    case 1: /* exact rounding ties: amax = 127 so the scale is 1 and x*id = k + 0.5 */
        for (i = 0; i < n; i += blk) {
            for (j = i; j < i + blk && j < n; j++) x[j] = (float)((int)rng_below(253) - 126) + 0.5f;
            x[i + (int)rng_below((uint32_t)(n - i < blk ? n - i : blk))] = rng_below(2) ? 127.0f : -127.0f;
        }
        break;
    case 2: /* zeros, constants, one-hot, +-max ties, per block */
        for (i = 0; i < n; i += blk) {
            int m = (int)rng_below(5), len = n - i < blk ? n - i : blk;
            float c = rng_normal();
            for (j = i; j < i + len; j++) x[j] = m == 0 ? 0.0f : m == 1 ? c : m == 2 ? 0.0f : rng_normal() * 0.5f;
            if (m == 2) x[i + (int)rng_below((uint32_t)len)] = c;
            if (m == 3 && len > 1) { x[i] = -2.0f; x[i + len - 1] = 2.0f; }
            if (m == 4 && len > 1) { x[i] = 2.0f; x[i + len - 1] = -2.0f; }
        }
        break;
    case 3: /* quarter steps: amax = 63.5 -> id = 2 gives more ties */
        for (i = 0; i < n; i += blk) {
            for (j = i; j < i + blk && j < n; j++) x[j] = (float)((int)rng_below(253) - 126) * 0.5f + 0.25f * (float)(rng_below(2));
            for (j = i; j < i + blk && j < n; j++) if (fabsf(x[j]) > 63.0f) x[j] = 0.25f;
            x[i] = -63.5f;
        }
        break;
    case 4: /* every magnitude, subnormals included (random finite bit patterns) */
        for (i = 0; i < n; i++) {
            uint32_t u = (uint32_t)rng_u64();
            if (((u >> 23) & 0xff) == 0xff) u &= 0xbfffffffu;
            x[i] = qlm__bits_f32(u);
        }
        break;
    case 5: /* half-float and bfloat16 rounding ties, and near the f16 limits */
        for (i = 0; i < n; i++) {
            uint32_t u = (uint32_t)rng_u64();
            int m = (int)rng_below(4);
            if (m == 0) u = (u & 0xffffe000u) | 0x1000u;         /* f16 tie (normal range) */
            else if (m == 1) u = (u & 0xffff0000u) | 0x8000u;    /* bf16 tie */
            else if (m == 2) u = (u & 0x8000ffffu) | ((uint32_t)(102 + rng_below(40)) << 23); /* 2^-25..2^14 */
            else u = (u & 0x807fffffu) | ((uint32_t)(140 + rng_below(4)) << 23); /* ~65504 */
            if (((u >> 23) & 0xff) == 0xff) u &= 0xbfffffffu;
            x[i] = qlm__bits_f32(u);
        }
        break;
    default: /* 6: specials for the float rows: inf, NaN, -0 */
        for (i = 0; i < n; i++) {
            static const uint32_t sp[] = {0x7f800000u, 0xff800000u, 0x7fc00000u, 0xffc00001u, 0x7f800001u,
                                          0x80000000u, 0x00000001u, 0x477ff000u, 0x477fefffu, 0x33000000u, 0x33000001u};
            x[i] = rng_below(3) ? rng_normal() : qlm__bits_f32(sp[rng_below((uint32_t)(sizeof sp / sizeof sp[0]))]);
        }
        break;
    }
}

static void test_quantisers(const qlm__kernels *k, const char *vname) {
    static float x[MAX_N];
    static uint8_t a[MAX_BYTES], b[MAX_BYTES];
    int ti, mode, trial;
    for (ti = 0; ti < N_ACT_TYPES; ti++) {
        qlm_type t = k_act_types[ti];
        const qlm__type_traits_t *tt = &qlm__type_traits[t];
        int blk = (int)tt->blck_size, isfloat = !tt->is_quantized;
        static const int lens_q[] = {1, 2, 3, 4, 5, 6, 7, 8, 18, 64};
        static const int lens_k[] = {1, 2, 3, 8};
        static const int lens_f[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 40, 257, 576, 2048};
        const int *lens = isfloat ? lens_f : blk == QLM__QK_K ? lens_k : lens_q;
        int nlens = isfloat ? (int)(sizeof lens_f / sizeof lens_f[0])
                  : blk == QLM__QK_K ? (int)(sizeof lens_k / sizeof lens_k[0]) : (int)(sizeof lens_q / sizeof lens_q[0]);
        int cases = 0, bad = 0, li;
        if (k->from_float[t] == tt->from_float) continue;
        for (li = 0; li < nlens; li++) {
            int n = isfloat ? lens[li] : lens[li] * blk;
            size_t bytes = qlm__row_size(t, n);
            for (mode = 0; mode <= (isfloat ? 6 : 5); mode++) {
                for (trial = 0; trial < 8; trial++) {
                    gen_floats(x, n, mode, isfloat ? 32 : blk);
                    memset(a, 0xa5, bytes + 16);
                    memset(b, 0xa5, bytes + 16);
                    tt->from_float(x, a, n);
                    k->from_float[t](x, b, n);
                    cases++;
                    if (memcmp(a, b, bytes + 16) != 0) {
                        size_t j = 0;
                        while (a[j] == b[j]) j++;
                        if (bad++ < 3)
                            printf("  %s quant %s n=%d mode %d: byte %zu of %zu: ref %02x, %s %02x\n", vname,
                                   tt->name, n, mode, j, bytes, a[j], vname, b[j]);
                    }
                }
            }
        }
        CHECK(bad == 0, "%s: quantiser %s: %d of %d rows differ from the reference", vname, tt->name, bad, cases);
        printf("  %-6s quant %-4s  %4d rows, all bytes equal: %s\n", vname, tt->name, cases, bad ? "NO" : "yes");
    }
}

/* ---- dot products: tolerance checks -------------------------------------- */

/* Weight row of n elements.  mode 0: quantised random floats; 1: random bytes (sane
   scales); 2: adversarial, one pattern for the whole row; 3: adversarial, mixed per block. */
static const uint8_t k_patterns[] = {0x00, 0xff, 0x77, 0x88, 0x7f, 0x81, 0x55};
static const qlm__f16 k_scales[] = {0x0000, 0x0001, 0x0400, 0x3c00, 0x7bff, 0x2e66, 0xb555};

static void gen_weights(const dot_case *c, uint8_t *w, int n, int mode) {
    const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
    int nb = (int)(n / tt->blck_size), bs = (int)tt->type_size, i, j;
    static float x[MAX_N];
    if (!tt->is_quantized) {
        for (i = 0; i < n; i++) {
            float v = mode == 0 ? rng_normal() : mode == 1 ? rng_normal() * powf(2.0f, (float)rng_below(80) - 40.0f)
                                                           : (float)k_patterns[rng_below(7)] - 128.0f;
            if (mode == 3 && rng_below(4) == 0) v = 0.0f;
            if (c->type == QLM_TYPE_F32) memcpy(w + 4 * i, &v, 4);
            else if (c->type == QLM_TYPE_F16) {
                qlm__f16 h = mode == 1 ? (qlm__f16)(rng_u64() & 0xffff) : qlm__fp32_to_fp16(v);
                if ((h & 0x7c00) == 0x7c00) h &= 0xbfff; /* no inf / NaN */
                memcpy(w + 2 * i, &h, 2);
            } else {
                qlm__bf16 h = qlm__fp32_to_bf16(v);
                memcpy(w + 2 * i, &h, 2);
            }
        }
        return;
    }
    if (mode == 0) {
        for (i = 0; i < n; i++) x[i] = rng_normal() * (i % 97 == 0 ? 8.0f : 1.0f);
        tt->from_float(x, w, n);
        return;
    }
    {
        uint8_t p = k_patterns[rng_below(7)];
        qlm__f16 d = k_scales[rng_below(7)], m = k_scales[rng_below(7)];
        for (i = 0; i < nb; i++) {
            uint8_t *blk = w + (size_t)i * (size_t)bs;
            if (mode == 3) { p = k_patterns[rng_below(7)]; d = k_scales[rng_below(7)]; m = k_scales[rng_below(7)]; }
            for (j = 0; j < bs; j++) blk[j] = mode == 1 ? (uint8_t)rng_u64() : p;
            if (mode == 1) {
                d = qlm__fp32_to_fp16(rng_normal() * 0.01f);
                m = qlm__fp32_to_fp16(rng_normal() * 0.01f);
            }
            if (c->d_off >= 0) put_f16(blk + c->d_off, d);
            if (c->m_off >= 0) put_f16(blk + c->m_off, m);
            if (c->type == QLM_TYPE_Q8_0) /* -128 is outside q8_0's code range (see kernels_x86.inc) */
                for (j = 2; j < bs; j++) if (blk[j] == 0x80) blk[j] = 0x81;
        }
    }
}

/* Activation row in type vt.  mode 0: quantised random floats (ref quantiser); 1: random
   codes; 2: adversarial (all +127, all -127, alternating, zero; scales from a list). The
   derived fields (q8_1 s, q8_K bsums) are kept consistent, as the quantiser makes them. */
static void gen_acts(qlm_type vt, uint8_t *y, int n, int mode) {
    const qlm__type_traits_t *tt = &qlm__type_traits[vt];
    static float x[MAX_N];
    int i, j, nb = (int)(n / tt->blck_size);
    if (mode == 0 || !tt->is_quantized) {
        for (i = 0; i < n; i++) x[i] = rng_normal() * (mode == 2 ? 1000.0f : 1.0f);
        if (mode == 1) /* wide range of magnitudes (f16 activations must stay finite) */
            for (i = 0; i < n; i++) x[i] *= vt == QLM_TYPE_F16 ? powf(2.0f, (float)rng_below(20) - 10.0f)
                                                               : powf(2.0f, (float)rng_below(60) - 30.0f);
        tt->from_float(x, y, n);
        return;
    }
    for (i = 0; i < nb; i++) {
        int8_t q[QLM__QK_K];
        int len = (int)tt->blck_size, sum = 0, pat = (int)rng_below(4);
        for (j = 0; j < len; j++) {
            q[j] = mode == 1 ? (int8_t)((int)rng_below(255) - 127)
                 : (int8_t)(pat == 0 ? 127 : pat == 1 ? -127 : pat == 2 ? ((j & 1) ? 127 : -127) : 0);
            sum += q[j];
        }
        if (vt == QLM_TYPE_Q8_K) {
            static const float kd[] = {0.0f, 1e-20f, 1e-3f, 1.0f, 100.0f};
            qlm__block_q8_K *b = (qlm__block_q8_K *)y + i;
            b->d = mode == 1 ? rng_uniform() * 0.01f : kd[rng_below(5)];
            memcpy(b->qs, q, QLM__QK_K);
            for (j = 0; j < QLM__QK_K / 16; j++) {
                int s = 0, l;
                for (l = 0; l < 16; l++) s += q[16 * j + l];
                b->bsums[j] = (int16_t)s;
            }
        } else {
            static const qlm__f16 kd[] = {0x0000, 0x0001, 0x1400, 0x3c00, 0x4800};
            qlm__f16 d = mode == 1 ? qlm__fp32_to_fp16(rng_uniform() * 0.01f) : kd[rng_below(5)];
            if (vt == QLM_TYPE_Q8_0) {
                qlm__block_q8_0 *b = (qlm__block_q8_0 *)y + i;
                b->d = d;
                memcpy(b->qs, q, 32);
            } else {
                qlm__block_q8_1 *b = (qlm__block_q8_1 *)y + i;
                b->d = d;
                b->s = qlm__fp32_to_fp16((float)sum * qlm__fp16_to_fp32(d));
                memcpy(b->qs, q, 32);
            }
        }
    }
}

static void dequant(qlm_type t, const void *src, float *dst, int n) {
    if (t == QLM_TYPE_Q8_1) qlm__dequant_row_q8_1_ref(src, dst, n);
    else qlm__type_traits[t].to_float(src, dst, n);
}

/* M of the header comment: sum |x_j| |y_j|, with x split into scale and min parts. */
static double magnitude(const dot_case *c, const uint8_t *w, const uint8_t *y, int n) {
    static float xs[MAX_N], xm[MAX_N], yf[MAX_N];
    static uint8_t tmp[MAX_BYTES];
    const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
    double m = 0.0;
    int i;
    dequant(tt->vec_dot_type, y, yf, n);
    if (c->m_off < 0) {
        dequant(c->type, w, xs, n);
        for (i = 0; i < n; i++) m += fabs((double)xs[i]) * fabs((double)yf[i]);
    } else {
        int nb = (int)(n / tt->blck_size), bs = (int)tt->type_size;
        size_t bytes = (size_t)nb * (size_t)bs;
        memcpy(tmp, w, bytes);
        for (i = 0; i < nb; i++) put_f16(tmp + (size_t)i * (size_t)bs + c->m_off, 0);
        dequant(c->type, tmp, xs, n);
        memcpy(tmp, w, bytes);
        for (i = 0; i < nb; i++) put_f16(tmp + (size_t)i * (size_t)bs + c->d_off, 0);
        dequant(c->type, tmp, xm, n);
        for (i = 0; i < n; i++) m += (fabs((double)xs[i]) + fabs((double)xm[i])) * fabs((double)yf[i]);
    }
    return m;
}

static void test_dots(const qlm__kernels *k, const char *vname) {
    static uint8_t w[MAX_BYTES], y[MAX_BYTES];
    int ci, li, mode, trial;
    for (ci = 0; ci < N_DOT_CASES; ci++) {
        const dot_case *c = &k_dot_cases[ci];
        const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
        qlm__vec_dot_fn ref = tt->vec_dot, simd = k->vec_dot[c->type];
        static const int lens_q[] = {1, 2, 3, 4, 5, 6, 7, 8, 18, 64};
        static const int lens_k[] = {1, 2, 3, 8};
        static const int lens_f[] = {1, 2, 7, 8, 9, 31, 32, 33, 63, 64, 65, 100, 255, 257, 576, 2048};
        int blk = (int)tt->blck_size;
        const int *lens = blk == 1 ? lens_f : blk == QLM__QK_K ? lens_k : lens_q;
        int nlens = blk == 1 ? (int)(sizeof lens_f / sizeof lens_f[0])
                  : blk == QLM__QK_K ? (int)(sizeof lens_k / sizeof lens_k[0]) : (int)(sizeof lens_q / sizeof lens_q[0]);
        int cases = 0, bad = 0, exact = 0;
        double worst = 0.0;
        if (simd == ref) continue;
        for (li = 0; li < nlens; li++) {
            int n = lens[li] * blk;
            for (mode = 0; mode < 4; mode++) {
                for (trial = 0; trial < 12; trial++) {
                    float r = 0.0f, v = 0.0f;
                    double m, err, lim;
                    gen_weights(c, w, n, mode);
                    gen_acts(tt->vec_dot_type, y, n, trial % 3);
                    ref(n, &r, w, y);
                    simd(n, &v, w, y);
                    m = magnitude(c, w, y, n);
                    err = fabs((double)v - (double)r);
                    lim = c->tol * m + ABS_FLOOR;
                    cases++;
                    if (v == r) exact++;
                    if (m > 0.0 && err / m > worst) worst = err / m;
                    if ((c->tol == EXACT ? memcmp(&v, &r, sizeof v) != 0 : !(err <= lim)) || !isfinite(v) || !isfinite(r)) {
                        if (bad++ < 3)
                            printf("  %s dot %s n=%d mode %d acts %d: ref %.9g %s %.9g |diff| %.3g > %.3g (M %.3g)\n",
                                   vname, tt->name, n, mode, trial % 3, (double)r, vname, (double)v, err, lim, m);
                    }
                }
            }
        }
        if (c->tol == EXACT) {
            CHECK(bad == 0, "%s: vec_dot %s: %d of %d rows not bit-identical to the reference", vname, tt->name, bad, cases);
            printf("  %-6s dot %-4s  %4d rows, bit-identical to ref: %d\n", vname, tt->name, cases, exact);
        } else {
            CHECK(bad == 0, "%s: vec_dot %s: %d of %d rows outside %.1e * M", vname, tt->name, bad, cases, c->tol);
            printf("  %-6s dot %-4s  %4d rows, worst |diff|/M %.2e (limit %.0e), bit-equal to ref %d\n", vname,
                   tt->name, cases, worst, c->tol, exact);
        }
    }
}

static const dot_case *find_dot_case(qlm_type t) {
    int i;
    for (i = 0; i < N_DOT_CASES; i++) if (k_dot_cases[i].type == t) return &k_dot_cases[i];
    return NULL;
}

/* ---- 8-row dots (the kernel table's vec_dot8, decode) ------------------- */

/* Each of the 8 results bit-identical to the reference AND to the variant's one-row dot on
   its own row, rows bx = row size + 0, 2 or 4 bytes apart; every block count 1..9 and real
   row lengths for the 32-block types (odd counts end on a lone block), 1..5, 6 and 8
   super-blocks for the K-quants.  Each row's weights are drawn in its own mode (quantised,
   random bytes, one adversarial pattern, mixed patterns: all-0/all-max codes and scales,
   zero / subnormal / largest fp16 d and dmin), activations random or +-127 patterns with
   extreme q8 scales.  x86 variants must have the five 32-block types and q3_K..q6_K. */
static void test_dot8(const qlm__kernels *k, const char *vname) {
    static uint8_t w[8 * MAX_BYTES], y[MAX_BYTES];
    static const qlm_type want[] = {QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1, QLM_TYPE_Q8_0,
                                    QLM_TYPE_Q3_K, QLM_TYPE_Q4_K, QLM_TYPE_Q5_K, QLM_TYPE_Q6_K};
    static const int lens_q[] = {1, 2, 3, 4, 5, 7, 8, 9, 18, 48, 64};
    static const int lens_k[] = {1, 2, 3, 4, 5, 6, 8};
    int ci, li, trial, r, nwant = (int)(sizeof want / sizeof want[0]);
    if (strcmp(vname, "avx2") == 0 || strcmp(vname, "avx512") == 0)
        for (ci = 0; ci < nwant; ci++)
            CHECK(k->vec_dot8[want[ci]] != NULL, "%s: vec_dot8 %s is in the table", vname, qlm__type_traits[want[ci]].name);
    for (ci = 0; ci < N_DOT_CASES; ci++) {
        const dot_case *c = &k_dot_cases[ci];
        const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
        qlm__vec_dot8_fn fn = k->vec_dot8[c->type];
        int cases = 0, bad = 0, bad1 = 0, blk = (int)tt->blck_size;
        const int *lens = blk == QLM__QK_K ? lens_k : lens_q;
        int nlens = blk == QLM__QK_K ? (int)(sizeof lens_k / sizeof lens_k[0]) : (int)(sizeof lens_q / sizeof lens_q[0]);
        if (!fn) continue;
        for (li = 0; li < nlens; li++) {
            int n = lens[li] * blk;
            size_t bx = qlm__row_size(c->type, n) + 2 * (size_t)(li % 3); /* blocks need 2-byte alignment */
            if ((size_t)8 * bx > sizeof w || n > MAX_N) continue;
            for (trial = 0; trial < 16; trial++) {
                float got[8], want_r, one_r;
                for (r = 0; r < 8; r++) gen_weights(c, w + (size_t)r * bx, n, (trial + r) % 4);
                gen_acts(tt->vec_dot_type, y, n, trial % 3);
                fn(n, got, w, bx, y);
                for (r = 0; r < 8; r++) {
                    tt->vec_dot(n, &want_r, w + (size_t)r * bx, y);
                    k->vec_dot[c->type](n, &one_r, w + (size_t)r * bx, y);
                    cases++;
                    if (memcmp(&want_r, &got[r], sizeof want_r) != 0 && bad++ < 3)
                        printf("  %s dot8 %s n=%d row %d: ref %.9g, got %.9g\n", vname, tt->name, n, r, (double)want_r, (double)got[r]);
                    if (memcmp(&one_r, &got[r], sizeof one_r) != 0 && bad1++ < 3)
                        printf("  %s dot8 %s n=%d row %d: one-row %.9g, got %.9g\n", vname, tt->name, n, r, (double)one_r, (double)got[r]);
                }
            }
        }
        CHECK(bad == 0, "%s: vec_dot8 %s: %d of %d results not bit-identical to the reference", vname, tt->name, bad, cases);
        CHECK(bad1 == 0, "%s: vec_dot8 %s: %d of %d results not bit-identical to the one-row dot", vname, tt->name, bad1, cases);
        printf("  %-6s dot8 %-4s %4d results, bit-identical to ref and one-row: %d\n", vname, tt->name, cases,
               cases - (bad > bad1 ? bad : bad1));
    }
}

/* ---- batched matmul (GEMM) kernels --------------------------------------- */

/* Limits for the GEMM kernels, relative to M of each (row, token) dot (see the top).  Every
 * one is EXACT: the kernels sum integers exactly and repeat the reference's float
 * expressions per (row, token) in its order, only with tokens in vector lanes. */
typedef void (*gemm_prep_fn)(int64_t K, const uint8_t *xq, size_t xrow, int nt, int lanes, uint8_t *grp);
typedef void (*gemm_unpack_fn)(int64_t K, const uint8_t *w, size_t bw, int nr, int rows, uint8_t *wt);
typedef struct { qlm_type type; double tol; gemm_prep_fn prep_ref; gemm_unpack_fn unpack_ref; } gemm_case;
static const gemm_case k_gemm_cases[] = {
    {QLM_TYPE_Q4_0, EXACT, qlm__gemm_prep_q8_0_ref, qlm__gemm_unpack_q4_0_ref},
    {QLM_TYPE_Q4_1, EXACT, qlm__gemm_prep_q8_1_ref, qlm__gemm_unpack_q4_1_ref},
    {QLM_TYPE_Q5_0, EXACT, qlm__gemm_prep_q8_0_ref, qlm__gemm_unpack_q5_0_ref},
    {QLM_TYPE_Q5_1, EXACT, qlm__gemm_prep_q8_1_ref, qlm__gemm_unpack_q5_1_ref},
    {QLM_TYPE_Q8_0, EXACT, qlm__gemm_prep_q8_0_ref, qlm__gemm_unpack_q8_0_ref},
    {QLM_TYPE_Q3_K, EXACT, qlm__gemm_prep_q8_K_ref, qlm__gemm_unpack_q3_K_ref},
    {QLM_TYPE_Q4_K, EXACT, qlm__gemm_prep_q8_K_ref, qlm__gemm_unpack_q4_K_ref},
    {QLM_TYPE_Q5_K, EXACT, qlm__gemm_prep_q8_K_ref, qlm__gemm_unpack_q5_K_ref},
    {QLM_TYPE_Q6_K, EXACT, qlm__gemm_prep_q8_K_ref, qlm__gemm_unpack_q6_K_ref},
};
#define N_GEMM_CASES ((int)(sizeof k_gemm_cases / sizeof k_gemm_cases[0]))

/* What qlm__op_mul_mat does, on one thread: prep every group (into grp, one after the other,
   gbytes apart), then unpack every tile once and run it against every group. grp and wt
   64-byte aligned. */
static void run_gemm(const qlm__gemm_kernel *gk, qlm_type type, int K, const uint8_t *w, size_t bw, int N,
                     const uint8_t *xq, size_t xrow, int T, float *y, size_t ys, uint8_t *grp, uint8_t *wt) {
    int g, n0, L = gk->lanes, ng = (T + L - 1) / L;
    size_t gbytes = ((size_t)L * (size_t)(K / qlm__type_traits[type].blck_size) * qlm__gemm_act_bytes(type) + 63) & ~(size_t)63;
    for (g = 0; g < ng; g++)
        gk->prep(K, xq + (size_t)g * L * xrow, xrow, T - g * L < L ? T - g * L : L, L, grp + (size_t)g * gbytes);
    for (n0 = 0; n0 < N; n0 += gk->rows) {
        int nr = N - n0 < gk->rows ? N - n0 : gk->rows;
        gk->unpack(K, w + (size_t)n0 * bw, bw, nr, gk->rows, wt);
        for (g = 0; g < ng; g++)
            gk->tile(K, wt, grp + (size_t)g * gbytes, nr, T - g * L < L ? T - g * L : L, y + (size_t)g * L * ys + n0, ys);
    }
}

#define GEMM_MAXN 9
#define GEMM_MAXT 37
static uint8_t *aligned64(uint8_t *p) { return p + ((64 - ((uintptr_t)p & 63)) & 63); }

/* Every (row, token) result of the variant's GEMM bit-identical to the reference dot, for
   tiles and groups cut short (N, T not multiples of rows / lanes), rows 2-byte aligned,
   outputs with a stride wider than N (the gaps must stay untouched). */
static void test_gemm(const qlm__kernels *k, const char *vname) {
    static uint8_t w[GEMM_MAXN * (MAX_BYTES / 4)], x[GEMM_MAXT * (MAX_BYTES / 4)];
    static uint8_t grp_raw[(GEMM_MAXT + QLM__GEMM_MAX_LANES) * 548 * 8 + 64 * 4], wt_raw[2 * QLM__GEMM_MAX_ROWS * 552 * 8 + 64];
    static float ref[GEMM_MAXT * (GEMM_MAXN + 3)], got[GEMM_MAXT * (GEMM_MAXN + 3)];
    uint8_t *grp = aligned64(grp_raw), *wt = aligned64(wt_raw);
    int ci, li, trial;
    for (ci = 0; ci < N_GEMM_CASES; ci++) {
        const gemm_case *gc = &k_gemm_cases[ci];
        const dot_case *c = find_dot_case(gc->type);
        const qlm__type_traits_t *tt = &qlm__type_traits[gc->type];
        const qlm__gemm_kernel *gk = k->gemm[gc->type];
        static const int lens_q[] = {1, 2, 7, 8, 18, 64};
        static const int lens_k[] = {1, 2, 3, 8};
        int blk = (int)tt->blck_size, cases = 0, bad = 0, nlens, conv_bad = 0, conv_cases = 0;
        const int *lens = blk == QLM__QK_K ? lens_k : lens_q;
        double worst = 0.0;
        if (!gk) continue;
        CHECK(gk->lanes <= QLM__GEMM_MAX_LANES && gk->rows <= QLM__GEMM_MAX_ROWS, "%s: gemm %s: lanes %d rows %d",
              vname, tt->name, gk->lanes, gk->rows);
        nlens = blk == QLM__QK_K ? 4 : 6;
        for (li = 0; li < nlens; li++) {
            int K = lens[li] * blk;
            for (trial = 0; trial < 8; trial++) {
                int N = trial ? 1 + (int)rng_below(GEMM_MAXN) : GEMM_MAXN; /* trial 0: whole groups */
                int T = trial ? 1 + (int)rng_below(GEMM_MAXT) : 2 * gk->lanes, r, t;
                size_t bw = qlm__row_size(gc->type, K) + 2 * (size_t)(trial % 3);
                size_t xrow = qlm__row_size(tt->vec_dot_type, K), ys = (size_t)N + (size_t)(trial % 4);
                for (r = 0; r < N; r++) {
                    uint8_t *row = w + (size_t)r * bw;
                    gen_weights(c, row, K, trial % 4);
                    if (gc->type == QLM_TYPE_Q8_0 && trial % 4 >= 2) /* -128: the GEMM handles it */
                        for (t = 0; t < K / 32; t++) if (rng_below(2)) row[34 * t + 2 + (int)rng_below(32)] = 0x80;
                }
                for (t = 0; t < T; t++) gen_acts(tt->vec_dot_type, x + (size_t)t * xrow, K, (trial + t) % 3);
                for (t = 0; t < T * (int)ys; t++) ref[t] = got[t] = -7.5f;
                qlm__gemm_ref(gc->type, K, w, bw, N, x, xrow, T, ref, ys);
                run_gemm(gk, gc->type, K, w, bw, N, x, xrow, T, got, ys, grp, wt);
                { /* the converters against their reference twins: the same bytes */
                    size_t gb = (size_t)gk->lanes * (size_t)(K / blk) * qlm__gemm_act_bytes(gc->type);
                    size_t wb = (size_t)gk->rows * (size_t)(K / blk) * qlm__gemm_w_bytes(gc->type);
                    int nt = T < gk->lanes ? T : gk->lanes, nr = N < gk->rows ? N : gk->rows;
                    memset(grp, 0x5a, gb);
                    memset(grp + gb, 0xa5, gb);
                    gk->prep(K, x, xrow, nt, gk->lanes, grp);
                    gc->prep_ref(K, x, xrow, nt, gk->lanes, grp + gb);
                    conv_bad += memcmp(grp, grp + gb, gb) != 0;
                    memset(wt, 0x5a, wb);
                    memset(wt + wb, 0xa5, wb);
                    gk->unpack(K, w, bw, nr, gk->rows, wt);
                    gc->unpack_ref(K, w, bw, nr, gk->rows, wt + wb);
                    conv_bad += memcmp(wt, wt + wb, wb) != 0;
                    conv_cases += 2;
                }
                for (t = 0; t < T; t++)
                    for (r = 0; r < (int)ys; r++) {
                        float a = ref[(size_t)t * ys + r], b = got[(size_t)t * ys + r];
                        double m = 0.0, err;
                        int ok;
                        if (r < N) {
                            m = magnitude(c, w + (size_t)r * bw, x + (size_t)t * xrow, K);
                            cases++;
                        }
                        err = fabs((double)a - (double)b);
                        if (m > 0.0 && err / m > worst) worst = err / m;
                        ok = r >= N ? b == -7.5f
                           : gc->tol == EXACT ? memcmp(&a, &b, sizeof a) == 0 : err <= gc->tol * m + ABS_FLOOR;
                        if (!ok && bad++ < 3)
                            printf("  %s gemm %s K=%d N=%d T=%d row %d token %d: ref %.9g, got %.9g\n", vname, tt->name,
                                   K, N, T, r, t, (double)a, (double)b);
                    }
            }
        }
        CHECK(bad == 0, "%s: gemm %s: %d of %d results differ from the reference", vname, tt->name, bad, cases);
        CHECK(conv_bad == 0, "%s: gemm %s: %d of %d prep / unpack outputs differ from the reference layout", vname,
              tt->name, conv_bad, conv_cases);
        printf("  %-6s gemm %-4s %5d results, worst |diff|/M %.2e (limit %s)\n", vname, tt->name, cases, worst,
               gc->tol == EXACT ? "exact" : "tol");
    }
}

/* ---- coverage: the variant replaces what it should ----------------------- */

static void test_coverage(const qlm__kernels *k, const char *vname) {
    int i;
    if (strcmp(vname, "neon") == 0) return; /* its list is the ARM file's business */
    for (i = 0; i < N_DOT_CASES; i++) {
        qlm_type t = k_dot_cases[i].type;
        CHECK(k->vec_dot[t] != qlm__type_traits[t].vec_dot, "%s: vec_dot %s is still the reference",
              vname, qlm__type_traits[t].name);
    }
    for (i = 0; i < N_ACT_TYPES; i++) {
        qlm_type t = k_act_types[i];
        CHECK(k->from_float[t] != qlm__type_traits[t].from_float, "%s: quantiser %s is still the reference",
              vname, qlm__type_traits[t].name);
    }
}

/* ---- benchmark ----------------------------------------------------------- */

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ns per call of dot over `rows` weight rows of K (cache-resident working set), best of 3. */
/* One timed pass: `iters` times over `rows` rows with `dot` (one row per call) or, when dot8 is
   given, dot8 (8 rows per call); ns elapsed. */
static double time_rows(qlm__vec_dot_fn dot, qlm__vec_dot8_fn dot8, int K, const uint8_t *w, size_t rowb, int rows,
                        const uint8_t *y, int iters) {
    double t0 = now_ns();
    volatile float sink = 0.0f;
    int it, r;
    for (it = 0; it < iters; it++)
        for (r = 0; r + (dot8 ? 8 : 1) <= rows; r += dot8 ? 8 : 1) {
            float s[8];
            if (dot8) dot8(K, s, w + (size_t)r * rowb, rowb, y);
            else dot(K, s, w + (size_t)r * rowb, y);
            sink += s[0];
        }
    (void)sink;
    return now_ns() - t0;
}
/* ns per weight row, calibrated to ~20 ms per pass, best of 3 passes. */
static double bench_rows(qlm__vec_dot_fn dot, qlm__vec_dot8_fn dot8, int K, const uint8_t *w, size_t rowb, int rows,
                         const uint8_t *y) {
    double best = 1e30, t;
    int rep, iters = 1;
    if (dot8) rows -= rows % 8;
    while (time_rows(dot, dot8, K, w, rowb, rows, y, iters) <= 2e7 && iters <= (1 << 20)) iters *= 2;
    for (rep = 0; rep < 3; rep++) {
        t = time_rows(dot, dot8, K, w, rowb, rows, y, iters) / ((double)iters * rows);
        if (t < best) best = t;
    }
    return best;
}

static double bench_quant(qlm__from_float_fn q, int K, const float *x, uint8_t *y) {
    double best = 1e30;
    int rep, it, iters = 1;
    for (;;) {
        double t0 = now_ns();
        for (it = 0; it < iters; it++) q(x, y, K);
        if (now_ns() - t0 > 2e7 || iters > (1 << 22)) break;
        iters *= 2;
    }
    for (rep = 0; rep < 3; rep++) {
        double t0 = now_ns(), t;
        for (it = 0; it < iters; it++) q(x, y, K);
        t = (now_ns() - t0) / iters;
        if (t < best) best = t;
    }
    return best;
}

/* GEMM against the one-row path on N weight rows x T tokens of K (single thread, weights and
   activations cache-resident): ns per (row, token) result, best of 3, prep and unpack
   included. */
static void bench_gemm(void) {
    static const int Ks[] = {576, 1536};
    static const int Ts[] = {16, 64, 512};
    const int N = getenv("GEMM_N") ? atoi(getenv("GEMM_N")) : 64;
    size_t gcap = (size_t)512 * 1536 / 32 * 548 * 2;
    uint8_t *w = (uint8_t *)malloc((size_t)N * 1536 * 2 + 64), *x = (uint8_t *)malloc((size_t)512 * 1536 * 2);
    uint8_t *grp_raw = (uint8_t *)malloc(gcap + 64), *wt_raw = (uint8_t *)malloc((size_t)QLM__GEMM_MAX_ROWS * 1536 * 4 + 64);
    float *y = (float *)malloc((size_t)512 * N * sizeof(float));
    int v, ki, ti, ci;
    if (!w || !x || !grp_raw || !wt_raw || !y) return;
    printf("\nGEMM (prep + unpack + tiles) vs one-row vec_dot, %d weight rows x T tokens, 1 thread:"
           " ns per (row, token) result\n", N);
    for (v = 0; v < N_VARIANTS; v++) {
        qlm__kernels k;
        if (qlm__kernels_select(&k, k_variants[v]) != QLM_OK) continue;
        for (ci = 0; ci < N_GEMM_CASES; ci++) {
            qlm_type type = k_gemm_cases[ci].type;
            const qlm__type_traits_t *tt = &qlm__type_traits[type];
            const qlm__gemm_kernel *gk = k.gemm[type];
            if (!gk) continue;
            for (ki = 0; ki < 2; ki++) {
                int K = Ks[ki], r, t;
                size_t bw = qlm__row_size(type, K), xrow = qlm__row_size(tt->vec_dot_type, K);
                if (K % tt->blck_size) continue;
                for (r = 0; r < N; r++) gen_weights(find_dot_case(type), w + (size_t)r * bw, K, 0);
                for (t = 0; t < 512; t++) gen_acts(tt->vec_dot_type, x + (size_t)t * xrow, K, 0);
                printf("%-6s %-4s K=%4d", k_variants[v], tt->name, K);
                for (ti = 0; ti < 3; ti++) {
                    int T = Ts[ti], rep, it, iters = 1;
                    double best_g = 1e30, best_d = 1e30;
                    for (;;) {
                        double t0 = now_ns();
                        for (it = 0; it < iters; it++)
                            run_gemm(gk, type, K, w, bw, N, x, xrow, T, y, N, aligned64(grp_raw), aligned64(wt_raw));
                        if (now_ns() - t0 > 1e7 || iters > (1 << 16)) break;
                        iters *= 2;
                    }
                    for (rep = 0; rep < 3; rep++) {
                        double t0 = now_ns(), tg, td;
                        for (it = 0; it < iters; it++)
                            run_gemm(gk, type, K, w, bw, N, x, xrow, T, y, N, aligned64(grp_raw), aligned64(wt_raw));
                        tg = (now_ns() - t0) / ((double)iters * N * T);
                        if (tg < best_g) best_g = tg;
                        t0 = now_ns();
                        for (r = 0; r < N; r++)
                            for (t = 0; t < T; t++) k.vec_dot[type](K, &y[t * N + r], w + (size_t)r * bw, x + (size_t)t * xrow);
                        td = (now_ns() - t0) / ((double)N * T);
                        if (td < best_d) best_d = td;
                    }
                    printf(" | T=%3d %7.2f ns (dot %7.2f) x%.2f", T, best_g, best_d, best_d / best_g);
                }
                printf("\n");
            }
        }
    }
    free(w); free(x); free(grp_raw); free(wt_raw); free(y);
}

/* The tile kernels alone (one unpacked tile against 4 groups, data in L1/L2), minimum over
   many short runs (robust against other load): MACs per ns. */
static void bench_tiles(void) {
    static const int Ks[] = {576, 1536};
    uint8_t *w = (uint8_t *)malloc((size_t)QLM__GEMM_MAX_ROWS * 1536 * 2), *x = (uint8_t *)malloc((size_t)64 * 1536 * 2);
    uint8_t *grp_raw = (uint8_t *)malloc((size_t)64 * 1536 / 32 * 548 + 64 * 8), *wt_raw = (uint8_t *)malloc((size_t)QLM__GEMM_MAX_ROWS * 1536 * 4 + 64);
    float y[64 * QLM__GEMM_MAX_ROWS];
    int v, ki, ci;
    if (!w || !x || !grp_raw || !wt_raw) return;
    printf("\nGEMM tiles alone: one tile x 4 groups, min of 2000 runs: integer MACs per ns\n");
    for (v = 0; v < N_VARIANTS; v++) {
        qlm__kernels k;
        if (qlm__kernels_select(&k, k_variants[v]) != QLM_OK) continue;
        for (ci = 0; ci < N_GEMM_CASES; ci++) {
            qlm_type type = k_gemm_cases[ci].type;
            const qlm__type_traits_t *tt = &qlm__type_traits[type];
            const qlm__gemm_kernel *gk = k.gemm[type];
            if (!gk) continue;
            printf("%-6s %-4s (%d rows x %2d tokens)", k_variants[v], tt->name, gk->rows, gk->lanes);
            for (ki = 0; ki < 2; ki++) {
                int K = Ks[ki], r, t, g, rep, L = gk->lanes;
                size_t bw = qlm__row_size(type, K), xrow = qlm__row_size(tt->vec_dot_type, K);
                size_t gbytes = ((size_t)L * (size_t)(K / tt->blck_size) * qlm__gemm_act_bytes(type) + 63) & ~(size_t)63;
                uint8_t *grp = aligned64(grp_raw), *wt = aligned64(wt_raw);
                double best = 1e30;
                if (K % tt->blck_size) { printf(" | K=%4d      -     ", K); continue; }
                for (r = 0; r < gk->rows; r++) gen_weights(find_dot_case(type), w + (size_t)r * bw, K, 0);
                for (t = 0; t < 4 * L; t++) gen_acts(tt->vec_dot_type, x + (size_t)t * xrow, K, 0);
                for (g = 0; g < 4; g++) gk->prep(K, x + (size_t)g * L * xrow, xrow, L, L, grp + (size_t)g * gbytes);
                gk->unpack(K, w, bw, gk->rows, gk->rows, wt);
                for (rep = 0; rep < 2000; rep++) {
                    double t0 = now_ns(), dt;
                    for (g = 0; g < 4; g++) gk->tile(K, wt, grp + (size_t)g * gbytes, gk->rows, L, y + g * L * gk->rows, gk->rows);
                    dt = now_ns() - t0;
                    if (dt < best) best = dt;
                }
                printf(" | K=%4d %7.1f MAC/ns", K, (double)K * gk->rows * 4 * L / best);
            }
            printf("\n");
        }
    }
    free(w); free(x); free(grp_raw); free(wt_raw);
}

static int run_bench(void) {
    static const int Ks[] = {576, 2048};
    qlm__kernels kv[1 + N_VARIANTS];
    const char *names[1 + N_VARIANTS];
    int nv = 0, v, ki, ci;
    size_t wcap = (size_t)1 << 20;
    uint8_t *w = (uint8_t *)malloc(wcap), *y = (uint8_t *)malloc(MAX_BYTES);
    float *x = (float *)malloc(MAX_N * sizeof(float));
    if (!w || !y || !x) return 1;
    qlm__kernels_select(&kv[0], "ref");
    names[nv++] = "ref";
    for (v = 0; v < N_VARIANTS; v++)
        if (qlm__kernels_select(&kv[nv], k_variants[v]) == QLM_OK) names[nv++] = k_variants[v];
    printf("vec_dot, one activation row against a %d KiB cache-resident set of weight rows\n", (int)(wcap >> 10));
    printf("%-5s %5s", "type", "K");
    for (v = 0; v < nv; v++) printf(" | %7s ns   GB/s", names[v]);
    printf("\n");
    for (ki = 0; ki < 2; ki++) {
        int K = Ks[ki];
        for (ci = 0; ci < N_DOT_CASES; ci++) {
            const dot_case *c = &k_dot_cases[ci];
            const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
            size_t rowb = qlm__row_size(c->type, K);
            int rows, r;
            if (K % tt->blck_size) continue;
            rows = (int)(wcap / rowb);
            for (r = 0; r < rows; r++) gen_weights(c, w + (size_t)r * rowb, K, 0);
            gen_acts(tt->vec_dot_type, y, K, 0);
            printf("%-5s %5d", tt->name, K);
            for (v = 0; v < nv; v++) {
                double ns = bench_rows(kv[v].vec_dot[c->type], NULL, K, w, rowb, rows, y);
                printf(" | %10.1f %6.2f", ns, (double)rowb / ns);
            }
            printf("\n");
        }
    }
    printf("\n8-row dots (vec_dot8: one activation row, 8 weight rows): ns per weight row, speed-up over the one-row kernel\n");
    for (ki = 0; ki < 3; ki++) {
        static const int Ks8[] = {576, 1536, 2048}; /* 1536: SmolLM2's ffn_down, a K-quant there */
        int K = Ks8[ki];
        for (v = 0; v < nv; v++) {
            for (ci = 0; ci < N_DOT_CASES; ci++) {
                const dot_case *c = &k_dot_cases[ci];
                const qlm__type_traits_t *tt = &qlm__type_traits[c->type];
                qlm__vec_dot8_fn fn = kv[v].vec_dot8[c->type];
                size_t rowb = qlm__row_size(c->type, K);
                int rows = (int)(wcap / rowb) / 8 * 8, r;
                double best, one;
                if (!fn || K % tt->blck_size) continue;
                for (r = 0; r < rows; r++) gen_weights(c, w + (size_t)r * rowb, K, 0);
                gen_acts(tt->vec_dot_type, y, K, 0);
                one = bench_rows(kv[v].vec_dot[c->type], NULL, K, w, rowb, rows, y);
                best = bench_rows(NULL, fn, K, w, rowb, rows, y);
                printf("%-5s %5d %-6s | one-row %8.1f ns | 8-row %8.1f ns/row %6.2f GB/s | x%.2f\n", tt->name, K,
                       names[v], one, best, (double)rowb / best, one / best);
            }
        }
    }
    printf("\nactivation quantisers, ns per row\n");
    for (ki = 0; ki < 2; ki++) {
        int K = Ks[ki], i;
        for (i = 0; i < K; i++) x[i] = rng_normal();
        for (ci = 0; ci < N_ACT_TYPES; ci++) {
            qlm_type t = k_act_types[ci];
            if (K % qlm__type_traits[t].blck_size) continue;
            printf("%-5s %5d", qlm__type_traits[t].name, K);
            for (v = 0; v < nv; v++) printf(" | %10.1f %6s", bench_quant(kv[v].from_float[t], K, x, y), "");
            printf("\n");
        }
    }
    free(w); free(y); free(x);
    return 0;
}

int main(int argc, char **argv) {
    int v;
    if (argc > 1 && strcmp(argv[1], "--bench") == 0) return run_bench();
    if (argc > 1 && strcmp(argv[1], "--bench-gemm") == 0) { bench_tiles(); bench_gemm(); return 0; }
    {
        qlm__kernels k;
        CHECK(qlm__kernels_select(&k, "ref") == QLM_OK && k.vec_dot[QLM_TYPE_Q4_0] == qlm__vec_dot_q4_0_ref,
              "ref selection gives the reference table");
    }
    for (v = 0; v < N_VARIANTS; v++) {
        qlm__kernels k;
        if (qlm__kernels_select(&k, k_variants[v]) != QLM_OK) {
            printf("note: kernels '%s' not in this build or not supported by this CPU: skipped\n", k_variants[v]);
            continue;
        }
        printf("variant %s\n", k_variants[v]);
        g_rng = 0x9E3779B97F4A7C15ull + (uint64_t)v;
        test_coverage(&k, k_variants[v]);
        test_quantisers(&k, k_variants[v]);
        test_dots(&k, k_variants[v]);
        test_dot8(&k, k_variants[v]);
        test_gemm(&k, k_variants[v]);
    }
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
