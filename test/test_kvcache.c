/* test_kvcache.c — the KV-cache building blocks of qlm.h (>>kernels-ref: KV-cache segments, the
 * kv_dot / kv_axpy / kv_quant entries of the kernel tables, and the >>kvcache layout), below the
 * public API. Includes the implementation, like test_kernels.c.
 *
 *   gcc -std=c99 -O2 -g -Wall -Wextra -Wpedantic -Wundef -I. test/test_kvcache.c -o t -lm -lpthread
 *   (test/run_arm.sh also builds it for aarch64 and runs it under qemu: the NEON twins)
 *
 * Checked:
 *   - E4M3: all 256 codes decode to the value the format defines (computed here from the bit
 *     fields: 4 exponent bits with bias 7, 3 mantissa bits, subnormals); encode(decode(c)) == c
 *     for every finite code; encoding rounds to nearest, ties to even, on every exact midpoint;
 *     saturates at +-448; random floats encode to the code a brute-force search picks.
 *   - segment round trips (quantise, dequantise) within a named bound per type; q4's
 *     least-squares refit beats plain q4_1 rounding.
 *   - the Hadamard rotation: orthogonal, inverse(forward(x)) == x, Walsh-Hadamard structure,
 *     a one-hot input spread to equal magnitudes, for head dims 64, 128, 256 and 96 (blocks).
 *   - for every SIMD variant this CPU runs (avx2, avx512, neon; others skipped with a note):
 *     kv_dot, kv_axpy and kv_quant of all five qlm_kv_types against the reference, on
 *     random and adversarial segments, head dims 64, 128 and 256 (limits in the twin section);
 *     the block kernels kv_scores / kv_accum against per-cell reference loops.
 *   - qlm__kv_layout on fake hyper-parameters: cells per layer, the ring and sink mapping of
 *     qlm__kv_cell, bounded flags, bytes, and errors for bad combinations; H2O eviction.
 * The last line printed is "N passed, N failed"; the exit status is 1 on failure. */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include "check.h"

/* ---- deterministic random numbers (xorshift64*) ------------------------------------------ */

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

static const char *const k_variants[] = {"avx2", "avx512", "neon"};
#define N_VARIANTS ((int)(sizeof k_variants / sizeof k_variants[0]))
static const int k_hds[] = {64, 128, 256};
#define N_HDS ((int)(sizeof k_hds / sizeof k_hds[0]))
#define MAX_HD 256
#define MAX_SEG (4 * MAX_HD + 64)

/* ---- E4M3 --------------------------------------------------------------------------------- */

/* The value of code c from the format's definition; NaN for 0x7f / 0xff. */
static double e4m3_value(int c) {
    int s = c >> 7, e = (c >> 3) & 15, m = c & 7;
    double v;
    if ((c & 0x7f) == 0x7f) return NAN;
    v = e == 0 ? ldexp((double)m, -9) : ldexp(8.0 + m, e - 10); /* (1 + m/8) 2^(e-7) */
    return s ? -v : v;
}

/* The code a brute-force search picks for x: the nearest finite value, ties to the even code
   (the one whose mantissa's last bit is 0), magnitudes >= 448 saturated. */
static int e4m3_nearest(float x) {
    double a = fabs((double)x), best = 1e300;
    int k, code = 0, s = signbit(x) ? 0x80 : 0;
    if (a >= 448.0) return s | 0x7e;
    for (k = 0; k <= 0x7e; k++) {
        double d = fabs(e4m3_value(k) - a);
        if (d < best || (d == best && (k & 1) == 0)) best = d, code = k;
    }
    return s | code;
}

static void test_e4m3(void) {
    int c, bad_dec = 0, bad_rt = 0, bad_mid = 0, bad_near = 0, n_mid = 0, i;
    for (c = 0; c < 256; c++) {
        double want = e4m3_value(c);
        float got = qlm__e4m3_to_fp32((uint8_t)c);
        if (want != want) continue; /* 0x7f / 0xff: see the note below */
        if (got != (float)want || (signbit(got) != 0) != (c >> 7)) {
            if (bad_dec++ < 4) printf("  e4m3 decode 0x%02x: %.9g, want %.9g\n", c, (double)got, want);
        }
        if (qlm__fp32_to_e4m3(got) != c) {
            if (bad_rt++ < 4) printf("  e4m3 encode(decode(0x%02x)) = 0x%02x\n", c, qlm__fp32_to_e4m3(got));
        }
    }
    CHECK(bad_dec == 0, "%d finite E4M3 codes decode to the wrong value", bad_dec);
    CHECK(bad_rt == 0, "%d finite E4M3 codes do not survive encode(decode(c))", bad_rt);
    CHECK(e4m3_value(0x7e) == 448.0 && qlm__e4m3_to_fp32(0x7e) == 448.0f && qlm__e4m3_to_fp32(0xfe) == -448.0f &&
          qlm__e4m3_to_fp32(0x01) == ldexpf(1.0f, -9) && qlm__e4m3_to_fp32(0x08) == ldexpf(1.0f, -6),
          "E4M3 landmarks: max 448, smallest subnormal 2^-9, smallest normal 2^-6");
    /* 0x7f / 0xff are NaN in the format; qlm's decoder (ref and SIMD, one shift into a half)
       reads them as +-480. The encoder never writes them (checked below), so no segment holds
       them; this only reports which way the decoder goes. */
    printf("e4m3: NaN codes 0x7f/0xff decode to %g / %g (format: NaN; never written)\n",
           (double)qlm__e4m3_to_fp32(0x7f), (double)qlm__e4m3_to_fp32(0xff));

    /* exact midpoints between neighbouring codes: ties to the even code, both signs */
    for (c = 0; c < 0x7e; c++) {
        float lo = (float)e4m3_value(c), hi = (float)e4m3_value(c + 1), mid = (lo + hi) * 0.5f;
        int even = (c & 1) ? c + 1 : c;
        CHECK((double)mid * 2 == (double)lo + (double)hi, "midpoint of 0x%02x exact in float", c);
        n_mid++;
        if (qlm__fp32_to_e4m3(mid) != even || qlm__fp32_to_e4m3(-mid) != (0x80 | even)) {
            if (bad_mid++ < 4)
                printf("  e4m3 midpoint %.9g between 0x%02x and 0x%02x: 0x%02x, want 0x%02x\n", (double)mid, c,
                       c + 1, qlm__fp32_to_e4m3(mid), even);
        }
        /* just off the midpoint: the nearer code */
        if (qlm__fp32_to_e4m3(nextafterf(mid, 0.0f)) != c || qlm__fp32_to_e4m3(nextafterf(mid, 1e9f)) != c + 1) {
            if (bad_mid++ < 4) printf("  e4m3 next to midpoint of 0x%02x/0x%02x: wrong side\n", c, c + 1);
        }
    }
    CHECK(bad_mid == 0, "%d of %d E4M3 midpoints round wrongly (ties to even)", bad_mid, n_mid);

    /* saturation and specials */
    {
        static const float sat[] = {448.0f, 449.0f, 464.0f, 479.9f, 480.0f, 1e6f, 3.0e38f};
        int ok = 1;
        for (i = 0; i < (int)(sizeof sat / sizeof sat[0]); i++)
            ok &= qlm__fp32_to_e4m3(sat[i]) == 0x7e && qlm__fp32_to_e4m3(-sat[i]) == 0xfe;
        ok &= qlm__fp32_to_e4m3(INFINITY) == 0x7e && qlm__fp32_to_e4m3(-INFINITY) == 0xfe;
        ok &= qlm__fp32_to_e4m3(447.0f) == 0x7e && qlm__fp32_to_e4m3(431.0f) == 0x7d; /* 416 | 448 */
        CHECK(ok, "E4M3 saturates at +-448 (448, 464, 480, 1e6, inf)");
        CHECK((qlm__fp32_to_e4m3(NAN) & 0x7f) == 0, "E4M3 encodes NaN as a zero, not a NaN code");
    }
    /* tiny values: the right subnormal */
    {
        const float s = ldexpf(1.0f, -9); /* smallest subnormal */
        CHECK(qlm__fp32_to_e4m3(s) == 0x01 && qlm__fp32_to_e4m3(-s) == 0x81, "2^-9 -> 0x01");
        CHECK(qlm__fp32_to_e4m3(0.5f * s) == 0x00 && qlm__fp32_to_e4m3(-0.5f * s) == 0x80,
              "2^-10 (tie between 0 and 2^-9) -> 0 (even)");
        CHECK(qlm__fp32_to_e4m3(0.5001f * s) == 0x01, "just above 2^-10 -> 0x01");
        CHECK(qlm__fp32_to_e4m3(1.5f * s) == 0x02 && qlm__fp32_to_e4m3(2.5f * s) == 0x02 &&
                  qlm__fp32_to_e4m3(3.5f * s) == 0x04, "subnormal ties 1.5, 2.5, 3.5 x 2^-9 -> 2, 2, 4");
        CHECK(qlm__fp32_to_e4m3(7.5f * s) == 0x08, "7.5 x 2^-9 (largest subnormal | smallest normal) -> 0x08");
        CHECK(qlm__fp32_to_e4m3(1e-10f) == 0x00 && qlm__fp32_to_e4m3(1e-30f) == 0x00 &&
                  qlm__fp32_to_e4m3(-1e-40f) == 0x80 && qlm__fp32_to_e4m3(0.0f) == 0x00 &&
                  qlm__fp32_to_e4m3(-0.0f) == 0x80, "values far below 2^-10 -> +-0");
        CHECK(qlm__fp32_to_e4m3(5.0f * s) == 0x05 && qlm__fp32_to_e4m3(5.4f * s) == 0x05 &&
                  qlm__fp32_to_e4m3(5.6f * s) == 0x06, "5, 5.4, 5.6 x 2^-9 -> 5, 5, 6");
    }
    /* random floats over the whole range against the brute-force search */
    for (i = 0; i < 60000; i++) {
        float x;
        int want, got;
        if (i % 3 == 0) x = ldexpf(1.0f + rng_uniform(), (int)rng_below(26) - 16); /* 2^-16 .. 2^10 */
        else if (i % 3 == 1) x = rng_normal() * 100.0f;
        else { /* near a midpoint: a code's value times (1 +- 1/16) */
            int k = (int)rng_below(0x7e);
            x = (float)e4m3_value(k) * (1.0f + (rng_below(2) ? 1.0f : -1.0f) * (0.0625f + (rng_uniform() - 0.5f) * 1e-3f));
        }
        if (rng_below(2)) x = -x;
        want = e4m3_nearest(x);
        got = qlm__fp32_to_e4m3(x);
        if (got != want || (got & 0x7f) == 0x7f) {
            if (bad_near++ < 4) printf("  e4m3 encode %.9g: 0x%02x, nearest 0x%02x\n", (double)x, got, want);
        }
    }
    CHECK(bad_near == 0, "%d of 60000 random floats encode to another code than the nearest", bad_near);
    printf("e4m3: 254 finite codes decoded and round-tripped, %d midpoints, 60000 random floats\n", n_mid);
}

/* ---- segment round trips ------------------------------------------------------------------ */

/* Largest |x - dequant(quant(x))| allowed, relative to max |x| over the segment (fp8, one
   scale per segment) or over the 32-element block (the block types, a scale per block); f16
   relative to |x| itself. Segments of normal numbers times 0.1 .. 1e3, some with 20x outliers.
     F16   round to nearest in 11 bits: 2^-11 = 4.88e-4. Measured: 4.87e-4.
     FP8   d = amax/448; values in the top binade [256, 448] d are 32 d apart: half a step is
           16 d = amax/28 = 0.03571 amax, reached. Measured: 0.03571.
     Q8_0  d = amax/127, half a step 0.5/127 = 0.0039 amax, plus the scale rounded to f16
           (2^-11 relative, times up to 127 codes): 0.0044. Measured: 0.00424.
     Q4    q4_1 blocks, d = (max - min)/15 and half a step = (max - min)/30 <= amax/15 = 0.0667
           amax with plain rounding (measured 0.0669); the q4 quantiser then refits scale and
           minimum by least squares (qlm__quant_seg_q4_ref), which lowers the squared error and
           may move single elements past half a step: limit 0.09. Measured: 0.0737.
     Q4_0  d = amax/8 with the extreme at code -8, so +amax clamps to code 7: an error of a
           whole step, amax/8 = 0.125, plus the f16 scale: 0.13. Measured: 0.1246.
   RMS error over all segments relative to the RMS of x (a broken quantiser gives ~1), measured:
   f16 2.1e-4, q8_0 0.0112, fp8 0.0219, q4 0.102 (0.110 with plain q4_1 rounding), q4_0 0.149;
   limits ~1.2-1.4x those. */
static const double k_rt_max[QLM_KV_COUNT] = {/*f16*/ 4.9e-4, /*q8_0*/ 0.0045, /*fp8*/ 0.0358, /*q4*/ 0.09, /*q4_0*/ 0.13};
static const double k_rt_rms[QLM_KV_COUNT] = {/*f16*/ 3e-4, /*q8_0*/ 0.015, /*fp8*/ 0.03, /*q4*/ 0.14, /*q4_0*/ 0.18};

static void seg_dequant(qlm_kv_type t, const void *seg, float *y, int hd) {
    if (t == QLM_KV_FP8) qlm__dequant_seg_fp8_ref(seg, y, hd);
    else qlm__type_traits[qlm__kv_traits[t].blk].to_float(seg, y, hd);
}

static void test_roundtrip(const qlm__kernels *ref) {
    int t, hi, trial, i;
    static float x[MAX_HD], y[MAX_HD], z[MAX_HD];
    static uint8_t seg[MAX_SEG];
    for (t = 0; t < QLM_KV_COUNT; t++) {
        double worst = 0, se = 0, sx = 0, worst_axpy = 0;
        int blk = t == QLM_KV_FP8 ? 0 : 32; /* bound per block (0: per segment) */
        for (hi = 0; hi < N_HDS; hi++) {
            int hd = k_hds[hi];
            for (trial = 0; trial < 200; trial++) {
                /* 1e-1 .. 1e3: below ~1e-2 the f16 block scales of q8_0 / q4 turn subnormal and
                   lose relative precision (a property of the formats, as in llama.cpp) */
                float sc = powf(10.0f, (float)rng_below(5) - 1.0f);
                if (t == QLM_KV_F16) sc = 1.0f;
                for (i = 0; i < hd; i++) x[i] = rng_normal() * sc * (trial % 4 == 0 && i % 29 == 0 ? 20.0f : 1.0f);
                ref->kv_quant[t](x, seg, hd);
                seg_dequant((qlm_kv_type)t, seg, y, hd);
                for (i = 0; i < hd; i++) {
                    int b0 = blk ? i / blk * blk : 0, b1 = blk ? b0 + blk : hd, j;
                    double amax = 0, e = fabs((double)x[i] - (double)y[i]);
                    for (j = b0; j < b1; j++) amax = fabs((double)x[j]) > amax ? fabs((double)x[j]) : amax;
                    if (t == QLM_KV_F16) /* f16: relative per element, down to the smallest normal */
                        amax = fabs((double)x[i]) > 6.103515625e-05 ? fabs((double)x[i]) : 6.103515625e-05;
                    if (amax > 0 && e / amax > worst) worst = e / amax;
                    se += e * e;
                    sx += (double)x[i] * x[i];
                }
                /* the reference axpy with a = 1 on zeros is the dequantisation */
                memset(z, 0, sizeof z);
                qlm__kv_traits[t].axpy(hd, z, 1.0f, seg);
                for (i = 0; i < hd; i++) {
                    double e = fabs((double)z[i] - (double)y[i]) / (fabs((double)y[i]) + 1e-30);
                    if (e > worst_axpy) worst_axpy = e;
                }
            }
        }
        CHECK(worst <= k_rt_max[t], "%s segment round trip: max error %.4g of max|x| > %.4g", qlm__kv_traits[t].name,
              worst, k_rt_max[t]);
        CHECK(sqrt(se / sx) <= k_rt_rms[t], "%s segment round trip: RMS error %.4g of RMS x > %.4g",
              qlm__kv_traits[t].name, sqrt(se / sx), k_rt_rms[t]);
        CHECK(worst_axpy <= 1e-6, "%s: reference axpy(a = 1) differs from the dequantisation by %.3g",
              qlm__kv_traits[t].name, worst_axpy);
        printf("round trip %-4s: max error %.4g of max|x| (limit %.4g), RMS %.4g (limit %.3g)\n",
               qlm__kv_traits[t].name, worst, k_rt_max[t], sqrt(se / sx), k_rt_rms[t]);
    }
    /* q4's least-squares refit beats q4_1's plain rounding on Gaussian segments (the commit that
       added it measured 13% lower squared error; here 13.4%), and loses on no block */
    {
        double e_fit = 0, e_plain = 0;
        int worse = 0, b;
        for (trial = 0; trial < 200; trial++) {
            for (i = 0; i < 128; i++) x[i] = rng_normal();
            ref->kv_quant[QLM_KV_Q4](x, seg, 128);
            seg_dequant(QLM_KV_Q4, seg, y, 128);
            qlm__type_traits[QLM_TYPE_Q4_1].from_float(x, seg, 128);
            seg_dequant(QLM_KV_Q4, seg, z, 128);
            for (b = 0; b < 4; b++) {
                double ef = 0, ep = 0;
                for (i = 32 * b; i < 32 * b + 32; i++) {
                    ef += (double)(x[i] - y[i]) * (x[i] - y[i]);
                    ep += (double)(x[i] - z[i]) * (x[i] - z[i]);
                }
                worse += ef > ep * (1 + 1e-6);
                e_fit += ef;
                e_plain += ep;
            }
        }
        CHECK(e_fit < 0.95 * e_plain, "q4 refit: squared error %.4g vs %.4g with q4_1 rounding", e_fit, e_plain);
        CHECK(worse == 0, "q4 refit: %d of 800 blocks worse than q4_1 rounding", worse);
        printf("q4 refit: squared error %.1f%% lower than q4_1 rounding (800 Gaussian blocks)\n",
               100.0 * (1.0 - e_fit / e_plain));
    }
    /* fp8 segment layout: [f32 d = amax/448][codes]; an all-zero segment has d = 0, codes 0 */
    {
        float d;
        for (i = 0; i < 64; i++) x[i] = i == 5 ? -3.5f : 0.25f;
        qlm__quant_seg_fp8_ref(x, seg, 64);
        memcpy(&d, seg, 4);
        CHECK(d == 3.5f / 448.0f && seg[4 + 5] == 0xfe, "fp8 segment: d = amax / 448, the extreme is code 0xfe");
        CHECK(qlm__kv_seg_bytes(QLM_KV_FP8, 64) == 68 && qlm__kv_seg_bytes(QLM_KV_F16, 64) == 128 &&
                  qlm__kv_seg_bytes(QLM_KV_Q8_0, 64) == 68 && qlm__kv_seg_bytes(QLM_KV_Q4, 64) == 40 &&
                  qlm__kv_seg_bytes(QLM_KV_Q4_0, 64) == 36,
              "segment bytes for head_dim 64: f16 128, q8_0 68, fp8 68, q4 40, q4_0 36");
        CHECK(qlm__kv_seg_bytes(QLM_KV_Q8_0, 48) == 0 && qlm__kv_seg_bytes(QLM_KV_Q4, 80) == 0 &&
                  qlm__kv_seg_bytes(QLM_KV_FP8, 48) == 52 && qlm__kv_seg_bytes(QLM_KV_F16, 48) == 96,
              "segment bytes: block types need multiples of 32, fp8 and f16 do not");
        for (i = 0; i < 64; i++) x[i] = 0.0f;
        qlm__quant_seg_fp8_ref(x, seg, 64);
        memcpy(&d, seg, 4);
        seg_dequant(QLM_KV_FP8, seg, y, 64);
        for (i = 0; i < 64 && y[i] == 0.0f && seg[4 + i] == 0; i++) {}
        CHECK(d == 0.0f && i == 64, "fp8 segment of zeros: d = 0, codes 0, dequantises to 0");
    }
}

/* ---- Hadamard ----------------------------------------------------------------------------- */

static int popcount32(uint32_t v) {
    int n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

static void test_hadamard(void) {
    static const int hds[] = {64, 128, 256, 96};
    static float x[MAX_HD], y[MAX_HD], hx[MAX_HD], hy[MAX_HD];
    int hi, i, j, trial;
    for (hi = 0; hi < 4; hi++) {
        int hd = hds[hi], n = qlm__hadamard_n(hd), bad_struct = 0, bad_spread = 0;
        double worst_dot = 0, worst_inv = 0, worst_norm = 0;
        float norm = 1.0f / sqrtf((float)n);
        CHECK(n == (hd == 96 ? 32 : hd), "hd %d: block of %d", hd, n);
        for (trial = 0; trial < 50; trial++) {
            double d0 = 0, d1 = 0, nx = 0, ny = 0, nhx = 0, ax = 0;
            for (i = 0; i < hd; i++) {
                x[i] = rng_normal() * (i == 3 ? 30.0f : 1.0f);
                y[i] = rng_normal();
            }
            memcpy(hx, x, sizeof(float) * (size_t)hd);
            memcpy(hy, y, sizeof(float) * (size_t)hd);
            qlm__hadamard(hx, hd, 0);
            qlm__hadamard(hy, hd, 0);
            for (i = 0; i < hd; i++) {
                d0 += (double)x[i] * y[i];
                d1 += (double)hx[i] * hy[i];
                nx += (double)x[i] * x[i];
                ny += (double)y[i] * y[i];
                nhx += (double)hx[i] * hx[i];
                ax = fabs((double)x[i]) > ax ? fabs((double)x[i]) : ax;
            }
            if (fabs(d1 - d0) / sqrt(nx * ny) > worst_dot) worst_dot = fabs(d1 - d0) / sqrt(nx * ny);
            if (fabs(nhx - nx) / nx > worst_norm) worst_norm = fabs(nhx - nx) / nx;
            qlm__hadamard(hx, hd, 1);
            for (i = 0; i < hd; i++)
                if (fabs((double)hx[i] - x[i]) / ax > worst_inv) worst_inv = fabs((double)hx[i] - x[i]) / ax;
        }
        /* one-hot e_i: every entry of its block +-1/sqrt(n), the signs H[j][i] D[i] */
        for (i = 0; i < hd; i++) {
            int b0 = i / n * n;
            memset(hx, 0, sizeof(float) * (size_t)hd);
            hx[i] = 1.0f;
            qlm__hadamard(hx, hd, 0);
            for (j = 0; j < hd; j++) {
                int in_block = j >= b0 && j < b0 + n;
                if (in_block ? fabsf(fabsf(hx[j]) - norm) > 1e-7f : hx[j] != 0.0f) bad_spread++;
                else if (in_block && ((hx[j] > 0) != (hx[b0] > 0)) != (popcount32((uint32_t)((i - b0) & (j - b0))) & 1))
                    bad_struct++; /* sign(row j) / sign(row 0) = (-1)^popcount(i & j) */
            }
        }
        CHECK(worst_dot <= 1e-5, "hd %d: rotation changes dot products by %.3g of |x||y|", hd, worst_dot);
        CHECK(worst_norm <= 1e-5, "hd %d: rotation changes |x|^2 by %.3g", hd, worst_norm);
        CHECK(worst_inv <= 1e-6, "hd %d: inverse(forward(x)) - x up to %.3g of max|x|", hd, worst_inv);
        CHECK(bad_spread == 0, "hd %d: %d entries of rotated one-hot vectors are not +-1/sqrt(%d) (0 outside the block)",
              hd, bad_spread, n);
        CHECK(bad_struct == 0, "hd %d: %d signs do not follow the Walsh-Hadamard pattern", hd, bad_struct);
        printf("hadamard hd %3d (blocks of %3d): dot error %.2e, |x|^2 error %.2e, inverse error %.2e\n", hd, n,
               worst_dot, worst_norm, worst_inv);
    }
    /* what it is for: an outlier channel no longer sets the block scale */
    {
        double e_plain = 0, e_rot = 0;
        static uint8_t seg[MAX_SEG];
        for (trial = 0; trial < 20; trial++) {
            for (i = 0; i < 64; i++) x[i] = rng_normal() * (i == 7 ? 50.0f : 1.0f);
            qlm__type_traits[QLM_TYPE_Q4_1].from_float(x, seg, 64);
            qlm__type_traits[QLM_TYPE_Q4_1].to_float(seg, y, 64);
            for (i = 0; i < 64; i++) e_plain += (double)(x[i] - y[i]) * (x[i] - y[i]);
            memcpy(hx, x, sizeof x);
            qlm__hadamard(hx, 64, 0);
            qlm__type_traits[QLM_TYPE_Q4_1].from_float(hx, seg, 64);
            qlm__type_traits[QLM_TYPE_Q4_1].to_float(seg, y, 64);
            qlm__hadamard(y, 64, 1);
            for (i = 0; i < 64; i++) e_rot += (double)(x[i] - y[i]) * (x[i] - y[i]);
        }
        CHECK(e_rot < 0.5 * e_plain, "rotation halves q4 error on a segment with an outlier: %.3g vs %.3g", e_rot,
              e_plain);
        printf("hadamard: q4 squared error with one 50x outlier channel: %.3g plain, %.3g rotated\n", e_plain, e_rot);
    }
}

/* ---- SIMD twins ------------------------------------------------------------------------------
   kv_dot: |simd - ref| <= tol * M + ABS_FLOOR, M = sum_j |k_j| |q_j| over the dequantised
   segment and q (for q4 the scale part and the min part of k_j counted separately, so
   cancelling terms still count), as test_kernels.c's bound.
     f16   the float-row dot of a f16 K segment and f16 q: lanes vs a double sum, TOL_FLOAT 1e-5
           (as test_kernels.c's TOL_FLOAT_ROW).
     q8_0, q4, q4_0  the matmul's integer dots: bit-identical on x86 (test_kernels.c's EXACT);
           NEON sums the per-block floats in another order: TOL_NEON_QUANT 2e-6 (as
           test_kernels_arm.c).
     fp8   codes decoded through a half and scaled by 256, products summed in 8-16 float lanes
           (FMA) against the reference's double sum of float products: at most ~n/16 + 5
           roundings of a partial sum <= M, ~1.3e-6 M at n = 256; TOL_FP8_DOT 1e-5.
   kv_axpy, per element: |simd - ref| <= TOL_AXPY * (|acc_j| + |a| (|scale part_j| + |min
   part_j|)) + ABS_FLOOR (q4_0's parts: q d and -8 d): the SIMD code fuses the multiply-add
   and adds the min (q4) or -8 d (q4_0) after the product, not before: a few roundings of
   2^-24 of those terms each: TOL_AXPY 1e-6.
   kv_quant: bytes identical to the reference. */
#define TOL_FLOAT      1e-5
#define TOL_NEON_QUANT 2e-6
#define TOL_FP8_DOT    1e-5
#define TOL_AXPY       1e-6
#define ABS_FLOOR      1e-30

static void put_f16(uint8_t *p, qlm__f16 h) { memcpy(p, &h, 2); }

/* One head's segment of type t in seg. mode 0: a quantised random row (magnitudes over 12
   decades); 1: random codes with sane scales; 2: adversarial, one pattern and one scale for
   the segment; 3: adversarial, per block. */
static void gen_seg(qlm_kv_type t, uint8_t *seg, int hd, int mode) {
    static const uint8_t pats[] = {0x00, 0xff, 0x77, 0x88, 0x7f, 0x81, 0x55, 0x01};
    static const qlm__f16 hs[] = {0x0000, 0x0001, 0x0400, 0x3c00, 0x7bff, 0x2e66, 0xb555, 0x1400};
    static const float ds[] = {0.0f, 1e-30f, 1e-3f, 1.0f, 3.0f, 1e20f}; /* 1e20: a * d * 448 * sums stay finite */
    static float x[MAX_HD];
    qlm_type blk = qlm__kv_traits[t].blk;
    int i, j;
    if (mode == 0) { /* 1e-5 .. 1e3: f16 scales and values stay finite */
        float sc = powf(10.0f, (float)rng_below(9) - 5.0f);
        for (i = 0; i < hd; i++) x[i] = rng_normal() * sc * (i % 37 == 0 ? 8.0f : 1.0f);
        if (t == QLM_KV_FP8) qlm__quant_seg_fp8_ref(x, seg, hd);
        else qlm__type_traits[blk].from_float(x, seg, hd);
        return;
    }
    if (t == QLM_KV_F16) { /* 1: random bits; 2: one listed value for the segment; 3: per element */
        qlm__f16 one = hs[rng_below(8)];
        for (i = 0; i < hd; i++) {
            qlm__f16 h = mode == 1 ? (qlm__f16)rng_u64() : mode == 2 ? one : hs[rng_below(8)];
            if ((h & 0x7c00) == 0x7c00) h &= 0xbfff; /* no inf / NaN */
            put_f16(seg + 2 * i, h);
        }
        return;
    }
    if (t == QLM_KV_FP8) {
        float d = mode == 1 ? rng_uniform() * 0.1f : ds[rng_below(6)];
        uint8_t p = pats[rng_below(8)];
        memcpy(seg, &d, 4);
        for (i = 0; i < hd; i++) {
            uint8_t c = mode == 1 ? (uint8_t)rng_u64() : mode == 3 && i % 32 == 0 ? (p = pats[rng_below(8)]) : p;
            if ((c & 0x7f) == 0x7f) c = (uint8_t)(c - 1); /* NaN codes are never written */
            seg[4 + i] = c;
        }
        return;
    }
    {
        const qlm__type_traits_t *tt = &qlm__type_traits[blk];
        int bs = (int)tt->type_size, nb = hd / (int)tt->blck_size;
        int d_off = 0, m_off = blk == QLM_TYPE_Q4_1 ? 2 : -1; /* d first in every block layout */
        uint8_t p = pats[rng_below(8)];
        qlm__f16 d = hs[rng_below(8)], m = hs[rng_below(8)];
        for (i = 0; i < nb; i++) {
            uint8_t *b = seg + (size_t)i * (size_t)bs;
            if (mode == 3) { p = pats[rng_below(8)]; d = hs[rng_below(8)]; m = hs[rng_below(8)]; }
            if (mode == 1) {
                d = qlm__fp32_to_fp16(rng_normal() * 0.01f);
                m = qlm__fp32_to_fp16(rng_normal() * 0.01f);
            }
            for (j = 0; j < bs; j++) b[j] = mode == 1 ? (uint8_t)rng_u64() : p;
            put_f16(b + d_off, d);
            if (m_off >= 0) put_f16(b + m_off, m);
            if (blk == QLM_TYPE_Q8_0) /* -128 is outside q8_0's code range (see test_kernels.c) */
                for (j = 2; j < bs; j++) if (b[j] == 0x80) b[j] = 0x81;
        }
    }
}

/* k split as scale part + min part, dequantised, so cancelling terms still count in the
   bounds: q4 (q4_1) is q d + m; q4_0 is q d - 8 d (the SIMD axpy adds the -8 d after q d). */
static void seg_parts(qlm_kv_type t, const uint8_t *seg, int hd, float *ks, float *km) {
    static uint8_t tmp[MAX_SEG];
    int i, j;
    if (t == QLM_KV_Q4_0) {
        const qlm__block_q4_0 *b = (const qlm__block_q4_0 *)seg;
        for (i = 0; i < hd / 32; i++) {
            float d = qlm__fp16_to_fp32(b[i].d);
            for (j = 0; j < 16; j++) {
                ks[32 * i + j] = (float)(b[i].qs[j] & 0x0f) * d;
                ks[32 * i + j + 16] = (float)(b[i].qs[j] >> 4) * d;
                km[32 * i + j] = km[32 * i + j + 16] = -8.0f * d;
            }
        }
        return;
    }
    if (t != QLM_KV_Q4) {
        seg_dequant(t, seg, ks, hd);
        for (i = 0; i < hd; i++) km[i] = 0.0f;
        return;
    }
    memcpy(tmp, seg, qlm__kv_seg_bytes(t, hd));
    for (i = 0; i < hd / 32; i++) put_f16(tmp + 20 * i + 2, 0);
    seg_dequant(t, tmp, ks, hd);
    memcpy(tmp, seg, qlm__kv_seg_bytes(t, hd));
    for (i = 0; i < hd / 32; i++) put_f16(tmp + 20 * i, 0);
    seg_dequant(t, tmp, km, hd);
}

/* q for the K dot: floats, prepared in the type's q_type by the reference quantiser */
static void gen_q(qlm_kv_type t, const qlm__kernels *ref, uint8_t *q, float *qf, int hd, int mode) {
    qlm_type qt = qlm__kv_traits[t].q_type;
    int i;
    for (i = 0; i < hd; i++)
        qf[i] = mode == 0 ? rng_normal() : mode == 1 ? rng_normal() * powf(2.0f, (float)rng_below(20) - 10.0f)
                                                     : (i == (int)rng_below((uint32_t)hd) ? 100.0f : 0.01f * rng_normal());
    if (qt == QLM_TYPE_F32) memcpy(q, qf, (size_t)hd * 4);
    else ref->from_float[qt](qf, q, hd);
    /* M uses q as the dot sees it */
    if (qt == QLM_TYPE_Q8_1) qlm__dequant_row_q8_1_ref(q, qf, hd);
    else if (qt != QLM_TYPE_F32) qlm__type_traits[qt].to_float(q, qf, hd);
}

static void test_twins(const qlm__kernels *ref, const qlm__kernels *k, const char *vname) {
    static uint8_t seg[MAX_SEG], q[MAX_SEG], a1[MAX_SEG], a2[MAX_SEG];
    static float qf[MAX_HD], ks[MAX_HD], km[MAX_HD], acc0[MAX_HD], accr[MAX_HD], accs[MAX_HD], x[MAX_HD];
    static const float as[] = {1.0f, 0.5f, 0.0f, -0.75f, 1e-20f, 1e10f, 0.03125f};
    int t, hi, mode, trial, i, neon = strcmp(vname, "neon") == 0;
    /* coverage: the variant replaces the KV kernels it is meant to (a forgotten fill line would
       otherwise test the reference against itself) */
    for (t = 0; t < QLM_KV_COUNT; t++)
        CHECK(k->kv_axpy[t] != qlm__kv_traits[t].axpy, "%s: kv_axpy %s is still the reference", vname,
              qlm__kv_traits[t].name);
    CHECK(k->kv_dot[QLM_KV_FP8] != qlm__kv_dot_fp8_ref, "%s: kv_dot fp8 is still the reference", vname);
    for (t = 0; t < QLM_KV_COUNT; t++) {
        qlm_type b = qlm__kv_traits[t].blk;
        if (b == QLM_TYPE_F32) continue;
        CHECK(k->kv_dot[t] == k->vec_dot[b], "%s: kv_dot %s is the table's matmul dot", vname, qlm__kv_traits[t].name);
    }
    for (t = 0; t < QLM_KV_COUNT; t++) {
        const char *tn = qlm__kv_traits[t].name;
        double tol = t == QLM_KV_F16 ? TOL_FLOAT : t == QLM_KV_FP8 ? TOL_FP8_DOT : neon ? TOL_NEON_QUANT : 0.0;
        double worst_dot = 0, worst_axpy = 0;
        int cases = 0, bad_dot = 0, bad_axpy = 0, bad_quant = 0, exact = 0, acases = 0;
        for (hi = 0; hi < N_HDS; hi++) {
            int hd = k_hds[hi];
            size_t sb = qlm__kv_seg_bytes((qlm_kv_type)t, hd);
            for (mode = 0; mode < 4; mode++) {
                for (trial = 0; trial < 32; trial++) {
                    float r = 0, v = 0, a = as[trial % 7];
                    double m = 0, err;
                    gen_seg((qlm_kv_type)t, seg, hd, mode);
                    gen_q((qlm_kv_type)t, ref, q, qf, hd, trial % 3);
                    seg_parts((qlm_kv_type)t, seg, hd, ks, km);
                    ref->kv_dot[t](hd, &r, seg, q);
                    k->kv_dot[t](hd, &v, seg, q);
                    for (i = 0; i < hd; i++) m += (fabs((double)ks[i]) + fabs((double)km[i])) * fabs((double)qf[i]);
                    err = fabs((double)v - (double)r);
                    cases++;
                    if (v == r) exact++;
                    if (m > 0 && err / m > worst_dot) worst_dot = err / m;
                    if ((tol == 0.0 ? memcmp(&v, &r, sizeof v) != 0 : !(err <= tol * m + ABS_FLOOR)) || !isfinite(v)) {
                        if (bad_dot++ < 3)
                            printf("  %s kv_dot %s hd %d mode %d: ref %.9g %s %.9g (M %.3g)\n", vname, tn, hd, mode,
                                   (double)r, vname, (double)v, m);
                    }
                    /* axpy: acc += a * segment */
                    for (i = 0; i < hd; i++) acc0[i] = rng_normal() * (trial % 2 ? 1.0f : (float)fabs((double)ks[i]));
                    memcpy(accr, acc0, (size_t)hd * 4);
                    memcpy(accs, acc0, (size_t)hd * 4);
                    ref->kv_axpy[t](hd, accr, a, seg);
                    k->kv_axpy[t](hd, accs, a, seg);
                    for (i = 0; i < hd; i++) {
                        double mag = fabs((double)acc0[i]) + fabs((double)a) * (fabs((double)ks[i]) + fabs((double)km[i]));
                        double e = fabs((double)accs[i] - (double)accr[i]);
                        acases++;
                        if (mag > 0 && e / mag > worst_axpy) worst_axpy = e / mag;
                        if (!(e <= TOL_AXPY * mag + ABS_FLOOR) || !isfinite(accs[i])) {
                            if (bad_axpy++ < 3)
                                printf("  %s kv_axpy %s hd %d mode %d a %g elem %d: ref %.9g %s %.9g\n", vname, tn, hd,
                                       mode, (double)a, i, (double)accr[i], vname, (double)accs[i]);
                        }
                    }
                    /* quantiser: bytes equal */
                    if (mode < 2) {
                        float sc = powf(10.0f, (float)rng_below(9) - 4.0f);
                        for (i = 0; i < hd; i++) x[i] = rng_normal() * sc;
                        if (trial % 4 == 3) for (i = 0; i < hd; i++) x[i] = (float)((int)rng_below(255) - 127) + 0.5f;
                        memset(a1, 0xa5, sb + 8);
                        memset(a2, 0xa5, sb + 8);
                        ref->kv_quant[t](x, a1, hd);
                        k->kv_quant[t](x, a2, hd);
                        if (memcmp(a1, a2, sb + 8) != 0 && bad_quant++ < 3)
                            printf("  %s kv_quant %s hd %d: bytes differ\n", vname, tn, hd);
                    }
                }
            }
        }
        if (tol == 0.0)
            CHECK(bad_dot == 0, "%s: kv_dot %s: %d of %d not bit-identical to the reference", vname, tn, bad_dot, cases);
        else
            CHECK(bad_dot == 0, "%s: kv_dot %s: %d of %d outside %.0e * M", vname, tn, bad_dot, cases, tol);
        CHECK(bad_axpy == 0, "%s: kv_axpy %s: %d of %d elements outside %.0e * magnitude", vname, tn, bad_axpy, acases,
              TOL_AXPY);
        CHECK(bad_quant == 0, "%s: kv_quant %s: %d segments differ from the reference", vname, tn, bad_quant);
        printf("  %-6s %-4s kv_dot %3d segs, worst |diff|/M %.2e (limit %s%.0e), bit-equal %3d; kv_axpy worst "
               "%.2e (limit %.0e)\n",
               vname, tn, cases, worst_dot, tol == 0.0 ? "exact " : "", tol, exact, worst_axpy, TOL_AXPY);
    }
}

/* ---- block kernels: kv_scores / kv_accum (blocks of up to 32 cells) ------------------------
   Optional entries (NULL: qlm__att_block loops kv_dot / kv_axpy, which is their reference).
   scores: out[gi][i] = K[cells[i]] . q_gi for g query heads (rows 33 floats apart, the guard after
   each row untouched), each within TOL_SCORES * M_i of the reference kv_dot (M_i as
   for kv_dot); the SIMD code keeps 8 cells' FMA chains and adds the per-block floats in another
   order (q4's min terms summed apart), a few roundings of partial sums <= M_i.
   accum: acc[gi][j] += sum_i p[gi][i] V[cells[i]][j], within TOL_ACCUM * (|acc_j| + sum_i |p_i|
   (|scale part| + |min part|)) of the reference axpy loop: up to 32 products fused in another
   order, ~(n + 3) roundings of 2^-24: 2e-6 at n = 32; TOL_ACCUM 1e-5.
   Both give every head the same bits as a call with that head alone (g = 1): a prefill tile
   passes g x 8 heads, decode g, and their logits must agree to the bit.
   Cases: n = 1..32 cells (8-cell groups with short tails), cells in any order and repeated,
   rows of 3 heads (row stride != segment size), g = 1..9 heads (the 4-head register groups and
   their remainders), head dims 64, 128, 256. */
#define TOL_SCORES 1e-5
#define TOL_ACCUM  1e-5
#define N_CELLS    40
#define N_KV_HEADS 3

static void test_blocks(const qlm__kernels *ref, const qlm__kernels *k, const char *vname) {
    static uint8_t cache[N_CELLS * N_KV_HEADS * MAX_SEG], q[9][MAX_SEG];
    static float qf[9][MAX_HD], ks[N_CELLS][MAX_HD], km[N_CELLS][MAX_HD], out[9 * 33], want[32];
    static float p[9 * 32], acc0[9 * MAX_HD], accr[9 * MAX_HD], accs[9 * MAX_HD];
    static const int ns[] = {1, 3, 7, 8, 9, 13, 16, 29, 31, 32};
    static const int gs[] = {1, 2, 3, 4, 5, 7, 8, 9};
    int32_t cells[32];
    int t, hi, trial, i, c, gi, j;
    for (t = 0; t < QLM_KV_COUNT; t++) {
        const char *tn = qlm__kv_traits[t].name;
        double worst_s = 0, worst_a = 0;
        int bad_s = 0, bad_a = 0, n_s = 0, n_a = 0, bad_grp = 0, n_grp = 0;
        if (strcmp(vname, "neon") != 0) /* the x86 variants have both (coverage) */
            CHECK(k->kv_scores[t] && k->kv_accum[t], "%s: kv_scores / kv_accum %s missing", vname, tn);
        if (!k->kv_scores[t] && !k->kv_accum[t]) {
            printf("  %-6s %-4s kv_scores / kv_accum: none (the per-cell kernels are used)\n", vname, tn);
            continue;
        }
        for (hi = 0; hi < N_HDS; hi++) {
            int hd = k_hds[hi], kh = hi % N_KV_HEADS;
            size_t sb = qlm__kv_seg_bytes((qlm_kv_type)t, hd), row = sb * N_KV_HEADS;
            const uint8_t *K = cache + (size_t)kh * sb;
            for (trial = 0; trial < 40; trial++) {
                int n = ns[trial % 10], g = gs[trial % 8];
                for (c = 0; c < N_CELLS; c++) { /* every head of every cell: fresh segments */
                    for (j = 0; j < N_KV_HEADS; j++)
                        gen_seg((qlm_kv_type)t, cache + (size_t)c * row + j * sb, hd, (trial + c) % 4);
                    seg_parts((qlm_kv_type)t, cache + (size_t)c * row + (size_t)kh * sb, hd, ks[c], km[c]);
                }
                for (i = 0; i < n; i++)
                    cells[i] = trial % 3 == 0 ? (int32_t)rng_below(N_CELLS) : (int32_t)((i * 7 + trial) % N_CELLS);
                /* scores: g heads, out rows 33 floats apart (a guard float after each row) */
                for (gi = 0; gi < g; gi++) gen_q((qlm_kv_type)t, ref, q[gi], qf[gi], hd, (trial + gi) % 3);
                if (k->kv_scores[t]) {
                    for (i = 0; i < 9 * 33; i++) out[i] = -12345.0f;
                    k->kv_scores[t](hd, n, g, K, row, cells, q, MAX_SEG, out, 33);
                    for (gi = 0; gi < g; gi++) { /* each head alone: the same bits (attention tiles rely on it) */
                        float one[33];
                        k->kv_scores[t](hd, n, 1, K, row, cells, q[gi], MAX_SEG, one, 33);
                        n_grp++;
                        if (memcmp(one, out + gi * 33, (size_t)n * sizeof(float)) != 0 && bad_grp++ < 3)
                            printf("  %s kv_scores %s hd %d n %d g %d: head %d alone differs\n", vname, tn, hd, n, g, gi);
                    }
                    for (gi = 0; gi < g; gi++) {
                        CHECK(out[gi * 33 + n] == -12345.0f, "%s: kv_scores %s wrote past n = %d", vname, tn, n);
                        for (i = 0; i < n; i++) {
                            double m = 0, err;
                            float got = out[gi * 33 + i];
                            ref->kv_dot[t](hd, &want[i], K + (size_t)cells[i] * row, q[gi]);
                            for (j = 0; j < hd; j++)
                                m += (fabs((double)ks[cells[i]][j]) + fabs((double)km[cells[i]][j])) *
                                     fabs((double)qf[gi][j]);
                            err = fabs((double)got - (double)want[i]);
                            n_s++;
                            if (m > 0 && err / m > worst_s) worst_s = err / m;
                            if (!(err <= TOL_SCORES * m + ABS_FLOOR) && bad_s++ < 3)
                                printf("  %s kv_scores %s hd %d n %d g %d head %d cell %d: ref %.9g %s %.9g (M %.3g)\n",
                                       vname, tn, hd, n, g, gi, i, (double)want[i], vname, (double)got, m);
                        }
                    }
                }
                /* accum */
                if (k->kv_accum[t]) {
                    for (gi = 0; gi < g; gi++)
                        for (i = 0; i < 32; i++)
                            p[gi * 32 + i] = i >= n ? NAN /* never read */
                                                    : trial % 5 == 0 ? (i == gi ? 1.0f : 0.0f) : rng_uniform();
                    for (i = 0; i < g * hd; i++) acc0[i] = rng_normal() * (trial % 2 ? 1.0f : 1e-3f);
                    memcpy(accr, acc0, sizeof(float) * (size_t)(g * hd));
                    memcpy(accs, acc0, sizeof(float) * (size_t)(g * hd));
                    k->kv_accum[t](hd, n, g, cache + (size_t)kh * sb, row, cells, p, 32, accs);
                    for (gi = 0; gi < g; gi++) { /* each head alone: the same bits */
                        float one[MAX_HD];
                        memcpy(one, acc0 + gi * hd, sizeof(float) * (size_t)hd);
                        k->kv_accum[t](hd, n, 1, cache + (size_t)kh * sb, row, cells, p + gi * 32, 32, one);
                        n_grp++;
                        if (memcmp(one, accs + gi * hd, sizeof(float) * (size_t)hd) != 0 && bad_grp++ < 3)
                            printf("  %s kv_accum %s hd %d n %d g %d: head %d alone differs\n", vname, tn, hd, n, g, gi);
                    }
                    for (gi = 0; gi < g; gi++)
                        for (i = 0; i < n; i++)
                            qlm__kv_traits[t].axpy(hd, accr + gi * hd, p[gi * 32 + i],
                                                   cache + (size_t)cells[i] * row + (size_t)kh * sb);
                    for (gi = 0; gi < g; gi++)
                        for (j = 0; j < hd; j++) {
                            double mag = fabs((double)acc0[gi * hd + j]), err;
                            for (i = 0; i < n; i++)
                                mag += fabs((double)p[gi * 32 + i]) *
                                       (fabs((double)ks[cells[i]][j]) + fabs((double)km[cells[i]][j]));
                            err = fabs((double)accs[gi * hd + j] - (double)accr[gi * hd + j]);
                            n_a++;
                            if (mag > 0 && err / mag > worst_a) worst_a = err / mag;
                            if (!(err <= TOL_ACCUM * mag + ABS_FLOOR) && bad_a++ < 3)
                                printf("  %s kv_accum %s hd %d n %d g %d head %d elem %d: ref %.9g %s %.9g\n", vname,
                                       tn, hd, n, g, gi, j, (double)accr[gi * hd + j], vname, (double)accs[gi * hd + j]);
                        }
                }
            }
        }
        CHECK(bad_grp == 0, "%s: kv_scores / kv_accum %s: %d of %d heads differ from the same head alone", vname, tn,
              bad_grp, n_grp);
        if (k->kv_scores[t])
            CHECK(bad_s == 0, "%s: kv_scores %s: %d of %d scores outside %.0e * M", vname, tn, bad_s, n_s, TOL_SCORES);
        if (k->kv_accum[t])
            CHECK(bad_a == 0, "%s: kv_accum %s: %d of %d elements outside %.0e * magnitude", vname, tn, bad_a, n_a,
                  TOL_ACCUM);
        printf("  %-6s %-4s kv_scores %s worst %.2e, kv_accum %s worst %.2e (limits %.0e, %.0e)\n", vname, tn,
               k->kv_scores[t] ? "yes" : "no ", worst_s, k->kv_accum[t] ? "yes" : "no ", worst_a, TOL_SCORES, TOL_ACCUM);
    }
}

/* ---- softmax step: att_softmax ------------------------------------------------------------
   The exponential is one recipe in every variant (fused multiply-adds, the same lane order
   for the sum), so a SIMD att_softmax must give the reference's bits: scaled scores, p, M, S
   and the rescale factors f, compared exactly. Cases: n = 0..32 (short blocks padded with
   -inf inside the kernels), g = 1..9 heads, add = NULL or per-head values, a first block (M =
   -inf), blocks whose maximum stays below M (f = 1) and above it (f < 1), scores spread from
   1e-3 to 100 so that some p underflow to 0 (below -87). The recipe itself is checked against
   exp in double: relative error <= 4 ulp (2^-21) on [-87, 0], 0 below -87 and for -inf. */
static void test_softmax_exp(void) {
    double worst = 0;
    int i, bad = 0;
    for (i = 0; i <= 870000; i++) {
        float x = -87.0f * (float)i / 870000.0f, e = qlm__exp_neg(x);
        double want = exp((double)x), err = fabs((double)e - want) / want;
        if (err > worst) worst = err;
        if (!(err <= ldexp(1.0, -21)) && bad++ < 3) printf("  exp(%.9g) = %.9g, want %.9g\n", (double)x, (double)e, want);
    }
    CHECK(bad == 0 && worst <= ldexp(1.0, -21), "exp recipe: %d of 870001 points outside 2^-21 (worst %.3g)", bad, worst);
    CHECK(qlm__exp_neg(-87.5f) == 0.0f && qlm__exp_neg(-INFINITY) == 0.0f && qlm__exp_neg(NAN) == 0.0f &&
              qlm__exp_neg(0.0f) == 1.0f,
          "exp recipe: 0 below -87, for -inf and NaN; exp(0) = 1");
    printf("  exp recipe: worst relative error %.3g (%.2f ulp) on [-87, 0]\n", worst, worst * 8388608.0);
}

static void test_softmax(const qlm__kernels *ref, const qlm__kernels *k, const char *vname) {
    static const int ns[] = {0, 1, 5, 8, 15, 16, 17, 24, 31, 32}, gs[] = {1, 3, 4, 9};
    float s0[9 * 40], sr[9 * 40], sk[9 * 40], pr[9 * 32], pk[9 * 32], add[9], Mr[9], Mk[9], fr[9], fk[9];
    double Sr[9], Sk[9];
    int trial, i, bad = 0, cases = 0;
    CHECK(k->att_softmax != NULL, "%s: att_softmax missing", vname);
    for (trial = 0; trial < 400; trial++) {
        int n = ns[trial % 10], g = gs[trial % 4], gi, use_add = trial % 3 == 1;
        float spread = trial % 5 == 0 ? 100.0f : trial % 5 == 1 ? 1e-3f : 8.0f;
        for (i = 0; i < 9 * 40; i++) s0[i] = rng_normal() * spread;
        for (gi = 0; gi < g; gi++) {
            add[gi] = rng_normal();
            /* state before the block: empty, far above, or somewhere near the block */
            Mr[gi] = trial % 4 == 0 ? -INFINITY : trial % 4 == 1 ? 1e4f : rng_normal() * spread * 0.1f;
            Sr[gi] = Mr[gi] == -INFINITY ? 0.0 : 1.0 + 10.0 * rng_uniform();
            Mk[gi] = Mr[gi];
            Sk[gi] = Sr[gi];
        }
        memcpy(sr, s0, sizeof s0);
        memcpy(sk, s0, sizeof s0);
        memset(pr, 0, sizeof pr);
        memset(pk, 0, sizeof pk);
        ref->att_softmax(g, n, sr, 40, use_add ? add : NULL, 0.125f, Mr, Sr, pr, 32, fr);
        k->att_softmax(g, n, sk, 40, use_add ? add : NULL, 0.125f, Mk, Sk, pk, 32, fk);
        cases++;
        if (memcmp(sr, sk, sizeof sr) || memcmp(pr, pk, sizeof pr) || memcmp(Mr, Mk, (size_t)g * 4) ||
            memcmp(Sr, Sk, (size_t)g * 8) || memcmp(fr, fk, (size_t)g * 4)) {
            if (bad++ < 3)
                printf("  %s att_softmax n %d g %d add %d: differs (M %.9g / %.9g, S %.17g / %.17g, p0 %.9g / %.9g)\n",
                       vname, n, g, use_add, (double)Mr[0], (double)Mk[0], Sr[0], Sk[0], (double)pr[0], (double)pk[0]);
        }
    }
    CHECK(bad == 0, "%s: att_softmax differs from the reference in %d of %d cases", vname, bad, cases);
    printf("  %-6s att_softmax: %d cases, %d bit-identical to the reference\n", vname, cases, cases - bad);
}

/* ---- gated activation: glu (SWIGLU / GEGLU) ------------------------------------------------
   Not a KV kernel, but it shares the softmax's exponential, so it is tested here, on ARM too.
   A SIMD glu must give the reference's bits for every n (tails included) and input: normal
   values at three spreads, the clamp's edges (|x| around 87-89, where exp(-x) nears the top of
   the exponent field or underflows), huge and tiny values, +-0, +-inf and NaN. The recipe is
   checked against silu and the tanh form of gelu in double: |error| <= 2^-20 |x| + 1e-38 on
   [-30, 30] (relative to x, since act(x) = x sigmoid(z)). */
static void test_glu_recipe(void) {
    double worst[2] = {0, 0};
    int i, gelu, bad = 0;
    for (gelu = 0; gelu < 2; gelu++)
        for (i = -300000; i <= 300000; i++) {
            float x = 30.0f * (float)i / 300000.0f, one = 1.0f, y;
            double xd = x, z = gelu ? 0.797884560802865355 * (xd + 0.044715 * xd * xd * xd) : xd,
                   want = gelu ? 0.5 * xd * (1.0 + tanh(z)) : xd / (1.0 + exp(-xd)), err;
            qlm__glu_ref(1, &x, &one, &y, gelu);
            err = fabs((double)y - want) / (fabs(xd) + 1e-30);
            if (err > worst[gelu]) worst[gelu] = err;
            if (!(fabs((double)y - want) <= ldexp(fabs(xd), -20) + 1e-38) && bad++ < 3)
                printf("  %s(%.9g) = %.9g, want %.9g\n", gelu ? "gelu" : "silu", (double)x, (double)y, want);
        }
    {
        float x[4] = {100.0f, -100.0f, 0.0f, -200.0f}, one[4] = {1, 1, 1, 1}, y[4], yg[4];
        qlm__glu_ref(4, x, one, y, 0);
        qlm__glu_ref(4, x, one, yg, 1);
        CHECK(y[0] == 100.0f && yg[0] == 100.0f && fabsf(y[1]) < 1e-30f && fabsf(yg[1]) < 1e-30f && y[2] == 0.0f &&
                  fabsf(y[3]) < 1e-30f,
              "glu recipe: act(100) = 100, act(-100) and act(-200) ~ 0 (the clamp), act(0) = 0");
    }
    CHECK(bad == 0, "glu recipe: %d of 1200002 points outside 2^-20 |x| (worst silu %.3g, gelu %.3g)", bad, worst[0],
          worst[1]);
    printf("  glu recipe: worst error / |x| on [-30, 30]: silu %.3g, gelu (tanh form) %.3g\n", worst[0], worst[1]);
}

static void test_glu(const qlm__kernels *ref, const qlm__kernels *k, const char *vname) {
    enum { N = 300 };
    static const float edge[] = {87.0f, -87.0f, 87.5f, -87.5f, 88.0f, -88.0f, 88.5f, -88.5f, 89.0f, -89.0f, 1e30f,
                                 -1e30f, 1e-30f, -1e-30f, 1e-40f, 0.0f, -0.0f, 10.5f, -10.5f, 3.0e13f, -3.0e13f};
    float g[N], u[N], yr[N + 1], yk[N + 1];
    int trial, i, bad = 0, cases = 0;
    CHECK(k->glu != NULL, "%s: glu missing", vname);
    if (!k->glu) return;
    for (trial = 0; trial < 240; trial++) {
        int n = trial % 40 == 39 ? N : trial % 40, gelu = (trial / 40) % 2, kind = trial / 80;
        float spread = kind == 0 ? 1.0f : kind == 1 ? 8.0f : 40.0f;
        for (i = 0; i < N; i++) {
            g[i] = rng_normal() * spread;
            u[i] = rng_normal();
            if (i % 7 == 3) g[i] = edge[(i / 7 + trial) % (int)(sizeof edge / sizeof edge[0])];
        }
        if (trial % 5 == 0) { g[trial % N] = INFINITY; g[(trial + 1) % N] = -INFINITY; g[(trial + 2) % N] = NAN; }
        yr[n] = yk[n] = -12345.0f;
        ref->glu(n, g, u, yr, gelu);
        k->glu(n, g, u, yk, gelu);
        cases++;
        if (memcmp(yr, yk, (size_t)n * 4) || yk[n] != -12345.0f) {
            if (bad++ < 3) {
                for (i = 0; i < n && !memcmp(&yr[i], &yk[i], 4); i++) {}
                printf("  %s glu n %d gelu %d: first difference at %d: x %.9g ref %.9g %s %.9g\n", vname, n, gelu, i,
                       (double)g[i], (double)yr[i], vname, (double)yk[i]);
            }
        }
    }
    CHECK(bad == 0, "%s: glu differs from the reference in %d of %d cases", vname, bad, cases);
    printf("  %-6s glu: %d cases (n 0..39 and %d, silu and gelu), %d bit-identical to the reference\n", vname, cases,
           N, cases - bad);
}

/* ---- layout ------------------------------------------------------------------------------- */

static qlm__hparams g_hp;
static qlm__kv_layer g_L[64];

static void fake_hp(int n_layer, int n_head, int n_head_kv, int hd, int swa_window, int swa_every) {
    int i;
    memset(&g_hp, 0, sizeof g_hp);
    g_hp.n_layer = n_layer;
    g_hp.n_head = n_head;
    g_hp.n_head_kv = n_head_kv;
    g_hp.head_dim = hd;
    g_hp.n_ctx_train = 8192;
    g_hp.swa_window = swa_window;
    for (i = 0; i < n_layer; i++) g_hp.is_swa[i] = (uint8_t)(swa_every > 0 && (i + 1) % swa_every != 0);
}

static qlm_status layout(qlm__kv *kv, qlm_ctx_params *p) {
    memset(kv, 0, sizeof *kv);
    memset(g_L, 0x5a, sizeof g_L);
    kv->L = g_L;
    return qlm__kv_layout(kv, &g_hp, p);
}

/* The ring of layer L: cells in range, sinks fixed, and no two of any W + B consecutive
   positions after the sinks share a cell. Returns the number of violations. */
static int check_ring(const qlm__kv_layer *L, int32_t B, int32_t n_pos) {
    static int32_t owner[1 << 14];
    int32_t p, bad = 0, span = L->window + B, ring = L->n_cells - L->sinks;
    for (p = 0; p < L->n_cells; p++) owner[p] = -1;
    for (p = 0; p < n_pos; p++) {
        int32_t c = qlm__kv_cell(L, p);
        if (c < 0 || c >= L->n_cells) { bad++; continue; }
        if (p < L->sinks ? c != p : c < L->sinks) bad++; /* sinks stay, the ring never writes them */
        if (p >= L->sinks && owner[c] >= 0 && p - owner[c] < span) bad++;
        if (p >= L->sinks && p >= L->sinks + ring && c != qlm__kv_cell(L, p - ring)) bad++; /* period = ring */
        owner[c] = p;
    }
    return bad;
}

static void test_layout(void) {
    qlm__kv kv;
    qlm_ctx_params p;
    int il, ok;
    size_t sum;

    /* plain: every layer full, n_ctx cells, cell = position */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 256;
    p.n_batch = 32;
    CHECK(layout(&kv, &p) == QLM_OK, "plain layout: %s", qlm_last_error());
    for (il = 0, ok = 1, sum = 0; il < 4; il++) {
        ok &= g_L[il].n_cells == 256 && g_L[il].window == 0 && g_L[il].sinks == 0 && !g_L[il].h2o;
        ok &= qlm__kv_cell(&g_L[il], 200) == 200;
        sum += qlm__kv_bytes_layer(&kv, &g_L[il]);
    }
    CHECK(ok, "plain: full layers of n_ctx cells");
    CHECK(!kv.bounded && kv.n_cells_max == 256 && !kv.rot_k && !kv.rot_v, "plain: not bounded, f16 not rotated");
    CHECK(kv.seg_k == 128 && kv.row_k == 256 && kv.bytes == sum && kv.bytes == (size_t)4 * 256 * 2 * 2 * 64 * 2,
          "plain: bytes %zu = 4 layers x 256 cells x 2 heads x (K + V) x 64 x 2", kv.bytes);
    p = qlm_ctx_default_params();
    p.n_ctx = 256;
    CHECK(layout(&kv, &p) == QLM_OK && p.n_batch == 256, "default n_batch 512 clamped to n_ctx: %d", p.n_batch);
    p = qlm_ctx_default_params();
    CHECK(layout(&kv, &p) == QLM_OK && p.n_ctx == 4096 && p.n_batch == 512,
          "defaults: n_ctx min(train, 4096), n_batch 512");

    /* mixed types: per-type segments, rotation flags */
    p = qlm_ctx_default_params();
    p.n_ctx = 100;
    p.n_batch = 10;
    p.type_k = QLM_KV_Q8_0;
    p.type_v = QLM_KV_Q4;
    CHECK(layout(&kv, &p) == QLM_OK && kv.seg_k == 68 && kv.seg_v == 40 && kv.row_k == 136 && kv.row_v == 80 &&
              kv.rot_k && kv.rot_v, "q8_0 K / q4 V: segments 68 / 40 bytes, rotated");
    for (il = 0, sum = 0; il < 4; il++) sum += qlm__kv_bytes_layer(&kv, &g_L[il]);
    /* a quantised layer may carry small extras (padding, per-head statistics) beyond its cells,
       and a quantised K its 32 recent and 4 first keys (F16) with their positions */
    CHECK(kv.bytes == sum && kv.bytes >= (size_t)4 * (100 * (136 + 80) + 36 * 2 * 64 * 2 + 36 * 4) &&
              kv.bytes <= (size_t)4 * (100 * (136 + 80) + 36 * 2 * 64 * 2 + 36 * 4 + 4096),
          "q8_0 K / q4 V: bytes %zu = the layers' sum, 4 x (100 cells x 216 bytes + the recent keys) and small extras",
          kv.bytes);
    p.no_kv_rot = 1;
    p.type_k = QLM_KV_F16;
    CHECK(layout(&kv, &p) == QLM_OK && !kv.rot_k && !kv.rot_v, "no_kv_rot: nothing rotated");
    p.no_kv_rot = 0;
    CHECK(layout(&kv, &p) == QLM_OK && !kv.rot_k && kv.rot_v, "f16 K is never rotated, q4 V is");

    /* Gemma-like: 5 local (window 512) : 1 global */
    fake_hp(12, 4, 1, 256, 512, 6);
    p = qlm_ctx_default_params();
    p.n_ctx = 4096;
    p.n_batch = 64;
    CHECK(layout(&kv, &p) == QLM_OK, "gemma-like layout: %s", qlm_last_error());
    for (il = 0, ok = 1, sum = 0; il < 12; il++) {
        const qlm__kv_layer *L = &g_L[il];
        if (g_hp.is_swa[il])
            ok &= L->window == 512 && L->n_cells == 512 + 64 && L->sinks == 0 && check_ring(L, 64, 5000) == 0;
        else ok &= L->window == 0 && L->n_cells == 4096;
        sum += (size_t)L->n_cells * (256 * 2 * 2);
    }
    CHECK(ok, "gemma-like: local layers a ring of W + n_batch = 576 cells, global layers n_ctx");
    CHECK(!kv.bounded && kv.bytes == sum && kv.n_cells_max == 4096, "gemma-like: not bounded, bytes %zu", kv.bytes);
    CHECK(qlm__kv_cell(&g_L[0], 575) == 575 && qlm__kv_cell(&g_L[0], 576) == 0 && qlm__kv_cell(&g_L[0], 1000) == 424,
          "gemma-like: the ring wraps at 576");
    p.n_ctx = 256; /* positions stay below n_ctx: no ring longer than that */
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].n_cells == 256 && g_L[0].window == 512 && g_L[5].n_cells == 256 &&
              qlm__kv_cell(&g_L[0], 255) == 255,
          "gemma-like, n_ctx 256 < W + B: local layers capped at n_ctx cells");

    /* --swa 64, n_batch 16: every layer a ring of 80, bounded */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 128;
    p.n_batch = 16;
    p.swa = 64;
    CHECK(layout(&kv, &p) == QLM_OK, "swa layout: %s", qlm_last_error());
    for (il = 0, ok = 1; il < 4; il++)
        ok &= g_L[il].window == 64 && g_L[il].n_cells == 80 && check_ring(&g_L[il], 16, 10000) == 0;
    CHECK(ok, "swa 64, n_batch 16: rings of 80 cells, no two of 80 consecutive positions share one");
    CHECK(qlm__kv_cell(&g_L[0], 79) == 79 && qlm__kv_cell(&g_L[0], 80) == 0 && qlm__kv_cell(&g_L[0], 299) == 59,
          "swa: wraps at 80 (299 -> 59)");
    CHECK(kv.bounded && kv.bytes == (size_t)4 * 80 * 2 * 2 * 128, "swa: bounded, bytes %zu", kv.bytes);
    p.n_batch = 0;
    CHECK(layout(&kv, &p) == QLM_OK && p.n_batch == 32 && g_L[0].n_cells == 96,
          "swa: default n_batch min(64, n_ctx / 4) = 32 (ring W + 32)");
    fake_hp(12, 4, 1, 256, 512, 6);
    p = qlm_ctx_default_params();
    p.n_ctx = 1024;
    p.n_batch = 32;
    p.swa = 100;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].window == 100 && g_L[5].window == 100 && g_L[5].n_cells == 132 &&
              kv.bounded,
          "swa 100 on gemma-like: local windows shrink to 100, global layers get one too");
    p.swa = 1000;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].window == 512 && g_L[5].window == 1000 && kv.bounded,
          "swa 1000 on gemma-like: the model's smaller window stays");

    /* sinks: cells 0..S-1 hold positions 0..S-1 for ever */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 128;
    p.n_batch = 16;
    p.n_sinks = 4;
    CHECK(layout(&kv, &p) == QLM_OK, "sinks layout: %s", qlm_last_error());
    for (il = 0, ok = 1; il < 4; il++)
        ok &= g_L[il].sinks == 4 && g_L[il].window == 128 - 4 - 16 && g_L[il].n_cells == 128 &&
              check_ring(&g_L[il], 16, 10000) == 0;
    CHECK(ok, "sinks 4, n_ctx 128, n_batch 16: window 108, 128 cells, ring never writes the sinks");
    CHECK(qlm__kv_cell(&g_L[0], 3) == 3 && qlm__kv_cell(&g_L[0], 4) == 4 && qlm__kv_cell(&g_L[0], 127) == 127 &&
              qlm__kv_cell(&g_L[0], 128) == 4 && qlm__kv_cell(&g_L[0], 600) == 4 + (600 - 4) % 124,
          "sinks: position 128 wraps to cell 4");
    CHECK(kv.bounded && kv.bytes == (size_t)4 * 128 * 2 * 2 * 128, "sinks: bounded, n_ctx cells (bytes %zu)", kv.bytes);
    p.n_batch = 0;
    CHECK(layout(&kv, &p) == QLM_OK && p.n_batch == 31 && g_L[0].window == 93,
          "sinks: default n_batch min(64, (n_ctx - sinks) / 4) = 31, window 93");
    p.n_batch = 16;
    p.swa = 32;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].sinks == 4 && g_L[0].window == 32 && g_L[0].n_cells == 4 + 32 + 16 &&
              check_ring(&g_L[0], 16, 3000) == 0,
          "sinks + swa 32: 4 + 32 + 16 cells");
    fake_hp(12, 4, 1, 256, 512, 6);
    p.swa = 0;
    p.n_ctx = 2048;
    p.n_batch = 64;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].sinks == 0 && g_L[0].window == 512 && g_L[5].sinks == 4 &&
              g_L[5].window == 2048 - 4 - 64 && kv.bounded,
          "sinks on gemma-like: only the global layers get sinks");

    /* H2O: budget + B slots per head, slot arrays counted in the bytes */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 512;
    p.n_batch = 16;
    p.kv_evict = QLM_KV_EVICT_H2O;
    p.kv_budget = 64;
    CHECK(layout(&kv, &p) == QLM_OK, "h2o layout: %s", qlm_last_error());
    for (il = 0, ok = 1; il < 4; il++)
        ok &= g_L[il].h2o && g_L[il].budget == 64 && g_L[il].n_cells == 80 && g_L[il].window == 0;
    CHECK(ok, "h2o: 64 + 16 slots per head");
    CHECK(kv.bounded && kv.bytes == (size_t)4 * (80 * 2 * 2 * 128 + 80 * 2 * 8),
          "h2o: bounded; bytes %zu include the slot positions and masses", kv.bytes);
    p.kv_budget = 0;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].budget == 256, "h2o: default budget n_ctx / 2");
    fake_hp(12, 4, 1, 256, 512, 6);
    p.kv_budget = 100;
    CHECK(layout(&kv, &p) == QLM_OK && !g_L[0].h2o && g_L[0].window == 512 && g_L[5].h2o && g_L[5].n_cells == 116,
          "h2o on gemma-like: local layers keep their window");

    /* recent (and first 4) keys of a quantised K: (R + 4) x heads x hd halves + R + 4 positions
       per layer, not on H2O */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 256;
    p.n_batch = 32;
    p.type_k = QLM_KV_Q8_0;
    p.kv_recent = -1;
    CHECK(layout(&kv, &p) == QLM_OK && kv.recent == 0, "kv_recent -1: none");
    sum = kv.bytes;
    p.kv_recent = 0;
    CHECK(layout(&kv, &p) == QLM_OK && kv.recent == 32 && kv.bytes == sum + 4 * (36 * 2 * 64 * 2 + 36 * 4),
          "kv_recent 0 = 32: bytes %zu = %zu + 4 layers x (36 slots (32 recent, 4 first) x 2 heads x 64 x 2 + 36 x 4)", kv.bytes, sum);
    p.kv_recent = 100;
    CHECK(layout(&kv, &p) == QLM_OK && kv.recent == 100 && kv.bytes == sum + 4 * (104 * 2 * 64 * 2 + 104 * 4),
          "kv_recent 100: bytes %zu", kv.bytes);
    p.kv_evict = QLM_KV_EVICT_H2O;
    p.kv_budget = 64;
    CHECK(layout(&kv, &p) == QLM_OK && kv.recent == 100 && qlm__kv_bytes_layer(&kv, &g_L[0]) ==
              (size_t)96 * 2 * 68 + 96 * 2 * 128 + 96 * 2 * 8 + 2 * 4 * 2 * 64,
          "kv_recent on H2O layers: nothing (%zu bytes)", qlm__kv_bytes_layer(&kv, &g_L[0]));
    p = qlm_ctx_default_params();
    p.kv_recent = 50;
    CHECK(layout(&kv, &p) == QLM_OK && kv.recent == 0, "kv_recent with an f16 K: none");
    p.type_k = QLM_KV_Q4;
    p.kv_recent = QLM__KV_RECENT_MAX + 1;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG && strstr(qlm_last_error(), "recent"), "kv_recent too large: %s",
          qlm_last_error());

    /* errors: a status, no crash */
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.n_sinks = 4;
    p.kv_evict = QLM_KV_EVICT_H2O;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG && strstr(qlm_last_error(), "sinks"), "sinks + H2O: %s",
          qlm_last_error());
    p = qlm_ctx_default_params();
    p.n_ctx = 32;
    p.n_batch = 16;
    p.n_sinks = 16;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG && strstr(qlm_last_error(), "sinks"), "-c 32 with 16 sinks, batch 16: %s",
          qlm_last_error());
    p.n_sinks = 15;
    CHECK(layout(&kv, &p) == QLM_OK && g_L[0].window == 1, "-c 32, 15 sinks, batch 16: a window of 1 fits");
    fake_hp(4, 6, 2, 48, 0, 0);
    p = qlm_ctx_default_params();
    p.n_ctx = 64;
    p.type_k = QLM_KV_Q8_0;
    CHECK(layout(&kv, &p) == QLM_ERR_UNSUPPORTED && strstr(qlm_last_error(), "32"), "head_dim 48 with q8_0 K: %s",
          qlm_last_error());
    p.type_k = QLM_KV_F16;
    p.type_v = QLM_KV_Q4_0;
    CHECK(layout(&kv, &p) == QLM_ERR_UNSUPPORTED && strstr(qlm_last_error(), "q4_0"), "head_dim 48 with q4_0 V: %s",
          qlm_last_error());
    p.type_v = QLM_KV_FP8;
    CHECK(layout(&kv, &p) == QLM_OK && kv.seg_v == 52, "head_dim 48 with fp8 V: fine (52-byte segments)");
    fake_hp(4, 8, 2, 64, 0, 0);
    p = qlm_ctx_default_params();
    p.type_k = QLM_KV_COUNT;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "unknown K type");
    p = qlm_ctx_default_params();
    p.type_v = (qlm_kv_type)-1;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "negative V type");
    p = qlm_ctx_default_params();
    p.kv_evict = 7;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "unknown eviction policy");
    p = qlm_ctx_default_params();
    p.kv_evict = QLM_KV_EVICT_H2O;
    p.kv_budget = 1;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "H2O budget 1");
    p = qlm_ctx_default_params();
    p.swa = -1;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "negative swa");
    p = qlm_ctx_default_params();
    p.n_sinks = -3;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "negative sinks");
    p = qlm_ctx_default_params();
    p.n_ctx = -5;
    CHECK(layout(&kv, &p) == QLM_ERR_INVALID_ARG, "negative n_ctx");
    fake_hp(4, 128, 1, 64, 0, 0);
    p = qlm_ctx_default_params();
    CHECK(layout(&kv, &p) == QLM_ERR_UNSUPPORTED, "128 query heads per KV head");
}

/* H2O eviction on a hand-built cache: the budget/2 most recent positions and the heaviest
   older ones stay, compacted in slot order with their segments; n_used = budget. */
static void test_evict(void) {
    enum { BUDGET = 8, B = 4, NKV = 2, NC = BUDGET + B };
    qlm__kv kv;
    qlm__kv_layer L;
    uint8_t kbuf[NC * NKV * 4], vbuf[NC * NKV * 4];
    int32_t pos[NKV * NC], used = BUDGET;
    float mass[NKV * NC];
    uint8_t *kp = kbuf, *vp = vbuf;
    int32_t *pp = pos;
    float *mp = mass;
    int h, i, ok = 1;
    memset(&kv, 0, sizeof kv);
    memset(&L, 0, sizeof L);
    L.n_cells = NC;
    L.h2o = 1;
    L.budget = BUDGET;
    kv.L = &L;
    kv.n_layer = 1;
    kv.n_head_kv = NKV;
    kv.seg_k = kv.seg_v = 4;
    kv.row_k = kv.row_v = 4 * NKV;
    kv.k = &kp;
    kv.v = &vp;
    kv.slot_pos = &pp;
    kv.slot_mass = &mp;
    kv.n_used = &used;
    /* slots 0..11 of head h hold positions 0..11 shuffled (head 1 reversed); segment bytes = position */
    for (h = 0; h < NKV; h++)
        for (i = 0; i < NC; i++) {
            int32_t ps = h == 0 ? i : NC - 1 - i;
            pos[h * NC + i] = ps;
            mass[h * NC + i] = h == 0 ? (float)((ps * 7) % 5) + 0.01f * (float)ps
                                      : (float)(ps == 1 || ps == 5 || ps == 6 || ps == 0);
            memset(kbuf + (h * NC + i) * 4, ps, 4); /* head-major */
            memset(vbuf + (h * NC + i) * 4, 100 + ps, 4);
        }
    qlm__kv_evict(&kv, B);
    CHECK(used == BUDGET, "after eviction n_used = budget (%d)", used);
    /* recent: positions > 11 - 4, i.e. 8..11. heavy (4 of 0..7): head 0 mass (7p mod 5) + 0.01p:
       p=7: 4.07, p=2: 4.02, p=4: 3.04, p=6: 2.06 (p=1: 2.01 is fifth) -> {2, 4, 6, 7}; head 1
       (slots in reverse position order): mass 1 at {0, 1, 5, 6}, 0 elsewhere */
    for (h = 0; h < NKV; h++) {
        static const int32_t keep0[] = {2, 4, 6, 7, 8, 9, 10, 11}, keep1[] = {11, 10, 9, 8, 6, 5, 1, 0};
        const int32_t *keep = h == 0 ? keep0 : keep1;
        for (i = 0; i < BUDGET; i++) {
            int32_t ps = pos[h * NC + i];
            ok &= ps == keep[i] && kbuf[(h * NC + i) * 4] == ps && kbuf[(h * NC + i) * 4 + 3] == ps &&
                  vbuf[(h * NC + i) * 4] == 100 + ps;
        }
        for (i = BUDGET; i < NC; i++) ok &= pos[h * NC + i] == -1;
    }
    CHECK(ok, "H2O keeps the 4 most recent and the 4 heaviest older positions per head, segments moved with them");
    /* under budget: nothing evicted, n_used grows */
    used = 2;
    qlm__kv_evict(&kv, 3);
    CHECK(used == 5 && pos[0] == 2 && pos[BUDGET] == -1, "under the budget nothing is evicted (n_used %d)", used);
}

int main(void) {
    qlm__kernels ref, best;
    int v;
    if (qlm__kernels_select(&best, "auto") == QLM_OK) printf("test_kvcache: auto picks kernels '%s'\n", best.name);
    CHECK(qlm__kernels_select(&ref, "ref") == QLM_OK && ref.kv_dot[QLM_KV_FP8] == qlm__kv_dot_fp8_ref &&
              ref.kv_dot[QLM_KV_Q8_0] == qlm__vec_dot_q8_0_ref && ref.kv_quant[QLM_KV_FP8] == qlm__quant_seg_fp8_ref &&
              !ref.kv_scores[QLM_KV_F16] && !ref.kv_accum[QLM_KV_F16],
          "ref selection gives the reference KV entries");
    test_e4m3();
    test_roundtrip(&ref);
    test_hadamard();
    test_softmax_exp();
    test_glu_recipe();
    for (v = 0; v < N_VARIANTS; v++) {
        qlm__kernels k;
        if (qlm__kernels_select(&k, k_variants[v]) != QLM_OK) {
            printf("note: kernels '%s' not in this build or not supported by this CPU: skipped\n", k_variants[v]);
            continue;
        }
        printf("variant %s\n", k_variants[v]);
        g_rng = 0x9E3779B97F4A7C15ull + (uint64_t)v;
        test_twins(&ref, &k, k_variants[v]);
        test_blocks(&ref, &k, k_variants[v]);
        test_softmax(&ref, &k, k_variants[v]);
        test_glu(&ref, &k, k_variants[v]);
    }
    test_layout();
    test_evict();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
