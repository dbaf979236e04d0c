/* test_types.c — unit tests for the block layouts, half-float conversions and the
 * scalar reference kernels (the block layouts and the >>types section of qlm.h).
 *
 *   gcc -std=c99 -O1 -g -Wall -Wextra -I. test/test_types.c -lm -lpthread -o test_types
 *
 * What is checked, per type:
 *   - layout: struct sizes, traits table, row sizes, valid ids;
 *   - hand-built blocks decode to the values the format defines (exact);
 *   - quantise -> dequantise error on random data below a named RMS limit;
 *   - adversarial rows: zeros, constants, one-hot, huge / tiny magnitudes,
 *     all-minimum and all-maximum codes;
 *   - vec_dot against dequant(x) . dequant(y) summed in double;
 *   - golden hashes of quantised bytes, dequantised floats and dot results taken
 *     from ggml's own reference code on the same deterministic rows, so any drift
 *     from llama.cpp's bit layouts or rounding fails here.
 * The last line printed is "N passed, N failed"; the exit status is 1 on failure.
 */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include "check.h"

/* ---- deterministic random numbers (xorshift64*) ------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;

static void rng_seed(uint64_t s) { g_rng = s ? s : 0x9E3779B97F4A7C15ull; }
static uint64_t rng_u64(void) {
    g_rng ^= g_rng >> 12; g_rng ^= g_rng << 25; g_rng ^= g_rng >> 27;
    return g_rng * 0x2545F4914F6CDD1Dull;
}
/* roughly normal (Irwin-Hall of 4 uniforms, unit variance); only integer and
 * exactly-specified IEEE operations, so it is the same on every platform */
static float rng_normal(void) {
    int64_t s = 0;
    int k;
    for (k = 0; k < 4; k++) s += (int64_t)(rng_u64() >> 40);
    return (float)(s - 33554432) * (1.7320508f / 16777216.0f);
}

/* ---- helpers ------------------------------------------------------------- */

static const qlm_type k_all_types[] = {
    QLM_TYPE_F32, QLM_TYPE_F16, QLM_TYPE_BF16, QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0,
    QLM_TYPE_Q5_1, QLM_TYPE_Q8_0, QLM_TYPE_Q8_1, QLM_TYPE_Q2_K, QLM_TYPE_Q3_K, QLM_TYPE_Q4_K,
    QLM_TYPE_Q5_K, QLM_TYPE_Q6_K, QLM_TYPE_Q8_K,
};
#define N_ALL_TYPES ((int)(sizeof k_all_types / sizeof k_all_types[0]))

static const qlm__type_traits_t *tr(qlm_type t) { return &qlm__type_traits[t]; }

/* dequantise any type, q8_1 included (it has no to_float in the table) */
static void dequant_any(qlm_type t, const void *src, float *dst, int64_t n) {
    if (t == QLM_TYPE_Q8_1) qlm__dequant_row_q8_1_ref(src, dst, n);
    else tr(t)->to_float(src, dst, n);
}

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* FNV-1a, 64-bit */
static uint64_t fnv(const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ull; }
    return h;
}

static double rms(const float *x, int n) {
    double s = 0;
    int i;
    for (i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / n);
}
static double rms_diff(const float *x, const float *y, int n) {
    double s = 0;
    int i;
    for (i = 0; i < n; i++) s += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    return sqrt(s / n);
}
static int all_finite(const float *x, int n) {
    int i;
    for (i = 0; i < n; i++) if (!(fabsf(x[i]) <= 3.4e38f)) return 0;
    return 1;
}

#define MAXN 4096
static float g_x[MAXN], g_y[MAXN], g_z[MAXN], g_w[MAXN];
static unsigned char g_qa[MAXN * 4 + 64], g_qb[MAXN * 4 + 64], g_qc[MAXN * 4 + 64];

/* ======================================================================== */
/* layout and table                                                          */
/* ======================================================================== */

static void test_layout(void) {
    static const struct { qlm_type t; const char *name; int64_t blck; size_t size; int quant; } want[] = {
        { QLM_TYPE_F32,  "f32",  1,   4,   0 }, { QLM_TYPE_F16,  "f16",  1,   2,   0 },
        { QLM_TYPE_BF16, "bf16", 1,   2,   0 }, { QLM_TYPE_Q4_0, "q4_0", 32,  18,  1 },
        { QLM_TYPE_Q4_1, "q4_1", 32,  20,  1 }, { QLM_TYPE_Q5_0, "q5_0", 32,  22,  1 },
        { QLM_TYPE_Q5_1, "q5_1", 32,  24,  1 }, { QLM_TYPE_Q8_0, "q8_0", 32,  34,  1 },
        { QLM_TYPE_Q8_1, "q8_1", 32,  36,  1 }, { QLM_TYPE_Q2_K, "q2_K", 256, 84,  1 },
        { QLM_TYPE_Q3_K, "q3_K", 256, 110, 1 }, { QLM_TYPE_Q4_K, "q4_K", 256, 144, 1 },
        { QLM_TYPE_Q5_K, "q5_K", 256, 176, 1 }, { QLM_TYPE_Q6_K, "q6_K", 256, 210, 1 },
        { QLM_TYPE_Q8_K, "q8_K", 256, 292, 1 },
    };
    int i;
    CHECK(sizeof(qlm__block_q4_0) == 18 && sizeof(qlm__block_q4_1) == 20 && sizeof(qlm__block_q5_0) == 22 &&
          sizeof(qlm__block_q5_1) == 24 && sizeof(qlm__block_q8_0) == 34 && sizeof(qlm__block_q8_1) == 36,
          "small block sizes");
    CHECK(sizeof(qlm__block_q2_K) == 84 && sizeof(qlm__block_q3_K) == 110 && sizeof(qlm__block_q4_K) == 144 &&
          sizeof(qlm__block_q5_K) == 176 && sizeof(qlm__block_q6_K) == 210 && sizeof(qlm__block_q8_K) == 292,
          "K block sizes");
    /* field offsets that GGUF readers on other platforms rely on */
    CHECK(offsetof(qlm__block_q2_K, d) == 80 && offsetof(qlm__block_q3_K, d) == 108 &&
          offsetof(qlm__block_q4_K, qs) == 16 && offsetof(qlm__block_q5_K, qs) == 48 &&
          offsetof(qlm__block_q6_K, d) == 208 && offsetof(qlm__block_q8_K, bsums) == 260 &&
          offsetof(qlm__block_q5_0, qs) == 6 && offsetof(qlm__block_q8_1, qs) == 4, "field offsets");
    for (i = 0; i < (int)(sizeof want / sizeof want[0]); i++) {
        const qlm__type_traits_t *t = tr(want[i].t);
        CHECK(t->name && strcmp(t->name, want[i].name) == 0, "name of type %d", (int)want[i].t);
        CHECK(t->blck_size == want[i].blck && t->type_size == want[i].size && t->is_quantized == want[i].quant,
              "%s: blck %lld size %zu quant %d", want[i].name, (long long)t->blck_size, t->type_size, t->is_quantized);
        CHECK(t->from_float != NULL, "%s has from_float", want[i].name);
        CHECK(qlm__row_size(want[i].t, want[i].blck * 3) == want[i].size * 3, "%s row size", want[i].name);
        CHECK(qlm__type_valid((int)want[i].t) == (want[i].t != QLM_TYPE_Q8_1), "%s validity", want[i].name);
    }
    /* weight types dot against the activation type ggml uses */
    CHECK(tr(QLM_TYPE_Q4_0)->vec_dot_type == QLM_TYPE_Q8_0 && tr(QLM_TYPE_Q5_0)->vec_dot_type == QLM_TYPE_Q8_0 &&
          tr(QLM_TYPE_Q8_0)->vec_dot_type == QLM_TYPE_Q8_0 && tr(QLM_TYPE_Q4_1)->vec_dot_type == QLM_TYPE_Q8_1 &&
          tr(QLM_TYPE_Q5_1)->vec_dot_type == QLM_TYPE_Q8_1 && tr(QLM_TYPE_Q2_K)->vec_dot_type == QLM_TYPE_Q8_K &&
          tr(QLM_TYPE_Q6_K)->vec_dot_type == QLM_TYPE_Q8_K && tr(QLM_TYPE_F16)->vec_dot_type == QLM_TYPE_F16 &&
          tr(QLM_TYPE_BF16)->vec_dot_type == QLM_TYPE_BF16 && tr(QLM_TYPE_F32)->vec_dot_type == QLM_TYPE_F32,
          "vec_dot_type pairs");
    CHECK(!qlm__type_valid(-1) && !qlm__type_valid(4) && !qlm__type_valid(5) && !qlm__type_valid(16) &&
          !qlm__type_valid(29) && !qlm__type_valid(38) && !qlm__type_valid(QLM_TYPE_COUNT) && !qlm__type_valid(1000),
          "ids without a type are invalid");
    CHECK(qlm__row_size((qlm_type)4, 32) == 0 && qlm__row_size((qlm_type)-1, 32) == 0, "row size of unknown type");
    CHECK(qlm__row_size(QLM_TYPE_Q4_K, 4096) == 16 * 144 && qlm__row_size(QLM_TYPE_F16, 7) == 14, "row sizes");
}

/* ======================================================================== */
/* fp16 / bf16 / nearest_int                                                 */
/* ======================================================================== */

/* value of a half computed independently, in double */
static double half_value(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp((double)m, -24) : ldexp(1.0 + m / 1024.0, e - 15);
    return (h & 0x8000) ? -v : v;
}

static void test_fp16(void) {
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        { 0x00000000u, 0x0000 }, { 0x80000000u, 0x8000 }, { 0x3f800000u, 0x3c00 }, /* 0, -0, 1 */
        { 0xc0000000u, 0xc000 }, { 0x477fe000u, 0x7bff }, /* -2, 65504 */
        { 0x477fefffu, 0x7bff }, { 0x477ff000u, 0x7c00 }, /* just below 65520, 65520 ties to inf */
        { 0x7f800000u, 0x7c00 }, { 0xff800000u, 0xfc00 }, /* +-inf */
        { 0x7f7fffffu, 0x7c00 }, /* FLT_MAX overflows */
        { 0x33800000u, 0x0001 }, /* 2^-24: smallest subnormal */
        { 0x33000000u, 0x0000 }, /* 2^-25: tie between 0 and 1 -> even 0 */
        { 0x33000001u, 0x0001 }, /* just above the tie */
        { 0x33c00000u, 0x0002 }, /* 3 * 2^-25: tie between 1 and 2 -> 2 */
        { 0x34400000u, 0x0003 }, /* 3 * 2^-24: exact */
        { 0x38800000u, 0x0400 }, /* 2^-14: smallest normal */
        { 0x387fc000u, 0x03ff }, /* largest subnormal */
        { 0x387fe000u, 0x0400 }, /* tie between 0x3ff and 0x400 -> even 0x400 */
        { 0x3f801000u, 0x3c00 }, /* 1 + 2^-11: tie -> even */
        { 0x3f803000u, 0x3c02 }, /* 1 + 3*2^-11: tie -> even */
        { 0x3f801001u, 0x3c01 }, /* just above the tie */
        { 0x00000001u, 0x0000 }, /* float subnormal */
        { 0xb3000001u, 0x8001 }, /* negative subnormal half */
    };
    int i, bad = 0, bad_rt = 0, bad_mid = 0;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        uint16_t h = qlm__fp32_to_fp16(bitsf(cases[i].f));
        CHECK(h == cases[i].h, "fp32 %08x -> fp16 %04x, want %04x", (unsigned)cases[i].f, h, cases[i].h);
    }
    /* NaN: stays NaN both ways, sign kept, quiet */
    CHECK(qlm__fp32_to_fp16(bitsf(0x7fc00000u)) == 0x7e00 && qlm__fp32_to_fp16(bitsf(0xff800001u)) == 0xfe00,
          "fp32 NaN -> fp16 quiet NaN");
    CHECK(isnan(qlm__fp16_to_fp32(0x7c01)) && isnan(qlm__fp16_to_fp32(0xfe00)) &&
          (fbits(qlm__fp16_to_fp32(0x7c01)) & 0x00400000u), "fp16 NaN -> fp32 quiet NaN");
    CHECK(isinf(qlm__fp16_to_fp32(0x7c00)) && qlm__fp16_to_fp32(0xfc00) < 0, "fp16 inf");
    /* every half: exact value, and back to the same bits */
    for (i = 0; i < 65536; i++) {
        uint16_t h = (uint16_t)i;
        float f = qlm__fp16_to_fp32(h);
        if ((h & 0x7c00) == 0x7c00) continue;
        if ((double)f != half_value(h)) bad++;
        if (qlm__fp32_to_fp16(f) != h) bad_rt++;
    }
    CHECK(bad == 0, "%d halves decode wrong", bad);
    CHECK(bad_rt == 0, "%d halves do not round-trip", bad_rt);
    /* every rounding boundary between neighbouring positive halves: the midpoint
     * goes to the even one, the floats either side to the nearer one */
    for (i = 0; i < 0x7c00; i++) {
        float lo = qlm__fp16_to_fp32((uint16_t)i), hi = qlm__fp16_to_fp32((uint16_t)(i + 1));
        float mid = (float)(((double)lo + (double)hi) / 2);   /* exact: 12 significant bits */
        uint16_t even = (uint16_t)((i & 1) ? i + 1 : i);
        if (i + 1 == 0x7c00) hi = 65536.0f, mid = 65520.0f;  /* above max: inf boundary */
        if (qlm__fp32_to_fp16(mid) != even) bad_mid++;
        if (qlm__fp32_to_fp16(nextafterf(mid, 0.0f)) != i) bad_mid++;
        if (qlm__fp32_to_fp16(nextafterf(mid, hi)) != i + 1) bad_mid++;
        if (qlm__fp32_to_fp16(-mid) != (even | 0x8000)) bad_mid++;
    }
    CHECK(bad_mid == 0, "%d fp16 rounding boundaries wrong", bad_mid);
}

static void test_bf16(void) {
    static const struct { uint32_t f; uint16_t h; } cases[] = {
        { 0x3f800000u, 0x3f80 }, { 0xbf800000u, 0xbf80 }, { 0x00000000u, 0x0000 }, { 0x80000000u, 0x8000 },
        { 0x3f808000u, 0x3f80 }, /* tie, even below */
        { 0x3f818000u, 0x3f82 }, /* tie, odd below -> up */
        { 0x3f808001u, 0x3f81 }, { 0x3f807fffu, 0x3f80 },
        { 0x00008000u, 0x0000 }, { 0x00018000u, 0x0002 }, /* subnormals round, not flushed */
        { 0x00010000u, 0x0001 },
        { 0x7f7fffffu, 0x7f80 }, /* FLT_MAX rounds to inf */
        { 0x7f800000u, 0x7f80 }, { 0xff800000u, 0xff80 },
        { 0x7fc00000u, 0x7fc0 }, /* quiet NaN */
        { 0x7fa00000u, 0x7fe0 }, /* signalling NaN made quiet, payload kept */
        { 0x7f800001u, 0x7fc0 }, /* NaN whose payload is all in the low half stays NaN */
        { 0xffc00001u, 0xffc0 },
    };
    int i, bad = 0;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        uint16_t h = qlm__fp32_to_bf16(bitsf(cases[i].f));
        CHECK(h == cases[i].h, "fp32 %08x -> bf16 %04x, want %04x", (unsigned)cases[i].f, h, cases[i].h);
    }
    for (i = 0; i < 65536; i++) {
        float f = qlm__bf16_to_fp32((uint16_t)i);
        if (fbits(f) != (uint32_t)i << 16) bad++;
        if (!isnan(f) && qlm__fp32_to_bf16(f) != i) bad++;
    }
    CHECK(bad == 0, "%d bf16 values do not round-trip", bad);
}

static void test_nearest_int(void) {
    static const struct { float f; int i; } cases[] = {
        { 0.5f, 0 }, { 1.5f, 2 }, { 2.5f, 2 }, { -0.5f, 0 }, { -1.5f, -2 }, { -2.5f, -2 },
        { 0.49999997f, 0 }, { 0.50000006f, 1 }, { 3.7f, 4 }, { -3.7f, -4 }, { 127.5f, 128 },
        { 4194303.0f, 4194303 }, { -4194303.0f, -4194303 }, { 0.0f, 0 }, { -0.0f, 0 },
    };
    int i;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
        CHECK(qlm__nearest_int(cases[i].f) == cases[i].i, "nearest_int(%.9g) = %d, want %d",
              (double)cases[i].f, qlm__nearest_int(cases[i].f), cases[i].i);
    }
}

/* ======================================================================== */
/* hand-built blocks                                                         */
/* ======================================================================== */

#define H_ONE     0x3c00 /* 1.0 */
#define H_HALF    0x3800 /* 0.5 */
#define H_QUARTER 0x3400 /* 0.25 */
#define H_TWO     0x4000 /* 2.0 */
#define H_M1      0xbc00 /* -1.0 */

static int same(const float *got, const float *want, int n, const char *what) {
    int i;
    for (i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            printf("  %s: element %d is %.9g, want %.9g\n", what, i, (double)got[i], (double)want[i]);
            return 0;
        }
    }
    return 1;
}

static void test_hand_small(void) {
    float out[32], want[32];
    int j;
    { /* q4_0: element j from the low nibble of qs[j], j+16 from the high one */
        qlm__block_q4_0 b;
        b.d = H_HALF;
        for (j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
        for (j = 0; j < 16; j++) { want[j] = (j - 8) * 0.5f; want[j + 16] = (7 - j) * 0.5f; }
        qlm__dequant_row_q4_0_ref(&b, out, 32);
        CHECK(same(out, want, 32, "q4_0"), "q4_0 hand block");
        CHECK(out[0] == -4.0f && out[15] == 3.5f && out[16] == 3.5f && out[31] == -4.0f, "q4_0 literals");
    }
    { /* q4_1: x = d*q + m */
        qlm__block_q4_1 b;
        b.d = H_QUARTER; b.m = H_M1;
        for (j = 0; j < 16; j++) b.qs[j] = (uint8_t)((15 - j) | (j << 4));
        for (j = 0; j < 16; j++) { want[j] = (15 - j) * 0.25f - 1.0f; want[j + 16] = j * 0.25f - 1.0f; }
        qlm__dequant_row_q4_1_ref(&b, out, 32);
        CHECK(same(out, want, 32, "q4_1"), "q4_1 hand block");
        CHECK(out[0] == 2.75f && out[16] == -1.0f, "q4_1 literals");
    }
    { /* q5_0: fifth bit of element j is bit j of the little-endian qh word */
        qlm__block_q5_0 b;
        uint32_t qh = 0xA5C3F00Fu;
        b.d = H_ONE;
        b.qh[0] = 0x0F; b.qh[1] = 0xF0; b.qh[2] = 0xC3; b.qh[3] = 0xA5;
        for (j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((j ^ 5) << 4));
        for (j = 0; j < 16; j++) {
            want[j]      = (float)((j | (int)(((qh >> j) & 1) << 4)) - 16);
            want[j + 16] = (float)(((j ^ 5) | (int)(((qh >> (j + 16)) & 1) << 4)) - 16);
        }
        qlm__dequant_row_q5_0_ref(&b, out, 32);
        CHECK(same(out, want, 32, "q5_0"), "q5_0 hand block");
        /* element 0: code 0 | 16 -> 0; element 4: 4 -> -12; element 16: 5|(bit16=1)*16 = 21 -> 5 */
        CHECK(out[0] == 0.0f && out[4] == -12.0f && out[16] == 5.0f && out[31] == (float)((15 ^ 5) + 16 - 16),
              "q5_0 literals");
    }
    { /* q5_1: all codes 31 (max) then all 0 */
        qlm__block_q5_1 b;
        b.d = H_HALF; b.m = H_TWO;
        memset(b.qh, 0xff, 4); memset(b.qs, 0xff, 16);
        qlm__dequant_row_q5_1_ref(&b, out, 32);
        for (j = 0; j < 32; j++) want[j] = 31 * 0.5f + 2.0f;
        CHECK(same(out, want, 32, "q5_1 max"), "q5_1 all codes 31");
        memset(b.qh, 0, 4); memset(b.qs, 0, 16);
        qlm__dequant_row_q5_1_ref(&b, out, 32);
        for (j = 0; j < 32; j++) want[j] = 2.0f;
        CHECK(same(out, want, 32, "q5_1 min"), "q5_1 all codes 0");
    }
    { /* q8_0 and q8_1: x = d*q, the full int8 range */
        qlm__block_q8_0 b;
        qlm__block_q8_1 c;
        b.d = H_TWO; c.d = H_QUARTER; c.s = 0;
        for (j = 0; j < 32; j++) { b.qs[j] = (int8_t)(j * 8 - 128); c.qs[j] = (int8_t)(127 - j); }
        for (j = 0; j < 32; j++) want[j] = (float)(j * 8 - 128) * 2.0f;
        qlm__dequant_row_q8_0_ref(&b, out, 32);
        CHECK(same(out, want, 32, "q8_0"), "q8_0 hand block");
        for (j = 0; j < 32; j++) want[j] = (float)(127 - j) * 0.25f;
        qlm__dequant_row_q8_1_ref(&c, out, 32);
        CHECK(same(out, want, 32, "q8_1"), "q8_1 hand block");
    }
    { /* q4_0 all codes 0 / all codes 15 */
        qlm__block_q4_0 b;
        b.d = H_TWO;
        memset(b.qs, 0x00, 16); qlm__dequant_row_q4_0_ref(&b, out, 32);
        for (j = 0; j < 32; j++) want[j] = -16.0f;
        CHECK(same(out, want, 32, "q4_0 zeros"), "q4_0 all codes 0");
        memset(b.qs, 0xff, 16); qlm__dequant_row_q4_0_ref(&b, out, 32);
        for (j = 0; j < 32; j++) want[j] = 14.0f;
        CHECK(same(out, want, 32, "q4_0 fifteens"), "q4_0 all codes 15");
    }
}

/* The K-quant hand blocks are written through an encoder made from the layout
 * description alone (where element e's bits live), so a decoder that reads the
 * wrong byte or bit fails. */
static void put2(uint8_t *qs, int e, int v) { /* q2_K / q3_K low bits */
    int byte = (e / 128) * 32 + e % 32, sh = 2 * ((e % 128) / 32);
    qs[byte] = (uint8_t)((qs[byte] & ~(3 << sh)) | (v << sh));
}
static void put4(uint8_t *qs, int e, int v) { /* q4_K / q5_K low nibbles */
    int byte = (e / 64) * 32 + e % 32, sh = (e % 64) < 32 ? 0 : 4;
    qs[byte] = (uint8_t)((qs[byte] & ~(15 << sh)) | (v << sh));
}
static void put_bit(uint8_t *h, int e, int v) { /* hmask / qh: byte e%32, bit e/32 */
    h[e % 32] = (uint8_t)((h[e % 32] & ~(1 << (e / 32))) | (v << (e / 32)));
}
static void put6(qlm__block_q6_K *b, int e, int v) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    uint8_t *ql = &b->ql[64 * h + l + 32 * (k & 1)], *qh = &b->qh[32 * h + l];
    int sh = 4 * (k >> 1);
    *ql = (uint8_t)((*ql & ~(15 << sh)) | ((v & 15) << sh));
    *qh = (uint8_t)((*qh & ~(3 << (2 * k))) | ((v >> 4) << (2 * k)));
}
/* 6-bit scale/min j of q4_K/q5_K per the 12-byte packing */
static void put_sm(uint8_t *s, int j, int sc, int m) {
    if (j < 4) {
        s[j] = (uint8_t)((s[j] & 0xc0) | sc); s[j + 4] = (uint8_t)((s[j + 4] & 0xc0) | m);
    } else {
        s[j + 4] = (uint8_t)((sc & 15) | ((m & 15) << 4));
        s[j - 4] = (uint8_t)((s[j - 4] & 0x3f) | ((sc >> 4) << 6));
        s[j]     = (uint8_t)((s[j] & 0x3f) | ((m >> 4) << 6));
    }
}
/* 6-bit scale j of q3_K (stored +32) */
static void put_s3(uint8_t *s, int j, int v) {
    int lo = v & 15, hi = v >> 4;
    if (j < 8) s[j] = (uint8_t)((s[j] & 0xf0) | lo);
    else       s[j - 8] = (uint8_t)((s[j - 8] & 0x0f) | (lo << 4));
    s[8 + j % 4] = (uint8_t)((s[8 + j % 4] & ~(3 << (2 * (j / 4)))) | (hi << (2 * (j / 4))));
}

static void test_hand_k(void) {
    static float out[256], want[256];
    int e, j;
    { /* q2_K: d=1, dmin=0.5, scale j = j%16, min j = 15-j; codes e%4 */
        qlm__block_q2_K b;
        memset(&b, 0, sizeof b);
        b.d = H_ONE; b.dmin = H_HALF;
        for (j = 0; j < 16; j++) b.scales[j] = (uint8_t)(j | ((15 - j) << 4));
        for (e = 0; e < 256; e++) put2(b.qs, e, (e * 7 + e / 16) & 3);
        for (e = 0; e < 256; e++) {
            j = e / 16;
            want[e] = (1.0f * j) * ((e * 7 + e / 16) & 3) - 0.5f * (15 - j);
        }
        qlm__dequant_row_q2_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q2_K"), "q2_K hand block");
        /* element 37: sub-block 2, code (259+2)&3 = 1 -> 2*1 - 0.5*13 = -4.5 */
        CHECK(out[37] == -4.5f && out[0] == -7.5f, "q2_K literals %g %g", (double)out[37], (double)out[0]);
    }
    { /* q3_K: scale j stored as 32 + (j - 8), so signed scales -8..7; codes 0..7 */
        qlm__block_q3_K b;
        memset(&b, 0, sizeof b);
        b.d = H_HALF;
        for (j = 0; j < 16; j++) put_s3(b.scales, j, 32 + j - 8);
        for (e = 0; e < 256; e++) {
            int q = (e * 5 + e / 32) & 7;
            put2(b.qs, e, q & 3);
            put_bit(b.hmask, e, q >> 2);
            want[e] = (0.5f * (e / 16 - 8)) * (q - 4);
        }
        qlm__dequant_row_q3_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q3_K"), "q3_K hand block");
        CHECK(out[0] == 16.0f, "q3_K literal: scale -8, code 0 -> 0.5*-8*-4 = 16, got %g", (double)out[0]);
        /* all scales at the extremes: stored 0 (-32) and 63 (+31) */
        for (j = 0; j < 16; j++) put_s3(b.scales, j, (j & 1) ? 63 : 0);
        for (e = 0; e < 256; e++) { put2(b.qs, e, 3); put_bit(b.hmask, e, 1); }
        qlm__dequant_row_q3_K_ref(&b, out, 256);
        for (e = 0; e < 256; e++) want[e] = (0.5f * (((e / 16) & 1) ? 31 : -32)) * 3;
        CHECK(same(out, want, 256, "q3_K extremes"), "q3_K extreme scales, max codes");
    }
    { /* q4_K: 6-bit scales/mins, scale j = 10 + 7j (up to 59), min j = 63 - 5j */
        qlm__block_q4_K b;
        memset(&b, 0, sizeof b);
        b.d = H_QUARTER; b.dmin = H_HALF;
        for (j = 0; j < 8; j++) put_sm(b.scales, j, 10 + 7 * j, 63 - 5 * j);
        for (e = 0; e < 256; e++) {
            int q = (e * 11 + 3) & 15;
            put4(b.qs, e, q);
            want[e] = (0.25f * (10 + 7 * (e / 32))) * q - 0.5f * (63 - 5 * (e / 32));
        }
        qlm__dequant_row_q4_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q4_K"), "q4_K hand block");
        { uint8_t sc, m; qlm__get_scale_min_k4(5, b.scales, &sc, &m);
          CHECK(sc == 45 && m == 38, "q4_K scale/min 5 unpack: %d %d", sc, m); }
    }
    { /* q5_K: as q4_K with the fifth bit */
        qlm__block_q5_K b;
        memset(&b, 0, sizeof b);
        b.d = H_QUARTER; b.dmin = H_ONE;
        for (j = 0; j < 8; j++) put_sm(b.scales, j, 63 - 3 * j, 17 + 6 * j);
        for (e = 0; e < 256; e++) {
            int q = (e * 13 + e / 64) & 31;
            put4(b.qs, e, q & 15);
            put_bit(b.qh, e, q >> 4);
            want[e] = (0.25f * (63 - 3 * (e / 32))) * q - 1.0f * (17 + 6 * (e / 32));
        }
        qlm__dequant_row_q5_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q5_K"), "q5_K hand block");
    }
    { /* q6_K: signed 8-bit scales incl. -128 and 127, codes 0..63 */
        qlm__block_q6_K b;
        memset(&b, 0, sizeof b);
        b.d = H_HALF;
        for (j = 0; j < 16; j++) b.scales[j] = (int8_t)(j == 0 ? -128 : j == 1 ? 127 : 9 * j - 70);
        for (e = 0; e < 256; e++) {
            int q = (e * 29 + e / 128) & 63;
            put6(&b, e, q);
            want[e] = (0.5f * b.scales[e / 16]) * (q - 32);
        }
        qlm__dequant_row_q6_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q6_K"), "q6_K hand block");
        CHECK(out[0] == 0.5f * -128 * -32, "q6_K literal");
    }
    { /* q8_K: float d, int8 codes */
        static qlm__block_q8_K b;
        b.d = 0.125f;
        for (e = 0; e < 256; e++) { b.qs[e] = (int8_t)(e - 128); want[e] = 0.125f * (e - 128); }
        qlm__dequant_row_q8_K_ref(&b, out, 256);
        CHECK(same(out, want, 256, "q8_K"), "q8_K hand block");
    }
}

/* Known-answer quantisation of tiny inputs, worked out by hand from ggml's rules. */
static void test_hand_quant(void) {
    float x[32];
    int j;
    { /* q4_0: max-magnitude value -4 -> d = -4/-8 = 0.5, code (x/0.5 + 8.5) truncated */
        qlm__block_q4_0 b;
        for (j = 0; j < 32; j++) x[j] = 0;
        x[0] = -4.0f; x[1] = 3.5f; x[2] = 0.26f; x[3] = -0.26f; x[16] = 1.0f; x[17] = 0.25f;
        qlm__quant_row_q4_0_ref(x, &b, 32);
        CHECK(b.d == H_HALF, "q4_0 d = %04x", b.d);
        CHECK((b.qs[0] & 15) == 0 && (b.qs[1] & 15) == 15 && (b.qs[2] & 15) == 9 && (b.qs[3] & 15) == 7 &&
              (b.qs[0] >> 4) == 10 && (b.qs[1] >> 4) == 9 && (b.qs[4] & 15) == 8,
              "q4_0 codes %02x %02x %02x %02x", b.qs[0], b.qs[1], b.qs[2], b.qs[3]);
    }
    { /* q8_0: amax 127 -> d = 1; roundf ties away from zero: 2.5 -> 3, -2.5 -> -3 */
        qlm__block_q8_0 b;
        for (j = 0; j < 32; j++) x[j] = 0;
        x[0] = 127.0f; x[1] = 2.5f; x[2] = -2.5f; x[3] = -127.0f; x[4] = 0.49f;
        qlm__quant_row_q8_0_ref(x, &b, 32);
        CHECK(b.d == H_ONE && b.qs[0] == 127 && b.qs[1] == 3 && b.qs[2] == -3 && b.qs[3] == -127 && b.qs[4] == 0,
              "q8_0 codes d=%04x %d %d %d", b.d, b.qs[0], b.qs[1], b.qs[2]);
    }
    { /* q8_1: s = fp16(d * sum(codes)) */
        qlm__block_q8_1 b;
        for (j = 0; j < 32; j++) x[j] = (float)(j - 3);
        qlm__quant_row_q8_1_ref(x, &b, 32);
        { int sum = 0; for (j = 0; j < 32; j++) sum += b.qs[j];
          CHECK(b.s == qlm__fp32_to_fp16(sum * qlm__fp16_to_fp32(b.d)) && b.qs[31] == 127, "q8_1 sum field"); }
    }
    { /* q4_1: min -1, max 2 -> d = 3/15 = 0.2, m = -1 */
        qlm__block_q4_1 b;
        for (j = 0; j < 32; j++) x[j] = (j % 2) ? 2.0f : -1.0f;
        qlm__quant_row_q4_1_ref(x, &b, 32);
        CHECK(b.m == H_M1 && b.d == qlm__fp32_to_fp16(0.2f) && b.qs[0] == 0x00 && b.qs[1] == 0xff,
              "q4_1 d=%04x m=%04x qs %02x %02x", b.d, b.m, b.qs[0], b.qs[1]);
    }
}

/* ======================================================================== */
/* round trip with named error limits                                        */
/* ======================================================================== */

/* RMS(dequant(quant(x)) - x) / RMS(x) on the pseudo-normal rows with 1-in-64
 * outliers (x4).  Each limit is the measured error of the reference kernels
 * plus about 30%, so a SIMD variant must be about as accurate to pass. */
static double rt_limit(qlm_type t) {
    switch (t) {
    case QLM_TYPE_F32:  return 0.0;
    case QLM_TYPE_F16:  return 3e-4;   /* 2^-12 relative rounding */
    case QLM_TYPE_BF16: return 2.2e-3; /* 2^-9 */
    case QLM_TYPE_Q8_0: return 0.009;
    case QLM_TYPE_Q8_1: return 0.009;
    case QLM_TYPE_Q8_K: return 0.0166; /* one scale per 256: outliers cost more */
    case QLM_TYPE_Q6_K: return 0.028;
    case QLM_TYPE_Q5_0: return 0.072;
    case QLM_TYPE_Q5_1: return 0.055;
    case QLM_TYPE_Q5_K: return 0.053;
    case QLM_TYPE_Q4_0: return 0.140;
    case QLM_TYPE_Q4_1: return 0.111;
    case QLM_TYPE_Q4_K: return 0.103;
    case QLM_TYPE_Q3_K: return 0.225;
    case QLM_TYPE_Q2_K: return 0.413;
    default:            return 0.0;
    }
}

static void fill_normal(float *x, int n, float scale) {
    int i;
    for (i = 0; i < n; i++) x[i] = rng_normal() * scale * ((i % 64 == 17) ? 4.0f : 1.0f);
}

static void test_roundtrip(void) {
    const int n = 4096;
    int k;
    rng_seed(1);
    fill_normal(g_x, n, 1.0f);
    for (k = 0; k < N_ALL_TYPES; k++) {
        qlm_type t = k_all_types[k];
        double err;
        tr(t)->from_float(g_x, g_qa, n);
        dequant_any(t, g_qa, g_y, n);
        err = rms_diff(g_x, g_y, n) / rms(g_x, n);
        if (getenv("QLM_TEST_VERBOSE")) printf("  %-5s round trip rel rms %.5f (limit %.4f)\n", tr(t)->name, err, rt_limit(t));
        CHECK(err <= rt_limit(t), "%s round trip rel rms %.4g > %.4g", tr(t)->name, err, rt_limit(t));
        /* quantising a dequantised row of a symmetric type reproduces it closely:
         * the codes are already on the grid */
        if (t == QLM_TYPE_Q8_0 || t == QLM_TYPE_Q4_0 || t == QLM_TYPE_Q5_0 || t == QLM_TYPE_F16 || t == QLM_TYPE_BF16) {
            tr(t)->from_float(g_y, g_qb, n);
            CHECK(memcmp(g_qa, g_qb, qlm__row_size(t, n)) == 0, "%s requantising its own output changes it",
                  tr(t)->name);
        }
    }
}

/* ======================================================================== */
/* adversarial rows                                                          */
/* ======================================================================== */

static void test_adversarial(void) {
    const int n = 512;
    int k, i;
    for (k = 0; k < N_ALL_TYPES; k++) {
        qlm_type t = k_all_types[k];
        const char *nm = tr(t)->name;
        double lim = rt_limit(t);
        /* all zeros: exact zeros back, no NaN from 0/0 */
        for (i = 0; i < n; i++) g_x[i] = 0.0f;
        memset(g_qa, 0x5a, sizeof g_qa);
        tr(t)->from_float(g_x, g_qa, n);
        dequant_any(t, g_qa, g_y, n);
        for (i = 0; i < n && g_y[i] == 0.0f; i++) {}
        CHECK(i == n, "%s: zeros come back as %g at %d", nm, (double)g_y[i < n ? i : 0], i);
        /* constant rows, positive and negative */
        {
            static const float consts[] = { 1.0f, -3.25f, 0.5f, 700.0f };
            int c;
            for (c = 0; c < 4; c++) {
                double worst = 0;
                for (i = 0; i < n; i++) g_x[i] = consts[c];
                tr(t)->from_float(g_x, g_qa, n);
                dequant_any(t, g_qa, g_y, n);
                for (i = 0; i < n; i++) {
                    double e = fabs((double)g_y[i] - consts[c]) / fabs(consts[c]);
                    if (!(e <= worst)) worst = e;
                }
                /* symmetric types hit the value with the max code (fp16 d rounding
                 * only); asymmetric ones put it in the min; 2-bit q2_K's grid
                 * search may land one level off */
                CHECK(worst <= (t == QLM_TYPE_Q2_K ? 0.34 : 2e-3), "%s: constant %g comes back %.3g off",
                      nm, (double)consts[c], worst);
            }
        }
        /* one-hot: a single non-zero element per row */
        for (i = 0; i < n; i++) g_x[i] = 0.0f;
        g_x[77] = -5.5f; g_x[300] = 0.75f;
        tr(t)->from_float(g_x, g_qa, n);
        dequant_any(t, g_qa, g_y, n);
        {   /* symmetric types give exact zeros; with a min, zero is off the grid */
            int asym = t == QLM_TYPE_Q4_1 || t == QLM_TYPE_Q5_1 || t == QLM_TYPE_Q2_K || t == QLM_TYPE_Q4_K ||
                       t == QLM_TYPE_Q5_K;
            float ztol = asym ? 5.5f * 0.005f : 0.0f;
            CHECK(fabsf(g_y[77] + 5.5f) <= 5.5f * 2e-3f && fabsf(g_y[300] - 0.75f) <= 0.75f * 2e-3f &&
                  fabsf(g_y[78]) <= ztol && fabsf(g_y[0]) <= ztol, "%s: one-hot gives %g %g %g", nm,
                  (double)g_y[77], (double)g_y[300], (double)g_y[78]);
        }
        /* magnitudes: the relative error limit holds from 1e-3 to 1e3 */
        {
            static const float scales[] = { 1e-3f, 1e3f };
            int s;
            for (s = 0; s < 2; s++) {
                double err;
                rng_seed(7 + (uint64_t)s);
                fill_normal(g_x, n, scales[s]);
                tr(t)->from_float(g_x, g_qa, n);
                dequant_any(t, g_qa, g_y, n);
                err = rms_diff(g_x, g_y, n) / rms(g_x, n);
                CHECK(err <= lim * 1.25 + 1e-9, "%s: scale %g rel rms %.4g", nm, (double)scales[s], err);
            }
        }
        /* far outside the fp16 scale range: only sanity (finite, bounded) is
         * promised — this is the format's limit, as in ggml */
        rng_seed(11);
        fill_normal(g_x, n, 1e-9f);
        tr(t)->from_float(g_x, g_qa, n);
        dequant_any(t, g_qa, g_y, n);
        {
            float amax = 0, ymax = 0;
            for (i = 0; i < n; i++) { amax = fmaxf(amax, fabsf(g_x[i])); ymax = fmaxf(ymax, fabsf(g_y[i])); }
            CHECK(all_finite(g_y, n) && ymax <= 2 * amax + 1e-7f, "%s: tiny inputs give %g (amax %g)", nm,
                  (double)ymax, (double)amax);
        }
        rng_seed(12);
        fill_normal(g_x, n, 3000.0f); /* block maxima ~ 4e4: below 65504 */
        tr(t)->from_float(g_x, g_qa, n);
        dequant_any(t, g_qa, g_y, n);
        CHECK(all_finite(g_y, n), "%s: large inputs give non-finite output", nm);
    }
}

/* ======================================================================== */
/* vec_dot against the dequantised dot in double                            */
/* ======================================================================== */

/* Zero the additive "min" fields of a weight row in place (q4_1/q5_1 m,
 * q2_K/q4_K/q5_K dmin), so that dequantising it leaves the scaled-code part. */
static void strip_min(qlm_type t, void *row, int nb) {
    int i;
    for (i = 0; i < nb; i++) {
        switch (t) {
        case QLM_TYPE_Q4_1: ((qlm__block_q4_1 *)row)[i].m = 0; break;
        case QLM_TYPE_Q5_1: ((qlm__block_q5_1 *)row)[i].m = 0; break;
        case QLM_TYPE_Q2_K: ((qlm__block_q2_K *)row)[i].dmin = 0; break;
        case QLM_TYPE_Q4_K: ((qlm__block_q4_K *)row)[i].dmin = 0; break;
        case QLM_TYPE_Q5_K: ((qlm__block_q5_K *)row)[i].dmin = 0; break;
        default: break;
        }
    }
}

/* Check tt->vec_dot(x, y) against sum dequant(x)*dequant(y) in double.  The
 * limit scales with sum(|code part| + |min part|) * |y| (the kernel sums those
 * two separately) plus, for q8_1, the fp16 rounding of its stored s. */
static int check_dot(qlm_type t, const void *x, const void *y, int n, const char *what) {
    const qlm__type_traits_t *tt = tr(t);
    qlm_type vt = tt->vec_dot_type;
    int i, nb = (int)(n / tt->blck_size);
    double ref = 0, mag = 0, tol;
    float got;
    dequant_any(t, x, g_z, n);
    dequant_any(vt, y, g_w, n);
    memcpy(g_qc, x, qlm__row_size(t, n));
    strip_min(t, g_qc, nb);
    dequant_any(t, g_qc, g_y, n);
    for (i = 0; i < n; i++) {
        ref += (double)g_z[i] * g_w[i];
        mag += (fabs((double)g_y[i]) + fabs((double)g_z[i] - g_y[i])) * fabs((double)g_w[i]);
    }
    tol = 2e-6 * mag + 1e-30;
    if (vt == QLM_TYPE_Q8_1) {
        const qlm__block_q8_1 *yb = (const qlm__block_q8_1 *)y;
        for (i = 0; i < nb; i++) {
            float m = qlm__fp16_to_fp32(t == QLM_TYPE_Q4_1 ? ((const qlm__block_q4_1 *)x)[i].m
                                                          : ((const qlm__block_q5_1 *)x)[i].m);
            tol += fabs((double)m) * fabs((double)qlm__fp16_to_fp32(yb[i].s)) * (1.0 / 1024);
        }
    }
    tt->vec_dot(n, &got, x, y);
    if (!(fabs((double)got - ref) <= tol)) {
        printf("  %s %s n=%d: vec_dot %.9g, dequantised dot %.9g, limit %.3g\n", tt->name, what, n,
               (double)got, ref, tol);
        return 0;
    }
    return 1;
}

/* random bytes for a whole row, then sane scale fields (random bytes would give
 * NaN/inf halves); q8_K gets consistent bsums */
static void random_blocks(qlm_type t, void *row, int n) {
    const qlm__type_traits_t *tt = tr(t);
    int i, j, nb = (int)(n / tt->blck_size);
    unsigned char *p = (unsigned char *)row;
    size_t sz = qlm__row_size(t, n);
    for (i = 0; i < (int)sz; i++) p[i] = (unsigned char)(rng_u64() >> 56);
    for (i = 0; i < nb; i++) {
        qlm__f16 d1 = qlm__fp32_to_fp16(rng_normal() * 0.01f), d2 = qlm__fp32_to_fp16(rng_normal() * 0.01f);
        switch (t) {
        case QLM_TYPE_F16:  ((qlm__f16 *)row)[i] = qlm__fp32_to_fp16(rng_normal()); break;
        case QLM_TYPE_BF16: ((qlm__bf16 *)row)[i] = qlm__fp32_to_bf16(rng_normal()); break;
        case QLM_TYPE_F32:  ((float *)row)[i] = rng_normal(); break;
        case QLM_TYPE_Q4_0: ((qlm__block_q4_0 *)row)[i].d = d1; break;
        case QLM_TYPE_Q5_0: ((qlm__block_q5_0 *)row)[i].d = d1; break;
        case QLM_TYPE_Q8_0: ((qlm__block_q8_0 *)row)[i].d = d1; break;
        case QLM_TYPE_Q4_1: ((qlm__block_q4_1 *)row)[i].d = d1; ((qlm__block_q4_1 *)row)[i].m = d2; break;
        case QLM_TYPE_Q5_1: ((qlm__block_q5_1 *)row)[i].d = d1; ((qlm__block_q5_1 *)row)[i].m = d2; break;
        case QLM_TYPE_Q8_1: {
            qlm__block_q8_1 *b = (qlm__block_q8_1 *)row + i;
            int sum = 0;
            b->d = d1;
            for (j = 0; j < 32; j++) { if (b->qs[j] == -128) b->qs[j] = -127; sum += b->qs[j]; }
            b->s = qlm__fp32_to_fp16(sum * qlm__fp16_to_fp32(d1));
            break;
        }
        case QLM_TYPE_Q2_K: ((qlm__block_q2_K *)row)[i].d = d1; ((qlm__block_q2_K *)row)[i].dmin = d2; break;
        case QLM_TYPE_Q3_K: ((qlm__block_q3_K *)row)[i].d = d1; break;
        case QLM_TYPE_Q4_K: ((qlm__block_q4_K *)row)[i].d = d1; ((qlm__block_q4_K *)row)[i].dmin = d2; break;
        case QLM_TYPE_Q5_K: ((qlm__block_q5_K *)row)[i].d = d1; ((qlm__block_q5_K *)row)[i].dmin = d2; break;
        case QLM_TYPE_Q6_K: ((qlm__block_q6_K *)row)[i].d = d1; break;
        case QLM_TYPE_Q8_K: {
            qlm__block_q8_K *b = (qlm__block_q8_K *)row + i;
            b->d = rng_normal() * 0.01f;
            for (j = 0; j < 256; j++) if (b->qs[j] == -128) b->qs[j] = -127;
            for (j = 0; j < 16; j++) {
                int s = 0, l;
                for (l = 0; l < 16; l++) s += b->qs[16 * j + l];
                b->bsums[j] = (int16_t)s;
            }
            break;
        }
        default: break;
        }
    }
}

static void test_vec_dot(void) {
    static const qlm_type wt[] = {
        QLM_TYPE_F32, QLM_TYPE_F16, QLM_TYPE_BF16, QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1,
        QLM_TYPE_Q8_0, QLM_TYPE_Q2_K, QLM_TYPE_Q3_K, QLM_TYPE_Q4_K, QLM_TYPE_Q5_K, QLM_TYPE_Q6_K,
    };
    static const int nblocks[] = { 1, 2, 3, 8 };
    int k, r, s;
    for (k = 0; k < (int)(sizeof wt / sizeof wt[0]); k++) {
        qlm_type t = wt[k], vt = tr(t)->vec_dot_type;
        int ok_q = 1, ok_r = 1;
        CHECK(tr(t)->vec_dot != NULL, "%s has a vec_dot", tr(t)->name);
        for (s = 0; s < 4; s++) {
            int n = (int)(nblocks[s] * (tr(t)->blck_size == 1 ? 32 : tr(t)->blck_size));
            for (r = 0; r < 3; r++) {
                rng_seed(100 + 10 * (uint64_t)k + (uint64_t)r);
                /* quantised rows, as in inference */
                fill_normal(g_x, n, 0.5f);
                fill_normal(g_y, n, 2.0f);
                if (r == 2) { int i; for (i = 0; i < n; i++) g_x[i] += 1.5f; } /* offset: exercises mins */
                tr(t)->from_float(g_x, g_qa, n);
                tr(vt)->from_float(g_y, g_qb, n);
                ok_q &= check_dot(t, g_qa, g_qb, n, "quantised rows");
                /* arbitrary bit patterns: every code value, every scale */
                random_blocks(t, g_qa, n);
                random_blocks(vt, g_qb, n);
                ok_r &= check_dot(t, g_qa, g_qb, n, "random blocks");
            }
        }
        CHECK(ok_q, "%s . %s on quantised rows", tr(t)->name, tr(vt)->name);
        CHECK(ok_r, "%s . %s on random blocks", tr(t)->name, tr(vt)->name);
    }
    /* all-minimum / all-maximum codes, built per type */
    {
        static const qlm_type ext[] = { QLM_TYPE_Q4_0, QLM_TYPE_Q4_1, QLM_TYPE_Q5_0, QLM_TYPE_Q5_1, QLM_TYPE_Q8_0,
                                        QLM_TYPE_Q2_K, QLM_TYPE_Q3_K, QLM_TYPE_Q4_K, QLM_TYPE_Q5_K, QLM_TYPE_Q6_K };
        int fillv;
        for (k = 0; k < (int)(sizeof ext / sizeof ext[0]); k++) {
            qlm_type t = ext[k], vt = tr(t)->vec_dot_type;
            int n = (int)(2 * tr(t)->blck_size);
            for (fillv = 0; fillv < 2; fillv++) {
                int nb = 2, i;
                size_t sz = qlm__row_size(t, n);
                memset(g_qa, fillv ? 0xff : 0x00, sz);
                for (i = 0; i < nb; i++) {
                    switch (t) {
                    case QLM_TYPE_Q4_0: ((qlm__block_q4_0 *)g_qa)[i].d = H_HALF; break;
                    case QLM_TYPE_Q5_0: ((qlm__block_q5_0 *)g_qa)[i].d = H_HALF; break;
                    case QLM_TYPE_Q8_0: ((qlm__block_q8_0 *)g_qa)[i].d = H_HALF;
                        if (fillv) memset(((qlm__block_q8_0 *)g_qa)[i].qs, 0x7f, 32); else memset(((qlm__block_q8_0 *)g_qa)[i].qs, 0x81, 32);
                        break;
                    case QLM_TYPE_Q4_1: ((qlm__block_q4_1 *)g_qa)[i].d = H_HALF; ((qlm__block_q4_1 *)g_qa)[i].m = H_M1; break;
                    case QLM_TYPE_Q5_1: ((qlm__block_q5_1 *)g_qa)[i].d = H_HALF; ((qlm__block_q5_1 *)g_qa)[i].m = H_M1; break;
                    case QLM_TYPE_Q2_K: ((qlm__block_q2_K *)g_qa)[i].d = H_HALF; ((qlm__block_q2_K *)g_qa)[i].dmin = H_QUARTER; break;
                    case QLM_TYPE_Q3_K: ((qlm__block_q3_K *)g_qa)[i].d = H_HALF; break;
                    case QLM_TYPE_Q4_K: ((qlm__block_q4_K *)g_qa)[i].d = H_HALF; ((qlm__block_q4_K *)g_qa)[i].dmin = H_QUARTER; break;
                    case QLM_TYPE_Q5_K: ((qlm__block_q5_K *)g_qa)[i].d = H_HALF; ((qlm__block_q5_K *)g_qa)[i].dmin = H_QUARTER; break;
                    case QLM_TYPE_Q6_K: ((qlm__block_q6_K *)g_qa)[i].d = H_HALF; break;
                    default: break;
                    }
                }
                rng_seed(31 + (uint64_t)k);
                fill_normal(g_y, n, 1.0f);
                tr(vt)->from_float(g_y, g_qb, n);
                CHECK(check_dot(t, g_qa, g_qb, n, fillv ? "all codes max" : "all codes 0"),
                      "%s . %s with all codes %s", tr(t)->name, tr(vt)->name, fillv ? "max" : "0");
            }
        }
    }
    /* an all-zero activation row gives exactly 0 */
    for (k = 0; k < (int)(sizeof wt / sizeof wt[0]); k++) {
        qlm_type t = wt[k], vt = tr(t)->vec_dot_type;
        int n = (int)(tr(t)->blck_size == 1 ? 64 : 2 * tr(t)->blck_size), i;
        float got = 1.0f;
        rng_seed(5);
        fill_normal(g_x, n, 1.0f);
        for (i = 0; i < n; i++) g_y[i] = 0.0f;
        tr(t)->from_float(g_x, g_qa, n);
        tr(vt)->from_float(g_y, g_qb, n);
        tr(t)->vec_dot(n, &got, g_qa, g_qb);
        CHECK(got == 0.0f, "%s: dot with a zero row is %g", tr(t)->name, (double)got);
    }
}

/* ======================================================================== */
/* golden values from ggml's reference implementation                        */
/* ======================================================================== */

/* The rows below are made by the exact generator above; the hashes were taken
 * by running ggml's own quantize_row_*_ref, dequantize_row_* and
 * ggml_vec_dot_*_generic (built with -ffp-contract=off) on the same rows, and
 * fp16/bf16 conversions were compared with ggml's on all 2^32 floats. */
static void golden_rows(int n) {
    int i;
    rng_seed(20240601);
    for (i = 0; i < n; i++) {
        float v = rng_normal();
        switch ((i / 1024) % 4) {
        case 0: /* normal, outliers, a narrow shifted sub-block, a zero block */
            if (i % 97 == 3) v *= 9.0f;
            if (i % 256 >= 224) v = v * 0.125f + 0.75f;
            if (i % 512 < 32) v = 0.0f;
            break;
        case 1: v = fabsf(v) + 0.25f; break;             /* all positive: no min */
        case 2: v = v * v * v; break;                    /* heavy tails */
        default: v = (float)((int)(v * 3.0f)); break;    /* small integers, many ties */
        }
        g_x[i] = v * 0.37f;
        g_y[i] = rng_normal();
    }
}

typedef struct { qlm_type t; uint64_t q, dq; uint32_t dot; } golden_t;

static const golden_t k_golden[] = {
    /* type            fnv(quantised)         fnv(dequantised)       vec_dot bits (0: not checked) */
    { QLM_TYPE_F32, 0x11903e4b0ce5f079ull, 0x11903e4b0ce5f079ull, 0x00000000u },
    { QLM_TYPE_F16, 0x6632d01c7430182dull, 0x8116d9ee546b45ddull, 0x00000000u },
    { QLM_TYPE_BF16, 0x3adf18778e950afcull, 0x9faf5c7bef5555e4ull, 0x00000000u },
    { QLM_TYPE_Q4_0, 0x0c4d90537c6e24b3ull, 0xa258d55cd17e970aull, 0xbf488742u },
    { QLM_TYPE_Q4_1, 0x270d63da3b838652ull, 0x58868c920a8b02beull, 0x4105bf26u },
    { QLM_TYPE_Q5_0, 0xb2ada7490e2a54faull, 0xa8fa27ef9d89db3dull, 0xc0824e08u },
    { QLM_TYPE_Q5_1, 0xa7bf5c24416ac9bbull, 0x1951e0985b09e5f7ull, 0xc036a8fcu },
    { QLM_TYPE_Q8_0, 0x3fff9225b013171aull, 0xee6811cb8373cd51ull, 0x3f1dc510u },
    { QLM_TYPE_Q8_1, 0x2d4aeb096358b41bull, 0xee6811cb8373cd51ull, 0x00000000u },
    { QLM_TYPE_Q2_K, 0x47129a70b166f862ull, 0x5d6a35e3a95b545dull, 0x40f5f586u },
    { QLM_TYPE_Q3_K, 0x12619e7016367622ull, 0x1c724b73cf84f482ull, 0xbf164380u },
    { QLM_TYPE_Q4_K, 0xc244849364041ad1ull, 0xc3feb8e36dcce6c7ull, 0xc03ac5c8u },
    { QLM_TYPE_Q5_K, 0x416a06f6615f04d6ull, 0xfd15221d52250874ull, 0x401a81f0u },
    { QLM_TYPE_Q6_K, 0x6cfb88f9ad3a19ceull, 0x712294deb5d558b9ull, 0x3f685f60u },
    { QLM_TYPE_Q8_K, 0x5edc711bf490e10dull, 0xb353c6d0cdfc8f0full, 0x00000000u },
};

static void test_golden(void) {
    const int n = 4096;
    int k;
    golden_rows(n);
    for (k = 0; k < (int)(sizeof k_golden / sizeof k_golden[0]); k++) {
        const golden_t *g = &k_golden[k];
        const qlm__type_traits_t *tt = tr(g->t);
        size_t sz = qlm__row_size(g->t, n);
        uint64_t hq, hd;
        memset(g_qa, 0, sizeof g_qa);
        tt->from_float(g_x, g_qa, n);
        hq = fnv(g_qa, sz);
        CHECK(hq == g->q, "%s: quantised bytes hash %016llx, ggml gives %016llx", tt->name,
              (unsigned long long)hq, (unsigned long long)g->q);
        if (g->dq) {
            dequant_any(g->t, g_qa, g_z, n);
            hd = fnv(g_z, (size_t)n * 4);
            CHECK(hd == g->dq, "%s: dequantised hash %016llx, ggml gives %016llx", tt->name,
                  (unsigned long long)hd, (unsigned long long)g->dq);
        }
        if (g->dot) {
            float s;
            tr(tt->vec_dot_type)->from_float(g_y, g_qb, n);
            tt->vec_dot(n, &s, g_qa, g_qb);
            CHECK(fbits(s) == g->dot, "%s: vec_dot %.9g (%08x), ggml gives %.9g (%08x)", tt->name, (double)s,
                  (unsigned)fbits(s), (double)bitsf(g->dot), (unsigned)g->dot);
        }
    }
}

int main(void) {
    test_layout();
    test_fp16();
    test_bf16();
    test_nearest_int();
    test_hand_small();
    test_hand_k();
    test_hand_quant();
    test_roundtrip();
    test_adversarial();
    test_vec_dot();
    test_golden();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
