/* test_kernels_arm.c — the AArch64 NEON kernels (the >>kernels-arm section of qlm.h) against the scalar
 * reference (the >>types section). Built and run under qemu by test/run_arm.sh:
 *
 *   aarch64-linux-gnu-gcc -std=c99 -O2 -static -I. test/test_kernels_arm.c -lm -lpthread -o t
 *   qemu-aarch64 -cpu max t          # dotprod CPU: plain and SDOT builds both tested
 *   qemu-aarch64 -cpu cortex-a53 t   # no dotprod: plain build only, and auto picks it
 *
 * Variants: "neon" as qlm__kernels_select picks it on this CPU, the plain-NEON build, and
 * the SDOT build where the CPU has dotprod.
 * Checked:
 *   - every vec_dot pair (f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_K..q6_K against their
 *     activation type) on 1..8 blocks (K-quants 1..3 super-blocks, floats 1..300 elements):
 *     rows quantised by the reference, raw random bytes, and adversarial blocks (all-min and
 *     all-max codes, zero blocks, tiny / subnormal / huge scales, +-127 and -128 activations).
 *     |neon - ref| <= tol(type) * B + 1e-37, where B bounds the float terms both sides add:
 *     sum |x_scale_part * y| + sum |x_min_part * y| (+ |m * s| per q4_1/q5_1 block). The
 *     integer parts are exact, so only float accumulation order differs.
 *   - the quantisers q8_0, q8_1, q8_K: bytes identical to the reference (exact .5 ties,
 *     +-max ties, zeros, tiny and huge rows included).
 * Last line: "N passed, N failed"; exit status 1 on any failure. A tolerance failure prints
 * the case; a summary prints the worst error / B seen per type. */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#if !QLM__ARM || (defined(QLM_NO_SIMD) && QLM_NO_SIMD) || !defined(__ARM_NEON)
int main(void) {
    printf("test_kernels_arm: not an AArch64 NEON build, nothing to test\n0 passed, 0 failed\n");
    return 0;
}
#else

#include "check.h"

/* ---- deterministic random numbers (xorshift64*) ----------------------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint64_t rng_u64(void) {
    g_rng ^= g_rng >> 12; g_rng ^= g_rng << 25; g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}
static float rng_unit(void) { return (float)(rng_u64() >> 40) * (1.0f / 16777216.0f); } /* [0,1) */
static float rng_normal(void) {
    int64_t s = 0;
    int k;
    for (k = 0; k < 4; k++) s += (int64_t)(rng_u64() >> 40);
    return (float)(s - 33554432) * (1.7320508f / 16777216.0f);
}
static void rng_bytes(void *p, size_t n) {
    unsigned char *b = (unsigned char *)p;
    size_t i;
    for (i = 0; i < n; i++) b[i] = (unsigned char)(rng_u64() >> 56);
}
/* a random finite fp16 scale in [lo, hi) */
static qlm__f16 rng_h(float lo, float hi) { return qlm__fp32_to_fp16(lo + (hi - lo) * rng_unit()); }

/* ---- variants under test ------------------------------------------------------------------ */

typedef struct { const char *name; qlm__kernels k; } variant;
static variant g_var[3];
static int g_nvar;

/* ---- per-type facts ------------------------------------------------------------------------ */

typedef struct {
    qlm_type t;
    const char *name;
    double tol;     /* |neon - ref| <= tol * B (+ 1e-37) */
    double worst;   /* largest |neon - ref| / B seen, for the summary */
} dot_case;

/* Tolerances: relative to B (see the top). The float work is a few roundings per block
   plus the accumulation over at most 8 blocks / 3 super-blocks / 300 elements; observed
   worst cases are ~1e-7 (quants) and ~3e-7 (floats), so these leave a 10x margin.
   tol 0: bit-identical (the 32-block dots repeat the reference's float expressions). */
static dot_case g_dots[] = {
    {QLM_TYPE_Q4_0, "q4_0", 0, 0},    {QLM_TYPE_Q4_1, "q4_1", 0, 0},    {QLM_TYPE_Q5_0, "q5_0", 0, 0},
    {QLM_TYPE_Q5_1, "q5_1", 0, 0},    {QLM_TYPE_Q8_0, "q8_0", 0, 0},    {QLM_TYPE_Q2_K, "q2_K", 2e-6, 0},
    {QLM_TYPE_Q3_K, "q3_K", 2e-6, 0}, {QLM_TYPE_Q4_K, "q4_K", 2e-6, 0}, {QLM_TYPE_Q5_K, "q5_K", 2e-6, 0},
    {QLM_TYPE_Q6_K, "q6_K", 2e-6, 0}, {QLM_TYPE_F32, "f32", 4e-6, 0},   {QLM_TYPE_F16, "f16", 4e-6, 0},
    {QLM_TYPE_BF16, "bf16", 4e-6, 0},
};
#define N_DOTS ((int)(sizeof g_dots / sizeof g_dots[0]))

static const qlm__type_traits_t *tr(qlm_type t) { return &qlm__type_traits[t]; }

#define MAXBLK 8                   /* most 32-blocks in a row */
#define MAXK   3                   /* most super-blocks */
#define MAXF   300                 /* most elements of a float row */
#define MAXN   (MAXK * QLM__QK_K)  /* 768: most elements of any row */
static float g_fx[MAXN], g_fy[MAXN], g_da[MAXN], g_db[MAXN];
static unsigned char g_x[MAXN * 4], g_y[MAXN * 4], g_tmp[MAXN * 4];

static void dequant_any(qlm_type t, const void *src, float *dst, int64_t n) {
    if (t == QLM_TYPE_Q8_1) qlm__dequant_row_q8_1_ref(src, dst, n);
    else tr(t)->to_float(src, dst, n);
}

/* Overwrite the scale fields of block b of a row of type t: d (and dmin / m where the
   type has one) as fp16 bits; q8_K's float d is set from fd. */
static void set_scales(qlm_type t, void *row, int b, qlm__f16 d, qlm__f16 dmin, float fd) {
    switch (t) {
    case QLM_TYPE_Q4_0: ((qlm__block_q4_0 *)row)[b].d = d; break;
    case QLM_TYPE_Q4_1: ((qlm__block_q4_1 *)row)[b].d = d; ((qlm__block_q4_1 *)row)[b].m = dmin; break;
    case QLM_TYPE_Q5_0: ((qlm__block_q5_0 *)row)[b].d = d; break;
    case QLM_TYPE_Q5_1: ((qlm__block_q5_1 *)row)[b].d = d; ((qlm__block_q5_1 *)row)[b].m = dmin; break;
    case QLM_TYPE_Q8_0: ((qlm__block_q8_0 *)row)[b].d = d; break;
    case QLM_TYPE_Q8_1: ((qlm__block_q8_1 *)row)[b].d = d; break; /* s: see fix_derived */
    case QLM_TYPE_Q2_K: ((qlm__block_q2_K *)row)[b].d = d; ((qlm__block_q2_K *)row)[b].dmin = dmin; break;
    case QLM_TYPE_Q3_K: ((qlm__block_q3_K *)row)[b].d = d; break;
    case QLM_TYPE_Q4_K: ((qlm__block_q4_K *)row)[b].d = d; ((qlm__block_q4_K *)row)[b].dmin = dmin; break;
    case QLM_TYPE_Q5_K: ((qlm__block_q5_K *)row)[b].d = d; ((qlm__block_q5_K *)row)[b].dmin = dmin; break;
    case QLM_TYPE_Q6_K: ((qlm__block_q6_K *)row)[b].d = d; break;
    case QLM_TYPE_Q8_K: ((qlm__block_q8_K *)row)[b].d = fd; break;
    default: break;
    }
}

/* Activation fields derived from the codes (q8_1's s, q8_K's bsums), recomputed after the
   codes were written raw, so a row is one the quantiser could have produced. */
static void fix_derived(qlm_type t, void *row, int nb) {
    int b, j, l;
    if (t == QLM_TYPE_Q8_1) {
        qlm__block_q8_1 *y = (qlm__block_q8_1 *)row;
        for (b = 0; b < nb; b++) {
            int sum = 0;
            for (j = 0; j < 32; j++) sum += y[b].qs[j];
            y[b].s = qlm__fp32_to_fp16(qlm__fp16_to_fp32(y[b].d) * (float)sum);
        }
    } else if (t == QLM_TYPE_Q8_K) {
        qlm__block_q8_K *y = (qlm__block_q8_K *)row;
        for (b = 0; b < nb; b++) {
            for (j = 0; j < 16; j++) {
                int sum = 0;
                for (l = 0; l < 16; l++) sum += y[b].qs[16 * j + l];
                y[b].bsums[j] = (int16_t)sum;
            }
        }
    }
}

static int has_min(qlm_type t) {
    return t == QLM_TYPE_Q4_1 || t == QLM_TYPE_Q5_1 || t == QLM_TYPE_Q2_K || t == QLM_TYPE_Q4_K ||
           t == QLM_TYPE_Q5_K;
}

/* B: sum |x_scale_part * y| + sum |x_min_part * y| (q4_1/q5_1: |m * s| per block, as the
   kernels use the stored s), in double. Weight blocks are copied with the min (resp. the
   scale) zeroed and dequantised. */
static double dot_bound(qlm_type t, const void *x, const void *y, int n) {
    const qlm__type_traits_t *tt = tr(t);
    qlm_type vt = tt->vec_dot_type;
    size_t xsz = qlm__row_size(t, n);
    int b, i, nb = (int)(n / tt->blck_size);
    double B = 0;
    dequant_any(vt, y, g_db, n);
    /* scale part */
    memcpy(g_tmp, x, xsz);
    if (has_min(t)) {
        for (b = 0; b < nb; b++) {
            qlm__f16 d = 0;
            switch (t) {
            case QLM_TYPE_Q4_1: d = ((const qlm__block_q4_1 *)x)[b].d; break;
            case QLM_TYPE_Q5_1: d = ((const qlm__block_q5_1 *)x)[b].d; break;
            case QLM_TYPE_Q2_K: d = ((const qlm__block_q2_K *)x)[b].d; break;
            case QLM_TYPE_Q4_K: d = ((const qlm__block_q4_K *)x)[b].d; break;
            case QLM_TYPE_Q5_K: d = ((const qlm__block_q5_K *)x)[b].d; break;
            default: break;
            }
            set_scales(t, g_tmp, b, d, 0, 0);
        }
    }
    dequant_any(t, g_tmp, g_da, n);
    for (i = 0; i < n; i++) B += fabs((double)g_da[i] * g_db[i]);
    if (!has_min(t)) return B;
    /* min part */
    memcpy(g_tmp, x, xsz);
    for (b = 0; b < nb; b++) {
        qlm__f16 m = 0;
        switch (t) {
        case QLM_TYPE_Q4_1: m = ((const qlm__block_q4_1 *)x)[b].m; break;
        case QLM_TYPE_Q5_1: m = ((const qlm__block_q5_1 *)x)[b].m; break;
        case QLM_TYPE_Q2_K: m = ((const qlm__block_q2_K *)x)[b].dmin; break;
        case QLM_TYPE_Q4_K: m = ((const qlm__block_q4_K *)x)[b].dmin; break;
        case QLM_TYPE_Q5_K: m = ((const qlm__block_q5_K *)x)[b].dmin; break;
        default: break;
        }
        set_scales(t, g_tmp, b, 0, m, 0);
    }
    if (t == QLM_TYPE_Q4_1 || t == QLM_TYPE_Q5_1) {
        const qlm__block_q8_1 *yy = (const qlm__block_q8_1 *)y;
        for (b = 0; b < nb; b++) {
            qlm__f16 m = t == QLM_TYPE_Q4_1 ? ((const qlm__block_q4_1 *)x)[b].m : ((const qlm__block_q5_1 *)x)[b].m;
            B += fabs((double)qlm__fp16_to_fp32(m) * qlm__fp16_to_fp32(yy[b].s));
        }
        return B;
    }
    dequant_any(t, g_tmp, g_da, n);
    for (i = 0; i < n; i++) B += fabs((double)g_da[i] * g_db[i]);
    return B;
}

/* Compare every variant with the reference on (x, y) of n elements. */
static void check_dot(dot_case *dc, const char *what, int n) {
    float want, got;
    double B = 0;
    int v;
    if (tr(dc->t)->blck_size > 1) {
        B = dot_bound(dc->t, g_x, g_y, n);
    } else { /* float types: sum |x y| */
        int i;
        dequant_any(dc->t, g_x, g_da, n);
        dequant_any(dc->t, g_y, g_db, n);
        for (i = 0; i < n; i++) B += fabs((double)g_da[i] * g_db[i]);
    }
    tr(dc->t)->vec_dot(n, &want, g_x, g_y);
    for (v = 0; v < g_nvar; v++) {
        double err, lim = dc->tol * B + 1e-37;
        got = -12345.0f;
        g_var[v].k.vec_dot[dc->t](n, &got, g_x, g_y);
        err = fabs((double)got - want);
        if (B > 0 && err / B > dc->worst) dc->worst = err / B;
        if (dc->tol == 0) /* exact: the same float operations as the reference */
            CHECK(memcmp(&got, &want, sizeof got) == 0, "%s %s %s n=%d: got %.9g want %.9g (bit-identical expected)",
                  g_var[v].name, dc->name, what, n, (double)got, (double)want);
        else CHECK(isfinite(want) && isfinite(got) && err <= lim,
              "%s %s %s n=%d: got %.9g want %.9g (err %.3g, limit %.3g)", g_var[v].name, dc->name, what, n,
              (double)got, (double)want, err, lim);
    }
}

/* Fill n floats: normal * scale. */
static void fill_normal(float *f, int n, float scale) {
    int i;
    for (i = 0; i < n; i++) f[i] = rng_normal() * scale;
}

static void test_dot_quant(dot_case *dc) {
    const qlm__type_traits_t *tt = tr(dc->t);
    qlm_type vt = tt->vec_dot_type;
    int blk = (int)tt->blck_size, maxb = blk == QLM__QK_K ? MAXK : MAXBLK;
    int nb, rep, b;
    for (nb = 1; nb <= maxb; nb++) {
        const int n = nb * blk;
        const size_t xsz = qlm__row_size(dc->t, n), ysz = qlm__row_size(vt, n);
        /* 1. rows quantised by the reference, magnitudes from 1e-3 to 1e3 */
        for (rep = 0; rep < 6; rep++) {
            static const float mag[6] = {1.0f, 1e-3f, 1e3f, 0.05f, 20.0f, 1.0f};
            fill_normal(g_fx, n, mag[rep]);
            fill_normal(g_fy, n, mag[5 - rep]);
            if (rep == 5) { int i; for (i = 0; i < n; i++) g_fx[i] = fabsf(g_fx[i]) + 0.5f; } /* all positive */
            tt->from_float(g_fx, g_x, n);
            tr(vt)->from_float(g_fy, g_y, n);
            check_dot(dc, "quantised", n);
        }
        /* 2. raw random bytes with sane scales */
        for (rep = 0; rep < 6; rep++) {
            rng_bytes(g_x, xsz);
            rng_bytes(g_y, ysz);
            for (b = 0; b < n / blk; b++) {
                set_scales(dc->t, g_x, b, rng_h(-1.0f, 1.0f), rng_h(-1.0f, 1.0f), 0);
                set_scales(vt, g_y, b, rng_h(-1.0f, 1.0f), 0, rng_normal() * 1e-2f);
            }
            fix_derived(vt, g_y, n / blk);
            check_dot(dc, "raw", n);
        }
        /* 3. adversarial: all-min / all-max codes (every byte 0x00 / 0xff, which also
           gives the extreme 6-bit scales and mins), against +127 / -127 / -128 / mixed
           activations, with tiny, subnormal, huge and zero scales */
        for (rep = 0; rep < 4 * 4 * 5; rep++) {
            const int xc = rep % 4, yc = (rep / 4) % 4, sc = rep / 16;
            static const qlm__f16 xd[5] = {0x3c00, 0x0400, 0x0001, 0x7bff, 0x0000};  /* 1, 2^-14, 2^-24, 65504, 0 */
            static const qlm__f16 yd[5] = {0x3c00, 0x0400, 0x0001, 0x7bff, 0x3c00};
            static const float ykd[5] = {1.0f, 1e-30f, 1e-38f, 1e20f, 1.0f};
            memset(g_x, xc == 0 ? 0x00 : xc == 1 ? 0xff : 0x88, xsz);
            if (xc == 3) rng_bytes(g_x, xsz);
            memset(g_y, yc == 0 ? 0x7f : yc == 1 ? 0x81 : 0x80, ysz);
            if (yc == 3) {
                int j;
                for (j = 0; j < (int)ysz; j++) g_y[j] = (unsigned char)((j & 1) ? 0x80 : 0x7f);
            }
            for (b = 0; b < n / blk; b++) {
                set_scales(dc->t, g_x, b, xd[sc], (qlm__f16)(xd[sc] ^ (b & 1 ? 0x8000 : 0)), 0);
                /* q8_1's s = d * sum must stay finite in fp16: huge d there is 14 */
                set_scales(vt, g_y, b, vt == QLM_TYPE_Q8_1 && sc == 3 ? 0x4b00 : yd[sc], 0, ykd[sc]);
            }
            fix_derived(vt, g_y, n / blk);
            check_dot(dc, "adversarial", n);
        }
        /* 4. zero blocks between random ones */
        rng_bytes(g_x, xsz);
        tt->from_float(g_fx, g_x, n);
        tr(vt)->from_float(g_fy, g_y, n);
        memset(g_x, 0, qlm__row_size(dc->t, blk));
        check_dot(dc, "zero first block", n);
    }
}

static void test_dot_float(dot_case *dc) {
    static const int lens[] = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 255, 256, 257, 300};
    int li, rep, i;
    for (li = 0; li < (int)(sizeof lens / sizeof lens[0]); li++) {
        const int n = lens[li];
        for (rep = 0; rep < 5; rep++) {
            static const float mag[5] = {1.0f, 1e-3f, 100.0f, 1e-6f, 1.0f};
            fill_normal(g_fx, n, mag[rep]);
            /* rep 3: tiny times large (f16: subnormal halves times 1e4) */
            fill_normal(g_fy, n, rep == 3 ? (dc->t == QLM_TYPE_F16 ? 1e4f : 1e6f) : mag[rep]);
            if (rep == 4) for (i = 0; i < n; i++) g_fx[i] = fabsf(g_fx[i]), g_fy[i] = fabsf(g_fy[i]);
            tr(dc->t)->from_float(g_fx, g_x, n);
            tr(dc->t)->from_float(g_fy, g_y, n);
            check_dot(dc, rep == 4 ? "positive" : "random", n);
        }
        /* extremes: fp16 65504 / subnormal halves; bf16 +-1e15 */
        if (dc->t == QLM_TYPE_F16) {
            qlm__f16 *x = (qlm__f16 *)g_x, *y = (qlm__f16 *)g_y;
            for (i = 0; i < n; i++) { x[i] = (qlm__f16)(i & 1 ? 0xfbff : 0x7bff); y[i] = 0x7bff; }
            check_dot(dc, "max halves", n);
            for (i = 0; i < n; i++) { x[i] = (qlm__f16)(1 + (i % 1023)); y[i] = (qlm__f16)(0x8000 | (1023 - i % 1023)); }
            check_dot(dc, "subnormal halves", n);
        } else {
            for (i = 0; i < n; i++) g_fx[i] = (i & 1 ? -1e15f : 1e15f), g_fy[i] = 3e14f;
            tr(dc->t)->from_float(g_fx, g_x, n);
            tr(dc->t)->from_float(g_fy, g_y, n);
            check_dot(dc, "huge", n);
        }
    }
}

/* ---- quantisers ---------------------------------------------------------------------------- */

static void check_quant(qlm_type t, const char *what, int n) {
    const size_t sz = qlm__row_size(t, n);
    int v;
    memset(g_x, 0xa5, sz);
    tr(t)->from_float(g_fx, g_x, n);
    for (v = 0; v < g_nvar; v++) {
        size_t i;
        memset(g_y, 0x5a, sz);
        g_var[v].k.from_float[t](g_fx, g_y, n);
        for (i = 0; i < sz && g_x[i] == g_y[i]; i++) {}
        CHECK(i == sz, "%s quant %s %s n=%d: first differing byte %d (ref %02x, got %02x)", g_var[v].name,
              tr(t)->name, what, n, (int)i, i < sz ? g_x[i] : 0, i < sz ? g_y[i] : 0);
    }
}

static void test_quant(qlm_type t) {
    const int blk = (int)tr(t)->blck_size, maxb = blk == QLM__QK_K ? MAXK : MAXBLK;
    int nb, rep, i;
    for (nb = 1; nb <= maxb; nb++) {
        const int n = nb * blk;
        for (rep = 0; rep < 8; rep++) {
            static const float mag[8] = {1.0f, 1e-3f, 1e3f, 1e-30f, 1e30f, 1e-6f, 3.0f, 1.0f};
            fill_normal(g_fx, n, mag[rep]);
            check_quant(t, "random", n);
        }
        /* exact .5 ties: max 127 (q8_0/q8_1: d = 1) or -127 (q8_K: iscale = 1) */
        for (i = 0; i < n; i++) g_fx[i] = (float)((int)(rng_u64() % 253) - 126) + 0.5f;
        for (i = 0; i < n; i += 16) g_fx[i] = t == QLM_TYPE_Q8_K ? -127.0f : 127.0f;
        check_quant(t, "ties", n);
        /* +-max with equal magnitude: the sign of the first one wins (q8_K) */
        fill_normal(g_fx, n, 1.0f);
        for (i = 0; i < n; i += blk) { g_fx[i + 3] = -9.0f; g_fx[i + 7] = 9.0f; }
        check_quant(t, "-max first", n);
        for (i = 0; i < n; i += blk) { g_fx[i + 3] = 9.0f; g_fx[i + 7] = -9.0f; }
        check_quant(t, "+max first", n);
        /* zero, constant, one-hot, alternating, zero block amid random */
        memset(g_fx, 0, sizeof(float) * (size_t)n);
        check_quant(t, "zeros", n);
        for (i = 0; i < n; i++) g_fx[i] = -0.7f;
        check_quant(t, "constant", n);
        memset(g_fx, 0, sizeof(float) * (size_t)n);
        g_fx[n - 1] = 2.5f;
        check_quant(t, "one-hot", n);
        for (i = 0; i < n; i++) g_fx[i] = (i & 1) ? 1e-20f : -3e-20f;
        check_quant(t, "alternating", n);
        fill_normal(g_fx, n, 1.0f);
        memset(g_fx, 0, sizeof(float) * (size_t)blk);
        check_quant(t, "zero block", n);
    }
}

/* ---- selection ---------------------------------------------------------------------------- */

/* ---- GEMM tiles (32-element blocks) -------------------------------------------------------
   Every (row, token) result of a variant's GEMM must be bit-identical to the reference dot
   (qlm__gemm_ref): rows and tokens that end mid-tile / mid-group (N 1..9, T 1..19 against 4
   rows and 8 lanes), output strides wider than N (the gaps must stay untouched), weights
   quantised by the reference and raw bytes (q8_0 with -128 codes too), activations at three
   magnitudes and raw bytes. */
#define GEMM_MAXN 9
#define GEMM_MAXT 19
static void test_gemm(const variant *v) {
    static const qlm_type types[] = {QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1, QLM_TYPE_Q8_0};
    static uint8_t w[GEMM_MAXN * 8 * 36], x[GEMM_MAXT * 8 * 36], grp_raw[3 * 8 * 8 * 40 + 64], wt_raw[4 * 8 * 44 + 64];
    static float ref[GEMM_MAXT * (GEMM_MAXN + 3)], got[GEMM_MAXT * (GEMM_MAXN + 3)];
    uint8_t *grp = grp_raw + ((64 - ((uintptr_t)grp_raw & 63)) & 63), *wt = wt_raw + ((64 - ((uintptr_t)wt_raw & 63)) & 63);
    int ti, trial;
    for (ti = 0; ti < 5; ti++) {
        const qlm_type ty = types[ti], vt = tr(ty)->vec_dot_type;
        const qlm__gemm_kernel *gk = v->k.gemm[ty];
        int bad = 0, cases = 0;
        CHECK(gk != NULL && gk->lanes == 8 && gk->rows == 4, "%s: gemm %s present (8 lanes, 4 rows)", v->name,
              tr(ty)->name);
        if (!gk) continue;
        for (trial = 0; trial < 60; trial++) {
            int nb = 1 + trial % 8, K = 32 * nb, N = 1 + (trial * 7) % GEMM_MAXN, T = 1 + (trial * 5) % GEMM_MAXT;
            size_t bw = qlm__row_size(ty, K), xrow = qlm__row_size(vt, K), ys = (size_t)N + (size_t)(trial % 3);
            size_t gbytes = (size_t)8 * (size_t)nb * 40;
            int r, t, g, n0, b;
            for (r = 0; r < N; r++) {
                uint8_t *row = w + (size_t)r * bw;
                if (trial % 3 == 2) {
                    rng_bytes(row, bw);
                    for (b = 0; b < nb; b++) set_scales(ty, row, b, rng_h(-1.0f, 1.0f), rng_h(-1.0f, 1.0f), 0);
                } else {
                    fill_normal(g_fx, K, trial % 3 ? 1e-2f : 1.0f);
                    tr(ty)->from_float(g_fx, row, K);
                }
            }
            for (t = 0; t < T; t++) {
                uint8_t *row = x + (size_t)t * xrow;
                if (trial % 4 == 3) { /* raw codes in -127..127 */
                    rng_bytes(row, xrow);
                    for (b = 0; b < nb; b++) {
                        set_scales(vt, row, b, rng_h(-1.0f, 1.0f), 0, 0);
                        for (r = 0; r < 32; r++)
                            if (row[b * (xrow / nb) + (xrow / nb - 32) + r] == 0x80) row[b * (xrow / nb) + (xrow / nb - 32) + r] = 0x81;
                    }
                    fix_derived(vt, row, nb);
                } else {
                    fill_normal(g_fy, K, trial % 4 == 0 ? 1.0f : trial % 4 == 1 ? 1e-3f : 1e3f);
                    tr(vt)->from_float(g_fy, row, K);
                }
            }
            for (t = 0; t < T * (int)ys; t++) ref[t] = got[t] = -7.5f;
            qlm__gemm_ref(ty, K, w, bw, N, x, xrow, T, ref, ys);
            for (g = 0; g * 8 < T; g++)
                gk->prep(K, x + (size_t)g * 8 * xrow, xrow, T - g * 8 < 8 ? T - g * 8 : 8, 8, grp + (size_t)g * gbytes);
            for (n0 = 0; n0 < N; n0 += 4) {
                int nr = N - n0 < 4 ? N - n0 : 4;
                gk->unpack(K, w + (size_t)n0 * bw, bw, nr, 4, wt);
                for (g = 0; g * 8 < T; g++)
                    gk->tile(K, wt, grp + (size_t)g * gbytes, nr, T - g * 8 < 8 ? T - g * 8 : 8,
                             got + (size_t)g * 8 * ys + n0, ys);
            }
            cases++;
            if (memcmp(ref, got, (size_t)T * ys * sizeof(float)) && bad++ < 3) {
                for (t = 0; t < T * (int)ys && !memcmp(&ref[t], &got[t], 4); t++) {}
                printf("  %s gemm %s K %d N %d T %d: token %d row %d: ref %.9g, got %.9g\n", v->name, tr(ty)->name, K,
                       N, T, t / (int)ys, t % (int)ys, (double)ref[t], (double)got[t]);
            }
        }
        CHECK(bad == 0, "%s: gemm %s: %d of %d cases differ from the reference dots", v->name, tr(ty)->name, bad, cases);
        printf("  gemm %-4s %-11s %d cases, %d bit-identical to the reference dots\n", tr(ty)->name, v->name, cases,
               cases - bad);
    }
}

static void test_select(void) {
    qlm__kernels auto_k, ref_k;
    static const qlm_type dots[] = {QLM_TYPE_F32, QLM_TYPE_F16, QLM_TYPE_BF16, QLM_TYPE_Q4_0, QLM_TYPE_Q4_1,
                                    QLM_TYPE_Q5_0, QLM_TYPE_Q5_1, QLM_TYPE_Q8_0, QLM_TYPE_Q2_K, QLM_TYPE_Q3_K,
                                    QLM_TYPE_Q4_K, QLM_TYPE_Q5_K, QLM_TYPE_Q6_K};
    static const qlm_type quants[] = {QLM_TYPE_Q8_0, QLM_TYPE_Q8_1, QLM_TYPE_Q8_K};
    int i, v;
    CHECK(qlm__neon_supported(), "NEON supported");
    CHECK(qlm__kernels_select(&auto_k, "auto") == QLM_OK && strcmp(auto_k.name, "neon") == 0,
          "auto picks neon (got %s)", auto_k.name);
    CHECK(qlm__kernels_select(&ref_k, "ref") == QLM_OK && strcmp(ref_k.name, "ref") == 0, "ref selectable");
    /* every kernel this file promises is a NEON one in every variant; the SDOT build (when
       the CPU has it) differs from the plain one for the integer dots */
    for (v = 0; v < g_nvar; v++) {
        for (i = 0; i < (int)(sizeof dots / sizeof dots[0]); i++) {
            CHECK(g_var[v].k.vec_dot[dots[i]] && g_var[v].k.vec_dot[dots[i]] != ref_k.vec_dot[dots[i]],
                  "%s: vec_dot %s is a NEON kernel", g_var[v].name, tr(dots[i])->name);
        }
        for (i = 0; i < (int)(sizeof quants / sizeof quants[0]); i++) {
            CHECK(g_var[v].k.from_float[quants[i]] != ref_k.from_float[quants[i]],
                  "%s: quantiser %s is a NEON kernel", g_var[v].name, tr(quants[i])->name);
        }
        /* untouched entries stay on the reference */
        CHECK(g_var[v].k.from_float[QLM_TYPE_F16] == ref_k.from_float[QLM_TYPE_F16] &&
              g_var[v].k.vec_dot[QLM_TYPE_Q8_1] == ref_k.vec_dot[QLM_TYPE_Q8_1], "%s: other entries untouched",
              g_var[v].name);
    }
    if (g_nvar == 3) {
        CHECK(g_var[2].k.vec_dot[QLM_TYPE_Q4_0] != g_var[1].k.vec_dot[QLM_TYPE_Q4_0] &&
              g_var[0].k.vec_dot[QLM_TYPE_Q4_K] == g_var[2].k.vec_dot[QLM_TYPE_Q4_K],
              "dotprod CPU: auto uses the SDOT build");
    } else {
        CHECK(g_var[0].k.vec_dot[QLM_TYPE_Q4_K] == g_var[1].k.vec_dot[QLM_TYPE_Q4_K],
              "no dotprod: auto uses the plain build");
    }
}

int main(void) {
    int i, dp = qlm__neon_has_dotprod();
    g_var[0].name = "neon(auto)";
    if (qlm__kernels_select(&g_var[0].k, "neon") != QLM_OK) {
        printf("FAIL: cannot select the neon kernels\n0 passed, 1 failed\n");
        return 1;
    }
    g_var[1].name = "neon(plain)";
    qlm__kernels_fill_ref(&g_var[1].k);
    qlm__neon_fill(&g_var[1].k, 0);
    g_nvar = 2;
    if (dp) {
        g_var[2].name = "neon(sdot)";
        qlm__kernels_fill_ref(&g_var[2].k);
        qlm__neon_fill(&g_var[2].k, 1);
        g_nvar = 3;
    }
    printf("test_kernels_arm: SDOT build %s; variants:",
           !QLM__NEON_HAVE_DP ? "not compiled (compiler)" : dp ? "used (CPU has dotprod)" : "unused (CPU lacks dotprod)");
    for (i = 0; i < g_nvar; i++) printf(" %s", g_var[i].name);
    printf("\n");

    test_select();
    for (i = 0; i < N_DOTS; i++) {
        int before = g_fail;
        dot_case *dc = &g_dots[i];
        if (tr(dc->t)->blck_size == 1) test_dot_float(dc);
        else test_dot_quant(dc);
        printf("  vec_dot %-4s tol %.0e  worst err/B %.2e  %s\n", dc->name, dc->tol, dc->worst,
               g_fail == before ? "ok" : "FAILED");
    }
    test_quant(QLM_TYPE_Q8_0);
    test_quant(QLM_TYPE_Q8_1);
    test_quant(QLM_TYPE_Q8_K);
    for (i = 0; i < g_nvar; i++) test_gemm(&g_var[i]);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
#endif
