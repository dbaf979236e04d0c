/* qlm.h — a portable runtime for quantised language models, in one header.

   DO THIS in exactly one C file of your program:

       #define QLM_IMPLEMENTATION
       #include "qlm.h"

   and include "qlm.h" without the define everywhere else. Link with -lm -lpthread.

   BUILD OPTIONS (0/1 macros; define before including the implementation)
   | macro             | default | effect                                                     |
   |-------------------|---------|------------------------------------------------------------|
   | QLM_STATIC        | 0       | every public function becomes `static`                     |
   | QLM_NO_THREADS    | 0       | no pthreads: every op runs on the calling thread           |
   | QLM_NO_MMAP       | 0       | read weights into memory instead of mapping the file       |
   | QLM_MALLOC etc.   | libc    | define QLM_MALLOC/QLM_REALLOC/QLM_FREE together to replace |

   EXAMPLE (the whole program; error handling shortened)

       #define QLM_IMPLEMENTATION
       #include "qlm.h"
       static int on_piece(const char *piece, int32_t tok, void *user) {
           (void)tok; (void)user; fputs(piece, stdout); fflush(stdout); return 0;
       }
       int main(void) {
           qlm_model *m; qlm_ctx *c;
           if (qlm_model_load("model.gguf", qlm_model_default_params(), &m) != QLM_OK) return 1;
           if (qlm_ctx_new(m, qlm_ctx_default_params(), &c) != QLM_OK) return 1;
           qlm_generate(c, "The capital of France is", 32, on_piece, NULL);
           qlm_ctx_free(c); qlm_model_free(m);
           return 0;
       }

   THREAD SAFETY: a qlm_model is read-only once loaded and may be shared by any number of
   threads; a qlm_ctx belongs to one thread at a time.

   MEMORY: the library allocates with QLM_MALLOC; every object it hands out is freed by the
   matching *_free function (which accepts NULL). Strings returned as `const char *` belong to
   the object they came from and live as long as it does.

   ERRORS: every fallible call returns a qlm_status (QLM_OK == 0, errors negative). The detail
   of the last error on the calling thread is in qlm_last_error(). The library never prints and
   never exits; messages go to the log callback given in the params.
*/
#ifndef QLM_H
#define QLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(QLM_STATIC) && QLM_STATIC
#if defined(__GNUC__) || defined(__clang__)
#define QLM_API static __attribute__((unused))
#else
#define QLM_API static
#endif
#else
#define QLM_API extern
#endif

#define QLM_VERSION "0.1.0"

/* >>api ------------------------------------------------------------------------------------ */

/* Status codes: one list, expanded into the enum and into qlm_status_str(). */
#define QLM_STATUS_LIST(X)                                                  \
    X(QLM_OK, 0, "ok")                                                      \
    X(QLM_ERR_INVALID_ARG, -1, "invalid argument")                          \
    X(QLM_ERR_IO, -2, "i/o error")                                          \
    X(QLM_ERR_FORMAT, -3, "malformed file")                                 \
    X(QLM_ERR_UNSUPPORTED, -4, "unsupported")                               \
    X(QLM_ERR_NOMEM, -5, "out of memory")                                   \
    X(QLM_ERR_CONTEXT_FULL, -6, "context full")                             \
    X(QLM_ERR_BUFFER_TOO_SMALL, -7, "buffer too small")                     \
    X(QLM_ERR_CANCELLED, -8, "cancelled")                                   \
    X(QLM_ERR_INTERNAL, -9, "internal error")

typedef enum {
#define QLM__X(name, code, msg) name = code,
    QLM_STATUS_LIST(QLM__X)
#undef QLM__X
    QLM__STATUS_END = 1
} qlm_status;

/* Tensor types; the numbers are GGUF's. */
typedef enum {
    QLM_TYPE_F32 = 0,
    QLM_TYPE_F16 = 1,
    QLM_TYPE_Q4_0 = 2,
    QLM_TYPE_Q4_1 = 3,
    QLM_TYPE_Q5_0 = 6,
    QLM_TYPE_Q5_1 = 7,
    QLM_TYPE_Q8_0 = 8,
    QLM_TYPE_Q8_1 = 9,
    QLM_TYPE_Q2_K = 10,
    QLM_TYPE_Q3_K = 11,
    QLM_TYPE_Q4_K = 12,
    QLM_TYPE_Q5_K = 13,
    QLM_TYPE_Q6_K = 14,
    QLM_TYPE_Q8_K = 15,
    QLM_TYPE_BF16 = 30,
    QLM_TYPE_COUNT = 39
} qlm_type;

enum { QLM_LOG_ERROR = 0, QLM_LOG_WARN = 1, QLM_LOG_INFO = 2, QLM_LOG_DEBUG = 3 };

typedef void (*qlm_log_fn)(int level, const char *msg, void *user);
/* Called during loading with a fraction in [0,1]; return nonzero to cancel the load. */
typedef int (*qlm_progress_fn)(float fraction, void *user);
/* Called with each generated piece of text; return nonzero to stop generating. */
typedef int (*qlm_piece_fn)(const char *piece, int32_t token, void *user);

typedef struct qlm_model qlm_model; /* read-only weights, vocabulary, metadata */
typedef struct qlm_ctx qlm_ctx;     /* one conversation: KV cache, scratch, sampler */

/* Zero means default in every field. */
typedef struct {
    int vocab_only;          /* load the tokenizer and metadata only */
    int no_mmap;             /* read tensors into memory instead of mapping the file */
    int n_gpu_layers;        /* layers to offload (no GPU backend is compiled in yet: ignored) */
    qlm_log_fn log_fn;       /* NULL: silent */
    void *log_user;
    qlm_progress_fn progress_fn;
    void *progress_user;
} qlm_model_params;

typedef struct {
    int32_t n_ctx;     /* tokens of KV cache; 0: the model's training context, at most 4096 */
    int32_t n_batch;   /* tokens per forward pass; 0: 512 */
    int32_t n_threads; /* 0: the number of online CPUs */
} qlm_ctx_params;

/* Sampling. Use qlm_sampler_default_params(): here zero is meaningful (temp 0 = greedy). */
typedef struct {
    float temp;           /* <= 0: greedy (argmax) */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;/* tokens of history the penalty looks at */
    uint32_t seed;
} qlm_sampler_params;

QLM_API const char *qlm_status_str(qlm_status s);
QLM_API const char *qlm_last_error(void); /* detail of the last error on this thread */

QLM_API qlm_model_params qlm_model_default_params(void);
QLM_API qlm_ctx_params qlm_ctx_default_params(void);
QLM_API qlm_sampler_params qlm_sampler_default_params(void);

/* Load a GGUF file. On success *out owns the model; free it with qlm_model_free. */
QLM_API qlm_status qlm_model_load(const char *path, qlm_model_params params, qlm_model **out);
QLM_API void qlm_model_free(qlm_model *model);

/* Facts about a model. */
QLM_API const char *qlm_model_arch(const qlm_model *model);
QLM_API const char *qlm_model_name(const qlm_model *model);
QLM_API int32_t qlm_model_n_vocab(const qlm_model *model);
QLM_API int32_t qlm_model_n_ctx_train(const qlm_model *model);
QLM_API int32_t qlm_model_n_embd(const qlm_model *model);
QLM_API int32_t qlm_model_n_layer(const qlm_model *model);
QLM_API uint64_t qlm_model_n_params(const qlm_model *model);
QLM_API uint64_t qlm_model_size(const qlm_model *model); /* bytes of tensor data */
QLM_API const char *qlm_model_chat_template(const qlm_model *model); /* NULL if none */
QLM_API int32_t qlm_model_meta_count(const qlm_model *model);
/* Key and value of metadata entry i, the value printed as text (arrays shortened). */
QLM_API qlm_status qlm_model_meta(const qlm_model *model, int32_t i, const char **key, char *val,
                                  size_t val_cap);
QLM_API int32_t qlm_model_tensor_count(const qlm_model *model);
/* Tensor i: name, type, up to 4 dims (ne[0] is the row length), bytes. */
QLM_API qlm_status qlm_model_tensor(const qlm_model *model, int32_t i, const char **name,
                                    qlm_type *type, int64_t ne[4], uint64_t *bytes);
QLM_API const char *qlm_type_name(qlm_type type);

/* Tokens. */
QLM_API int32_t qlm_token_bos(const qlm_model *model); /* -1 if none */
QLM_API int32_t qlm_token_eos(const qlm_model *model);
QLM_API int qlm_token_is_eog(const qlm_model *model, int32_t token); /* end of generation */
/* Tokenise text. add_special adds BOS/EOS as the model asks; parse_special turns texts of
   special tokens into those tokens. On QLM_ERR_BUFFER_TOO_SMALL *n_tokens is the count needed. */
QLM_API qlm_status qlm_tokenize(const qlm_model *model, const char *text, int32_t text_len,
                                int32_t *tokens, int32_t cap, int add_special, int parse_special,
                                int32_t *n_tokens);
/* Text of one token (not NUL-terminated); *n_bytes is the length (or the length needed). */
QLM_API qlm_status qlm_token_to_piece(const qlm_model *model, int32_t token, char *buf,
                                      int32_t cap, int special, int32_t *n_bytes);
/* Text of a sequence of tokens, NUL-terminated when it fits. */
QLM_API qlm_status qlm_detokenize(const qlm_model *model, const int32_t *tokens, int32_t n,
                                  char *buf, int32_t cap, int32_t *n_bytes);

/* Chat: format messages with the model's template (ChatML, Llama 3, Gemma, ... detected from
   tokenizer.chat_template). roles[i] is "system", "user" or "assistant". add_assistant appends
   the start of an assistant turn. On QLM_ERR_BUFFER_TOO_SMALL *n_bytes is the size needed. */
QLM_API qlm_status qlm_chat_format(const qlm_model *model, const char *const *roles,
                                   const char *const *contents, int32_t n_msg, int add_assistant,
                                   char *buf, int32_t cap, int32_t *n_bytes);

/* Contexts. The model must outlive its contexts. */
QLM_API qlm_status qlm_ctx_new(qlm_model *model, qlm_ctx_params params, qlm_ctx **out);
QLM_API void qlm_ctx_free(qlm_ctx *ctx);
QLM_API const char *qlm_ctx_errmsg(const qlm_ctx *ctx); /* last error of this context */
QLM_API int32_t qlm_ctx_n_ctx(const qlm_ctx *ctx);
QLM_API int32_t qlm_ctx_n_past(const qlm_ctx *ctx); /* tokens in the KV cache */
QLM_API uint64_t qlm_ctx_kv_bytes(const qlm_ctx *ctx); /* bytes allocated for the KV cache */
/* Drop cached tokens from position n_keep on (0 clears the conversation). Sliding-window
   layers cannot always rewind that far: then the cache is cleared; read qlm_ctx_n_past()
   afterwards and decode from there. */
QLM_API qlm_status qlm_ctx_truncate(qlm_ctx *ctx, int32_t n_keep);
/* Run tokens through the model after what is cached. Logits are kept for the last token, or
   for every token when all_logits is nonzero. QLM_ERR_CONTEXT_FULL if they do not fit. */
QLM_API qlm_status qlm_decode(qlm_ctx *ctx, const int32_t *tokens, int32_t n, int all_logits);
/* Logits of the i-th token of the last qlm_decode (i = -1: the last one); NULL if not kept. */
QLM_API const float *qlm_logits(qlm_ctx *ctx, int32_t i);
/* Sampling from the last logits with the context's sampler. */
QLM_API void qlm_sampler_set(qlm_ctx *ctx, qlm_sampler_params params);
QLM_API qlm_status qlm_sample(qlm_ctx *ctx, int32_t *token);
/* Convenience: tokenise prompt (with BOS etc.), decode it after what is cached, then sample
   up to n_predict tokens, calling on_piece for each, until an end-of-generation token, the
   callback's stop, or the context is full (which returns QLM_ERR_CONTEXT_FULL). */
QLM_API qlm_status qlm_generate(qlm_ctx *ctx, const char *prompt, int32_t n_predict,
                                qlm_piece_fn on_piece, void *user);
/* Ask a running qlm_generate/qlm_decode on ctx to stop (safe from a signal handler). */
QLM_API void qlm_ctx_interrupt(qlm_ctx *ctx);

/* Pins this context's CPU kernels: "auto" (the default: the best this CPU runs, or what the
   environment variable QLM_CPU names), "ref" (scalar reference), "avx2", "avx512", "neon".
   QLM_ERR_UNSUPPORTED if the CPU lacks it, QLM_ERR_INVALID_ARG if the build lacks it. */
QLM_API qlm_status qlm_ctx_set_cpu(qlm_ctx *ctx, const char *variant);
QLM_API const char *qlm_ctx_cpu(const qlm_ctx *ctx); /* the variant in use */

/* Synthetic models, for speed and memory measurements only (random weights say nothing about
   quality). Zero means default: the SmolLM2-135M shape. `type` is the matrices' type; with
   mix_k_m set (and type Q4_K/Q5_K) the llama.cpp *_K_M choice is imitated: attn_v and ffn_down
   of the first and last eighth of the layers and every third between, and the output
   matrix, get Q6_K. The vocabulary is copied from vocab_src (a GGUF file) and padded with
   unused tokens up to n_vocab. */
typedef struct {
    int32_t n_embd, n_layer, n_head, n_head_kv, n_ff, n_vocab, n_ctx_train;
    qlm_type type;   /* 0 (F32) is read as Q4_0 */
    int mix_k_m;
    int untied;      /* write a separate output.weight instead of tying it to token_embd */
    float rope_base; /* 0: 10000 */
    uint32_t seed;
    const char *arch; /* NULL: "llama"; also "qwen2" (QKV biases) and "qwen3" (QK norms) */
} qlm_synth_params;
QLM_API qlm_status qlm_write_synthetic(const char *path, const char *vocab_src,
                                       qlm_synth_params params, qlm_progress_fn progress,
                                       void *user);

#ifdef __cplusplus
}
#endif
#endif /* QLM_H */

/* >>internal ----------------------------------------------------------------------------------
   Shared with qlm_cuda.cu and qlm_vulkan.c: block layouts, tensor descriptor, backend table.
   Compiles as C, C++ and CUDA. */
#if (defined(QLM_IMPLEMENTATION) || defined(QLM_INTERNAL)) && !defined(QLM_INTERNAL_DONE)
#define QLM_INTERNAL_DONE
#include "parts/blocks.inc"

#define QLM__MAX_DIMS 4
#define QLM__MAX_SRC 3
#define QLM__MAX_PARAMS 8

/* Ops of the graph. Adding one fails the build at every per-op table until it is handled. */
#define QLM__OP_LIST(X)                                                         \
    X(NONE)      /* leaf: weight or input */                                    \
    X(GET_ROWS)  /* rows of src0 picked by int32 ids in src1 */                 \
    X(RMS_NORM)  /* x / sqrt(mean(x^2) + eps), p[0] = eps bits */               \
    X(MUL)       /* src0 * src1 (src1 broadcast over rows) */                   \
    X(ADD)       /* src0 + src1 (src1 broadcast over rows) */                   \
    X(MUL_MAT)   /* y[t][n] = dot(src0 row n, src1 row t) */                    \
    X(ROPE)      /* rotary embedding, positions in src1 */                      \
    X(ATTN)      /* causal attention of q=src0 over the layer's KV cache */     \
    X(KV_STORE)  /* write k=src0, v=src1 rows into the layer's cache */         \
    X(SWIGLU)    /* silu(src0) * src1 */                                        \
    X(GEGLU)     /* gelu(src0) * src1 */                                        \
    X(SCALE)     /* src0 * p[0] (float bits) */

typedef enum {
#define QLM__X(name) QLM__OP_##name,
    QLM__OP_LIST(QLM__X)
#undef QLM__X
    QLM__OP_COUNT
} qlm__op;

/* A tensor: type, shape (ne[0] = row length), byte strides, data. Activations have a row
   count that follows the batch: `rows` says which (0 fixed, 1 tokens, 2 output rows). */
typedef struct qlm__tensor {
    qlm_type type;
    int64_t ne[QLM__MAX_DIMS];
    size_t nb[QLM__MAX_DIMS];
    void *data;
    int op;
    struct qlm__tensor *src[QLM__MAX_SRC];
    int32_t p[QLM__MAX_PARAMS];
    int rows;
    int layer;     /* the layer the node belongs to; -1 before the first, n_layer after */
    int64_t offs;  /* arena offset for activations, -1 when data is fixed */
    char name[48];
} qlm__tensor;

/* The backend table (STYLE.md §5). The CPU is the first; GPU backends fill the same table. */
struct qlm__graph;
typedef struct qlm__backend {
    int version;
    const char *name;
    int (*init)(struct qlm__backend *be);
    void (*free)(struct qlm__backend *be);
    int (*supports)(const struct qlm__backend *be, int op, qlm_type type);
    int (*upload)(struct qlm__backend *be, qlm__tensor *weight);
    /* run nodes of layers [first, last) of the graph */
    int (*run)(struct qlm__backend *be, struct qlm__graph *g, int first_layer, int last_layer);
    int (*sync)(struct qlm__backend *be);
    void *state;
} qlm__backend;
#endif /* internal */

/* ===========================================================================================
   IMPLEMENTATION
   =========================================================================================== */
#if defined(QLM_IMPLEMENTATION) && !defined(QLM_IMPLEMENTATION_DONE)
#define QLM_IMPLEMENTATION_DONE
/* Table of contents (grep the tags):
   >>config    options, includes, allocator
   >>platform  files, mmap, time, cpu count
   >>log       errors and the log callback
   >>types     type table and reference kernels (quantise, dequantise, dot)
   >>kernels   per-context kernel tables and CPU detection; >>kernels-x86, >>kernels-arm
   >>gguf      GGUF reader and writer
   >>tokenizer BPE and SentencePiece (before the model, which owns a vocabulary)
   >>threads   the thread pool
   >>graph     ops, the graph builder's helpers, the planner and the executor
   >>kvcache   the KV cache
   >>backend   the backend table, CPU backend
   >>model     hyper-parameters, weights, the forward graph
   >>sampler   sampling
   >>chat      chat templates
   >>public    the public API */

/* >>config ---------------------------------------------------------------------------------- */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if !defined(_WIN32)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
#include <pthread.h>
#include <sched.h>
#endif

#if defined(QLM_MALLOC) && defined(QLM_REALLOC) && defined(QLM_FREE)
#elif !defined(QLM_MALLOC) && !defined(QLM_REALLOC) && !defined(QLM_FREE)
#define QLM_MALLOC(sz) malloc(sz)
#define QLM_REALLOC(p, sz) realloc((p), (sz))
#define QLM_FREE(p) free(p)
#else
#error "define all of QLM_MALLOC, QLM_REALLOC and QLM_FREE, or none"
#endif

#if defined(__GNUC__) || defined(__clang__)
#define QLM__MAYBE_UNUSED __attribute__((unused))
#define QLM__TLS __thread
#define QLM__PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QLM__MAYBE_UNUSED
#define QLM__TLS
#define QLM__PRINTF(a, b)
#endif

#define QLM__MIN(a, b) ((a) < (b) ? (a) : (b))
#define QLM__MAX(a, b) ((a) > (b) ? (a) : (b))

/* Hard caps on what an input file may ask for. */
#define QLM__MAX_TENSORS (1 << 20)
#define QLM__MAX_KV (1 << 20)
#define QLM__MAX_STR ((uint64_t)1 << 26)
#define QLM__MAX_ARR ((uint64_t)1 << 28)
#define QLM__MAX_NE ((int64_t)1 << 40)

static void *qlm__calloc(size_t n, size_t sz) {
    void *p;
    size_t bytes;
    if (sz && n > SIZE_MAX / sz) return NULL;
    bytes = n * sz;
    p = QLM_MALLOC(bytes > 0 ? bytes : 1);
    if (p) memset(p, 0, bytes);
    return p;
}

/* Checked arithmetic for sizes that come from files: return 0 on overflow. */
static int qlm__mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}
static int qlm__add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return 0;
    *out = a + b;
    return 1;
}

static char *qlm__strndup(const char *s, size_t n) {
    char *d = (char *)QLM_MALLOC(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

/* >>log ------------------------------------------------------------------------------------- */
static QLM__TLS char qlm__err_buf[512];

static const char *qlm__status_msg(qlm_status s) {
    switch (s) {
#define QLM__X(name, code, msg) \
    case name: return msg;
        QLM_STATUS_LIST(QLM__X)
#undef QLM__X
    default: return "unknown status";
    }
}

/* Record the detail of an error for qlm_last_error(). */
static QLM__PRINTF(1, 2) void qlm__errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(qlm__err_buf, sizeof qlm__err_buf, fmt, ap);
    va_end(ap);
}

typedef struct {
    qlm_log_fn fn;
    void *user;
} qlm__logger;

static QLM__PRINTF(3, 4) void qlm__log(const qlm__logger *lg, int level, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    if (!lg || !lg->fn) return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    lg->fn(level, buf, lg->user);
}

/* >>platform -------------------------------------------------------------------------------- */
static int qlm__n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A read-only view of a whole file: mapped, or read into memory. */
typedef struct {
    const uint8_t *data;
    uint64_t size;
    int mapped;
} qlm__file;

static qlm_status qlm__file_open(qlm__file *f, const char *path, int no_mmap) {
    int fd;
    struct stat st;
    memset(f, 0, sizeof *f);
    fd = open(path, O_RDONLY);
    if (fd < 0) {
        qlm__errorf("%s: cannot open: %s", path, strerror(errno));
        return QLM_ERR_IO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        qlm__errorf("%s: not a regular file", path);
        close(fd);
        return QLM_ERR_IO;
    }
    (void)no_mmap;
    f->size = (uint64_t)st.st_size;
    if (f->size == 0) {
        qlm__errorf("%s: file is empty", path);
        close(fd);
        return QLM_ERR_FORMAT;
    }
#if !(defined(QLM_NO_MMAP) && QLM_NO_MMAP)
    if (!no_mmap) {
        void *p = mmap(NULL, (size_t)f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p != MAP_FAILED) {
            f->data = (const uint8_t *)p;
            f->mapped = 1;
            close(fd);
            return QLM_OK;
        }
    }
#endif
    {
        uint8_t *buf = (uint8_t *)QLM_MALLOC((size_t)f->size);
        uint64_t got = 0;
        if (!buf) {
            qlm__errorf("%s: out of memory reading %llu bytes", path, (unsigned long long)f->size);
            close(fd);
            return QLM_ERR_NOMEM;
        }
        while (got < f->size) {
            ssize_t r = read(fd, buf + got, (size_t)QLM__MIN(f->size - got, (uint64_t)1 << 30));
            if (r <= 0) {
                qlm__errorf("%s: read failed: %s", path, r < 0 ? strerror(errno) : "short file");
                QLM_FREE(buf);
                close(fd);
                return QLM_ERR_IO;
            }
            got += (uint64_t)r;
        }
        f->data = buf;
    }
    close(fd);
    return QLM_OK;
}

static void qlm__file_close(qlm__file *f) {
    if (!f->data) return;
#if !(defined(QLM_NO_MMAP) && QLM_NO_MMAP)
    if (f->mapped) munmap((void *)f->data, (size_t)f->size);
    else
#endif
        QLM_FREE((void *)f->data);
    f->data = NULL;
}

/* >>types ----------------------------------------------------------------------------------- */
#include "parts/types_ref.inc"
#include "parts/kernels.inc"

#include "parts/gguf.inc"

/* >>tokenizer ------------------------------------------------------------------------------- */
#include "parts/unicode.inc"
#include "parts/tokenizer.inc"

#include "parts/runtime.inc"

#include "parts/public.inc"

#endif /* QLM_IMPLEMENTATION */
