/* GGUF reader and writer: the real model, round trips, every value type, and crafted files.
   Usage: test_gguf [MODEL]   (default: $QLM_TEST_MODEL or models/SmolLM2-135M-Instruct.Q4_1.gguf)
   Built with -DQLM_FUZZ_GGUF it is a libFuzzer target for the parser instead. */
#define QLM_IMPLEMENTATION
#include "../qlm.h"

#include "check.h"

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long sz;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)malloc((size_t)sz);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

/* Parse a memory image; returns the status (and frees what was parsed). */
static qlm_status parse_mem(const uint8_t *p, size_t n) {
    qlm__gguf g;
    qlm_status st;
    memset(&g, 0, sizeof g);
    st = qlm__gguf_parse(&g, p, n, "mem");
    qlm__gguf_free_parsed(&g);
    return st;
}

#ifdef QLM_FUZZ_GGUF
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size) (void)parse_mem(data, size);
    return 0;
}
#else

static char tmpdir[256];

static void test_real_model(const char *path) {
    qlm__gguf *g = NULL;
    qlm_status st = qlm__gguf_open(path, &g);
    int64_t kv;
    CHECK(st == QLM_OK, "open %s: %s", path, qlm_last_error());
    if (st != QLM_OK) return;
    CHECK(g->version == 3, "version %u", g->version);
    CHECK(g->n_tensors == 272, "tensors %lld", (long long)g->n_tensors);
    CHECK(g->n_kv == 33, "kv %lld", (long long)g->n_kv);
    kv = qlm__gguf_find(g, "general.architecture");
    CHECK(kv >= 0 && qlm__str_eq(qlm__gguf_get_str(g, kv), "llama"), "architecture");
    kv = qlm__gguf_find(g, "tokenizer.ggml.tokens");
    CHECK(kv >= 0 && qlm__gguf_arr_n(g, kv) == 49152, "token count");
    CHECK(kv >= 0 && qlm__str_eq(qlm__gguf_arr_str(g, kv, 0), "<|endoftext|>"), "token 0");
    {
        int64_t v = 0;
        float f = 0;
        CHECK(qlm__gguf_get_i64(g, "llama.block_count", &v) && v == 30, "block_count %lld",
              (long long)v);
        CHECK(qlm__gguf_get_f32(g, "llama.rope.freq_base", &f) && f == 100000.0f, "freq_base");
        CHECK(!qlm__gguf_get_i64(g, "no.such.key", &v), "missing key");
    }
    {
        int64_t t = qlm__gguf_find_tensor(g, "token_embd.weight");
        CHECK(t >= 0 && g->tensors[t].type == QLM_TYPE_Q8_0 && g->tensors[t].ne[0] == 576 &&
                  g->tensors[t].ne[1] == 49152,
              "token_embd");
        /* zero copy: tensor data points into the mapping */
        CHECK(t >= 0 && g->tensors[t].data >= g->file.data &&
                  g->tensors[t].data < g->file.data + g->file.size,
              "mapped");
    }
    /* round trip: copying every entry and tensor gives the same bytes */
    {
        qlm__gguf_writer w;
        char out[512];
        int64_t i;
        size_t n1, n2;
        uint8_t *a, *b;
        memset(&w, 0, sizeof w);
        for (i = 0; i < g->n_kv; i++) qlm__gw_copy_kv(&w, g, i);
        for (i = 0; i < g->n_tensors; i++) {
            const qlm__gguf_tensor *t = &g->tensors[i];
            char name[80];
            snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
            qlm__gw_tensor_add(&w, name, t->type, t->n_dims, t->ne, t->data);
        }
        snprintf(out, sizeof out, "%s/roundtrip.gguf", tmpdir);
        st = qlm__gw_write(&w, out);
        CHECK(st == QLM_OK, "write: %s", qlm_last_error());
        qlm__gw_free(&w);
        a = read_all(path, &n1);
        b = read_all(out, &n2);
        CHECK(a && b && n1 == n2 && memcmp(a, b, n1) == 0, "round trip differs (%zu vs %zu bytes)",
              n1, n2);
        /* truncations of the real header at many points must fail cleanly */
        if (a) {
            size_t cut, hdr = (size_t)g->data_offset, bad = 0, tried = 0;
            for (cut = 0; cut < hdr; cut += 1 + cut / 64) {
                tried++;
                if (parse_mem(a, cut) == QLM_OK) bad++;
            }
            CHECK(bad == 0, "%zu of %zu truncated headers parsed", bad, tried);
            CHECK(parse_mem(a, n1 - 1) != QLM_OK, "file short by one byte parsed");
            CHECK(strstr(qlm_last_error(), "truncated") != NULL, "message: %s", qlm_last_error());
        }
        free(a);
        free(b);
        remove(out);
    }
    qlm__gguf_close(g);
}

/* A file with every metadata type, written and read back; then version 2. */
static void test_all_types(void) {
    qlm__gguf_writer w;
    qlm__gguf *g = NULL;
    char path[512];
    const char *strs[3] = {"a", "", "h\xc3\xa9llo"};
    int32_t ia[4] = {-1, 2, -3, 4};
    float fa[2] = {0.5f, -2.0f};
    float tdata[64];
    int64_t ne[2] = {32, 2}, kv;
    int i;
    for (i = 0; i < 64; i++) tdata[i] = (float)i;
    memset(&w, 0, sizeof w);
    qlm__gw_u32(&w, "t.u32", 4000000000u);
    qlm__gw_i32(&w, "t.i32", -7);
    qlm__gw_f32(&w, "t.f32", 1.5f);
    qlm__gw_bool(&w, "t.bool", 1);
    qlm__gw_string(&w, "t.str", "hello");
    qlm__gw_arr_str(&w, "t.astr", strs, 3);
    qlm__gw_arr_num(&w, "t.ai32", QLM__GGUF_I32, ia, 4);
    qlm__gw_arr_num(&w, "t.af32", QLM__GGUF_F32, fa, 2);
    {
        uint8_t u8 = 200;
        int8_t i8 = -100;
        uint16_t u16 = 60000;
        int16_t i16 = -30000;
        uint64_t u64 = 1ull << 40;
        int64_t i64 = -(1ll << 40);
        double f64 = 0.25;
        qlm__gw_key(&w, "t.u8", QLM__GGUF_U8); qlm__gw_bytes(&w, &u8, 1);
        qlm__gw_key(&w, "t.i8", QLM__GGUF_I8); qlm__gw_bytes(&w, &i8, 1);
        qlm__gw_key(&w, "t.u16", QLM__GGUF_U16); qlm__gw_bytes(&w, &u16, 2);
        qlm__gw_key(&w, "t.i16", QLM__GGUF_I16); qlm__gw_bytes(&w, &i16, 2);
        qlm__gw_key(&w, "t.u64", QLM__GGUF_U64); qlm__gw_bytes(&w, &u64, 8);
        qlm__gw_key(&w, "t.i64", QLM__GGUF_I64); qlm__gw_bytes(&w, &i64, 8);
        qlm__gw_key(&w, "t.f64", QLM__GGUF_F64); qlm__gw_bytes(&w, &f64, 8);
    }
    qlm__gw_u32(&w, "general.alignment", 64);
    qlm__gw_tensor_add(&w, "x", QLM_TYPE_F32, 2, ne, tdata);
    qlm__gw_tensor_add(&w, "y", QLM_TYPE_F32, 1, ne, tdata + 8);
    snprintf(path, sizeof path, "%s/types.gguf", tmpdir);
    CHECK(qlm__gw_write(&w, path) == QLM_OK, "write: %s", qlm_last_error());
    qlm__gw_free(&w);
    CHECK(qlm__gguf_open(path, &g) == QLM_OK, "open: %s", qlm_last_error());
    if (!g) return;
    {
        int64_t v;
        float f;
        double d;
        CHECK(qlm__gguf_get_i64(g, "t.u32", &v) && v == 4000000000ll, "u32");
        CHECK(qlm__gguf_get_i64(g, "t.i32", &v) && v == -7, "i32");
        CHECK(qlm__gguf_get_f32(g, "t.f32", &f) && f == 1.5f, "f32");
        CHECK(qlm__gguf_get_i64(g, "t.bool", &v) && v == 1, "bool");
        CHECK(qlm__gguf_get_i64(g, "t.u8", &v) && v == 200, "u8");
        CHECK(qlm__gguf_get_i64(g, "t.i8", &v) && v == -100, "i8");
        CHECK(qlm__gguf_get_i64(g, "t.u16", &v) && v == 60000, "u16");
        CHECK(qlm__gguf_get_i64(g, "t.i16", &v) && v == -30000, "i16");
        CHECK(qlm__gguf_get_i64(g, "t.u64", &v) && v == (1ll << 40), "u64");
        CHECK(qlm__gguf_get_i64(g, "t.i64", &v) && v == -(1ll << 40), "i64");
        CHECK(qlm__gguf_get_f32(g, "t.f64", &f) && f == 0.25f, "f64");
        kv = qlm__gguf_find(g, "t.str");
        CHECK(kv >= 0 && qlm__str_eq(qlm__gguf_get_str(g, kv), "hello"), "str");
        kv = qlm__gguf_find(g, "t.astr");
        CHECK(kv >= 0 && qlm__gguf_arr_n(g, kv) == 3 &&
                  qlm__str_eq(qlm__gguf_arr_str(g, kv, 2), "h\xc3\xa9llo") &&
                  qlm__gguf_arr_str(g, kv, 1).len == 0,
              "array of strings");
        kv = qlm__gguf_find(g, "t.ai32");
        CHECK(kv >= 0 && qlm__gguf_arr_get_f64(g, kv, 2, &d) && d == -3, "array of i32");
        CHECK(!qlm__gguf_arr_get_f64(g, kv, 4, &d), "array index past the end");
        kv = qlm__gguf_find(g, "t.af32");
        CHECK(kv >= 0 && qlm__gguf_arr_get_f64(g, kv, 1, &d) && d == -2.0, "array of f32");
        CHECK(g->alignment == 64 && g->data_offset % 64 == 0, "alignment %llu",
              (unsigned long long)g->alignment);
        CHECK(g->n_tensors == 2 && g->tensors[1].offset % 64 == 0 &&
                  memcmp(g->tensors[1].data, tdata + 8, 32 * 4) == 0,
              "tensor data");
    }
    /* the same file as version 2 parses too; version 1 and 4 do not */
    {
        size_t n;
        uint8_t *b = read_all(path, &n);
        uint32_t v = 2;
        memcpy(b + 4, &v, 4);
        CHECK(parse_mem(b, n) == QLM_OK, "v2: %s", qlm_last_error());
        v = 1;
        memcpy(b + 4, &v, 4);
        CHECK(parse_mem(b, n) == QLM_ERR_UNSUPPORTED, "v1");
        v = 4;
        memcpy(b + 4, &v, 4);
        CHECK(parse_mem(b, n) == QLM_ERR_UNSUPPORTED, "v4");
        free(b);
    }
    qlm__gguf_close(g);
    remove(path);
}

/* Hand-made malformed headers. */
static void put32(uint8_t **p, uint32_t v) { memcpy(*p, &v, 4); *p += 4; }
static void put64(uint8_t **p, uint64_t v) { memcpy(*p, &v, 8); *p += 8; }
static void putstr(uint8_t **p, const char *s) {
    put64(p, strlen(s));
    memcpy(*p, s, strlen(s));
    *p += strlen(s);
}

static void test_crafted(void) {
    uint8_t buf[4096], *p;
    memset(buf, 0, sizeof buf);
    /* wrong magic */
    memcpy(buf, "GGML", 4);
    CHECK(parse_mem(buf, 64) == QLM_ERR_FORMAT && strstr(qlm_last_error(), "magic"), "magic");
    /* absurd counts */
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 1ull << 62); put64(&p, 0);
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "huge tensor count");
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    put64(&p, 1ull << 60); /* key length */
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "huge key length");
    /* a string array claiming more strings than bytes */
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    putstr(&p, "k"); put32(&p, QLM__GGUF_ARR); put32(&p, QLM__GGUF_STR); put64(&p, 1ull << 27);
    CHECK(parse_mem(buf, (size_t)(p - buf) + 64) == QLM_ERR_FORMAT, "string array count");
    /* numeric array whose byte size overflows */
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    putstr(&p, "k"); put32(&p, QLM__GGUF_ARR); put32(&p, QLM__GGUF_U64); put64(&p, (1ull << 28));
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "array bytes");
    /* unknown value type; nested arrays */
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    putstr(&p, "k"); put32(&p, 77);
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "value type");
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    putstr(&p, "k"); put32(&p, QLM__GGUF_ARR); put32(&p, QLM__GGUF_ARR); put64(&p, 1);
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "nested array");
    /* alignment that is not a power of two */
    p = buf; put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 0); put64(&p, 1);
    putstr(&p, "general.alignment"); put32(&p, QLM__GGUF_U32); put32(&p, 48);
    CHECK(parse_mem(buf, sizeof buf) == QLM_ERR_FORMAT, "alignment 48");
    /* tensors: 5 dims, zero dim, unknown type, misaligned offset, past the end, overflow */
    {
        struct {
            uint32_t nd;
            uint64_t d0, d1;
            uint32_t type;
            uint64_t off;
            qlm_status want;
            const char *what;
        } cases[] = {
            {5, 32, 1, 0, 0, QLM_ERR_FORMAT, "5 dims"},
            {2, 0, 1, 0, 0, QLM_ERR_FORMAT, "zero dim"},
            {2, 32, 1, 99, 0, QLM_ERR_UNSUPPORTED, "type 99"},
            {2, 32, 1, 20, 0, QLM_ERR_UNSUPPORTED, "IQ4_NL"},
            {2, 33, 1, 2, 0, QLM_ERR_FORMAT, "row not a block multiple"},
            {2, 32, 1, 0, 8, QLM_ERR_FORMAT, "misaligned"},
            {2, 32, 1000, 0, 0, QLM_ERR_FORMAT, "past the end"},
            {2, 1ull << 39, 1ull << 39, 0, 0, QLM_ERR_FORMAT, "element count overflow"},
        };
        size_t i;
        for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            uint32_t d;
            p = buf;
            memset(buf, 0, sizeof buf);
            put32(&p, QLM__GGUF_MAGIC); put32(&p, 3); put64(&p, 1); put64(&p, 0);
            putstr(&p, "t"); put32(&p, cases[i].nd);
            for (d = 0; d < cases[i].nd; d++) put64(&p, d == 0 ? cases[i].d0 : cases[i].d1);
            put32(&p, cases[i].type); put64(&p, cases[i].off);
            CHECK(parse_mem(buf, 1024) == cases[i].want, "%s: %s", cases[i].what,
                  qlm_last_error());
        }
    }
}

/* Model-level bad input: unsupported architecture, missing tensors, vocab-only files. */
static void test_model_errors(const char *model_path) {
    qlm__gguf *g = NULL;
    qlm__gguf_writer w;
    char path[512];
    qlm_model *m = NULL;
    qlm_model_params mp = qlm_model_default_params();
    int64_t i;
    if (qlm__gguf_open(model_path, &g) != QLM_OK) {
        CHECK(0, "open model");
        return;
    }
    /* the metadata alone, with no tensors: a vocab-only file */
    memset(&w, 0, sizeof w);
    for (i = 0; i < g->n_kv; i++) qlm__gw_copy_kv(&w, g, i);
    snprintf(path, sizeof path, "%s/vocab.gguf", tmpdir);
    CHECK(qlm__gw_write(&w, path) == QLM_OK, "write vocab-only");
    qlm__gw_free(&w);
    mp.vocab_only = 1;
    CHECK(qlm_model_load(path, mp, &m) == QLM_OK, "vocab-only load: %s", qlm_last_error());
    if (m) {
        int32_t toks[8] = {0}, n = 0;
        CHECK(qlm_tokenize(m, "Hello world", 11, toks, 8, 1, 0, &n) == QLM_OK && n == 2 &&
                  toks[0] == 19556 && toks[1] == 905,
              "tokenize on a vocab-only file (n=%d)", n);
        qlm_model_free(m);
        m = NULL;
    }
    mp.vocab_only = 0;
    CHECK(qlm_model_load(path, mp, &m) == QLM_ERR_FORMAT && strstr(qlm_last_error(), "missing"),
          "full load of a vocab-only file: %s", qlm_last_error());
    remove(path);
    /* another architecture */
    memset(&w, 0, sizeof w);
    qlm__gw_string(&w, "general.architecture", "mamba");
    for (i = 0; i < g->n_kv; i++)
        if (!qlm__str_eq(g->kv[i].key, "general.architecture")) qlm__gw_copy_kv(&w, g, i);
    snprintf(path, sizeof path, "%s/arch.gguf", tmpdir);
    qlm__gw_write(&w, path);
    qlm__gw_free(&w);
    CHECK(qlm_model_load(path, mp, &m) == QLM_ERR_UNSUPPORTED &&
              strstr(qlm_last_error(), "mamba"),
          "unsupported architecture: %s", qlm_last_error());
    remove(path);
    /* a missing file and a directory */
    CHECK(qlm_model_load("/nonexistent/x.gguf", mp, &m) == QLM_ERR_IO &&
              strstr(qlm_last_error(), "/nonexistent/x.gguf"),
          "missing file: %s", qlm_last_error());
    CHECK(qlm_model_load(tmpdir, mp, &m) == QLM_ERR_IO, "directory");
    CHECK(m == NULL, "no model on failure");
    qlm__gguf_close(g);
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : getenv("QLM_TEST_MODEL");
    if (!model) model = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    snprintf(tmpdir, sizeof tmpdir, "/tmp/qlm_test_gguf_%d", (int)getpid());
    mkdir(tmpdir, 0700);
    test_real_model(model);
    test_all_types();
    test_crafted();
    test_model_errors(model);
    rmdir(tmpdir);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail != 0;
}
#endif
