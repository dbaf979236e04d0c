/* Unit tests for the tokenizer (the >>tokenizer section of qlm.h).
 *
 *   gcc -std=c99 -O2 -g -Wall -Wextra -I. test/test_tokenizer.c -lm -lpthread -o build/test_tokenizer
 *   build/test_tokenizer [model.gguf]      (or QLM_TEST_MODEL; default models/SmolLM2-135M-Instruct.Q4_1.gguf)
 *
 * Tests: UTF-8 edge cases, the category table, the GPT-2 byte mapping, every
 * pre-tokenizer split on hand-written cases (expected pieces from llama.cpp's
 * unicode_regex_split), small synthetic GGUF vocabularies (SPM merges, byte
 * fallback, special tokens, error paths), and, when the model is present,
 * every case of test/fixtures/smollm2_tokenize.txt (llama.cpp output).
 * Last line: "N passed, N failed"; exit status 1 on any failure.
 *
 * Tools for differential testing against llama.cpp (not run by the suite):
 *   test_tokenizer --split <pre>          stdin: hex lines; stdout: pieces as hex, space separated
 *   test_tokenizer --tok <model> <0|1>    stdin: hex lines; stdout: ids (parse_special = 2nd arg)
 *
 * Fuzzing: build with -DQLM_FUZZ_TOKENIZER -fsanitize=fuzzer; the vocabulary
 * comes from QLM_TEST_MODEL.
 */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include <time.h>

#include "check.h"

static double now_ms(void) /* CPU time: tokenization is single-threaded */
{
    return (double)clock() * 1e3 / CLOCKS_PER_SEC;
}

/* well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF) */
static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        size_t len, k;
        uint32_t cpt;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cpt = c & 0x1Fu; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cpt = c & 0x0Fu; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cpt = c & 0x07u; }
        else return 0;
        if (n - i < len) return 0;
        for (k = 1; k < len; k++) {
            if ((u[i + k] & 0xC0) != 0x80) return 0;
            cpt = (cpt << 6) | (u[i + k] & 0x3Fu);
        }
        if ((len == 3 && (cpt < 0x800 || (cpt >= 0xD800 && cpt <= 0xDFFF))) ||
            (len == 4 && (cpt < 0x10000 || cpt > 0x10FFFF))) return 0;
        i += len;
    }
    return 1;
}

/* ---- UTF-8 ---- */

static void test_utf8(void)
{
    static const struct { const char *s; size_t n; uint32_t cpt; size_t adv; } cases[] = {
        { "A", 1, 0x41, 1 },
        { "\xC3\xA9", 2, 0xE9, 2 },
        { "\xE2\x82\xAC", 3, 0x20AC, 3 },
        { "\xF0\x9F\x98\x80", 4, 0x1F600, 4 },
        { "\xC0\x80", 2, 0x00, 2 },            /* overlong: accepted, as llama.cpp */
        { "\xED\xA0\x80", 3, 0xD800, 3 },      /* surrogate: accepted */
        { "\xF4\x90\x80\x80", 4, 0x110000, 4 },/* above U+10FFFF */
        { "\xF7\xBF\xBF\xBF", 4, 0x1FFFFF, 4 },
        { "\x80", 1, 0xFFFD, 1 },              /* stray continuation */
        { "\xC3", 1, 0xFFFD, 1 },              /* truncated */
        { "\xC3" "A", 2, 0xFFFD, 1 },          /* bad continuation */
        { "\xE2\x82", 2, 0xFFFD, 1 },
        { "\xE2\x82" "A", 3, 0xFFFD, 1 },
        { "\xF0\x9F\x98", 3, 0xFFFD, 1 },
        { "\xF8\x88\x80\x80\x80", 5, 0xFFFD, 1 },/* 5-byte lead */
        { "\xFF", 1, 0xFFFD, 1 },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t adv = 0;
        uint32_t c = qlm__utf8_decode(cases[i].s, cases[i].n, &adv);
        CHECK(c == cases[i].cpt && adv == cases[i].adv, "utf8 case %u: got U+%04X/%u want U+%04X/%u",
              (unsigned)i, (unsigned)c, (unsigned)adv, (unsigned)cases[i].cpt, (unsigned)cases[i].adv);
    }
    { /* encode/decode round trip over all scalar values */
        uint32_t c, bad = 0;
        for (c = 0; c < 0x110000; c++) {
            char buf[4];
            size_t adv;
            int n = qlm__utf8_encode(c, buf);
            if (qlm__utf8_decode(buf, (size_t)n, &adv) != c || adv != (size_t)n) bad++;
            if ((c < 0xD800 || c > 0xDFFF) && !utf8_valid(buf, (size_t)n)) bad++;
        }
        CHECK(bad == 0, "utf8 round trip: %u failures", (unsigned)bad);
    }
    CHECK(qlm__utf8_len(0x41) == 1 && qlm__utf8_len(0xC3) == 2 && qlm__utf8_len(0xE2) == 3 &&
          qlm__utf8_len(0xF0) == 4 && qlm__utf8_len(0x80) == 1, "utf8_len");
}

/* ---- categories ---- */

static void test_categories(void)
{
    static const struct { uint32_t cpt; unsigned flags; } cases[] = {
        { 'A', QLM__CPT_LETTER }, { 'z', QLM__CPT_LETTER }, { '0', QLM__CPT_NUMBER },
        { ' ', QLM__CPT_SEPARATOR | QLM__CPT_WHITESPACE }, { '\n', QLM__CPT_CONTROL | QLM__CPT_WHITESPACE },
        { '!', QLM__CPT_PUNCTUATION }, { '$', QLM__CPT_SYMBOL }, { 0x1F, QLM__CPT_CONTROL },
        { 0x85, QLM__CPT_CONTROL | QLM__CPT_WHITESPACE }, { 0xA0, QLM__CPT_SEPARATOR | QLM__CPT_WHITESPACE },
        { 0xE9, QLM__CPT_LETTER }, { 0x300, QLM__CPT_MARK }, { 0x378, QLM__CPT_UNDEFINED },
        { 0x663, QLM__CPT_NUMBER }, { 0x2028, QLM__CPT_SEPARATOR | QLM__CPT_WHITESPACE },
        { 0x2460, QLM__CPT_NUMBER }, { 0x3000, QLM__CPT_SEPARATOR | QLM__CPT_WHITESPACE },
        { 0x4E00, QLM__CPT_LETTER }, { 0xE000, QLM__CPT_CONTROL }, { 0xFFFD, QLM__CPT_SYMBOL },
        { 0x1F600, QLM__CPT_SYMBOL }, { 0x11F50, QLM__CPT_NUMBER } /* Unicode 15.0 */,
        { 0x2EBF0, QLM__CPT_LETTER } /* Unicode 15.1 */, { 0x10FFFF, QLM__CPT_UNDEFINED },
        { 0x110000, QLM__CPT_UNDEFINED }, { 0xFFFFFFFFu, QLM__CPT_UNDEFINED },
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned f = qlm__cpt_flags(cases[i].cpt);
        CHECK(f == cases[i].flags, "flags(U+%04X) = 0x%x, want 0x%x", (unsigned)cases[i].cpt, f, cases[i].flags);
    }
    for (i = 1; i < QLM__UNICODE_N_RANGES; i++)
        if ((qlm__unicode_ranges[i] >> 8) <= (qlm__unicode_ranges[i - 1] >> 8)) break;
    CHECK(i == QLM__UNICODE_N_RANGES && (qlm__unicode_ranges[0] >> 8) == 0, "range table not sorted at %u", (unsigned)i);
}

/* ---- GPT-2 byte mapping ---- */

static void test_byte_mapping(void)
{
    unsigned b, bad = 0, seen[0x144];
    memset(seen, 0, sizeof seen);
    for (b = 0; b < 256; b++) {
        uint32_t c = qlm__byte_to_cpt(b);
        if (c >= 0x144 || seen[c]++ || qlm__cpt_to_byte(c) != (int)b) bad++;
    }
    CHECK(bad == 0, "byte mapping not a bijection (%u)", bad);
    CHECK(qlm__byte_to_cpt(' ') == 0x120 && qlm__byte_to_cpt('\n') == 0x10A && qlm__byte_to_cpt(0xAD) == 0x143 &&
          qlm__byte_to_cpt(0x7F) == 0x121 && qlm__byte_to_cpt('a') == 'a', "GPT-2 byte values");
    CHECK(qlm__cpt_to_byte(0x20) == -1 && qlm__cpt_to_byte(0x144) == -1 && qlm__cpt_to_byte(0xAD) == -1, "unmapped code points");
}

/* ---- pre-tokenizer splits ---- */

/* pieces of text under pre type pre, joined with '|' (as UTF-8) into out */
static int split_join(int pre, const char *text, char *out, size_t cap)
{
    qlm__tok t;
    size_t n, k, start = 0, o = 0;
    memset(&t, 0, sizeof t);
    n = qlm__tok_decode(&t, text, strlen(text));
    qlm__pre_split(&t, pre, n);
    for (k = 0; k < t.n_chunk && !t.oom; k++) {
        size_t i;
        if (k && o + 1 < cap) out[o++] = '|';
        for (i = start; i < start + t.chunk[k]; i++) {
            char u[4];
            int m = qlm__utf8_encode(t.cpt[i], u);
            if (o + (size_t)m < cap) { memcpy(out + o, u, (size_t)m); o += (size_t)m; }
        }
        start += t.chunk[k];
    }
    out[o] = '\0';
    k = t.oom;
    qlm__tok_free(&t);
    return !k;
}

static void test_splits(void)
{
    /* expected pieces: llama.cpp unicode_regex_split with the regexes of each pre type */
    static const struct { int pre; const char *text, *want; } cases[] = {
    { QLM__PRE_GPT2, "Hello world, it's 12345!",
      "Hello| world|,| it|'s| 12345|!" },
    { QLM__PRE_GPT2, "  two  spaces   x  ",
      " | two| | spaces|  | x|  " },
    { QLM__PRE_GPT2, "tab\there\n\nnew",
      "tab|\t|here|\n|\n|new" },
    { QLM__PRE_GPT2, "I'M don't you'll they're",
      "I|'|M| don|'t| you|'ll| they|'re" },
    { QLM__PRE_GPT2, "\xc3\xbc""ber caf\xc3\xa9"" \xe2\x91\xa0\xe2\x91\xa1\xe2\x91\xa2"" \xd9\xa3\xd9\xa4"" \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e""",
      "\xc3\xbc""ber| caf\xc3\xa9""| \xe2\x91\xa0\xe2\x91\xa1\xe2\x91\xa2""| \xd9\xa3\xd9\xa4""| \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e""" },
    { QLM__PRE_STARCODER, "abc 12345 x1y2",
      "abc| |1|2|3|4|5| x|1|y|2" },
    { QLM__PRE_DEFAULT, "Hello, world!! $100 + <b> 1234567 a|b~c",
      "Hello|,| world|!!| |$|100| |+| |<|b|>| |123|456|7| a|||b|~|c" },
    { QLM__PRE_FALCON, "a`b 12345 ,,",
      "a|`|b| |123|45| |,," },
    { QLM__PRE_LLAMA3, "Hello world, it's 12345678!",
      "Hello| world|,| it|'s| |123|456|78|!" },
    { QLM__PRE_LLAMA3, "I'M DON'T You'Ll",
      "I|'M| DON|'T| You|'Ll" },
    { QLM__PRE_LLAMA3, "  spaces\n\n\n  end  ",
      " | spaces|\n\n\n| | end|  " },
    { QLM__PRE_LLAMA3, "a\r\n\r\nb ...\n\nc",
      "a|\r\n\r\n|b| ...\n\n|c" },
    { QLM__PRE_LLAMA3, "\xc3\xbc""ber \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"" \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd"" x",
      "\xc3\xbc""ber| \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e""| \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd""| x" },
    { QLM__PRE_QWEN2, "abc 12345 def",
      "abc| |1|2|3|4|5| def" },
    { QLM__PRE_QWEN35, "e\xcc\x81""e\xcc\x81"" x\xcc\x81""",
      "e\xcc\x81""e\xcc\x81""| x\xcc\x81""" },
    { QLM__PRE_DEEPSEEK_LLM, "Hello World 123 \xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c"" \xec\x95\x88\xeb\x85\x95"" !? \n x  ",
      "Hello| World| |123| |\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c""| |\xec\x95\x88\xeb\x85\x95""| !?| |\n| x|  " },
    { QLM__PRE_DEEPSEEK_CODER, "def f(x):\n    return x+1 # \xe4\xbd\xa0\xe5\xa5\xbd"" 42",
      "def| f|(|x|):|\n|   | return| x|+|1| #| |\xe4\xbd\xa0\xe5\xa5\xbd""| |4|2" },
    { QLM__PRE_BLOOM, "Hello, world! How are you? 123.45",
      "Hello|,| world|!| How| are| you|?| 123|.|45" },
    { QLM__PRE_VIKING, "Hello, world 2024!",
      "Hello|,| world| |2|0|2|4|!" },
    };
    size_t i;
    char got[1024];
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int ok = split_join(cases[i].pre, cases[i].text, got, sizeof got);
        CHECK(ok && strcmp(got, cases[i].want) == 0, "split %u (pre %d): got \"%s\" want \"%s\"",
              (unsigned)i, cases[i].pre, got, cases[i].want);
    }
}

/* ---- synthetic GGUF files ---- */

typedef struct { char *buf; size_t n, cap; uint64_t nkv; } gw;

static void gw_put(gw *w, const void *p, size_t n)
{
    if (w->n + n > w->cap) {
        w->cap = (w->n + n) * 2 + 256;
        w->buf = (char *)realloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->n, p, n);
    w->n += n;
}
static void gw_u32v(gw *w, uint32_t v) { gw_put(w, &v, 4); }
static void gw_u64v(gw *w, uint64_t v) { gw_put(w, &v, 8); }
static void gw_strv(gw *w, const char *s, size_t n) { gw_u64v(w, n); gw_put(w, s, n); }
static void gw_key(gw *w, const char *k, uint32_t type) { gw_strv(w, k, strlen(k)); gw_u32v(w, type); w->nkv++; }
static void gw_str(gw *w, const char *k, const char *v) { gw_key(w, k, QLM__GGUF_STR); gw_strv(w, v, strlen(v)); }
static void gw_u32(gw *w, const char *k, uint32_t v) { gw_key(w, k, QLM__GGUF_U32); gw_u32v(w, v); }
static void gw_f32(gw *w, const char *k, float v) { gw_key(w, k, QLM__GGUF_F32); gw_put(w, &v, 4); }
static void gw_bool(gw *w, const char *k, int v) { unsigned char b = (unsigned char)v; gw_key(w, k, QLM__GGUF_BOOL); gw_put(w, &b, 1); }
static void gw_arr_str(gw *w, const char *k, const char *const *v, size_t n)
{
    size_t i;
    gw_key(w, k, QLM__GGUF_ARR); gw_u32v(w, QLM__GGUF_STR); gw_u64v(w, n);
    for (i = 0; i < n; i++) gw_strv(w, v[i], strlen(v[i]));
}
static void gw_arr_num(gw *w, const char *k, uint32_t type, const void *v, size_t n)
{
    gw_key(w, k, QLM__GGUF_ARR); gw_u32v(w, type); gw_u64v(w, n); gw_put(w, v, n * 4);
}
/* the llama.* keys llama.cpp needs to open a vocab-only file, so the same
 * files can be fed to llama.cpp to produce the expected ids below */
static void gw_llama_arch(gw *w, uint32_t n_vocab)
{
    gw_str(w, "general.architecture", "llama");
    gw_u32(w, "llama.block_count", 1); gw_u32(w, "llama.context_length", 256);
    gw_u32(w, "llama.embedding_length", 64); gw_u32(w, "llama.feed_forward_length", 128);
    gw_u32(w, "llama.attention.head_count", 1); gw_u32(w, "llama.attention.head_count_kv", 1);
    gw_f32(w, "llama.rope.freq_base", 10000.0f); gw_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_u32(w, "llama.vocab_size", n_vocab); gw_u32(w, "llama.rope.dimension_count", 64);
}
/* write to a temp file and open it; returns the reader or NULL */
static qlm__gguf *gw_open(gw *w, const char *name)
{
    char path[256];
    const char *dir = getenv("QLM_TEST_TMP");
    FILE *f;
    qlm__gguf *g = NULL;
    uint32_t version = 3;
    uint64_t zero = 0;
    static const char pad[32] = { 0 };
    snprintf(path, sizeof path, "%s/qlm_tok_%s.gguf", dir ? dir : "/tmp", name);
    f = fopen(path, "wb");
    if (!f) return NULL;
    fwrite("GGUF", 1, 4, f); fwrite(&version, 4, 1, f); fwrite(&zero, 8, 1, f); fwrite(&w->nkv, 8, 1, f);
    fwrite(w->buf, 1, w->n, f);
    fwrite(pad, 1, (32 - (24 + w->n) % 32) % 32, f);
    fclose(f);
    free(w->buf);
    memset(w, 0, sizeof *w);
    if (qlm__gguf_open(path, &g) != QLM_OK) return NULL;
    if (!getenv("QLM_TEST_TMP")) remove(path);
    return g;
}

/* tokenize and compare with an expected id list (terminated by -1) */
static void check_ids(const qlm__vocab *v, const char *what, const char *text, int add_special, int parse_special,
                      const int32_t *want)
{
    int32_t got[256], n, nw = 0, i, ok;
    while (want[nw] >= 0) nw++;
    n = qlm__tokenize(v, text, (int32_t)strlen(text), got, 256, add_special, parse_special);
    ok = n == nw;
    for (i = 0; ok && i < n; i++) ok = got[i] == want[i];
    if (!ok) {
        char msg[1024];
        int o = snprintf(msg, sizeof msg, "%s: \"%s\" -> n=%d [", what, text, (int)n);
        for (i = 0; i < n && i < 40 && o < 900; i++) o += snprintf(msg + o, sizeof msg - (size_t)o, " %d", (int)got[i]);
        snprintf(msg + o, sizeof msg - (size_t)o, " ] want %d", (int)nw);
        CHECK(0, "%s", msg);
    } else {
        CHECK(1, "ok");
    }
}

static void check_detok(const qlm__vocab *v, const char *what, const int32_t *ids, int remove_special,
                        int unparse_special, const char *want)
{
    char buf[512];
    int32_t n = 0, m;
    while (ids[n] >= 0) n++;
    m = qlm__detokenize(v, ids, n, buf, (int32_t)sizeof buf, remove_special, unparse_special);
    CHECK(m >= 0 && (size_t)m == strlen(want) && memcmp(buf, want, (size_t)m) == 0, "%s: detok got %d \"%.*s\" want \"%s\"",
          what, (int)m, m > 0 ? (int)m : 0, buf, want);
}

/* A SentencePiece vocabulary: <unk>, <s>, </s>, 256 byte tokens, scored pieces. */
#define SPM_N_PIECES 24
static qlm__gguf *make_spm(int add_space_prefix, const char *name)
{
    static const char *const pieces[SPM_N_PIECES] = {
        "\xE2\x96\x81", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "llo", "hell",
        "\xE2\x96\x81hello", "\xE2\x96\x81w", "or", "\xE2\x96\x81wor", "ld", "\xE2\x96\x81world", "lo",
        "\xE2\x96\x81h", "\xC3\xA9", "<|user|>", "<ctrl>", "\xE2\x96\x81\xE2\x96\x81" };
    static const float piece_scores[SPM_N_PIECES] = {
        -1.0f, -2.0f, -2.0f, -2.0f, -2.0f, -3.0f, -3.0f, -3.0f, -1.5f, -1.2f, -1.0f, -0.8f,
        -0.5f, -1.1f, -1.3f, -0.9f, -1.4f, -0.4f, -1.25f, -1.6f, -2.0f, 0.0f, 0.0f, -1.0f };
    static const int32_t piece_types[SPM_N_PIECES] = {
        1,1,1,1,1,1,1,1,1,1,1,1, 1,1,1,1,1,1,1, 1,1,4,3,1 };
    const char *texts[3 + 256 + SPM_N_PIECES];
    char bytes[256][7];
    float scores[3 + 256 + SPM_N_PIECES];
    int32_t types[3 + 256 + SPM_N_PIECES];
    size_t n = 0, i;
    gw w;
    memset(&w, 0, sizeof w);
    texts[n] = "<unk>"; scores[n] = 0; types[n++] = 2;
    texts[n] = "<s>"; scores[n] = 0; types[n++] = 3;
    texts[n] = "</s>"; scores[n] = 0; types[n++] = 3;
    for (i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", (unsigned)i);
        texts[n] = bytes[i]; scores[n] = 0; types[n++] = 6;
    }
    for (i = 0; i < SPM_N_PIECES; i++) { texts[n] = pieces[i]; scores[n] = piece_scores[i]; types[n++] = piece_types[i]; }
    gw_llama_arch(&w, (uint32_t)n);
    gw_str(&w, "tokenizer.ggml.model", "llama");
    gw_arr_str(&w, "tokenizer.ggml.tokens", texts, n);
    gw_arr_num(&w, "tokenizer.ggml.scores", QLM__GGUF_F32, scores, n);
    gw_arr_num(&w, "tokenizer.ggml.token_type", QLM__GGUF_I32, types, n);
    gw_u32(&w, "tokenizer.ggml.bos_token_id", 1);
    gw_u32(&w, "tokenizer.ggml.eos_token_id", 2);
    gw_u32(&w, "tokenizer.ggml.unknown_token_id", 0);
    if (add_space_prefix >= 0) gw_bool(&w, "tokenizer.ggml.add_space_prefix", add_space_prefix);
    return gw_open(&w, name);
}

static void test_spm(void)
{
    qlm__gguf *g = make_spm(-1, "spm");
    qlm__vocab *v = NULL;
    qlm_status st;
    CHECK(g != NULL, "spm: synthetic gguf did not open: %s", qlm_last_error());
    if (!g) return;
    st = qlm__vocab_load(&v, g);
    qlm__gguf_close(g);
    CHECK(st == QLM_OK, "spm: load failed: %s", qlm_last_error());
    if (st != QLM_OK) return;
    CHECK(qlm__vocab_type(v) == 1 && qlm__vocab_bos(v) == 1 && qlm__vocab_eos(v) == 2, "spm: type/bos/eos");
    {   /* expected ids: llama.cpp (llama-cpp-python 0.3.36) on the same file */
        { static const int32_t w[] = { 259, 267, 269, 276, -1 }; check_ids(v, "spm 0", "hello world", 0, 0, w); }
        { static const int32_t w[] = { 1, 259, 267, 269, 276, -1 }; check_ids(v, "spm 1", "hello world", 1, 0, w); }
        { static const int32_t w[] = { 282, 267, 269, -1 }; check_ids(v, "spm 2", " hello", 0, 0, w); }
        { static const int32_t w[] = { 259, 267, 269, 282, 264, 273, 275, -1 }; check_ids(v, "spm 3", "hello  world", 0, 0, w); }
        { static const int32_t w[] = { 278, 279, 269, -1 }; check_ids(v, "spm 4", "h\xc3""\xa9""llo", 0, 0, w); }
        { static const int32_t w[] = { 259, 123, 229, 133, 175, -1 }; check_ids(v, "spm 5", "x\xe2""\x82""\xac""", 0, 0, w); }
        { static const int32_t w[] = { 259, 63, 102, 119, 265, 262, 65, 267, 269, 280, 276, -1 }; check_ids(v, "spm 6", "<ctrl>hello<|user|>world", 0, 0, w); }
        { static const int32_t w[] = { 1, 281, 259, 267, 269, 280, 276, -1 }; check_ids(v, "spm 7", "<ctrl>hello<|user|>world", 1, 1, w); }
        { static const int32_t w[] = { 259, 267, 269, 13, -1 }; check_ids(v, "spm 8", "hello\n", 0, 0, w); }
        { static const int32_t w[] = { 1, -1 }; check_ids(v, "spm 9", "", 1, 0, w); }
        { static const int32_t w[] = { -1 }; check_ids(v, "spm 10", "", 0, 0, w); }
        { static const int32_t w[] = { 282, 259, -1 }; check_ids(v, "spm 11", "  ", 0, 0, w); }
        { static const int32_t w[] = { 1, 1, 259, 267, 269, -1 }; check_ids(v, "spm 12", "<s>hello", 1, 1, w); }
        { static const int32_t w[] = { 1, 259, 63, 118, 65, 267, 269, -1 }; check_ids(v, "spm 13", "<s>hello", 1, 0, w); }
        { static const int32_t t[] = { 1, 271, 276, -1 }; check_detok(v, "spm detok 0", t, 0, 0, " hello world"); }
        { static const int32_t t[] = { 1, 271, 276, -1 }; check_detok(v, "spm detok 1", t, 1, 0, " hello world"); }
        { static const int32_t t[] = { 1, 271, -1 }; check_detok(v, "spm detok 2", t, 0, 1, "<s> hello"); }
        { static const int32_t t[] = { 271, 276, -1 }; check_detok(v, "spm detok 3", t, 0, 0, "hello world"); }
        { static const int32_t t[] = { 276, -1 }; check_detok(v, "spm detok 4", t, 0, 0, "world"); }
        { static const int32_t t[] = { 68, 198, 172, -1 }; check_detok(v, "spm detok 5", t, 0, 0, "A\xc3""\xa9"""); }
        { static const int32_t t[] = { 281, 271, -1 }; check_detok(v, "spm detok 6", t, 0, 1, "<ctrl> hello"); }
    }
    {   /* pieces: '▁' -> ' ', byte tokens -> the byte, control only with special */
        char buf[16];
        int32_t n = qlm__token_to_piece(v, 259 + 12, buf, sizeof buf, 0);
        CHECK(n == 6 && memcmp(buf, " hello", 6) == 0, "spm piece ▁hello: %d", (int)n);
        n = qlm__token_to_piece(v, 3 + 0x41, buf, sizeof buf, 0);
        CHECK(n == 1 && buf[0] == 'A', "spm piece <0x41>: %d", (int)n);
        CHECK(qlm__token_to_piece(v, 1, buf, sizeof buf, 0) == 0, "spm piece <s> without special");
        n = qlm__token_to_piece(v, 1, buf, sizeof buf, 1);
        CHECK(n == 3 && memcmp(buf, "<s>", 3) == 0, "spm piece <s> with special");
        CHECK(qlm__token_to_piece(v, 259 + 12, buf, 3, 0) == -6, "spm piece: small buffer gives -needed");
        CHECK(qlm__token_to_piece(v, -1, buf, sizeof buf, 1) == 0 && qlm__token_to_piece(v, 1 << 30, buf, sizeof buf, 1) == 0,
              "spm piece: bad ids");
    }
    qlm__vocab_free(v);

    g = make_spm(0, "spm_nospace"); /* Gemma style: no space prefix */
    v = NULL;
    st = g ? qlm__vocab_load(&v, g) : QLM_ERR_FORMAT;
    if (g) qlm__gguf_close(g);
    CHECK(st == QLM_OK, "spm (no space prefix): load failed");
    if (st == QLM_OK) {
        { static const int32_t w[] = { 267, 269, 276, -1 }; check_ids(v, "spm-nospace 0", "hello world", 0, 0, w); }
        { static const int32_t w[] = { 1, 267, 269, 276, -1 }; check_ids(v, "spm-nospace 1", "hello world", 1, 0, w); }
        { static const int32_t w[] = { 259, 267, 269, -1 }; check_ids(v, "spm-nospace 2", " hello", 0, 0, w); }
        { static const int32_t w[] = { 267, 269, 282, 264, 273, 275, -1 }; check_ids(v, "spm-nospace 3", "hello  world", 0, 0, w); }
        { static const int32_t w[] = { 260, 279, 269, -1 }; check_ids(v, "spm-nospace 4", "h\xc3""\xa9""llo", 0, 0, w); }
        { static const int32_t w[] = { 123, 229, 133, 175, -1 }; check_ids(v, "spm-nospace 5", "x\xe2""\x82""\xac""", 0, 0, w); }
        { static const int32_t w[] = { 63, 102, 119, 265, 262, 65, 267, 269, 280, 264, 273, 275, -1 }; check_ids(v, "spm-nospace 6", "<ctrl>hello<|user|>world", 0, 0, w); }
        { static const int32_t w[] = { 1, 281, 267, 269, 280, 264, 273, 275, -1 }; check_ids(v, "spm-nospace 7", "<ctrl>hello<|user|>world", 1, 1, w); }
        { static const int32_t w[] = { 267, 269, 13, -1 }; check_ids(v, "spm-nospace 8", "hello\n", 0, 0, w); }
        { static const int32_t w[] = { 1, -1 }; check_ids(v, "spm-nospace 9", "", 1, 0, w); }
        { static const int32_t w[] = { -1 }; check_ids(v, "spm-nospace 10", "", 0, 0, w); }
        { static const int32_t w[] = { 282, -1 }; check_ids(v, "spm-nospace 11", "  ", 0, 0, w); }
        { static const int32_t w[] = { 1, 1, 267, 269, -1 }; check_ids(v, "spm-nospace 12", "<s>hello", 1, 1, w); }
        { static const int32_t w[] = { 1, 63, 118, 65, 267, 269, -1 }; check_ids(v, "spm-nospace 13", "<s>hello", 1, 0, w); }
        { static const int32_t t[] = { 1, 271, 276, -1 }; check_detok(v, "spm-nospace detok 0", t, 0, 0, " hello world"); }
        { static const int32_t t[] = { 1, 271, 276, -1 }; check_detok(v, "spm-nospace detok 1", t, 1, 0, " hello world"); }
        { static const int32_t t[] = { 1, 271, -1 }; check_detok(v, "spm-nospace detok 2", t, 0, 1, "<s> hello"); }
        { static const int32_t t[] = { 271, 276, -1 }; check_detok(v, "spm-nospace detok 3", t, 0, 0, " hello world"); }
        { static const int32_t t[] = { 276, -1 }; check_detok(v, "spm-nospace detok 4", t, 0, 0, " world"); }
        { static const int32_t t[] = { 68, 198, 172, -1 }; check_detok(v, "spm-nospace detok 5", t, 0, 0, "A\xc3""\xa9"""); }
        { static const int32_t t[] = { 281, 271, -1 }; check_detok(v, "spm-nospace detok 6", t, 0, 1, "<ctrl> hello"); }
        qlm__vocab_free(v);
    }
}

/* A byte-level BPE vocabulary: the 256 byte symbols, a few merges, specials. */
static qlm__gguf *make_bpe(const char *pre, const char *name, int variant)
{
    static const char *const extra[] = {
        "\xC4\xA0h", "\xC4\xA0he", "ll", "llo", "\xC4\xA0hello", "\xC4\xA0world", "<|begin_of_text|>", "<|eot_id|>",
        "<|user|>", "\xC4\xA0w", "or" };
    static const int32_t extra_types[] = { 1, 1, 1, 1, 1, 1, 3, 3, 4, 1, 1 };
    static const char *const merges[] = { "\xC4\xA0 h", "\xC4\xA0h e", "l l", "ll o", "\xC4\xA0he llo", "\xC4\xA0 w", "o r",
                                          "x y z" /* unknown tokens: harmless */, "nospace" };
    const char *texts[256 + 11 + 1];
    char sym[256][3];
    int32_t types[256 + 11 + 1];
    size_t n = 0, i;
    gw w;
    memset(&w, 0, sizeof w);
    for (i = 0; i < 256; i++) {
        int m = qlm__utf8_encode(qlm__byte_to_cpt((unsigned)i), sym[i]);
        sym[i][m] = '\0';
        texts[n] = sym[i]; types[n++] = 1;
    }
    for (i = 0; i < 11; i++) { texts[n] = extra[i]; types[n++] = extra_types[i]; }
    gw_llama_arch(&w, (uint32_t)n);
    gw_str(&w, "tokenizer.ggml.model", "gpt2");
    if (pre) gw_str(&w, "tokenizer.ggml.pre", pre);
    if (variant == 1) texts[n++] = "\xC4\xA0he"; /* duplicate text */
    gw_arr_str(&w, "tokenizer.ggml.tokens", texts, n);
    if (variant == 2) gw_arr_num(&w, "tokenizer.ggml.token_type", QLM__GGUF_F32, types, n);
    else if (variant == 3) gw_arr_num(&w, "tokenizer.ggml.token_type", QLM__GGUF_I32, types, n - 1);
    else gw_arr_num(&w, "tokenizer.ggml.token_type", QLM__GGUF_I32, types, n);
    if (variant != 4) gw_arr_str(&w, "tokenizer.ggml.merges", merges, sizeof(merges) / sizeof(merges[0]));
    gw_u32(&w, "tokenizer.ggml.bos_token_id", 256 + 6);
    gw_u32(&w, "tokenizer.ggml.eos_token_id", variant == 5 ? 100000 : 256 + 7);
    return gw_open(&w, name);
}

/* ChatML's default system message, read from the template's literal: SmolLM2 writes it with a
   real newline; Qwen2.5 escapes its newlines ("\\n" in a Jinja string) and writes the marker
   twice, with expressions, before the literal; a template with no literal adds none. */
static void test_chat_templates(void)
{
    static const char *const tmpl[] = {
        "{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are "
        "SmolLM<|im_end|>\n' }}{% endif %}",
        "{%- if tools %}\n    {{- '<|im_start|>system\\n' }}\n    {%- if messages[0]['role'] == "
        "'system' %}\n        {{- messages[0]['content'] }}\n    {%- else %}\n        {{- 'You are "
        "Qwen.' }}\n    {%- endif %}\n    {{- \"\\n</tools><|im_end|>\\n\" }}\n{%- else %}\n    "
        "{%- if messages[0]['role'] == 'system' %}\n        {{- '<|im_start|>system\\n' + "
        "messages[0]['content'] + '<|im_end|>\\n' }}\n    {%- else %}\n        {{- "
        "'<|im_start|>system\\nYou are Qwen, a helpful assistant.<|im_end|>\\n' }}\n    {%- endif "
        "%}\n{%- endif %}",
        "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}",
        "{{ '<|im_start|>system\\nno end marker' }}",
    };
    static const char *const want[] = {
        "<|im_start|>system\nYou are SmolLM<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n",
        "<|im_start|>system\nYou are Qwen, a helpful assistant.<|im_end|>\n<|im_start|>user\nHi"
        "<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    };
    const char *roles[2] = {"user", "user"}, *contents[2] = {"Hi", "Hi"};
    const char *sys_roles[2] = {"system", "user"}, *sys_contents[2] = {"Be brief.", "Hi"};
    size_t i;
    for (i = 0; i < sizeof tmpl / sizeof *tmpl; i++) {
        qlm__sb sb;
        memset(&sb, 0, sizeof sb);
        CHECK(qlm__chat_format(tmpl[i], NULL, roles, contents, 1, 1, &sb) == QLM_OK && sb.buf &&
                  strcmp(sb.buf, want[i]) == 0,
              "template %d: got \"%s\"", (int)i, sb.buf ? sb.buf : "(null)");
        QLM_FREE(sb.buf);
        memset(&sb, 0, sizeof sb); /* a system message of the user's replaces the default */
        CHECK(qlm__chat_format(tmpl[i], NULL, sys_roles, sys_contents, 2, 1, &sb) == QLM_OK &&
                  sb.buf && strncmp(sb.buf, "<|im_start|>system\nBe brief.<|im_end|>\n", 38) == 0 &&
                  !strstr(sb.buf, "You are"),
              "template %d with a system message: got \"%s\"", (int)i, sb.buf ? sb.buf : "(null)");
        QLM_FREE(sb.buf);
    }
}

static void test_bpe_synthetic(void)
{
    static const struct { const char *pre; int variant; qlm_status want; } loads[] = {
        { "llama-bpe", 0, QLM_OK }, { "no-such-pre", 0, QLM_ERR_UNSUPPORTED }, { "gpt-4o", 0, QLM_ERR_UNSUPPORTED },
        { "llama-bpe", 1, QLM_ERR_FORMAT }, { "llama-bpe", 2, QLM_ERR_FORMAT }, { "llama-bpe", 3, QLM_ERR_FORMAT },
        { "llama-bpe", 4, QLM_ERR_FORMAT }, { "llama-bpe", 5, QLM_OK }, { NULL, 0, QLM_OK },
    };
    size_t i;
    for (i = 0; i < sizeof(loads) / sizeof(loads[0]); i++) {
        qlm__gguf *g = make_bpe(loads[i].pre, "bpe_load", loads[i].variant);
        qlm__vocab *v = NULL;
        qlm_status st = g ? qlm__vocab_load(&v, g) : QLM_ERR_INVALID_ARG;
        if (g) qlm__gguf_close(g);
        CHECK(st == loads[i].want, "bpe load case %u: status %d want %d (%s)", (unsigned)i, (int)st, (int)loads[i].want,
              st ? qlm_last_error() : "");
        CHECK(st != QLM_OK || v != NULL, "bpe load case %u: no vocab", (unsigned)i);
        if (st == QLM_OK && loads[i].variant == 5) /* eos id out of range keeps llama.cpp's default (11) */
            CHECK(qlm__vocab_eos(v) == 11, "bpe: bad eos id kept default, got %d", (int)qlm__vocab_eos(v));
        qlm__vocab_free(v);
    }
    {
        qlm__gguf *g = make_bpe("llama-bpe", "bpe_llama3", 0);
        qlm__vocab *v = NULL;
        if (g && qlm__vocab_load(&v, g) == QLM_OK) {
            { static const int32_t w[] = { 260, 261, -1 }; check_ids(v, "bpe-llama3 0", " hello world", 0, 0, w); }
            { static const int32_t w[] = { 104, 101, 259, -1 }; check_ids(v, "bpe-llama3 1", "hello", 0, 0, w); }
            { static const int32_t w[] = { 60, 124, 101, 111, 116, 95, 105, 100, 124, 62, 104, 101, 259, 264, 261, -1 }; check_ids(v, "bpe-llama3 2", "<|eot_id|>hello<|user|> world", 0, 0, w); }
            { static const int32_t w[] = { 262, 263, 104, 101, 259, 264, 261, -1 }; check_ids(v, "bpe-llama3 3", "<|eot_id|>hello<|user|> world", 1, 1, w); }
            { static const int32_t w[] = { 265, 266, -1 }; check_ids(v, "bpe-llama3 4", " wor", 0, 0, w); }
            { static const int32_t w[] = { 262, 120, 32, 121, 32, 122, -1 }; check_ids(v, "bpe-llama3 5", "x y z", 1, 0, w); }
            { static const int32_t w[] = { 104, 101, 259, 32, 32, 10, 10, 261, 33, -1 }; check_ids(v, "bpe-llama3 6", "hello  \n\n world!", 0, 0, w); }
            { static const int32_t t[] = { 262, 260, 261, -1 }; check_detok(v, "bpe-llama3 detok 0", t, 0, 0, " hello world"); }
            { static const int32_t t[] = { 262, 260, 261, -1 }; check_detok(v, "bpe-llama3 detok 1", t, 1, 1, " hello world"); }
            { static const int32_t t[] = { 263, 264, -1 }; check_detok(v, "bpe-llama3 detok 2", t, 0, 0, "<|user|>"); }
        } else {
            CHECK(0, "bpe llama3: load failed");
        }
        if (g) qlm__gguf_close(g);
        qlm__vocab_free(v);
        g = make_bpe("dbrx", "bpe_dbrx", 0);
        v = NULL;
        if (g && qlm__vocab_load(&v, g) == QLM_OK) {
            { static const int32_t w[] = { 260, 265, 266, 108, 100, -1 }; check_ids(v, "bpe-dbrx 0", " hello world", 0, 0, w); }
            { static const int32_t w[] = { 104, 101, 259, -1 }; check_ids(v, "bpe-dbrx 1", "hello", 0, 0, w); }
            { static const int32_t w[] = { 60, 124, 101, 111, 116, 95, 105, 100, 124, 62, 104, 101, 259, 264, 265, 266, 108, 100, -1 }; check_ids(v, "bpe-dbrx 2", "<|eot_id|>hello<|user|> world", 0, 0, w); }
            { static const int32_t w[] = { 263, 104, 101, 259, 264, 265, 266, 108, 100, -1 }; check_ids(v, "bpe-dbrx 3", "<|eot_id|>hello<|user|> world", 1, 1, w); }
            { static const int32_t w[] = { 265, 266, -1 }; check_ids(v, "bpe-dbrx 4", " wor", 0, 0, w); }
            { static const int32_t w[] = { 120, 32, 121, 32, 122, -1 }; check_ids(v, "bpe-dbrx 5", "x y z", 1, 0, w); }
            { static const int32_t w[] = { 104, 101, 259, 32, 32, 10, 10, 265, 266, 108, 100, 33, -1 }; check_ids(v, "bpe-dbrx 6", "hello  \n\n world!", 0, 0, w); }
            { static const int32_t t[] = { 262, 260, 261, -1 }; check_detok(v, "bpe-dbrx detok 0", t, 0, 0, " hello world"); }
            { static const int32_t t[] = { 262, 260, 261, -1 }; check_detok(v, "bpe-dbrx detok 1", t, 1, 1, "<|begin_of_text|> hello world"); }
            { static const int32_t t[] = { 263, 264, -1 }; check_detok(v, "bpe-dbrx detok 2", t, 0, 0, "<|user|>"); }
        } else {
            CHECK(0, "bpe dbrx: load failed");
        }
        if (g) qlm__gguf_close(g);
        qlm__vocab_free(v);
    }
    {
        qlm__vocab *v = NULL;
        CHECK(qlm__vocab_load(&v, NULL) == QLM_ERR_INVALID_ARG && v == NULL, "load(NULL)");
        qlm__vocab_free(NULL);
    }
}

/* ---- the real model ---- */

static int unhex(const char *h, char *out, size_t cap)
{
    size_t n = 0;
    if (strcmp(h, "-") == 0) return 0;
    while (h[0] && h[1] && n < cap) {
        unsigned b;
        if (sscanf(h, "%2x", &b) != 1) return -1;
        out[n++] = (char)b;
        h += 2;
    }
    return (int)n;
}

static void test_fixtures(const qlm__vocab *v, const char *path)
{
    FILE *f = fopen(path, "r");
    static char line[1 << 16], text[1 << 15], want[1 << 15], got[1 << 15];
    int32_t ids[4096], mine[4096];
    int ps = 0, n = 0, have = 0, text_len = 0, cases = 0, tok_ok = 0, detok_ok = 0, rt = 0, rt_ok = 0;
    int rt_pending = 0;
    if (!f) { CHECK(0, "fixture %s not found", path); return; }
    while (fgets(line, sizeof line, f)) {
        char *p = line, hex[1 << 15];
        int k, off;
        if (strncmp(line, "tok ", 4) == 0) {
            if (sscanf(p + 4, "%d %32767s %d%n", &ps, hex, &n, &off) != 3 || n < 0 || n > 4096) continue;
            text_len = unhex(hex, text, sizeof text);
            p += 4 + off;
            for (k = 0; k < n; k++) ids[k] = (int32_t)strtol(p, &p, 10);
            have = 1;
            {
                int32_t m = qlm__tokenize(v, text, text_len, mine, 4096, 0, ps), j, ok = m == n;
                for (j = 0; ok && j < m; j++) ok = mine[j] == ids[j];
                cases++;
                tok_ok += ok;
                CHECK(ok, "fixture tok ps=%d \"%.*s\": n=%d want %d", ps, text_len > 60 ? 60 : text_len, text, (int)m, n);
                if (ok && !ps && utf8_valid(text, (size_t)text_len)) { /* round trip (below) */
                    int32_t d = qlm__detokenize(v, mine, m, got, (int32_t)sizeof got, 0, 1);
                    rt_pending = d == text_len && memcmp(got, text, (size_t)d) == 0 ? 1 : 2;
                } else rt_pending = 0;
            }
        } else if (strncmp(line, "detok ", 6) == 0 && have) {
            int wl, d;
            if (sscanf(p + 6, "%32767s", hex) != 1) continue;
            wl = unhex(hex, want, sizeof want);
            d = qlm__detokenize(v, ids, n, got, (int32_t)sizeof got, 0, 1);
            detok_ok += d == wl && memcmp(got, want, (size_t)(d > 0 ? d : 0)) == 0;
            /* qlm must round-trip wherever llama.cpp does (SentencePiece maps a literal U+2581
               in the input to a space, so neither round-trips those) */
            if (rt_pending && wl == text_len && memcmp(want, text, (size_t)wl) == 0) {
                rt++;
                rt_ok += rt_pending == 1;
            }
            CHECK(d == wl && memcmp(got, want, (size_t)(d > 0 ? d : 0)) == 0, "fixture detok %d: got %d want %d", cases, (int)d, wl);
            have = 0;
        }
    }
    fclose(f);
    printf("fixtures: %d cases, tokenize %d/%d, detokenize %d/%d, round trip %d/%d\n", cases, tok_ok, cases,
           detok_ok, cases, rt_ok, rt);
    CHECK(cases > 0 && rt_ok == rt, "fixture round trips %d/%d", rt_ok, rt);
}

static uint32_t rng_state = 12345;
static uint32_t rnd(void) { rng_state = rng_state * 1103515245u + 12345u; return rng_state >> 8; }

static void test_model(const char *path, const char *fixture)
{
    qlm__gguf *g = NULL;
    qlm__vocab *v = NULL;
    qlm_status st;
    if (qlm__gguf_open(path, &g) != QLM_OK) { CHECK(0, "model %s: %s", path, qlm_last_error()); return; }
    st = qlm__vocab_load(&v, g);
    qlm__gguf_close(g); /* the vocab keeps its own copies */
    CHECK(st == QLM_OK, "model vocab load: %s", qlm_last_error());
    if (st != QLM_OK) return;
    CHECK(qlm__vocab_n_tokens(v) == 49152 && qlm__vocab_type(v) == 2, "n_tokens/type");
    CHECK(qlm__vocab_bos(v) == 1 && qlm__vocab_eos(v) == 2 && qlm__vocab_eot(v) == 0, "bos/eos/eot = %d/%d/%d",
          (int)qlm__vocab_bos(v), (int)qlm__vocab_eos(v), (int)qlm__vocab_eot(v));
    {
        int32_t t, n_eog = 0;
        for (t = 0; t < qlm__vocab_n_tokens(v); t++) n_eog += qlm__vocab_is_eog(v, t);
        CHECK(n_eog == 3 && qlm__vocab_is_eog(v, 0) && qlm__vocab_is_eog(v, 2) && qlm__vocab_is_eog(v, 4),
              "EOG set (llama.cpp: 0, 2, 4), %d members", (int)n_eog);
        CHECK(!qlm__vocab_is_eog(v, -1) && !qlm__vocab_is_eog(v, 49152), "is_eog range");
        CHECK(qlm__vocab_is_control(v, 1) && !qlm__vocab_is_control(v, 19556), "is_control");
        CHECK(qlm__vocab_find(v, "Hello", 5) == 19556 && qlm__vocab_find(v, "no such token!", 14) == -1, "find");
    }
    {   /* buffer handling */
        int32_t ids[4] = { -7, -7, -7, -7 };
        char buf[8];
        CHECK(qlm__tokenize(v, "Hello world", 11, ids, 1, 0, 0) == -2 && ids[0] == -7, "tokenize: small buffer");
        CHECK(qlm__tokenize(v, "Hello world", 11, NULL, 0, 0, 0) == -2, "tokenize: count only");
        CHECK(qlm__tokenize(v, "", 0, ids, 4, 1, 1) == 0, "tokenize: empty (add_bos false)");
        CHECK(qlm__tokenize(v, NULL, 5, ids, 4, 0, 0) == INT32_MIN, "tokenize: NULL text");
        CHECK(qlm__tokenize(v, "<|im_start|>", 12, ids, 4, 0, 1) == 1 && ids[0] == 1, "parse_special");
        CHECK(qlm__tokenize(v, "<|im_start|>", 12, ids, 4, 0, 0) < -1, "no parse_special");
        ids[0] = 19556; ids[1] = 905;
        CHECK(qlm__detokenize(v, ids, 2, buf, 4, 0, 0) == -11, "detokenize: small buffer");
        CHECK(qlm__token_to_piece(v, 0, buf, sizeof buf, 0) == 0, "piece of control without special");
        CHECK(qlm__token_to_piece(v, 905, buf, sizeof buf, 0) == 6 && memcmp(buf, " world", 6) == 0, "piece Ġworld");
    }
    test_fixtures(v, fixture);
    {   /* round trip on random valid UTF-8 */
        static char s[4096], d[8192];
        static int32_t ids[8192];
        int iter, bad = 0;
        for (iter = 0; iter < 300; iter++) {
            size_t n = 0, len = rnd() % 200;
            int32_t m, k;
            while (n < len) {
                uint32_t c, r = rnd() % 10;
                if (r < 4) c = 0x20 + rnd() % 0x60;
                else if (r < 5) c = " \n\t\r"[rnd() % 4];
                else if (r < 7) c = 0x80 + rnd() % 0x780;
                else if (r < 9) c = 0x800 + rnd() % 0xF800;
                else c = 0x10000 + rnd() % 0x30000; /* SmolLM2 has no F1/F2 byte tokens */
                if (c >= 0xD800 && c <= 0xDFFF) continue;
                n += (size_t)qlm__utf8_encode(c, s + n);
            }
            m = qlm__tokenize(v, s, (int32_t)n, ids, 8192, 0, 0);
            k = m >= 0 ? qlm__detokenize(v, ids, m, d, (int32_t)sizeof d, 0, 1) : -1;
            if (k != (int32_t)n || memcmp(d, s, n) != 0) bad++;
        }
        CHECK(bad == 0, "random UTF-8 round trips: %d of 300 failed", bad);
    }
    {   /* speed: a ~10k-token text */
        static const char para[] = "The quick brown fox jumps over the lazy dog; it's 2024, and naïve café "
                                   "owners sell 1,234 crêpes per day. \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\n";
        size_t plen = sizeof(para) - 1, reps = 0, n = 0;
        char *big;
        int32_t *ids, m;
        double t0, dt;
        while (reps * 30 < 10000) reps++;
        big = (char *)malloc(plen * reps + 1);
        ids = (int32_t *)malloc(sizeof(int32_t) * 40000);
        for (n = 0; n < reps; n++) memcpy(big + n * plen, para, plen);
        t0 = now_ms();
        m = qlm__tokenize(v, big, (int32_t)(plen * reps), ids, 40000, 0, 1);
        dt = now_ms() - t0;
        printf("speed: %d tokens (%u bytes) in %.2f ms\n", (int)m, (unsigned)(plen * reps), dt);
        CHECK(m >= 9000 && dt < 100.0, "tokenize 10k tokens: %d tokens in %.2f ms", (int)m, dt);
        free(big);
        free(ids);
    }
    qlm__vocab_free(v);
}

/* ---- command line tools for differential testing ---- */

static int tool_split(const char *pre_name)
{
    static char line[1 << 16], text[1 << 15];
    size_t k, nk = sizeof(qlm__pre_names) / sizeof(qlm__pre_names[0]);
    int pre = -1;
    for (k = 0; k < nk; k++) if (strcmp(qlm__pre_names[k].name, pre_name) == 0) pre = qlm__pre_names[k].pre;
    if (pre < 0) { fprintf(stderr, "unknown pre %s\n", pre_name); return 2; }
    while (fgets(line, sizeof line, stdin)) {
        qlm__tok t;
        size_t n, start = 0;
        int len;
        line[strcspn(line, "\n")] = '\0';
        len = unhex(line, text, sizeof text);
        memset(&t, 0, sizeof t);
        n = qlm__tok_decode(&t, text, (size_t)(len > 0 ? len : 0));
        qlm__pre_split(&t, pre, n);
        for (k = 0; k < t.n_chunk; k++) {
            size_t i;
            if (k) putchar(' ');
            for (i = start; i < start + t.chunk[k]; i++) {
                char u[4];
                int m = qlm__utf8_encode(t.cpt[i], u), j;
                for (j = 0; j < m; j++) printf("%02x", (unsigned char)u[j]);
            }
            start += t.chunk[k];
        }
        putchar('\n');
        fflush(stdout);
        qlm__tok_free(&t);
    }
    return 0;
}

static int tool_tok(const char *path, int parse_special)
{
    static char line[1 << 16], text[1 << 15];
    static int32_t ids[1 << 15];
    qlm__gguf *g = NULL;
    qlm__vocab *v = NULL;
    if (qlm__gguf_open(path, &g) != QLM_OK || qlm__vocab_load(&v, g) != QLM_OK) {
        fprintf(stderr, "%s\n", qlm_last_error());
        return 2;
    }
    qlm__gguf_close(g);
    while (fgets(line, sizeof line, stdin)) {
        int len, i;
        int32_t n;
        line[strcspn(line, "\n")] = '\0';
        len = unhex(line, text, sizeof text);
        n = qlm__tokenize(v, text, len > 0 ? len : 0, ids, 1 << 15, 0, parse_special);
        for (i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
        fflush(stdout);
    }
    qlm__vocab_free(v);
    return 0;
}

static const char *model_path(int argc, char **argv)
{
    const char *p = argc > 1 ? argv[1] : getenv("QLM_TEST_MODEL");
    return p && *p ? p : "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

#ifdef QLM_FUZZ_TOKENIZER
static qlm__vocab *fuzz_vocab;

/* 1 if every byte of s has a byte-level token (llama.cpp drops the others) */
static int bytes_covered(const qlm__vocab *v, const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char u[4];
        int m = qlm__utf8_encode(qlm__byte_to_cpt((unsigned char)s[i]), u);
        if (qlm__vocab_find(v, u, (size_t)m) < 0) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int32_t ids[1 << 16];
    static char out[1 << 20];
    int ps;
    if (!fuzz_vocab) {
        qlm__gguf *g = NULL;
        const char *p = getenv("QLM_TEST_MODEL");
        if (qlm__gguf_open(p && *p ? p : "models/SmolLM2-135M-Instruct.Q4_1.gguf", &g) != QLM_OK ||
            qlm__vocab_load(&fuzz_vocab, g) != QLM_OK) {
            fprintf(stderr, "fuzz: cannot load vocabulary: %s\n", qlm_last_error());
            __builtin_trap();
        }
        qlm__gguf_close(g);
    }
    if (size > (1 << 14)) return 0;
    for (ps = 0; ps < 2; ps++) {
        int32_t n = qlm__tokenize(fuzz_vocab, (const char *)data, (int32_t)size, ids, 1 << 16, ps, ps), d;
        if (n < 0) __builtin_trap();
        d = qlm__detokenize(fuzz_vocab, ids, n, out, (int32_t)sizeof out, !ps, ps);
        if (d < 0) __builtin_trap();
        /* byte-level BPE round-trips any valid UTF-8 when specials are plain text */
        if (!ps && utf8_valid((const char *)data, size) && bytes_covered(fuzz_vocab, (const char *)data, size) &&
            (d != (int32_t)size || memcmp(out, data, size) != 0))
            __builtin_trap();
    }
    return 0;
}
#else
int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--split") == 0) return tool_split(argv[2]);
    if (argc == 4 && strcmp(argv[1], "--tok") == 0) return tool_tok(argv[2], atoi(argv[3]));
    if (argc == 4 && strcmp(argv[1], "--fixture") == 0) {
        /* only the llama.cpp fixture of another model (e.g. Gemma 3's SentencePiece) */
        qlm__gguf *g = NULL;
        qlm__vocab *v = NULL;
        CHECK(qlm__gguf_open(argv[2], &g) == QLM_OK && qlm__vocab_load(&v, g) == QLM_OK,
              "load %s: %s", argv[2], qlm_last_error());
        qlm__gguf_close(g);
        if (v) test_fixtures(v, argv[3]);
        qlm__vocab_free(v);
        printf("%d passed, %d failed\n", g_pass, g_fail);
        return g_fail ? 1 : 0;
    }
    test_utf8();
    test_categories();
    test_byte_mapping();
    test_splits();
    test_spm();
    test_bpe_synthetic();
    test_chat_templates();
    test_model(model_path(argc, argv), "test/fixtures/smollm2_tokenize.txt");
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
#endif
