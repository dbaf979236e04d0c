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
    /* qlm's own: FP8 E4M3 codes, one fp16 scale per 32 (llama.cpp cannot read it). Not GGUF's
       number: in a file it is tensor type QLM_GGUF_TYPE_FP8_E4M3, see qlm_quantize below. */
    QLM_TYPE_FP8_E4M3 = 47,
    QLM_TYPE_COUNT = 48
} qlm_type;
#define QLM_GGUF_TYPE_FP8_E4M3 0x4638u /* "8F": the tensor type id qlm writes for FP8 E4M3 */

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

/* KV-cache element types, chosen for K and V independently. Bytes per element in brackets. */
typedef enum {
    QLM_KV_F16 = 0, /* IEEE half [2] */
    QLM_KV_Q8_0,    /* INT8, blocks of 32 with an F16 scale (llama.cpp's q8_0) [1.0625] */
    QLM_KV_FP8,     /* FP8 E4M3 with an F32 scale per token and head [1 + 4/head_dim] */
    QLM_KV_Q4,      /* INT4 asymmetric, groups of 32 with F16 scale and min (q4_1 blocks) [0.625] */
    QLM_KV_Q4_0,    /* llama.cpp's q4_0 (symmetric), for comparison [0.5625] */
    QLM_KV_COUNT
} qlm_kv_type;

enum { QLM_KV_EVICT_NONE = 0, QLM_KV_EVICT_H2O = 1 };

typedef struct {
    int32_t n_ctx;     /* tokens of KV cache; 0: the model's training context, at most 4096 */
    int32_t n_batch;   /* tokens per forward pass; 0: 512 (64 when memory is bounded) */
    int32_t n_threads; /* 0: the number of physical cores */
    qlm_kv_type type_k, type_v; /* 0: F16 */
    int no_kv_rot;     /* quantised K/V are Hadamard-rotated unless this is set */
    int32_t swa;       /* > 0: every layer attends to at most this many recent tokens (ring) */
    int32_t n_sinks;   /* > 0: StreamingLLM: keep the first n_sinks tokens, slide the rest */
    int kv_evict;      /* QLM_KV_EVICT_H2O: keep heavy hitters + recent tokens per head */
    int32_t kv_budget; /* H2O: cache cells per head (0: n_ctx / 2) */
    int32_t kv_recent; /* quantised K: the last kv_recent keys (and the first 4) are also kept
                          in F16 and scored from there (0: 32, < 0: none; not on H2O layers) */
} qlm_ctx_params;
/* When every layer's cache is bounded (swa, n_sinks or H2O), positions are unbounded: a context
   decodes without end at fixed memory and qlm_ctx_bounded() is nonzero. */

/* What a context would allocate: the same functions size the plan and the real cache. */
typedef struct {
    uint64_t weights_bytes;     /* tensor data of the model */
    uint64_t kv_bytes;          /* the whole KV cache */
    uint64_t kv_bytes_per_token;/* K + V of one token in every layer (the capacity equation) */
    uint64_t kv_bytes_fixed;    /* layers whose size does not depend on n_ctx (windows, H2O) */
    int32_t n_ctx, n_batch;     /* after defaults */
    int32_t n_layer_full;       /* layers that attend to the whole context */
    int32_t bounded;            /* every layer bounded: unbounded generation */
    int32_t n_layer, n_head_kv, head_dim;
    int32_t kv_recent;          /* recent keys kept in F16 per layer, besides the first 4 (in
                                   kv_bytes, not per token) */
    uint64_t seg_k_bytes, seg_v_bytes; /* one head's K / V of one token: bytes per element =
                                          seg / head_dim; per token = n_layer * n_head_kv *
                                          (seg_k + seg_v), i.e. 2 * layers * kv_heads *
                                          head_dim * bytes when K and V share a type */
} qlm_plan_info;

/* Sampling. Use qlm_sampler_default_params(): here zero is meaningful (temp 0 = greedy). */
typedef struct {
    float temp;           /* <= 0: greedy (argmax) */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    int32_t repeat_last_n;/* tokens of history the penalty looks at */
    uint32_t seed;
    int ignore_eog;       /* never sample an end-of-generation token (long-run tests) */
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
QLM_API int qlm_ctx_bounded(const qlm_ctx *ctx); /* nonzero: positions may pass n_ctx */
/* The memory a context with these parameters would use, without allocating it. */
QLM_API qlm_status qlm_plan(const qlm_model *model, qlm_ctx_params params, qlm_plan_info *out);
QLM_API const char *qlm_kv_type_name(qlm_kv_type type);
/* "f16", "q8_0", "fp8", "q4", "q4_0"; QLM_ERR_INVALID_ARG for anything else. */
QLM_API qlm_status qlm_kv_type_parse(const char *name, qlm_kv_type *out);
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

/* Quantisation (the >>quantize section). qlm_quantize reads a GGUF model (F32, F16, BF16 or
   already quantised tensors, which are dequantised first) and writes OUT with every matrix in
   the chosen type. The file is written to OUT.tmp and renamed when complete, so a failure or
   a cancel never leaves a partial OUT. Everything it writes loads in llama.cpp, except FP8.

   type: a tensor type or a llama.cpp file type, case-insensitive: F32 F16 BF16 Q8_0 Q5_0 Q5_1
   Q4_0 Q4_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K (Q3_K, Q4_K, Q5_K are
   llama.cpp's aliases of the _M mixes), and FP8 (qlm only). Matrices get llama.cpp's per-tensor
   choice for that file type (more bits for some attn_v / ffn_down / output tensors; a block
   type whose block does not divide the row length falls back as llama.cpp does); 1-D tensors
   (norms, biases) are copied unchanged.
   FP8 E4M3: 32 codes (1 sign, 4 exponent bits with bias 7, 3 mantissa bits, no infinities,
   largest 448) after one fp16 scale (amax / 448) per block of 32; the tensor type in the file
   is QLM_GGUF_TYPE_FP8_E4M3 (0x4638) and the metadata holds qlm.fp8.format = "e4m3fn" and
   qlm.fp8.block_size = 32. llama.cpp rejects such a file (unknown tensor type).

   methods: RTN rounds each block to its best scale (with an importance matrix: weighted least
   squares per block, as llama.cpp's quantize). AWQ and GPTQ run calibration text through the
   model one layer at a time (layers already done are used quantised), collect X^T X of every
   matrix's inputs, then AWQ searches per-input-channel scales s = mean|x|^alpha that minimise
   the layer's output error and folds 1/s into the preceding RMS norm (or into attn_v / ffn_up
   rows for attn_output / ffn_down), and GPTQ quantises column by column with error feedback
   through the Cholesky factor of the inverse damped Hessian. Both need calib_text. */
typedef enum { QLM_QUANT_RTN = 0, QLM_QUANT_AWQ = 1, QLM_QUANT_GPTQ = 2 } qlm_quant_method;

/* What qlm_quantize is doing, for a progress display. */
typedef struct {
    int32_t index, count;  /* tensor index (0-based) and count in the output file */
    const char *name;      /* the tensor (or, while calibrating, a description) */
    qlm_type from, to;     /* input and output type */
    float fraction;        /* of the whole job, by weight elements, in [0,1] */
    int calibrating;       /* 1 while running calibration text through the model */
} qlm_quantize_progress;
/* Return nonzero to cancel (qlm_quantize then returns QLM_ERR_CANCELLED). */
typedef int (*qlm_quantize_progress_fn)(const qlm_quantize_progress *p, void *user);

/* Zero means default in every field (use qlm_quantize_default_params()). */
typedef struct {
    const char *type;            /* see above; NULL: "Q8_0" */
    qlm_quant_method method;     /* QLM_QUANT_RTN (default), _AWQ or _GPTQ */
    const char *imatrix_path;    /* importance matrix (llama.cpp's imatrix GGUF or .dat) */
    const char *calib_text;      /* calibration text for AWQ / GPTQ (UTF-8, not copied) */
    size_t calib_len;
    int32_t calib_ctx;           /* tokens per calibration chunk; 0: 512 */
    int32_t calib_chunks;        /* chunks used; 0: 8 (at most what the text holds) */
    const char *const *tensor_types; /* NULL-terminated "REGEX=TYPE" overrides (as llama.cpp's
                                        --tensor-type: first match wins, POSIX extended regex
                                        searched in the tensor name) */
    float gptq_damp;             /* GPTQ: added to H's diagonal, times its mean; 0: 0.01 */
    int pure;                    /* every matrix gets `type` (no per-tensor rules) */
    int32_t n_threads;           /* 0: physical cores */
    qlm_log_fn log_fn;
    void *log_user;
    qlm_quantize_progress_fn progress_fn;
    void *progress_user;
} qlm_quantize_params;

QLM_API qlm_quantize_params qlm_quantize_default_params(void);
QLM_API qlm_status qlm_quantize(const char *in_path, const char *out_path,
                                qlm_quantize_params params);

/* Importance matrix: runs text through the model in chunks of n_ctx tokens (the first token of
   each chunk replaced by BOS where the model uses one) and, for every matrix of the layers
   (blk.*), sums the squares of each input column over all tokens. Written in llama.cpp's
   imatrix GGUF format: general.type = "imatrix", imatrix.datasets, imatrix.chunk_count,
   imatrix.chunk_size, and per matrix the F32 tensors <name>.in_sum2 [n_in] and <name>.counts
   [1] (tokens seen); llama-quantize reads it, and qlm_quantize reads llama-imatrix's files. */
typedef struct {
    int32_t n_ctx;       /* tokens per chunk; 0: 512 */
    int32_t n_chunks;    /* 0: every whole chunk of the text */
    int32_t n_threads;   /* 0: physical cores */
    const char *dataset; /* name stored in imatrix.datasets; NULL: "" */
    qlm_log_fn log_fn;
    void *log_user;
    qlm_progress_fn progress_fn; /* fraction of chunks done; nonzero cancels */
    void *progress_user;
} qlm_imatrix_params;

QLM_API qlm_imatrix_params qlm_imatrix_default_params(void);
QLM_API qlm_status qlm_imatrix(const char *model_path, const char *text, size_t text_len,
                               const char *out_path, qlm_imatrix_params params);

#ifdef __cplusplus
}
#endif
#endif /* QLM_H */

/* >>internal ----------------------------------------------------------------------------------
   Shared with qlm_cuda.cu and qlm_vulkan.c: block layouts, tensor descriptor, backend table.
   Compiles as C, C++ and CUDA. */
#if (defined(QLM_IMPLEMENTATION) || defined(QLM_INTERNAL)) && !defined(QLM_INTERNAL_DONE)
#define QLM_INTERNAL_DONE
/* >>blocks — quantised block layouts (internal section of qlm.h)
 *
 * These structs are the on-disk GGUF/ggml block formats, byte for byte.  They are
 * shared by the C implementation, the CUDA translation unit and (by a matching
 * GLSL include) the Vulkan shaders, so this part must compile as C99, C++11 and
 * CUDA, and holds only types, macros and size checks: no functions.
 *
 * Conventions, per block, in memory order:
 *   - qlm__f16 / qlm__bf16 are raw IEEE half / bfloat16 bit patterns (uint16_t);
 *     convert with qlm__fp16_to_fp32() and friends, never by a cast.
 *   - every struct is made of 1- and 2-byte members only (q8_K: 4-byte float first),
 *     so no padding appears on any ABI we target; the asserts below prove it.
 *   - "QK" = elements per block.  K-quant "super-blocks" hold QLM__QK_K = 256
 *     elements split into 16 or 8 sub-blocks with their own 4/6/8-bit scales.
 */

#define QLM__QK4_0 32
#define QLM__QK4_1 32
#define QLM__QK5_0 32
#define QLM__QK5_1 32
#define QLM__QK8_0 32
#define QLM__QK8_1 32
#define QLM__QK_K  256
#define QLM__K_SCALE_SIZE 12 /* bytes of packed 6-bit scales/mins in q3_K, q4_K, q5_K */

/* Compile-time check for file or block scope.  C++11/CUDA and C11 use
 * static_assert (msg, an identifier or a string, shows in the diagnostic).  C99
 * redeclares one extern array whose size turns negative when cond is false;
 * identical redeclarations are legal, so any number of checks may coexist. */
#ifndef QLM__STATIC_ASSERT
#  if defined(__cplusplus) && __cplusplus >= 201103L
#    define QLM__STATIC_ASSERT(cond, msg) static_assert(cond, #msg)
#  elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
#    define QLM__STATIC_ASSERT(cond, msg) _Static_assert(cond, #msg)
#  else
#    define QLM__STATIC_ASSERT(cond, msg) \
        extern char qlm__static_assert_failed[(cond) ? 1 : -1]
#  endif
#endif

typedef uint16_t qlm__f16;   /* IEEE 754 binary16 bits */
typedef uint16_t qlm__bf16;  /* bfloat16 bits (top half of a binary32) */

/* q4_0: x = d * (q - 8), q in 0..15.  qs[j] holds element j (low nibble) and
 * element j+16 (high nibble). */
typedef struct {
    qlm__f16 d;
    uint8_t  qs[QLM__QK4_0 / 2];
} qlm__block_q4_0;
QLM__STATIC_ASSERT(sizeof(qlm__block_q4_0) == 2 + QLM__QK4_0 / 2, block_q4_0_size);

/* q4_1: x = d * q + m, q in 0..15, same nibble order as q4_0. */
typedef struct {
    qlm__f16 d;
    qlm__f16 m;
    uint8_t  qs[QLM__QK4_1 / 2];
} qlm__block_q4_1;
QLM__STATIC_ASSERT(sizeof(qlm__block_q4_1) == 4 + QLM__QK4_1 / 2, block_q4_1_size);

/* q5_0: x = d * (q - 16), q in 0..31.  Low 4 bits as q4_0; bit 4 of element j is
 * bit j of the little-endian 32-bit word qh. */
typedef struct {
    qlm__f16 d;
    uint8_t  qh[4];
    uint8_t  qs[QLM__QK5_0 / 2];
} qlm__block_q5_0;
QLM__STATIC_ASSERT(sizeof(qlm__block_q5_0) == 2 + 4 + QLM__QK5_0 / 2, block_q5_0_size);

/* q5_1: x = d * q + m, q in 0..31, bits as q5_0. */
typedef struct {
    qlm__f16 d;
    qlm__f16 m;
    uint8_t  qh[4];
    uint8_t  qs[QLM__QK5_1 / 2];
} qlm__block_q5_1;
QLM__STATIC_ASSERT(sizeof(qlm__block_q5_1) == 4 + 4 + QLM__QK5_1 / 2, block_q5_1_size);

/* q8_0: x = d * q, q in -127..127 (weights and activations). */
typedef struct {
    qlm__f16 d;
    int8_t   qs[QLM__QK8_0];
} qlm__block_q8_0;
QLM__STATIC_ASSERT(sizeof(qlm__block_q8_0) == 2 + QLM__QK8_0, block_q8_0_size);

/* q8_1: activation type for q4_1/q5_1.  s = d * sum(qs), rounded to fp16. */
typedef struct {
    qlm__f16 d;
    qlm__f16 s;
    int8_t   qs[QLM__QK8_1];
} qlm__block_q8_1;
QLM__STATIC_ASSERT(sizeof(qlm__block_q8_1) == 4 + QLM__QK8_1, block_q8_1_size);

/* q2_K: 16 sub-blocks of 16.  scales[i]: low nibble = scale, high nibble = min.
 * x = d * sc * q - dmin * mn, q in 0..3.  Element e lives in
 * qs[(e/128)*32 + e%32] at bit 2*((e%128)/32). */
typedef struct {
    uint8_t  scales[QLM__QK_K / 16];
    uint8_t  qs[QLM__QK_K / 4];
    qlm__f16 d;
    qlm__f16 dmin;
} qlm__block_q2_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q2_K) == QLM__QK_K / 16 + QLM__QK_K / 4 + 4, block_q2_K_size);

/* q3_K: 16 sub-blocks of 16, 6-bit signed scales (stored +32) packed in 12 bytes:
 * low 4 bits of scale j in scales[j%8] (nibble j/8), high 2 bits in
 * scales[8 + j%4] at bit 2*(j/4).  x = d * (sc - 32) * (q - 4), q in 0..7, where
 * the 2 low bits are packed like q2_K and bit 2 is hmask[e%32] bit e/32. */
typedef struct {
    uint8_t  hmask[QLM__QK_K / 8];
    uint8_t  qs[QLM__QK_K / 4];
    uint8_t  scales[QLM__K_SCALE_SIZE];
    qlm__f16 d;
} qlm__block_q3_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q3_K) == QLM__QK_K / 8 + QLM__QK_K / 4 + 12 + 2, block_q3_K_size);

/* q4_K: 8 sub-blocks of 32 with 6-bit scale and 6-bit min each, packed in 12
 * bytes (see qlm__get_scale_min_k4).  x = d * sc * q - dmin * mn, q in 0..15.
 * Each 64-element group uses 32 bytes: low nibbles first 32, high nibbles next. */
typedef struct {
    qlm__f16 d;
    qlm__f16 dmin;
    uint8_t  scales[QLM__K_SCALE_SIZE];
    uint8_t  qs[QLM__QK_K / 2];
} qlm__block_q4_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q4_K) == 4 + QLM__K_SCALE_SIZE + QLM__QK_K / 2, block_q4_K_size);

/* q5_K: as q4_K plus a fifth bit: element e has bit 4 in qh[e%32] at bit e/32. */
typedef struct {
    qlm__f16 d;
    qlm__f16 dmin;
    uint8_t  scales[QLM__K_SCALE_SIZE];
    uint8_t  qh[QLM__QK_K / 8];
    uint8_t  qs[QLM__QK_K / 2];
} qlm__block_q5_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q5_K) == 4 + QLM__K_SCALE_SIZE + QLM__QK_K / 8 + QLM__QK_K / 2, block_q5_K_size);

/* q6_K: 16 sub-blocks of 16 with signed 8-bit scales.  x = d * sc * (q - 32),
 * q in 0..63: 4 low bits in ql, 2 high bits in qh (layout in qlm__q6k_code). */
typedef struct {
    uint8_t  ql[QLM__QK_K / 2];
    uint8_t  qh[QLM__QK_K / 4];
    int8_t   scales[QLM__QK_K / 16];
    qlm__f16 d;
} qlm__block_q6_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q6_K) == QLM__QK_K / 2 + QLM__QK_K / 4 + QLM__QK_K / 16 + 2, block_q6_K_size);

/* q8_K: activation type for the K-quants.  d is a full float; bsums[i] is the sum
 * of qs[16*i .. 16*i+15], used to apply the K-quant mins cheaply. */
typedef struct {
    float    d;
    int8_t   qs[QLM__QK_K];
    int16_t  bsums[QLM__QK_K / 16];
} qlm__block_q8_K;
QLM__STATIC_ASSERT(sizeof(qlm__block_q8_K) == 4 + QLM__QK_K + QLM__QK_K / 16 * 2, block_q8_K_size);

/* fp8_e4m3 (qlm's own, not a ggml type): x = d * e4m3(q), one fp16 scale per 32. */
#define QLM__QK_FP8 32
typedef struct {
    qlm__f16 d;
    uint8_t  qs[QLM__QK_FP8];
} qlm__block_fp8;
QLM__STATIC_ASSERT(sizeof(qlm__block_fp8) == 2 + QLM__QK_FP8, block_fp8_size);

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
    X(KV_STORE)  /* write k=src0, v=src1 rows into the layer's cache (src2: the queries) */         \
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
   >>public    the public API
   >>quantize  qlm_quantize (RTN, AWQ, GPTQ) and qlm_imatrix, clients of the runtime above */

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
#include <regex.h>
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
#define QLM__PREFETCH(p) __builtin_prefetch((p), 0, 2) /* read, into L2 (prefetcht1 on x86) */
#else
#define QLM__PREFETCH(p) ((void)(p))
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
/* The default thread count: physical cores, as llama.cpp's. Hyperthread siblings share one
   core's vector units, and a spin barrier across siblings only waits longer. Linux: the online
   CPUs that are the first of their thread_siblings_list (one per core); anything unreadable,
   or another OS: the online CPUs. */
static int qlm__n_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN), i;
    int cores = 0;
    if (n < 1) return 1;
    for (i = 0; i < n && i < 4096; i++) {
        char path[96];
        long first = -1;
        FILE *f;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/thread_siblings_list", i);
        if (!(f = fopen(path, "r"))) return (int)n;
        if (fscanf(f, "%ld", &first) != 1) first = -1;
        fclose(f);
        if (first < 0) return (int)n;
        cores += first == i;
    }
    return cores > 0 ? cores : (int)n;
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
/* >>kernels-ref — scalar reference kernels and the type traits table
 *
 * Everything here is the *specification* of qlm's number formats: the SIMD and
 * GPU variants are tested against these functions.  They follow ggml's reference
 * code (ggml-quants.c and the CPU backend's *_generic dot products) operation for
 * operation, in the same floating-point order, so that a tensor quantised here is
 * bit-identical to one quantised by llama.cpp and a dot product rounds the same.
 *
 * Floating-point contract: every product and sum must round on its own.  A fused
 * multiply-add (what -ffp-contract=fast, GCC's default in GNU modes, makes of
 * a*b+c on FMA targets) changes quantised bytes and dot results, so the kernels
 * below are compiled with contraction off whatever the includer's flags (pragmas
 * for GCC and clang; clang given an explicit -ffp-contract=fast ignores its
 * pragma, and other compilers need contraction off on the command line).
 * -ffast-math breaks the contract entirely.  The small helpers above the pragma
 * have no a*b+c to fuse, and stay inlinable into the rest of qlm.h.
 *
 * Layout of this section:
 *   half floats (fp16, bf16) -> rounding helper -> per-type dequant / quant ->
 *   K-quant scale search -> K-quant dequant / quant -> dot products -> table.
 */

#ifndef QLM__MAYBE_UNUSED
#  if defined(__GNUC__) || defined(__clang__)
#    define QLM__MAYBE_UNUSED __attribute__((unused))
#  else
#    define QLM__MAYBE_UNUSED
#  endif
#endif

/* ---- bit casts ----------------------------------------------------------- */

static uint32_t qlm__f32_bits(float f) { uint32_t u; memcpy(&u, &f, sizeof u); return u; }
static float    qlm__bits_f32(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }

/* ---- IEEE binary16 ------------------------------------------------------- */

/* Exact: every half is representable as a float.  A signalling NaN comes back
 * quiet, as from ggml's converter (which goes through a float multiply). */
static float qlm__fp16_to_fp32(qlm__f16 h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp  = (h >> 10) & 0x1fu;
    uint32_t man  = h & 0x3ffu;
    if (exp == 0x1f) {                     /* inf, or a NaN made quiet (payload kept) */
        return qlm__bits_f32(sign | 0x7f800000u | (man ? 0x00400000u : 0u) | (man << 13));
    }
    if (exp == 0) {
        if (man == 0) return qlm__bits_f32(sign);        /* +-0 */
        /* subnormal: shift the mantissa up until its leading one is the
         * implicit bit, lowering the exponent by one per shift */
        exp = 113;                          /* 127 - 14: exponent of 2^-14 */
        while (!(man & 0x400u)) { man <<= 1; exp--; }
        man &= 0x3ffu;
        return qlm__bits_f32(sign | (exp << 23) | (man << 13));
    }
    return qlm__bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

/* Round to nearest, ties to even; overflow gives inf; NaN gives a quiet NaN
 * 0x7e00 with the sign kept (as ggml's portable converter; F16C hardware would
 * keep the top payload bits instead — no model weight or activation is NaN). */
static qlm__f16 qlm__fp32_to_fp16(float f) {
    uint32_t x    = qlm__f32_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t ax   = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return (qlm__f16)(sign | 0x7e00u);
    if (ax >= 0x477ff000u) return (qlm__f16)(sign | 0x7c00u); /* >= 65520: inf */
    if (ax >= 0x38800000u) {                                   /* >= 2^-14: normal */
        /* rebias the exponent (127 -> 15), then round away the low 13 bits;
         * a mantissa carry correctly bumps the exponent */
        uint32_t r = ax - (112u << 23);
        r += 0x0fffu + ((r >> 13) & 1u);
        return (qlm__f16)(sign | (r >> 13));
    }
    if (ax <= 0x33000000u) return (qlm__f16)sign;              /* <= 2^-25: 0 */
    {
        /* subnormal half: count units of 2^-24 */
        uint32_t e     = ax >> 23;                    /* 102 .. 112 */
        uint32_t m     = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126u - e;                    /* 14 .. 24 */
        uint32_t h     = m >> shift;
        uint32_t rem   = m & ((1u << shift) - 1u);
        uint32_t half  = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u))) h++;
        return (qlm__f16)(sign | h);
    }
}

/* ---- bfloat16 ------------------------------------------------------------ */

static float qlm__bf16_to_fp32(qlm__bf16 h) {
    return qlm__bits_f32((uint32_t)h << 16);
}

/* Round to nearest even on the dropped 16 bits; subnormals are kept; a NaN keeps
 * its top payload bits and is forced quiet (bit 6 of the half). */
static qlm__bf16 qlm__fp32_to_bf16(float f) {
    uint32_t u = qlm__f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (qlm__bf16)((u >> 16) | 0x40u);
    return (qlm__bf16)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* ---- rounding helpers ---------------------------------------------------- */

/* Round to nearest, ties to even, for |f| < 2^22: adding 1.5*2^23 leaves a float
 * whose unit in the last place is 1, so the addition itself does the rounding and
 * the integer sits in the low mantissa bits.  This is the rounding the K-quant
 * reference uses; it differs from roundf() (ties away) on exact halves. */
static int qlm__nearest_int(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

static int qlm__clampi(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

#define QLM__GROUP_MAX_EPS 1e-15f

/* From here to the type table: no fused multiply-add (see the top of the section). */
#if defined(__clang__)
#  pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#  pragma GCC push_options
#  pragma GCC optimize("fp-contract=off")
#endif

/* ======================================================================== */
/* f32, f16, bf16                                                            */
/* ======================================================================== */

static void qlm__dequant_row_f32_ref(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void qlm__quant_row_f32_ref(const float *src, void *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}
static void qlm__dequant_row_f16_ref(const void *src, float *dst, int64_t n) {
    const qlm__f16 *x = (const qlm__f16 *)src;
    int64_t i;
    for (i = 0; i < n; i++) dst[i] = qlm__fp16_to_fp32(x[i]);
}
static void qlm__quant_row_f16_ref(const float *src, void *dst, int64_t n) {
    qlm__f16 *y = (qlm__f16 *)dst;
    int64_t i;
    for (i = 0; i < n; i++) y[i] = qlm__fp32_to_fp16(src[i]);
}
static void qlm__dequant_row_bf16_ref(const void *src, float *dst, int64_t n) {
    const qlm__bf16 *x = (const qlm__bf16 *)src;
    int64_t i;
    for (i = 0; i < n; i++) dst[i] = qlm__bf16_to_fp32(x[i]);
}
static void qlm__quant_row_bf16_ref(const float *src, void *dst, int64_t n) {
    qlm__bf16 *y = (qlm__bf16 *)dst;
    int64_t i;
    for (i = 0; i < n; i++) y[i] = qlm__fp32_to_bf16(src[i]);
}

/* ======================================================================== */
/* 32-element block types: q4_0 q4_1 q5_0 q5_1 q8_0 q8_1                    */
/* Element j and j+16 share byte qs[j] (low / high nibble).                  */
/* ======================================================================== */

/* Largest-magnitude value of a block, with its sign (first one wins ties). */
static float qlm__signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    int j;
    for (j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    }
    return max;
}

static void qlm__dequant_row_q4_0_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q4_0 *b = (const qlm__block_q4_0 *)src;
    int64_t i, nb = n / QLM__QK4_0;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK4_0) {
        float d = qlm__fp16_to_fp32(b[i].d);
        for (j = 0; j < QLM__QK4_0 / 2; j++) {
            dst[j]                  = ((b[i].qs[j] & 0x0f) - 8) * d;
            dst[j + QLM__QK4_0 / 2] = ((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

/* q4_0: d = max / -8 where max is the signed value of largest magnitude, so that
 * value maps exactly to code 0 and the other side gets the extra level. */
static void qlm__quant_row_q4_0_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q4_0 *b = (qlm__block_q4_0 *)dst;
    int64_t i, nb = n / QLM__QK4_0;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK4_0) {
        float d  = qlm__signed_absmax(src, QLM__QK4_0) / -8;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qlm__fp32_to_fp16(d);
        for (j = 0; j < QLM__QK4_0 / 2; j++) {
            /* +8.5 then truncation = round half up around the offset 8 */
            int q0 = (int8_t)(src[j] * id + 8.5f);
            int q1 = (int8_t)(src[j + QLM__QK4_0 / 2] * id + 8.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Smallest and largest value of a block (ggml's q4_1/q5_1 scan). */
static void qlm__minmax(const float *x, int n, float *pmin, float *pmax) {
    float mn = 3.402823466e+38f, mx = -3.402823466e+38f;
    int j;
    for (j = 0; j < n; j++) {
        if (x[j] < mn) mn = x[j];
        if (x[j] > mx) mx = x[j];
    }
    *pmin = mn; *pmax = mx;
}

static void qlm__dequant_row_q4_1_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q4_1 *b = (const qlm__block_q4_1 *)src;
    int64_t i, nb = n / QLM__QK4_1;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK4_1) {
        float d = qlm__fp16_to_fp32(b[i].d);
        float m = qlm__fp16_to_fp32(b[i].m);
        for (j = 0; j < QLM__QK4_1 / 2; j++) {
            dst[j]                  = (b[i].qs[j] & 0x0f) * d + m;
            dst[j + QLM__QK4_1 / 2] = (b[i].qs[j] >> 4) * d + m;
        }
    }
}

static void qlm__quant_row_q4_1_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q4_1 *b = (qlm__block_q4_1 *)dst;
    int64_t i, nb = n / QLM__QK4_1;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK4_1) {
        float mn, mx, d, id;
        qlm__minmax(src, QLM__QK4_1, &mn, &mx);
        d  = (mx - mn) / 15;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qlm__fp32_to_fp16(d);
        b[i].m = qlm__fp32_to_fp16(mn);
        for (j = 0; j < QLM__QK4_1 / 2; j++) {
            int q0 = (int8_t)((src[j] - mn) * id + 0.5f);
            int q1 = (int8_t)((src[j + QLM__QK4_1 / 2] - mn) * id + 0.5f);
            q0 = q0 > 15 ? 15 : q0;
            q1 = q1 > 15 ? 15 : q1;
            b[i].qs[j] = (uint8_t)(q0 | (q1 << 4));
        }
    }
}

/* Fifth bits of a q5 block: bit j of the little-endian word qh is element j's. */
static uint32_t qlm__load_qh(const uint8_t qh[4]) {
    return (uint32_t)qh[0] | ((uint32_t)qh[1] << 8) | ((uint32_t)qh[2] << 16) | ((uint32_t)qh[3] << 24);
}
static void qlm__store_qh(uint8_t qh[4], uint32_t v) {
    qh[0] = (uint8_t)v; qh[1] = (uint8_t)(v >> 8); qh[2] = (uint8_t)(v >> 16); qh[3] = (uint8_t)(v >> 24);
}

static void qlm__dequant_row_q5_0_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q5_0 *b = (const qlm__block_q5_0 *)src;
    int64_t i, nb = n / QLM__QK5_0;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK5_0) {
        float d = qlm__fp16_to_fp32(b[i].d);
        uint32_t qh = qlm__load_qh(b[i].qh);
        for (j = 0; j < QLM__QK5_0 / 2; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b[i].qs[j] >> 4)   | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j]                  = (q0 - 16) * d;
            dst[j + QLM__QK5_0 / 2] = (q1 - 16) * d;
        }
    }
}

static void qlm__quant_row_q5_0_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q5_0 *b = (qlm__block_q5_0 *)dst;
    int64_t i, nb = n / QLM__QK5_0;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK5_0) {
        float d  = qlm__signed_absmax(src, QLM__QK5_0) / -16;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        uint32_t qh = 0;
        b[i].d = qlm__fp32_to_fp16(d);
        for (j = 0; j < QLM__QK5_0 / 2; j++) {
            int q0 = (int8_t)(src[j] * id + 16.5f);
            int q1 = (int8_t)(src[j + QLM__QK5_0 / 2] * id + 16.5f);
            q0 = q0 > 31 ? 31 : q0;
            q1 = q1 > 31 ? 31 : q1;
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        qlm__store_qh(b[i].qh, qh);
    }
}

static void qlm__dequant_row_q5_1_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q5_1 *b = (const qlm__block_q5_1 *)src;
    int64_t i, nb = n / QLM__QK5_1;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK5_1) {
        float d = qlm__fp16_to_fp32(b[i].d);
        float m = qlm__fp16_to_fp32(b[i].m);
        uint32_t qh = qlm__load_qh(b[i].qh);
        for (j = 0; j < QLM__QK5_1 / 2; j++) {
            int q0 = (b[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (b[i].qs[j] >> 4)   | (int)(((qh >> (j + 16)) & 1u) << 4);
            dst[j]                  = q0 * d + m;
            dst[j + QLM__QK5_1 / 2] = q1 * d + m;
        }
    }
}

static void qlm__quant_row_q5_1_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q5_1 *b = (qlm__block_q5_1 *)dst;
    int64_t i, nb = n / QLM__QK5_1;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK5_1) {
        float mn, mx, d, id;
        uint32_t qh = 0;
        qlm__minmax(src, QLM__QK5_1, &mn, &mx);
        d  = (mx - mn) / 31;
        id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qlm__fp32_to_fp16(d);
        b[i].m = qlm__fp32_to_fp16(mn);
        for (j = 0; j < QLM__QK5_1 / 2; j++) {
            /* (x - min) * id <= 31 + a few ulp, so +0.5 and truncation never
             * reaches 32; ggml does not clamp here either */
            int q0 = (uint8_t)((src[j] - mn) * id + 0.5f);
            int q1 = (uint8_t)((src[j + QLM__QK5_1 / 2] - mn) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((q0 & 0x0f) | ((q1 & 0x0f) << 4));
            qh |= (uint32_t)((q0 >> 4) & 1) << j;
            qh |= (uint32_t)((q1 >> 4) & 1) << (j + 16);
        }
        qlm__store_qh(b[i].qh, qh);
    }
}

static void qlm__dequant_row_q8_0_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q8_0 *b = (const qlm__block_q8_0 *)src;
    int64_t i, nb = n / QLM__QK8_0;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK8_0) {
        float d = qlm__fp16_to_fp32(b[i].d);
        for (j = 0; j < QLM__QK8_0; j++) dst[j] = b[i].qs[j] * d;
    }
}

/* Absolute maximum of a block. */
static float qlm__absmax(const float *x, int n) {
    float amax = 0.0f;
    int j;
    for (j = 0; j < n; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

/* q8_0: symmetric, d = amax/127, codes rounded half away from zero (roundf). */
static void qlm__quant_row_q8_0_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q8_0 *b = (qlm__block_q8_0 *)dst;
    int64_t i, nb = n / QLM__QK8_0;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK8_0) {
        float d  = qlm__absmax(src, QLM__QK8_0) / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qlm__fp32_to_fp16(d);
        for (j = 0; j < QLM__QK8_0; j++) b[i].qs[j] = (int8_t)roundf(src[j] * id);
    }
}

/* q8_1 has no dequantiser in ggml (activations only); this one is for tests
 * and tools: x = d * q.  The s field is redundant for it. */
static QLM__MAYBE_UNUSED void qlm__dequant_row_q8_1_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q8_1 *b = (const qlm__block_q8_1 *)src;
    int64_t i, nb = n / QLM__QK8_1;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK8_1) {
        float d = qlm__fp16_to_fp32(b[i].d);
        for (j = 0; j < QLM__QK8_1; j++) dst[j] = b[i].qs[j] * d;
    }
}

/* q8_1: as q8_0 plus s = fp16(d * sum of codes), summed as ints. */
static void qlm__quant_row_q8_1_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q8_1 *b = (qlm__block_q8_1 *)dst;
    int64_t i, nb = n / QLM__QK8_1;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK8_1) {
        float d  = qlm__absmax(src, QLM__QK8_1) / 127;
        float id = d != 0.0f ? 1.0f / d : 0.0f;
        int sum = 0;
        b[i].d = qlm__fp32_to_fp16(d);
        for (j = 0; j < QLM__QK8_1; j++) {
            b[i].qs[j] = (int8_t)roundf(src[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = qlm__fp32_to_fp16(sum * d);
    }
}

/* ======================================================================== */
/* K-quant scale search (ggml's make_qx_quants / make_q3_quants /            */
/* make_qkx2_quants, without importance weights)                             */
/* ======================================================================== */

/* Symmetric codes in [-nmax, nmax-1] for n values, with a least-squares scale
 * weighted by x^2 and a search over 18 nearby inverse scales.  Writes L[i] =
 * code + nmax and returns the scale (its sign follows -max). */
static float qlm__make_qx_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = qlm__signed_absmax(x, n);
    float iscale, scale, best, sumlx, suml2;
    int i, is;
    if (fabsf(max) < QLM__GROUP_MAX_EPS) {
        for (i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    iscale = -nmax / max;
    sumlx = 0; suml2 = 0;
    for (i = 0; i < n; i++) {
        int l = qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        L[i] = (int8_t)(l + nmax);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f;
    best = scale * sumlx;
    for (is = -9; is <= 9; is++) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = 0; suml2 = 0;
        for (i = 0; i < n; i++) {
            int l = qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (i = 0; i < n; i++) {
                L[i] = (int8_t)(nmax + qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* q3_K's variant: codes in [-nmax, nmax-1], then up to 5 passes that move one
 * code at a time while the x^2-weighted fit improves.  L[i] = code + nmax, except
 * an all-zero group which gets L = 0 and scale 0. */
static float qlm__make_q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = qlm__signed_absmax(x, n);
    float iscale, sumlx = 0, suml2 = 0;
    int i, itry;
    if (fabsf(max) < QLM__GROUP_MAX_EPS) {
        for (i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    iscale = -nmax / max;
    for (i = 0; i < n; i++) {
        int l = qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        float w = x[i] * x[i];
        L[i] = (int8_t)l;
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (itry = 0; itry < 5; itry++) {
        int n_changed = 0;
        for (i = 0; i < n; i++) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = qlm__clampi(qlm__nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l; sumlx = slx; suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* Asymmetric codes in [0, nmax] with x ~ scale*L - the_min (the_min >= 0): start
 * from the min/max grid, then try nstep+1 grids with nmax+rmin+rdelta*k levels
 * over the range and keep the weighted least-squares (scale, min) fit with the
 * lowest weighted error (|err| if use_mad, else err^2). */
static float qlm__make_qkx2_quants(int n, int nmax, const float *x, const float *weights,
                                   uint8_t *L, float *the_min, uint8_t *Laux,
                                   float rmin, float rdelta, int nstep, int use_mad) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    float iscale, scale, best_error = 0;
    int i, is;
    for (i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (i = 0; i < n; i++) L[i] = 0;
        *the_min = -min;
        return 0.0f;
    }
    iscale = nmax / (max - min);
    scale = 1 / iscale;
    for (i = 0; i < n; i++) {
        float diff;
        L[i] = (uint8_t)qlm__clampi(qlm__nearest_int(iscale * (x[i] - min)), 0, nmax);
        diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (is = 0; is <= nstep; is++) {
        float sum_l = 0, sum_l2 = 0, sum_xl = 0, D;
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        for (i = 0; i < n; i++) {
            int l = qlm__clampi(qlm__nearest_int(iscale * (x[i] - min)), 0, nmax);
            float w = weights[i];
            Laux[i] = (uint8_t)l;
            sum_l  += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min   = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            float cur_error = 0;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            for (i = 0; i < n; i++) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (i = 0; i < n; i++) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* ======================================================================== */
/* K-quants (QLM__QK_K = 256 elements per super-block)                        */
/* ======================================================================== */

/* 2-bit field of element e (0..255) in q2_K / q3_K qs: 32 bytes per 128
 * elements, four 32-element runs at shifts 0, 2, 4, 6. */
static int qlm__k2bits(const uint8_t *qs, int e) {
    return (qs[(e / 128) * 32 + e % 32] >> (2 * ((e % 128) / 32))) & 3;
}

/* Pack 256 codes of 0..3 the q2_K/q3_K way. */
static void qlm__k2pack(uint8_t *qs, const uint8_t *L) {
    int h, l;
    for (h = 0; h < 2; h++) {
        const uint8_t *c = L + 128 * h;
        for (l = 0; l < 32; l++) {
            qs[32 * h + l] = (uint8_t)(c[l] | (c[l + 32] << 2) | (c[l + 64] << 4) | (c[l + 96] << 6));
        }
    }
}

/* ---- q2_K ---- */

static void qlm__dequant_row_q2_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q2_K *b = (const qlm__block_q2_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    int e;
    for (i = 0; i < nb; i++, dst += QLM__QK_K) {
        float d   = qlm__fp16_to_fp32(b[i].d);
        float min = qlm__fp16_to_fp32(b[i].dmin);
        for (e = 0; e < QLM__QK_K; e++) {
            uint8_t sc = b[i].scales[e / 16];
            float dl = d * (sc & 0x0f), ml = min * (sc >> 4);
            dst[e] = dl * qlm__k2bits(b[i].qs, e) - ml;
        }
    }
}

static void qlm__quant_row_q2_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q2_K *b = (qlm__block_q2_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    const float q4scale = 15.0f;
    uint8_t L[QLM__QK_K], Laux[16];
    float weights[16], mins[QLM__QK_K / 16], scales[QLM__QK_K / 16];
    int j, l;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        float max_scale = 0, max_min = 0;
        for (j = 0; j < QLM__QK_K / 16; j++) {
            for (l = 0; l < 16; l++) weights[l] = fabsf(src[16 * j + l]);
            scales[j] = qlm__make_qkx2_quants(16, 3, src + 16 * j, weights, L + 16 * j, &mins[j],
                                              Laux, -0.5f, 0.1f, 15, 1);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (j = 0; j < QLM__QK_K / 16; j++) b[i].scales[j] = (uint8_t)qlm__nearest_int(iscale * scales[j]);
            b[i].d = qlm__fp32_to_fp16(max_scale / q4scale);
        } else {
            for (j = 0; j < QLM__QK_K / 16; j++) b[i].scales[j] = 0;
            b[i].d = qlm__fp32_to_fp16(0.0f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (j = 0; j < QLM__QK_K / 16; j++) {
                b[i].scales[j] |= (uint8_t)(qlm__nearest_int(iscale * mins[j]) << 4);
            }
            b[i].dmin = qlm__fp32_to_fp16(max_min / q4scale);
        } else {
            b[i].dmin = qlm__fp32_to_fp16(0.0f);
        }
        /* requantise against the rounded scales actually stored */
        for (j = 0; j < QLM__QK_K / 16; j++) {
            float d = qlm__fp16_to_fp32(b[i].d) * (b[i].scales[j] & 0x0f);
            float dm;
            if (d == 0.0f) continue;
            dm = qlm__fp16_to_fp32(b[i].dmin) * (b[i].scales[j] >> 4);
            for (l = 0; l < 16; l++) {
                L[16 * j + l] = (uint8_t)qlm__clampi(qlm__nearest_int((src[16 * j + l] + dm) / d), 0, 3);
            }
        }
        qlm__k2pack(b[i].qs, L);
    }
}

/* ---- q3_K ---- */

/* 6-bit scale j (0..15) of a q3_K block, still biased by +32. */
static int qlm__q3k_scale(const uint8_t *scales, int j) {
    int lo = j < 8 ? scales[j] & 0x0f : scales[j - 8] >> 4;
    int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    return lo | (hi << 4);
}

static void qlm__dequant_row_q3_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q3_K *b = (const qlm__block_q3_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    int e;
    for (i = 0; i < nb; i++, dst += QLM__QK_K) {
        float d_all = qlm__fp16_to_fp32(b[i].d);
        for (e = 0; e < QLM__QK_K; e++) {
            float dl = d_all * (qlm__q3k_scale(b[i].scales, e / 16) - 32);
            int hbit = (b[i].hmask[e % 32] >> (e / 32)) & 1;
            dst[e] = dl * (qlm__k2bits(b[i].qs, e) - (hbit ? 0 : 4));
        }
    }
}

static void qlm__quant_row_q3_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q3_K *b = (qlm__block_q3_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    int8_t L[QLM__QK_K];
    uint8_t L2[QLM__QK_K];
    float scales[QLM__QK_K / 16];
    int j, l;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        float max_scale = 0, amax = 0;
        for (j = 0; j < QLM__QK_K / 16; j++) {
            scales[j] = qlm__make_q3_quants(16, 4, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > amax) { amax = fabsf(scales[j]); max_scale = scales[j]; }
        }
        memset(b[i].scales, 0, sizeof b[i].scales);
        if (max_scale != 0.0f) {
            float iscale = -32.0f / max_scale;
            for (j = 0; j < QLM__QK_K / 16; j++) {
                int s = (int8_t)qlm__nearest_int(iscale * scales[j]);
                s = qlm__clampi(s, -32, 31) + 32;
                if (j < 8) b[i].scales[j] = (uint8_t)(s & 0x0f);
                else       b[i].scales[j - 8] |= (uint8_t)((s & 0x0f) << 4);
                b[i].scales[8 + j % 4] |= (uint8_t)((s >> 4) << (2 * (j / 4)));
            }
            b[i].d = qlm__fp32_to_fp16(1 / iscale);
        } else {
            b[i].d = qlm__fp32_to_fp16(0.0f);
        }
        for (j = 0; j < QLM__QK_K / 16; j++) {
            int sc = (int8_t)qlm__q3k_scale(b[i].scales, j) - 32;
            float d = qlm__fp16_to_fp32(b[i].d) * sc;
            if (d == 0.0f) continue;
            for (l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(qlm__clampi(qlm__nearest_int(src[16 * j + l] / d), -4, 3) + 4);
            }
        }
        /* bit 2 of every code goes to hmask[e%32] bit e/32, the rest packs as q2_K */
        memset(b[i].hmask, 0, sizeof b[i].hmask);
        for (j = 0; j < QLM__QK_K; j++) {
            int q = L[j];
            if (q > 3) { b[i].hmask[j % 32] |= (uint8_t)(1u << (j / 32)); q -= 4; }
            L2[j] = (uint8_t)q;
        }
        qlm__k2pack(b[i].qs, L2);
    }
}

/* ---- q4_K / q5_K shared scale packing ---- */

/* Sub-block j (0..7) of q4_K/q5_K: 6-bit scale and min.  j < 4: low 6 bits of
 * bytes j and j+4.  j >= 4: low/high nibble of byte j+4, with the top two bits
 * taken from the spare top bits of bytes j-4 (scale) and j (min). */
static void qlm__get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m  = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4));
        *m  = (uint8_t)((q[j + 4] >> 4)   | ((q[j] >> 6) << 4));
    }
}

static void qlm__set_scale_min_k4(int j, uint8_t *q, uint8_t ls, uint8_t lm) {
    if (j < 4) {
        q[j]     = ls;
        q[j + 4] = lm;
    } else {
        q[j + 4]  = (uint8_t)((ls & 0x0f) | ((lm & 0x0f) << 4));
        q[j - 4] |= (uint8_t)((ls >> 4) << 6);
        q[j]     |= (uint8_t)((lm >> 4) << 6);
    }
}

/* Common front half of q4_K and q5_K quantisation: per-32 (scale, min) search,
 * 6-bit packing, and requantisation to codes 0..nmax against the stored scales.
 * Writes d, dmin, scales[12] through the pointers and the codes to L. */
static void qlm__quant_k4_common(const float *x, int nmax, float rmin, int nstep,
                                 qlm__f16 *pd, qlm__f16 *pdmin, uint8_t *sc12, uint8_t *L) {
    uint8_t Laux[32];
    float weights[32], mins[QLM__QK_K / 32], scales[QLM__QK_K / 32];
    float max_scale = 0, max_min = 0, inv_scale, inv_min;
    int j, l;
    for (j = 0; j < QLM__QK_K / 32; j++) {
        float sum_x2 = 0, av_x;
        for (l = 0; l < 32; l++) sum_x2 += x[32 * j + l] * x[32 * j + l];
        av_x = sqrtf(sum_x2 / 32);
        for (l = 0; l < 32; l++) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = qlm__make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                          Laux, rmin, 0.1f, nstep, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    inv_min   = max_min   > 0 ? 63.0f / max_min   : 0.0f;
    for (j = 0; j < QLM__QK_K / 32; j++) {
        uint8_t ls = (uint8_t)qlm__nearest_int(inv_scale * scales[j]);
        uint8_t lm = (uint8_t)qlm__nearest_int(inv_min * mins[j]);
        ls = ls > 63 ? 63 : ls;
        lm = lm > 63 ? 63 : lm;
        qlm__set_scale_min_k4(j, sc12, ls, lm);
    }
    *pd    = qlm__fp32_to_fp16(max_scale / 63.0f);
    *pdmin = qlm__fp32_to_fp16(max_min / 63.0f);
    for (j = 0; j < QLM__QK_K / 32; j++) {
        uint8_t sc, m;
        float d, dm;
        qlm__get_scale_min_k4(j, sc12, &sc, &m);
        d = qlm__fp16_to_fp32(*pd) * sc;
        if (d == 0.0f) continue;
        dm = qlm__fp16_to_fp32(*pdmin) * m;
        for (l = 0; l < 32; l++) {
            L[32 * j + l] = (uint8_t)qlm__clampi(qlm__nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
        }
    }
}

/* ---- q4_K ---- */

/* One q4_K/q5_K superblock: 4-bit codes, plus a fifth bit from qh for q5_K (qh NULL: q4_K). */
static void qlm__dequant_k4_block(qlm__f16 hd, qlm__f16 hmin, const uint8_t *scales,
                                  const uint8_t *qs, const uint8_t *qh, float *dst) {
    float d = qlm__fp16_to_fp32(hd), min = qlm__fp16_to_fp32(hmin);
    int e;
    for (e = 0; e < QLM__QK_K; e++) {
        uint8_t sc, m, byte = qs[(e / 64) * 32 + e % 32];
        int q = (e % 64) < 32 ? (byte & 0x0f) : (byte >> 4);
        float d1, m1;
        if (qh) q += ((qh[e % 32] >> (e / 32)) & 1) ? 16 : 0;
        qlm__get_scale_min_k4(e / 32, scales, &sc, &m);
        d1 = d * sc; m1 = min * m;
        dst[e] = d1 * q - m1;
    }
}

static void qlm__dequant_row_q4_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q4_K *b = (const qlm__block_q4_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++, dst += QLM__QK_K)
        qlm__dequant_k4_block(b[i].d, b[i].dmin, b[i].scales, b[i].qs, NULL, dst);
}

static void qlm__quant_row_q4_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q4_K *b = (qlm__block_q4_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    uint8_t L[QLM__QK_K];
    int g, l;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        memset(b[i].scales, 0, sizeof b[i].scales);
        qlm__quant_k4_common(src, 15, -1.0f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (g = 0; g < QLM__QK_K / 64; g++) {
            for (l = 0; l < 32; l++) {
                b[i].qs[32 * g + l] = (uint8_t)(L[64 * g + l] | (L[64 * g + l + 32] << 4));
            }
        }
    }
}

/* ---- q5_K ---- */

static void qlm__dequant_row_q5_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q5_K *b = (const qlm__block_q5_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++, dst += QLM__QK_K)
        qlm__dequant_k4_block(b[i].d, b[i].dmin, b[i].scales, b[i].qs, b[i].qh, dst);
}

static void qlm__quant_row_q5_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q5_K *b = (qlm__block_q5_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    uint8_t L[QLM__QK_K];
    int g, l;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        memset(b[i].scales, 0, sizeof b[i].scales);
        qlm__quant_k4_common(src, 31, -0.5f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (g = 0; g < QLM__QK_K / 64; g++) {
            for (l = 0; l < 32; l++) {
                int q1 = L[64 * g + l], q2 = L[64 * g + l + 32];
                if (q1 > 15) { q1 -= 16; b[i].qh[l] |= (uint8_t)(1u << (2 * g)); }
                if (q2 > 15) { q2 -= 16; b[i].qh[l] |= (uint8_t)(2u << (2 * g)); }
                b[i].qs[32 * g + l] = (uint8_t)(q1 | (q2 << 4));
            }
        }
    }
}

/* ---- q6_K ---- */

/* 6-bit code (0..63) of element e: per 128 elements, 64 ql bytes and 32 qh
 * bytes; quarter k = (e%128)/32 uses ql byte l + 32*(k&1), nibble k>>1, and qh
 * byte l bits 2k..2k+1, with l = e%32. */
static int qlm__q6k_code(const qlm__block_q6_K *b, int e) {
    int h = e / 128, k = (e % 128) / 32, l = e % 32;
    int lo = (b->ql[64 * h + l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0x0f;
    int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return lo | (hi << 4);
}

static void qlm__dequant_row_q6_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q6_K *b = (const qlm__block_q6_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    int e;
    for (i = 0; i < nb; i++, dst += QLM__QK_K) {
        float d = qlm__fp16_to_fp32(b[i].d);
        for (e = 0; e < QLM__QK_K; e++) {
            dst[e] = d * b[i].scales[e / 16] * (qlm__q6k_code(&b[i], e) - 32);
        }
    }
}

static void qlm__quant_row_q6_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q6_K *b = (qlm__block_q6_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    int8_t L[QLM__QK_K];
    float scales[QLM__QK_K / 16];
    int j, l, h;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        float max_scale = 0, max_abs_scale = 0, iscale;
        for (j = 0; j < QLM__QK_K / 16; j++) {
            scales[j] = qlm__make_qx_quants(16, 32, src + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs_scale) { max_abs_scale = fabsf(scales[j]); max_scale = scales[j]; }
        }
        if (max_abs_scale < QLM__GROUP_MAX_EPS) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        iscale = -128.0f / max_scale;
        b[i].d = qlm__fp32_to_fp16(1 / iscale);
        for (j = 0; j < QLM__QK_K / 16; j++) {
            int s = qlm__nearest_int(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(s > 127 ? 127 : s);
        }
        for (j = 0; j < QLM__QK_K / 16; j++) {
            float d = qlm__fp16_to_fp32(b[i].d) * b[i].scales[j];
            if (d == 0.0f) continue;
            for (l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(qlm__clampi(qlm__nearest_int(src[16 * j + l] / d), -32, 31) + 32);
            }
        }
        for (h = 0; h < 2; h++) {
            const int8_t *c = L + 128 * h;
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (l = 0; l < 32; l++) {
                ql[l]      = (uint8_t)((c[l] & 0x0f)      | ((c[l + 64] & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((c[l + 32] & 0x0f) | ((c[l + 96] & 0x0f) << 4));
                qh[l] = (uint8_t)((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) | ((c[l + 96] >> 4) << 6));
            }
        }
    }
}

/* ---- q8_K (activations for the K-quants) ---- */

static void qlm__dequant_row_q8_K_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_q8_K *b = (const qlm__block_q8_K *)src;
    int64_t i, nb = n / QLM__QK_K;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK_K) {
        for (j = 0; j < QLM__QK_K; j++) dst[j] = b[i].d * b[i].qs[j];
    }
}

/* d = max / -127 (fp32), codes by nearest_int clamped to 127, bsums per 16. */
static void qlm__quant_row_q8_K_ref(const float *src, void *dst, int64_t n) {
    qlm__block_q8_K *b = (qlm__block_q8_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    int j, l;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        float max = qlm__signed_absmax(src, QLM__QK_K), iscale;
        if (max == 0.0f) {
            /* ggml leaves bsums untouched here; we zero them (they sum zeros) */
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        iscale = -127.0f / max;
        for (j = 0; j < QLM__QK_K; j++) {
            int v = qlm__nearest_int(iscale * src[j]);
            b[i].qs[j] = (int8_t)(v > 127 ? 127 : v);
        }
        for (j = 0; j < QLM__QK_K / 16; j++) {
            int sum = 0;
            for (l = 0; l < 16; l++) sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = (int16_t)sum;
        }
        b[i].d = 1 / iscale;
    }
}

/* ======================================================================== */
/* Dot products: x is a weight row of type T, y an activation row already in */
/* T's vec_dot_type.  Integer sums per block, then float, in ggml's order.   */
/* ======================================================================== */

/* f32/f16/bf16: each product rounded to float, accumulated in double, as ggml's
 * scalar path (its SIMD paths accumulate in float lanes instead). */
static void qlm__vec_dot_f32_ref(int n, float *s, const void *vx, const void *vy) {
    const float *x = (const float *)vx, *y = (const float *)vy;
    double sum = 0.0;
    int i;
    for (i = 0; i < n; i++) sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}
static void qlm__vec_dot_f16_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__f16 *x = (const qlm__f16 *)vx, *y = (const qlm__f16 *)vy;
    double sum = 0.0;
    int i;
    for (i = 0; i < n; i++) sum += (double)(qlm__fp16_to_fp32(x[i]) * qlm__fp16_to_fp32(y[i]));
    *s = (float)sum;
}
static void qlm__vec_dot_bf16_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__bf16 *x = (const qlm__bf16 *)vx, *y = (const qlm__bf16 *)vy;
    double sum = 0.0;
    int i;
    for (i = 0; i < n; i++) sum += (double)(qlm__bf16_to_fp32(x[i]) * qlm__bf16_to_fp32(y[i]));
    *s = (float)sum;
}

static void qlm__vec_dot_q4_0_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q4_0 *x = (const qlm__block_q4_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    int i, j, nb = n / QLM__QK8_0;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        int sumi = 0;
        for (j = 0; j < QLM__QK8_0 / 2; j++) {
            sumi += ((x[i].qs[j] & 0x0f) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8)   * y[i].qs[j + QLM__QK8_0 / 2];
        }
        sumf += sumi * qlm__fp16_to_fp32(x[i].d) * qlm__fp16_to_fp32(y[i].d);
    }
    *s = sumf;
}

/* q4_1 . q8_1: sum (d_x q + m)(d_y p) = d_x d_y sum(q p) + m * (d_y sum p), the
 * last factor being the stored s. */
static void qlm__vec_dot_q4_1_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q4_1 *x = (const qlm__block_q4_1 *)vx;
    const qlm__block_q8_1 *y = (const qlm__block_q8_1 *)vy;
    int i, j, nb = n / QLM__QK8_1;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        int sumi = 0;
        for (j = 0; j < QLM__QK8_1 / 2; j++) {
            sumi += (x[i].qs[j] & 0x0f) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4)   * y[i].qs[j + QLM__QK8_1 / 2];
        }
        sumf += (qlm__fp16_to_fp32(x[i].d) * qlm__fp16_to_fp32(y[i].d)) * sumi
              + qlm__fp16_to_fp32(x[i].m) * qlm__fp16_to_fp32(y[i].s);
    }
    *s = sumf;
}

static void qlm__vec_dot_q5_0_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q5_0 *x = (const qlm__block_q5_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    int i, j, nb = n / QLM__QK8_0;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        uint32_t qh = qlm__load_qh(x[i].qh);
        int sumi = 0;
        for (j = 0; j < QLM__QK8_0 / 2; j++) {
            int q0 = ((x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4)) - 16;
            int q1 = ((x[i].qs[j] >> 4)   | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + QLM__QK8_0 / 2];
        }
        sumf += (qlm__fp16_to_fp32(x[i].d) * qlm__fp16_to_fp32(y[i].d)) * sumi;
    }
    *s = sumf;
}

static void qlm__vec_dot_q5_1_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q5_1 *x = (const qlm__block_q5_1 *)vx;
    const qlm__block_q8_1 *y = (const qlm__block_q8_1 *)vy;
    int i, j, nb = n / QLM__QK8_1;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        uint32_t qh = qlm__load_qh(x[i].qh);
        int sumi = 0;
        for (j = 0; j < QLM__QK8_1 / 2; j++) {
            int q0 = (x[i].qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4);
            int q1 = (x[i].qs[j] >> 4)   | (int)(((qh >> (j + 16)) & 1u) << 4);
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + QLM__QK8_1 / 2];
        }
        sumf += (qlm__fp16_to_fp32(x[i].d) * qlm__fp16_to_fp32(y[i].d)) * sumi
              + qlm__fp16_to_fp32(x[i].m) * qlm__fp16_to_fp32(y[i].s);
    }
    *s = sumf;
}

static void qlm__vec_dot_q8_0_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    int i, j, nb = n / QLM__QK8_0;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        int sumi = 0;
        for (j = 0; j < QLM__QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        sumf += sumi * (qlm__fp16_to_fp32(x[i].d) * qlm__fp16_to_fp32(y[i].d));
    }
    *s = sumf;
}

/* K-quant dots with per-sub-block integer scales: ggml's generic code keeps 8
 * float partial sums (lane = element index mod 8) and adds them at the end;
 * the integer part is exact, so only that float order matters and is kept.
 * a[e]: signed code of element e, sc16[k]: integer scale of elements 16k..16k+15. */
static void qlm__kdot_lanes(const int8_t *a, const int8_t *q8, const int *sc16, int32_t lanes[8]) {
    int e;
    for (e = 0; e < 8; e++) lanes[e] = 0;
    for (e = 0; e < QLM__QK_K; e++) lanes[e % 8] += sc16[e / 16] * (a[e] * q8[e]);
}

static void qlm__vec_dot_q2_K_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q2_K *x = (const qlm__block_q2_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, j, e, nb = n / QLM__QK_K;
    float sumf = 0;
    for (i = 0; i < nb; i++) {
        int summs = 0, isum = 0;
        float dall, dmin;
        for (j = 0; j < 16; j++) summs += y[i].bsums[j] * (x[i].scales[j] >> 4);
        dall = y[i].d * qlm__fp16_to_fp32(x[i].d);
        dmin = y[i].d * qlm__fp16_to_fp32(x[i].dmin);
        for (j = 0; j < 16; j++) {
            int isuml = 0;
            for (e = 16 * j; e < 16 * j + 16; e++) isuml += y[i].qs[e] * qlm__k2bits(x[i].qs, e);
            isum += (x[i].scales[j] & 0x0f) * isuml;
        }
        sumf += dall * isum - dmin * summs;
    }
    *s = sumf;
}

static void qlm__vec_dot_q3_K_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q3_K *x = (const qlm__block_q3_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, e, l, nb = n / QLM__QK_K;
    float sums[8] = {0}, sumf = 0;
    int8_t a[QLM__QK_K];
    int sc16[16];
    int32_t lanes[8];
    for (i = 0; i < nb; i++) {
        float d;
        for (e = 0; e < QLM__QK_K; e++) {
            int hbit = (x[i].hmask[e % 32] >> (e / 32)) & 1;
            a[e] = (int8_t)(qlm__k2bits(x[i].qs, e) - (hbit ? 0 : 4));
        }
        for (e = 0; e < 16; e++) sc16[e] = qlm__q3k_scale(x[i].scales, e) - 32;
        qlm__kdot_lanes(a, y[i].qs, sc16, lanes);
        d = qlm__fp16_to_fp32(x[i].d) * y[i].d;
        for (l = 0; l < 8; l++) sums[l] += d * lanes[l];
    }
    for (l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* One q4_K/q5_K block against one q8_K block (qh = NULL for q4_K): adds the
 * scaled lanes to sums[8] and returns the integer min correction sum(bsums * m). */
static int qlm__k4_block_dot(float d, const uint8_t *sc12, const uint8_t *qs, const uint8_t *qh,
                             const qlm__block_q8_K *y, float sums[8]) {
    int8_t a[QLM__QK_K];
    int sc16[16], e, j, sumi = 0;
    int32_t lanes[8];
    for (e = 0; e < QLM__QK_K; e++) {
        uint8_t byte = qs[(e / 64) * 32 + e % 32];
        int q = (e % 64) < 32 ? (byte & 0x0f) : (byte >> 4);
        if (qh) q += ((qh[e % 32] >> (e / 32)) & 1) ? 16 : 0;
        a[e] = (int8_t)q;
    }
    for (j = 0; j < QLM__QK_K / 32; j++) {
        uint8_t sc, m;
        qlm__get_scale_min_k4(j, sc12, &sc, &m);
        sc16[2 * j] = sc16[2 * j + 1] = sc;
        sumi += (y->bsums[2 * j] + y->bsums[2 * j + 1]) * m;
    }
    qlm__kdot_lanes(a, y->qs, sc16, lanes);
    for (j = 0; j < 8; j++) sums[j] += d * lanes[j];
    return sumi;
}

static void qlm__vec_dot_q4_K_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q4_K *x = (const qlm__block_q4_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, l, nb = n / QLM__QK_K;
    float sums[8] = {0}, sumf = 0;
    for (i = 0; i < nb; i++) {
        int sumi = qlm__k4_block_dot(qlm__fp16_to_fp32(x[i].d) * y[i].d, x[i].scales, x[i].qs, NULL, &y[i], sums);
        float dmin = qlm__fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    for (l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

static void qlm__vec_dot_q5_K_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q5_K *x = (const qlm__block_q5_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, l, nb = n / QLM__QK_K;
    float sums[8] = {0}, sumf = 0;
    for (i = 0; i < nb; i++) {
        int sumi = qlm__k4_block_dot(qlm__fp16_to_fp32(x[i].d) * y[i].d, x[i].scales, x[i].qs, x[i].qh, &y[i], sums);
        float dmin = qlm__fp16_to_fp32(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    for (l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

static void qlm__vec_dot_q6_K_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q6_K *x = (const qlm__block_q6_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, e, l, nb = n / QLM__QK_K;
    float sums[8] = {0}, sumf = 0;
    int8_t a[QLM__QK_K];
    int sc16[16];
    int32_t lanes[8];
    for (i = 0; i < nb; i++) {
        float d;
        for (e = 0; e < QLM__QK_K; e++) a[e] = (int8_t)(qlm__q6k_code(&x[i], e) - 32);
        for (e = 0; e < 16; e++) sc16[e] = x[i].scales[e];
        qlm__kdot_lanes(a, y[i].qs, sc16, lanes);
        d = qlm__fp16_to_fp32(x[i].d) * y[i].d;
        for (l = 0; l < 8; l++) sums[l] += d * lanes[l];
    }
    for (l = 0; l < 8; l++) sumf += sums[l];
    *s = sumf;
}

/* ======================================================================== */
/* fp8_e4m3 (qlm's own): OCP E4M3 "FN" codes (sign, 4 exponent bits biased  */
/* by 7, 3 mantissa bits; exponent 0 is subnormal, 2^-9 steps; no infinity; */
/* 0x7f/0xff are NaN and never written; largest finite 448), per 32 values  */
/* one fp16 scale d = amax / 448.  Activations stay f32 for the dot.        */
/* ======================================================================== */

static float qlm__e4m3_to_f32(uint8_t c) {
    uint32_t sign = (uint32_t)(c & 0x80u) << 24, e = (c >> 3) & 15u, m = c & 7u;
    float v;
    if (e == 15 && m == 7) return qlm__bits_f32(sign | 0x7fc00000u);
    if (e == 0) v = (float)m * (1.0f / 512.0f);                /* m * 2^-9 */
    else v = qlm__bits_f32(((e + 120u) << 23) | (m << 20));    /* 2^(e-7) * (1 + m/8) */
    return sign ? -v : v;
}

/* Round to nearest, ties to even; saturates to +-448; a NaN gives 0. */
static uint8_t qlm__f32_to_e4m3(float f) {
    uint32_t u = qlm__f32_bits(f), sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
    float x = qlm__bits_f32(a);
    if (a > 0x7f800000u) return 0;
    if (x >= 448.0f) return (uint8_t)(sign | 0x7e);
    if (x < 0.015625f) {                                       /* below 2^-6: subnormal */
        int q = qlm__nearest_int(x * 512.0f);                  /* 0..8; 8 is 2^-6 itself */
        return (uint8_t)(sign | (uint32_t)q);
    }
    a += 0x7ffffu + ((a >> 20) & 1u);                          /* round away 20 bits */
    {
        uint32_t e = (a >> 23) - 120u, m = (a >> 20) & 7u;
        if (e > 15 || (e == 15 && m == 7)) return (uint8_t)(sign | 0x7e);
        return (uint8_t)(sign | (e << 3) | m);
    }
}

static void qlm__dequant_row_fp8_ref(const void *src, float *dst, int64_t n) {
    const qlm__block_fp8 *b = (const qlm__block_fp8 *)src;
    int64_t i, nb = n / QLM__QK_FP8;
    int j;
    for (i = 0; i < nb; i++, dst += QLM__QK_FP8) {
        float d = qlm__fp16_to_fp32(b[i].d);
        for (j = 0; j < QLM__QK_FP8; j++) dst[j] = qlm__e4m3_to_f32(b[i].qs[j]) * d;
    }
}

static void qlm__quant_row_fp8_ref(const float *src, void *dst, int64_t n) {
    qlm__block_fp8 *b = (qlm__block_fp8 *)dst;
    int64_t i, nb = n / QLM__QK_FP8;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK_FP8) {
        float d = qlm__absmax(src, QLM__QK_FP8) / 448.0f, dd, id;
        b[i].d = qlm__fp32_to_fp16(d);
        dd = qlm__fp16_to_fp32(b[i].d);
        id = dd != 0.0f ? 1.0f / dd : 0.0f;
        for (j = 0; j < QLM__QK_FP8; j++) b[i].qs[j] = qlm__f32_to_e4m3(src[j] * id);
    }
}

/* x: fp8 row, y: f32 activations; per block a float sum, blocks summed in float. */
static void qlm__vec_dot_fp8_ref(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_fp8 *x = (const qlm__block_fp8 *)vx;
    const float *y = (const float *)vy;
    int i, j, nb = n / QLM__QK_FP8;
    float sumf = 0;
    for (i = 0; i < nb; i++, y += QLM__QK_FP8) {
        float sum = 0;
        for (j = 0; j < QLM__QK_FP8; j++) sum += qlm__e4m3_to_f32(x[i].qs[j]) * y[j];
        sumf += sum * qlm__fp16_to_fp32(x[i].d);
    }
    *s = sumf;
}

#if defined(__clang__)
#  pragma STDC FP_CONTRACT DEFAULT
#elif defined(__GNUC__)
#  pragma GCC pop_options
#endif

/* ======================================================================== */
/* Type traits                                                               */
/* ======================================================================== */

typedef struct {
    const char *name;          /* ggml's name: "q4_0", "q4_K", ... */
    int64_t     blck_size;     /* elements per block */
    size_t      type_size;     /* bytes per block */
    int         is_quantized;
    void (*to_float)(const void *src, float *dst, int64_t n);
    void (*from_float)(const float *src, void *dst, int64_t n);
    qlm_type    vec_dot_type;  /* what the activation row is converted to */
    void (*vec_dot)(int n, float *s, const void *x, const void *y);
} qlm__type_traits_t;

/* Entries left empty are ids ggml uses for types qlm does not implement.  q8_1
 * (no dequantiser in ggml, activation only) and q8_K (no dot) follow ggml.
 * Rows are written in id order with every gap spelled out, because C++ (the
 * implementation also compiles as C++) has no array designators; in C the
 * QLM__AT designators make the compiler check the order, and test_types
 * checks it for C++ builds too. */
#ifdef __cplusplus
#define QLM__AT(id)
#else
#define QLM__AT(id) [id] =
#endif
#define QLM__TT_NONE { NULL, 0, 0, 0, NULL, NULL, QLM_TYPE_F32, NULL }
static const qlm__type_traits_t qlm__type_traits[QLM_TYPE_COUNT] = {
    QLM__AT(QLM_TYPE_F32) { "f32",  1, sizeof(float),    0, qlm__dequant_row_f32_ref,  qlm__quant_row_f32_ref,
        QLM_TYPE_F32,  qlm__vec_dot_f32_ref },
    QLM__AT(QLM_TYPE_F16) { "f16",  1, sizeof(qlm__f16), 0, qlm__dequant_row_f16_ref,  qlm__quant_row_f16_ref,
        QLM_TYPE_F16,  qlm__vec_dot_f16_ref },
    QLM__AT(QLM_TYPE_Q4_0) { "q4_0", QLM__QK4_0, sizeof(qlm__block_q4_0), 1, qlm__dequant_row_q4_0_ref,
        qlm__quant_row_q4_0_ref, QLM_TYPE_Q8_0, qlm__vec_dot_q4_0_ref },
    QLM__AT(QLM_TYPE_Q4_1) { "q4_1", QLM__QK4_1, sizeof(qlm__block_q4_1), 1, qlm__dequant_row_q4_1_ref,
        qlm__quant_row_q4_1_ref, QLM_TYPE_Q8_1, qlm__vec_dot_q4_1_ref },
    QLM__AT(4) QLM__TT_NONE,
    QLM__AT(5) QLM__TT_NONE,
    QLM__AT(QLM_TYPE_Q5_0) { "q5_0", QLM__QK5_0, sizeof(qlm__block_q5_0), 1, qlm__dequant_row_q5_0_ref,
        qlm__quant_row_q5_0_ref, QLM_TYPE_Q8_0, qlm__vec_dot_q5_0_ref },
    QLM__AT(QLM_TYPE_Q5_1) { "q5_1", QLM__QK5_1, sizeof(qlm__block_q5_1), 1, qlm__dequant_row_q5_1_ref,
        qlm__quant_row_q5_1_ref, QLM_TYPE_Q8_1, qlm__vec_dot_q5_1_ref },
    QLM__AT(QLM_TYPE_Q8_0) { "q8_0", QLM__QK8_0, sizeof(qlm__block_q8_0), 1, qlm__dequant_row_q8_0_ref,
        qlm__quant_row_q8_0_ref, QLM_TYPE_Q8_0, qlm__vec_dot_q8_0_ref },
    QLM__AT(QLM_TYPE_Q8_1) { "q8_1", QLM__QK8_1, sizeof(qlm__block_q8_1), 1, NULL,
        qlm__quant_row_q8_1_ref, QLM_TYPE_Q8_1, NULL },
    QLM__AT(QLM_TYPE_Q2_K) { "q2_K", QLM__QK_K, sizeof(qlm__block_q2_K), 1, qlm__dequant_row_q2_K_ref,
        qlm__quant_row_q2_K_ref, QLM_TYPE_Q8_K, qlm__vec_dot_q2_K_ref },
    QLM__AT(QLM_TYPE_Q3_K) { "q3_K", QLM__QK_K, sizeof(qlm__block_q3_K), 1, qlm__dequant_row_q3_K_ref,
        qlm__quant_row_q3_K_ref, QLM_TYPE_Q8_K, qlm__vec_dot_q3_K_ref },
    QLM__AT(QLM_TYPE_Q4_K) { "q4_K", QLM__QK_K, sizeof(qlm__block_q4_K), 1, qlm__dequant_row_q4_K_ref,
        qlm__quant_row_q4_K_ref, QLM_TYPE_Q8_K, qlm__vec_dot_q4_K_ref },
    QLM__AT(QLM_TYPE_Q5_K) { "q5_K", QLM__QK_K, sizeof(qlm__block_q5_K), 1, qlm__dequant_row_q5_K_ref,
        qlm__quant_row_q5_K_ref, QLM_TYPE_Q8_K, qlm__vec_dot_q5_K_ref },
    QLM__AT(QLM_TYPE_Q6_K) { "q6_K", QLM__QK_K, sizeof(qlm__block_q6_K), 1, qlm__dequant_row_q6_K_ref,
        qlm__quant_row_q6_K_ref, QLM_TYPE_Q8_K, qlm__vec_dot_q6_K_ref },
    QLM__AT(QLM_TYPE_Q8_K) { "q8_K", QLM__QK_K, sizeof(qlm__block_q8_K), 1, qlm__dequant_row_q8_K_ref,
        qlm__quant_row_q8_K_ref, QLM_TYPE_Q8_K, NULL },
    QLM__AT(16) QLM__TT_NONE,
    QLM__AT(17) QLM__TT_NONE,
    QLM__AT(18) QLM__TT_NONE,
    QLM__AT(19) QLM__TT_NONE,
    QLM__AT(20) QLM__TT_NONE,
    QLM__AT(21) QLM__TT_NONE,
    QLM__AT(22) QLM__TT_NONE,
    QLM__AT(23) QLM__TT_NONE,
    QLM__AT(24) QLM__TT_NONE,
    QLM__AT(25) QLM__TT_NONE,
    QLM__AT(26) QLM__TT_NONE,
    QLM__AT(27) QLM__TT_NONE,
    QLM__AT(28) QLM__TT_NONE,
    QLM__AT(29) QLM__TT_NONE,
    QLM__AT(QLM_TYPE_BF16) { "bf16", 1, sizeof(qlm__bf16),0, qlm__dequant_row_bf16_ref, qlm__quant_row_bf16_ref,
        QLM_TYPE_BF16, qlm__vec_dot_bf16_ref },
    QLM__AT(31) QLM__TT_NONE,
    QLM__AT(32) QLM__TT_NONE,
    QLM__AT(33) QLM__TT_NONE,
    QLM__AT(34) QLM__TT_NONE,
    QLM__AT(35) QLM__TT_NONE,
    QLM__AT(36) QLM__TT_NONE,
    QLM__AT(37) QLM__TT_NONE,
    QLM__AT(38) QLM__TT_NONE,
    QLM__AT(39) QLM__TT_NONE,
    QLM__AT(40) QLM__TT_NONE,
    QLM__AT(41) QLM__TT_NONE,
    QLM__AT(42) QLM__TT_NONE,
    QLM__AT(43) QLM__TT_NONE,
    QLM__AT(44) QLM__TT_NONE,
    QLM__AT(45) QLM__TT_NONE,
    QLM__AT(46) QLM__TT_NONE,
    QLM__AT(QLM_TYPE_FP8_E4M3) { "fp8_e4m3", QLM__QK_FP8, sizeof(qlm__block_fp8), 1,
        qlm__dequant_row_fp8_ref, qlm__quant_row_fp8_ref, QLM_TYPE_F32, qlm__vec_dot_fp8_ref },
};
#undef QLM__AT
#undef QLM__TT_NONE

/* ggml's ids that qlm reads end at 30; 47 is qlm's FP8 (GGUF files carry it as
   QLM_GGUF_TYPE_FP8_E4M3). A new id must get a row above (or stay zero). */
QLM__STATIC_ASSERT(QLM_TYPE_COUNT == 48, type_traits_table_matches_qlm_type);

/* 1 if t names a type this build can dequantise (so a tensor of it can load). */
static QLM__MAYBE_UNUSED int qlm__type_valid(int t) {
    return t >= 0 && t < (int)QLM_TYPE_COUNT && qlm__type_traits[t].to_float != NULL;
}

/* Bytes of n elements of type t; the caller checks n % blck_size == 0 and that
 * t is valid (an unknown t gives 0). */
static QLM__MAYBE_UNUSED size_t qlm__row_size(qlm_type t, int64_t n) {
    if ((int)t < 0 || (int)t >= (int)QLM_TYPE_COUNT || qlm__type_traits[t].blck_size == 0) return 0;
    return (size_t)(n / qlm__type_traits[t].blck_size) * qlm__type_traits[t].type_size;
}
/* >>kernels-ref: KV-cache segments --------------------------------------------------------
 * A segment is one head's K or V row of one token (head_dim elements), in one of the
 * qlm_kv_type layouts; every segment carries its own scales, so a token's segments can be
 * written, moved (H2O) and read independently. f16, q8_0, q4 (= q4_1 blocks) and q4_0 use
 * the block layouts above. fp8 is qlm's own: [f32 d][head_dim E4M3 codes], x = d * e4m3(code),
 * d = max|x| / 448 per token and head.
 *
 * E4M3 ("fn": no infinities, 0x7f/0xff NaN, largest finite 448; the encoder never writes the
 * NaN codes, and the decoders here read them as +-480 rather than test for them): 4 exponent bits (bias 7),
 * 3 mantissa bits. Its bits shifted into a binary16, ((b & 0x80) << 8) | ((b & 0x7f) << 7),
 * give the same number times 2^-8 for normals and subnormals alike (binary16's exponent bias
 * is 15 = 7 + 8), which is how the SIMD kernels decode it with one shift and a half->float
 * conversion. */
#define QLM__E4M3_MAX 448.0f

static uint8_t qlm__fp32_to_e4m3(float x) {
    uint32_t u, e, mant;
    uint8_t sign;
    float a = fabsf(x);
    memcpy(&u, &x, 4);
    sign = (uint8_t)((u >> 24) & 0x80u);
    if (!(a < QLM__E4M3_MAX)) return (uint8_t)(sign | (a == a ? 0x7e : 0)); /* saturate; NaN: 0 */
    if (a < 0.015625f) /* below the smallest normal 2^-6: multiples of 2^-9, ties to even */
        return (uint8_t)(sign | (uint8_t)qlm__nearest_int(a * 512.0f)); /* 8 is 2^-6: right */
    memcpy(&u, &a, 4);
    u += 0x7ffffu + ((u >> 20) & 1u); /* round the mantissa to 3 bits, ties to even */
    e = (u >> 23) - 127u + 7u;
    mant = (u >> 20) & 7u;
    if (e > 15u || (e == 15u && mant == 7u)) return (uint8_t)(sign | 0x7e);
    return (uint8_t)(sign | (e << 3) | mant);
}
static float qlm__e4m3_to_fp32(uint8_t b) {
    return qlm__fp16_to_fp32((qlm__f16)(((b & 0x80u) << 8) | ((b & 0x7fu) << 7))) * 256.0f;
}

static void qlm__quant_seg_fp8_ref(const float *x, void *dst, int64_t n) {
    uint8_t *q = (uint8_t *)dst + 4;
    float amax = 0.0f, d, id;
    int64_t i;
    for (i = 0; i < n; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
    d = amax / QLM__E4M3_MAX;
    id = d > 0.0f ? 1.0f / d : 0.0f;
    memcpy(dst, &d, 4);
    for (i = 0; i < n; i++) q[i] = qlm__fp32_to_e4m3(x[i] * id);
}
static QLM__MAYBE_UNUSED void qlm__dequant_seg_fp8_ref(const void *src, float *y, int64_t n) {
    const uint8_t *q = (const uint8_t *)src + 4;
    float d;
    int64_t i;
    memcpy(&d, src, 4);
    for (i = 0; i < n; i++) y[i] = d * qlm__e4m3_to_fp32(q[i]);
}
/* q4 segments use q4_1 blocks, but the codes are fitted better than by q4_1's plain rounding
   on [min, max]: after rounding, the scale and minimum that minimise the squared error for
   those codes (a 2x2 least-squares solve) replace them, and the codes are rounded again, a few
   times; the fit is kept only when it lowers the error. A cache row is quantised once and read
   at every later step, so the extra work is cheap where it matters. */
static float qlm__q4_block_fit(const float *x, float d, float m, uint8_t *L) {
    float err = 0, id = d != 0 ? 1.0f / d : 0.0f;
    int j;
    for (j = 0; j < 32; j++) {
        int q = qlm__nearest_int((x[j] - m) * id);
        float e;
        q = q < 0 ? 0 : q > 15 ? 15 : q;
        L[j] = (uint8_t)q;
        e = x[j] - (d * (float)q + m);
        err += e * e;
    }
    return err;
}
static void qlm__quant_seg_q4_ref(const float *x, void *dst, int64_t n) {
    qlm__block_q4_1 *b = (qlm__block_q4_1 *)dst;
    int64_t i;
    int j, it;
    for (i = 0; i < n / 32; i++, x += 32) {
        float mn = x[0], mx = x[0], d, m, err;
        uint8_t L[32], L2[32];
        for (j = 1; j < 32; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        d = qlm__fp16_to_fp32(qlm__fp32_to_fp16((mx - mn) / 15.0f));
        m = qlm__fp16_to_fp32(qlm__fp32_to_fp16(mn));
        err = qlm__q4_block_fit(x, d, m, L);
        for (it = 0; it < 3 && err > 0; it++) {
            double s1 = 0, s2 = 0, sx = 0, sxl = 0, det;
            float d2, m2, e2;
            for (j = 0; j < 32; j++) {
                s1 += L[j];
                s2 += (double)L[j] * L[j];
                sx += x[j];
                sxl += (double)x[j] * L[j];
            }
            det = 32.0 * s2 - s1 * s1;
            if (det <= 0) break;
            d2 = qlm__fp16_to_fp32(qlm__fp32_to_fp16((float)((32.0 * sxl - s1 * sx) / det)));
            m2 = qlm__fp16_to_fp32(qlm__fp32_to_fp16((float)((sx - (double)d2 * s1) / 32.0)));
            if (!(d2 > 0)) break;
            e2 = qlm__q4_block_fit(x, d2, m2, L2);
            if (!(e2 < err)) break;
            err = e2, d = d2, m = m2;
            memcpy(L, L2, 32);
        }
        b[i].d = qlm__fp32_to_fp16(d);
        b[i].m = qlm__fp32_to_fp16(m);
        for (j = 0; j < 16; j++) b[i].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

/* K segment (fp8) . q (f32) */
static void qlm__kv_dot_fp8_ref(int n, float *s, const void *k, const void *vq) {
    const uint8_t *c = (const uint8_t *)k + 4;
    const float *q = (const float *)vq;
    double sum = 0;
    float d;
    int i;
    memcpy(&d, k, 4);
    for (i = 0; i < n; i++) sum += (double)(qlm__e4m3_to_fp32(c[i]) * q[i]);
    *s = (float)sum * d;
}

/* acc[0..n) += a * V segment: the V side of attention, one cached token at a time. */
typedef void (*qlm__kv_axpy_fn)(int n, float *acc, float a, const void *v);

static void qlm__kv_axpy_f16_ref(int n, float *acc, float a, const void *v) {
    const qlm__f16 *x = (const qlm__f16 *)v;
    int i;
    for (i = 0; i < n; i++) acc[i] += a * qlm__fp16_to_fp32(x[i]);
}
static void qlm__kv_axpy_q8_0_ref(int n, float *acc, float a, const void *v) {
    const qlm__block_q8_0 *b = (const qlm__block_q8_0 *)v;
    int i, j;
    for (i = 0; i < n / QLM__QK8_0; i++) {
        float f = a * qlm__fp16_to_fp32(b[i].d);
        for (j = 0; j < QLM__QK8_0; j++) acc[i * QLM__QK8_0 + j] += f * (float)b[i].qs[j];
    }
}
static void qlm__kv_axpy_q4_1_ref(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_1 *b = (const qlm__block_q4_1 *)v;
    int i, j;
    for (i = 0; i < n / QLM__QK4_1; i++) {
        float f = a * qlm__fp16_to_fp32(b[i].d), m = a * qlm__fp16_to_fp32(b[i].m);
        float *y = acc + i * QLM__QK4_1;
        for (j = 0; j < QLM__QK4_1 / 2; j++) {
            y[j] += f * (float)(b[i].qs[j] & 0x0f) + m;
            y[j + QLM__QK4_1 / 2] += f * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}
static void qlm__kv_axpy_q4_0_ref(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_0 *b = (const qlm__block_q4_0 *)v;
    int i, j;
    for (i = 0; i < n / QLM__QK4_0; i++) {
        float f = a * qlm__fp16_to_fp32(b[i].d);
        float *y = acc + i * QLM__QK4_0;
        for (j = 0; j < QLM__QK4_0 / 2; j++) {
            y[j] += f * (float)((b[i].qs[j] & 0x0f) - 8);
            y[j + QLM__QK4_0 / 2] += f * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}
static void qlm__kv_axpy_fp8_ref(int n, float *acc, float a, const void *v) {
    const uint8_t *c = (const uint8_t *)v + 4;
    float d;
    int i;
    memcpy(&d, v, 4);
    a *= d;
    for (i = 0; i < n; i++) acc[i] += a * qlm__e4m3_to_fp32(c[i]);
}

/* One online-softmax step of attention over a block of n <= 32 scores, for g query heads:
   row gi of s (lds floats apart) becomes (s + add[gi]) * scale (add NULL: 0), its maximum
   joins the running maximum M[gi] (f[gi] = exp(old M - new M) is the factor by which what
   was summed so far shrinks: S[gi] *= f here, the caller rescales its output accumulator;
   f = 1 when M does not grow), p row gi (ldp apart) = exp(s - M[gi]) and S[gi] += sum of p.
   The exponential is a shared recipe, so the SIMD twins give the same bits: n = floor(x
   log2(e) + 1/2), r = x - n ln2 (ln2 in two parts, the first exact in a few bits), exp(r) by
   a degree-7 polynomial in Horner form (Cephes' expf coefficients, within ~1 ulp of expf for
   |r| <= ln2 / 2), times 2^n built in the exponent field. Below -87 the result is 0: x = M
   contributes 1 to the sum, so nothing that small can matter. Every a*b + c is one fused
   multiply-add (fmaf here, the FMA instruction in the twins: both round once). The sum of p
   runs in 16 float lanes (element i in lane i % 16), folded as lanes k + (k + 8), then
   ((0+4)+(2+6)) + ((1+5)+(3+7)), and is added to S in double. */
typedef void (*qlm__att_softmax_fn)(int g, int n, float *s, int64_t lds, const float *add, float scale, float *M,
                                    double *S, float *p, int ldp, float *f);
#define QLM__EXP_LOG2E 1.44269504088896341f
#define QLM__EXP_LN2_HI 0.693359375f
#define QLM__EXP_LN2_LO -2.12194440e-4f
#define QLM__EXP_MIN -87.0f
static const float qlm__exp_poly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                       4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

static float qlm__exp_neg(float x) {
    float n, r, p, two;
    uint32_t u;
    int j;
    if (!(x >= QLM__EXP_MIN)) return 0.0f;
    n = floorf(fmaf(x, QLM__EXP_LOG2E, 0.5f));
    r = fmaf(n, -QLM__EXP_LN2_HI, x);
    r = fmaf(n, -QLM__EXP_LN2_LO, r);
    p = qlm__exp_poly[0];
    for (j = 1; j < 6; j++) p = fmaf(p, r, qlm__exp_poly[j]);
    p = fmaf(p, r * r, r) + 1.0f;
    u = (uint32_t)((int32_t)n + 127) << 23;
    memcpy(&two, &u, 4);
    return p * two;
}
/* S and M of one head after its block's maximum bm is known: the factor f */
static float qlm__att_rescale(float bm, float *M, double *S) {
    float f = 1.0f;
    if (bm > *M) {
        if (*M > -INFINITY) {
            f = qlm__exp_neg(*M - bm);
            *S *= (double)f;
        }
        *M = bm;
    }
    return f;
}
static void qlm__att_softmax_ref(int g, int n, float *s, int64_t lds, const float *add, float scale, float *M,
                                 double *S, float *p, int ldp, float *f) {
    int gi, i, k;
    for (gi = 0; gi < g; gi++) {
        float *x = s + gi * lds, *y = p + gi * ldp, a = add ? add[gi] : 0.0f, bm = -INFINITY, l[16] = {0}, h[8];
        for (i = 0; i < n; i++) {
            x[i] = (x[i] + a) * scale;
            bm = x[i] > bm ? x[i] : bm;
        }
        f[gi] = qlm__att_rescale(bm, &M[gi], &S[gi]);
        for (i = 0; i < n; i++) {
            y[i] = qlm__exp_neg(x[i] - M[gi]);
            l[i % 16] += y[i];
        }
        for (k = 0; k < 8; k++) h[k] = l[k] + l[k + 8];
        S[gi] += (double)(((h[0] + h[4]) + (h[2] + h[6])) + ((h[1] + h[5]) + (h[3] + h[7])));
    }
}

/* The gated activation of the feed-forward block (SWIGLU, GEGLU): y[i] = act(g[i]) * u[i].
   Both activations are x * sigmoid(z) = x / (1 + exp(-z)): SiLU with z = x, and GELU in its
   tanh form with z = 2c (x + 0.044715 x^3), c = sqrt(2 / pi), because 0.5 (1 + tanh(w)) =
   sigmoid(2w) (and this form has no cancellation for x < 0, where 1 + tanh(w) has). exp(-z)
   is the softmax's recipe (qlm__exp_neg) with its argument clamped to <= 88: exp(88) ~ 1.7e38
   makes x / (1 + e) ~0 as it should, where 2^128 would overflow the exponent field; below -87
   it gives 0, so act(x) = x. The clamp is written as the SIMD min (a < 88 ? a : 88), so NaN
   meets 88 on every path. The one a*b + c is a written fused multiply-add and every other
   step rounds once, division included, so the SIMD twins give these bits. (ggml computes
   GELU from an fp16 lookup table; the tanh form was measured closer to llama.cpp's Gemma 3
   logits than an emulation of that table.) */
typedef void (*qlm__glu_fn)(int64_t n, const float *g, const float *u, float *y, int gelu);
#define QLM__GLU_EXP_MAX 88.0f
#define QLM__GELU_C3 0.044715f
#define QLM__GELU_2C 1.5957691216057308f /* 2 sqrt(2 / pi) */
static float qlm__glu_act(float x, int gelu) {
    float z = gelu ? QLM__GELU_2C * fmaf(QLM__GELU_C3 * (x * x), x, x) : x, a = -z;
    return x / (1.0f + qlm__exp_neg(a < QLM__GLU_EXP_MAX ? a : QLM__GLU_EXP_MAX));
}
static void qlm__glu_ref(int64_t n, const float *g, const float *u, float *y, int gelu) {
    int64_t i;
    for (i = 0; i < n; i++) y[i] = qlm__glu_act(g[i], gelu) * u[i];
}

/* Per KV type: the block layout of its segments (F32 marks fp8, which has its own), the type
   q is converted to for the K dot (the weight type's vec_dot_type, so K . q is the matmul's
   integer dot), and the V axpy. */
typedef struct {
    const char *name;
    qlm_type blk, q_type;
    qlm__kv_axpy_fn axpy;
} qlm__kv_traits_t;
static const qlm__kv_traits_t qlm__kv_traits[QLM_KV_COUNT] = {
    {"f16", QLM_TYPE_F16, QLM_TYPE_F16, qlm__kv_axpy_f16_ref},
    {"q8_0", QLM_TYPE_Q8_0, QLM_TYPE_Q8_0, qlm__kv_axpy_q8_0_ref},
    {"fp8", QLM_TYPE_F32, QLM_TYPE_F32, qlm__kv_axpy_fp8_ref},
    {"q4", QLM_TYPE_Q4_1, QLM_TYPE_Q8_1, qlm__kv_axpy_q4_1_ref},
    {"q4_0", QLM_TYPE_Q4_0, QLM_TYPE_Q8_0, qlm__kv_axpy_q4_0_ref},
};

/* Bytes of one segment of hd elements; 0 if hd does not fit the type's blocks. */
static size_t qlm__kv_seg_bytes(qlm_kv_type t, int64_t hd) {
    qlm_type b = qlm__kv_traits[t].blk;
    if (b == QLM_TYPE_F32) return 4 + (size_t)hd;
    if (hd % qlm__type_traits[b].blck_size) return 0;
    return qlm__row_size(b, hd);
}

/* Hadamard rotation of one head, in place: x <- H D x / sqrt(n) on each block of n elements,
 * n the largest power of two dividing hd (at most 256), D fixed +-1 signs. The transform is
 * orthogonal, so (R q) . (R k) = q . k and rotating Q and K changes no score; R V is undone
 * on the attention output (inverse = D H / sqrt(n)). Why: a few channels of K (and V) carry
 * most of the magnitude (RoPE pairs, outlier features), and a per-block scale set by them
 * wastes the other codes; after the rotation every element is a mix of all of them, so the
 * block's values look Gaussian with no outliers and 4- and 8-bit codes fit them far better. */
static int qlm__hadamard_n(int hd) {
    int n = 1;
    while (n < 256 && hd % (2 * n) == 0) n *= 2;
    return n;
}
static float qlm__hadamard_sign(int i) { /* a fixed pseudo-random +-1 per index */
    uint32_t h = (uint32_t)i * 0x9E3779B1u;
    h ^= h >> 15;
    return (h & 1u) ? -1.0f : 1.0f;
}
static void qlm__hadamard(float *x, int hd, int inverse) {
    int n = qlm__hadamard_n(hd), b, len, i, j;
    float norm = 1.0f / sqrtf((float)n);
    for (b = 0; b < hd; b += n) {
        float *y = x + b;
        if (!inverse)
            for (i = 0; i < n; i++) y[i] *= qlm__hadamard_sign(i);
        for (len = 1; len < n; len *= 2)
            for (i = 0; i < n; i += 2 * len)
                for (j = i; j < i + len; j++) {
                    float u = y[j], v = y[j + len];
                    y[j] = u + v;
                    y[j + len] = u - v;
                }
        for (i = 0; i < n; i++) y[i] *= inverse ? norm * qlm__hadamard_sign(i) : norm;
    }
}

/* >>kernels ---------------------------------------------------------------------------------
   Kernel selection. A qlm__kernels table holds, per weight type, the dot product and, per
   activation type, the quantiser that the matmul uses. Every table starts as a copy of the
   scalar reference (the type traits) and a SIMD variant overwrites only what it implements,
   so an unimplemented pair silently stays on the reference path. Each context owns its table;
   there is no global mutable state. Selection: "auto" (the best this CPU runs), or pinned with
   qlm_ctx_set_cpu() / the environment variable QLM_CPU = ref | avx2 | avx512 | neon. */

typedef void (*qlm__vec_dot_fn)(int n, float *s, const void *x, const void *y);
typedef void (*qlm__vec_dot8_fn)(int n, float *s, const void *x, size_t bx, const void *y);
typedef void (*qlm__from_float_fn)(const float *src, void *dst, int64_t n);

/* scores: out[gi*ldo + i] = K[cells[i]] . q_gi for i < n <= 32, gi < g (the g query heads that
   share this KV head, prepared q_gi at q + gi*qstride bytes); accum: acc[gi*hd..] += sum_i
   p[gi*ldp + i] * V[cells[i]] for gi < g. K and V point at one head's segment of cell 0; row:
   bytes from one cell's segment to the next (the segment size in the head-major cache). */
typedef void (*qlm__kv_scores_fn)(int hd, int n, int g, const uint8_t *K, size_t row, const int32_t *cells,
                                  const void *q, size_t qstride, float *out, int64_t ldo);
typedef void (*qlm__kv_accum_fn)(int hd, int n, int g, const uint8_t *V, size_t row,
                                 const int32_t *cells, const float *p, int ldp, float *acc);

/* GEMM for batches of tokens (prefill): see "GEMM layouts" below. */
typedef struct qlm__gemm_kernel {
    int lanes; /* tokens per group (one vector register of int32 lanes) */
    int rows;  /* weight rows per tile */
    /* nt <= lanes activation rows of the vec_dot type (xrow bytes apart) -> one group */
    void (*prep)(int64_t K, const uint8_t *xq, size_t xrow, int nt, int lanes, uint8_t *grp);
    /* nr <= rows weight rows (bw bytes apart) -> one tile (rows beyond nr zero-filled) */
    void (*unpack)(int64_t K, const uint8_t *w, size_t bw, int nr, int rows, uint8_t *wt);
    /* tile x group -> y[t * ys + r] for r < nr, t < nt */
    void (*tile)(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y, size_t ys);
} qlm__gemm_kernel;

typedef struct {
    const char *name;
    qlm__vec_dot_fn vec_dot[QLM_TYPE_COUNT];       /* by weight type */
    /* by weight type, optional: 8 rows (bx bytes apart) . one activation row -> s[0..7],
       each bit-identical to vec_dot (NULL: 8 calls of vec_dot) */
    qlm__vec_dot8_fn vec_dot8[QLM_TYPE_COUNT];
    qlm__from_float_fn from_float[QLM_TYPE_COUNT]; /* by activation (vec_dot) type */
    /* KV cache, by qlm_kv_type: K segment . prepared q, acc += p * V segment, float -> segment.
       kv_dot and kv_quant of the block types are the matmul's entries (set after the fill). */
    qlm__vec_dot_fn kv_dot[QLM_KV_COUNT];
    qlm__kv_axpy_fn kv_axpy[QLM_KV_COUNT];
    qlm__from_float_fn kv_quant[QLM_KV_COUNT];
    /* optional, head_dim % 32 == 0: the same over blocks of up to 32 cells (NULL: a loop of
       kv_dot / kv_axpy, their reference) */
    qlm__kv_scores_fn kv_scores[QLM_KV_COUNT];
    qlm__kv_accum_fn kv_accum[QLM_KV_COUNT];
    qlm__att_softmax_fn att_softmax; /* the online-softmax step of a block of scores */
    qlm__glu_fn glu;                 /* SWIGLU / GEGLU: act(g) * u */
    /* by weight type: batched matmul kernels (NULL: a loop of vec_dot) */
    const qlm__gemm_kernel *gemm[QLM_TYPE_COUNT];
} qlm__kernels;

static void qlm__kernels_fill_ref(qlm__kernels *k) {
    int t;
    k->name = "ref";
    for (t = 0; t < QLM_TYPE_COUNT; t++) {
        k->vec_dot[t] = qlm__type_traits[t].vec_dot;
        k->vec_dot8[t] = NULL;
        k->from_float[t] = qlm__type_traits[t].from_float;
        k->gemm[t] = NULL;
    }
    for (t = 0; t < QLM_KV_COUNT; t++) {
        k->kv_axpy[t] = qlm__kv_traits[t].axpy;
        k->kv_scores[t] = NULL;
        k->kv_accum[t] = NULL;
    }
    k->att_softmax = qlm__att_softmax_ref;
    k->glu = qlm__glu_ref;
    k->kv_dot[QLM_KV_FP8] = qlm__kv_dot_fp8_ref;
    k->kv_quant[QLM_KV_FP8] = qlm__quant_seg_fp8_ref;
    k->kv_quant[QLM_KV_Q4] = qlm__quant_seg_q4_ref;
}
/* The KV entries that are matmul kernels, taken from the (possibly SIMD) table. */
static void qlm__kernels_link_kv(qlm__kernels *k) {
    int t;
    for (t = 0; t < QLM_KV_COUNT; t++) {
        qlm_type b = qlm__kv_traits[t].blk;
        if (b == QLM_TYPE_F32) continue;
        k->kv_dot[t] = k->vec_dot[b];
        if (t == QLM_KV_Q4) continue; /* its own quantiser (above) */
        k->kv_quant[t] = b == QLM_TYPE_Q8_0 || b == QLM_TYPE_F16 ? k->from_float[b]
                                                                   : qlm__type_traits[b].from_float;
    }
}

/* ---- GEMM layouts ----------------------------------------------------------------------------
   Prefill multiplies each weight matrix by a batch of T tokens. The GEMM kernels take a tile of
   `rows` weight rows against a group of `lanes` tokens, one token per int32 lane of a vector
   register: an activation register holds 4 (or 2 int16) codes of every token of the group, a
   weight register the matching codes of one row broadcast to every lane, and one dot
   instruction (vpdpbusd / vpdpwssd, or maddubs/madd + add) accumulates a (row, token) integer
   sum per lane. Nothing is reduced horizontally, every integer sum is exact, and the float part
   runs on whole registers (lane = token) as the reference's expressions in its order for each
   (row, token): every result is bit-identical to vec_dot on that row and token. Activations are
   converted once per matmul (prep, one group at a time), weights once per tile (unpack, then
   reused for every group). The layouts are shared by the variants; only lanes / rows differ.

   32-element blocks (q4_0 q4_1 q5_0 q5_1 q8_0, activations q8_0 / q8_1), per block:
     group: A[8][lanes] u32: codes 4j..4j+3 of each token, each + 128 (so unsigned bytes);
            D[lanes] float: y.d; S[lanes] float: y.s (q8_1; else 0)              40 B/token
     tile:  C[rows][32] int8: the weight codes as signed values (q - 8, q - 16, q, ...);
            N[rows] int32: -128 * sum C (so N + sum (a + 128) c = sum a c);
            DX[rows], MX[rows] float: d and m (0 without a min)                  44 B/row
   K-quants (q3_K q4_K q5_K q6_K, activations q8_K), per super-block: the reference sums in 8
   integer lanes (element index mod 8) with a scale per 16 elements, so the codes go as int16
   pairs (e, e + 8) of one lane l and one scale group s, pair index p = 16 l + s:
     group: P[128][lanes] u32: int16 pair (a[16s+l], a[16s+l+8]); D[lanes] float: y.d;
            B[8][lanes] u32: int16 pair (bsums[2j], bsums[2j+1])                548 B/token
     tile:  W[rows][128] u32: int16 pair (scale * code) of the same elements, but in the order
            p = 8 s + l (unpacking needs no transposition; tiles broadcast single words);
            DX[rows], DM[rows] float: d, dmin (0 without a min);
            M[rows][8] u32: int16 pair (min_j, min_j) (0 without a min)         552 B/row */

#define QLM__GEMM_MAX_LANES 16
#define QLM__GEMM_MAX_ROWS 8

static QLM__MAYBE_UNUSED int qlm__gemm_is_k(qlm_type t) {
    return t == QLM_TYPE_Q3_K || t == QLM_TYPE_Q4_K || t == QLM_TYPE_Q5_K || t == QLM_TYPE_Q6_K;
}
/* Bytes of a group per token / of a tile per row, per block of weight type t (0: no GEMM). */
static QLM__MAYBE_UNUSED size_t qlm__gemm_act_bytes(qlm_type t) {
    if (qlm__gemm_is_k(t)) return 548;
    return t == QLM_TYPE_Q4_0 || t == QLM_TYPE_Q4_1 || t == QLM_TYPE_Q5_0 || t == QLM_TYPE_Q5_1 ||
                   t == QLM_TYPE_Q8_0 ? 40 : 0;
}
static QLM__MAYBE_UNUSED size_t qlm__gemm_w_bytes(qlm_type t) {
    size_t a = qlm__gemm_act_bytes(t);
    return a ? a + 4 : 0;
}
static QLM__MAYBE_UNUSED uint32_t qlm__pair16(int a, int b) {
    return (uint32_t)(uint16_t)(int16_t)a | ((uint32_t)(uint16_t)(int16_t)b << 16);
}

static QLM__MAYBE_UNUSED void qlm__gemm_prep_q8(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp, int q8_1) {
    size_t bs = q8_1 ? sizeof(qlm__block_q8_1) : sizeof(qlm__block_q8_0), qoff = q8_1 ? 4 : 2;
    int64_t b, nb = K / 32;
    int t, j;
    for (b = 0; b < nb; b++) {
        uint8_t *g = grp + (size_t)b * 40 * (size_t)L;
        float *D = (float *)(g + 32 * L), *S = D + L;
        for (t = 0; t < L; t++) {
            const uint8_t *blk = xq + (size_t)t * xrow + (size_t)b * bs;
            qlm__f16 h;
            if (t >= nt) { /* padding lanes: zero codes and scales; their results are dropped */
                for (j = 0; j < 8; j++) memset(g + 4 * (j * L + t), 0x80, 4);
                D[t] = S[t] = 0.0f;
                continue;
            }
            for (j = 0; j < 8; j++) {
                uint32_t v;
                memcpy(&v, blk + qoff + 4 * j, 4);
                v ^= 0x80808080u;
                memcpy(g + 4 * (j * L + t), &v, 4);
            }
            memcpy(&h, blk, 2);
            D[t] = qlm__fp16_to_fp32(h);
            memcpy(&h, blk + 2, 2);
            S[t] = q8_1 ? qlm__fp16_to_fp32(h) : 0.0f;
        }
    }
}
static QLM__MAYBE_UNUSED void qlm__gemm_prep_q8_0_ref(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    qlm__gemm_prep_q8(K, xq, xrow, nt, L, grp, 0);
}
static QLM__MAYBE_UNUSED void qlm__gemm_prep_q8_1_ref(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    qlm__gemm_prep_q8(K, xq, xrow, nt, L, grp, 1);
}
static QLM__MAYBE_UNUSED void qlm__gemm_prep_q8_K_ref(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    int64_t sb, nsb = K / QLM__QK_K;
    int t, l, s, j;
    for (sb = 0; sb < nsb; sb++) {
        uint8_t *g = grp + (size_t)sb * 548 * (size_t)L;
        uint32_t *P = (uint32_t *)g, *B = (uint32_t *)(g + 516 * L);
        float *D = (float *)(g + 512 * L);
        for (t = 0; t < L; t++) {
            const qlm__block_q8_K *y = (const qlm__block_q8_K *)(xq + (size_t)t * xrow) + sb;
            if (t >= nt) {
                for (l = 0; l < 128; l++) P[l * L + t] = 0;
                for (j = 0; j < 8; j++) B[j * L + t] = 0;
                D[t] = 0.0f;
                continue;
            }
            for (l = 0; l < 8; l++)
                for (s = 0; s < 16; s++) P[(16 * l + s) * L + t] = qlm__pair16(y->qs[16 * s + l], y->qs[16 * s + l + 8]);
            for (j = 0; j < 8; j++) B[j * L + t] = qlm__pair16(y->bsums[2 * j], y->bsums[2 * j + 1]);
            D[t] = y->d;
        }
    }
}

/* Codes of one 32-block as signed values, its d and m (0 without a min). */
static QLM__MAYBE_UNUSED void qlm__gemm_codes32(qlm_type type, const uint8_t *blk, int8_t c[32], qlm__f16 *d, qlm__f16 *m) {
    int j;
    *m = 0;
    switch (type) {
    case QLM_TYPE_Q4_0: {
        const qlm__block_q4_0 *x = (const qlm__block_q4_0 *)blk;
        for (j = 0; j < 16; j++) {
            c[j] = (int8_t)((x->qs[j] & 0x0f) - 8);
            c[j + 16] = (int8_t)((x->qs[j] >> 4) - 8);
        }
        *d = x->d;
        break;
    }
    case QLM_TYPE_Q4_1: {
        const qlm__block_q4_1 *x = (const qlm__block_q4_1 *)blk;
        for (j = 0; j < 16; j++) {
            c[j] = (int8_t)(x->qs[j] & 0x0f);
            c[j + 16] = (int8_t)(x->qs[j] >> 4);
        }
        *d = x->d;
        *m = x->m;
        break;
    }
    case QLM_TYPE_Q5_0: {
        const qlm__block_q5_0 *x = (const qlm__block_q5_0 *)blk;
        uint32_t qh = qlm__load_qh(x->qh);
        for (j = 0; j < 16; j++) {
            c[j] = (int8_t)(((x->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4)) - 16);
            c[j + 16] = (int8_t)(((x->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4)) - 16);
        }
        *d = x->d;
        break;
    }
    case QLM_TYPE_Q5_1: {
        const qlm__block_q5_1 *x = (const qlm__block_q5_1 *)blk;
        uint32_t qh = qlm__load_qh(x->qh);
        for (j = 0; j < 16; j++) {
            c[j] = (int8_t)((x->qs[j] & 0x0f) | (int)(((qh >> j) & 1u) << 4));
            c[j + 16] = (int8_t)((x->qs[j] >> 4) | (int)(((qh >> (j + 16)) & 1u) << 4));
        }
        *d = x->d;
        *m = x->m;
        break;
    }
    default: { /* q8_0 */
        const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)blk;
        memcpy(c, x->qs, 32);
        *d = x->d;
        break;
    }
    }
}
static QLM__MAYBE_UNUSED void qlm__gemm_unpack32(qlm_type type, int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) {
    size_t bs = qlm__type_traits[type].type_size;
    int64_t b, nb = K / 32;
    int r, j;
    for (b = 0; b < nb; b++) {
        uint8_t *o = wt + (size_t)b * 44 * (size_t)R;
        int32_t *N = (int32_t *)(o + 32 * R);
        float *DX = (float *)(o + 36 * R), *MX = DX + R;
        for (r = 0; r < R; r++) {
            int8_t *c = (int8_t *)o + 32 * r;
            qlm__f16 d, m;
            int sum = 0;
            if (r >= nr) {
                memset(c, 0, 32);
                N[r] = 0;
                DX[r] = MX[r] = 0.0f;
                continue;
            }
            qlm__gemm_codes32(type, w + (size_t)r * bw + (size_t)b * bs, c, &d, &m);
            for (j = 0; j < 32; j++) sum += c[j];
            N[r] = -128 * sum;
            DX[r] = qlm__fp16_to_fp32(d);
            MX[r] = qlm__fp16_to_fp32(m);
        }
    }
}
#define QLM__GEMM_UNPACK32(T, TYPE)                                                                \
    static QLM__MAYBE_UNUSED void qlm__gemm_unpack_##T##_ref(int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) { \
        qlm__gemm_unpack32(TYPE, K, w, bw, nr, R, wt);                                             \
    }
QLM__GEMM_UNPACK32(q4_0, QLM_TYPE_Q4_0)
QLM__GEMM_UNPACK32(q4_1, QLM_TYPE_Q4_1)
QLM__GEMM_UNPACK32(q5_0, QLM_TYPE_Q5_0)
QLM__GEMM_UNPACK32(q5_1, QLM_TYPE_Q5_1)
QLM__GEMM_UNPACK32(q8_0, QLM_TYPE_Q8_0)
#undef QLM__GEMM_UNPACK32

/* Codes of one K-quant super-block as the reference's signed values a[e], its 16 scales
   sc16[s], d, dmin and 8 mins (0 without a min). */
static QLM__MAYBE_UNUSED void qlm__gemm_codesK(qlm_type type, const uint8_t *blk, int8_t a[QLM__QK_K], int sc16[16], float *d,
                             float *dmin, int mn[8]) {
    int e, j;
    *dmin = 0.0f;
    for (j = 0; j < 8; j++) mn[j] = 0;
    switch (type) {
    case QLM_TYPE_Q4_K:
    case QLM_TYPE_Q5_K: {
        const uint8_t *qs, *qh = NULL, *sc12;
        qlm__f16 hd, hm;
        if (type == QLM_TYPE_Q4_K) {
            const qlm__block_q4_K *x = (const qlm__block_q4_K *)blk;
            qs = x->qs; sc12 = x->scales; hd = x->d; hm = x->dmin;
        } else {
            const qlm__block_q5_K *x = (const qlm__block_q5_K *)blk;
            qs = x->qs; qh = x->qh; sc12 = x->scales; hd = x->d; hm = x->dmin;
        }
        for (e = 0; e < QLM__QK_K; e++) {
            uint8_t byte = qs[(e / 64) * 32 + e % 32];
            int q = (e % 64) < 32 ? (byte & 0x0f) : (byte >> 4);
            if (qh) q += ((qh[e % 32] >> (e / 32)) & 1) ? 16 : 0;
            a[e] = (int8_t)q;
        }
        for (j = 0; j < 8; j++) {
            uint8_t sc, m;
            qlm__get_scale_min_k4(j, sc12, &sc, &m);
            sc16[2 * j] = sc16[2 * j + 1] = sc;
            mn[j] = m;
        }
        *d = qlm__fp16_to_fp32(hd);
        *dmin = qlm__fp16_to_fp32(hm);
        break;
    }
    case QLM_TYPE_Q6_K: {
        const qlm__block_q6_K *x = (const qlm__block_q6_K *)blk;
        for (e = 0; e < QLM__QK_K; e++) a[e] = (int8_t)(qlm__q6k_code(x, e) - 32);
        for (j = 0; j < 16; j++) sc16[j] = x->scales[j];
        *d = qlm__fp16_to_fp32(x->d);
        break;
    }
    default: { /* q3_K */
        const qlm__block_q3_K *x = (const qlm__block_q3_K *)blk;
        for (e = 0; e < QLM__QK_K; e++) {
            int hbit = (x->hmask[e % 32] >> (e / 32)) & 1;
            a[e] = (int8_t)(qlm__k2bits(x->qs, e) - (hbit ? 0 : 4));
        }
        for (j = 0; j < 16; j++) sc16[j] = qlm__q3k_scale(x->scales, j) - 32;
        *d = qlm__fp16_to_fp32(x->d);
        break;
    }
    }
}
static QLM__MAYBE_UNUSED void qlm__gemm_unpackK(qlm_type type, int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) {
    size_t bs = qlm__type_traits[type].type_size;
    int64_t sb, nsb = K / QLM__QK_K;
    int r, l, s, j;
    for (sb = 0; sb < nsb; sb++) {
        uint8_t *o = wt + (size_t)sb * 552 * (size_t)R;
        float *DX = (float *)(o + 512 * R), *DM = DX + R;
        uint32_t *M = (uint32_t *)(DM + R);
        for (r = 0; r < R; r++) {
            uint32_t *W = (uint32_t *)o + 128 * r;
            int8_t a[QLM__QK_K];
            int sc16[16], mn[8];
            float d, dmin;
            if (r >= nr) {
                memset(W, 0, 512);
                DX[r] = DM[r] = 0.0f;
                for (j = 0; j < 8; j++) M[8 * r + j] = 0;
                continue;
            }
            qlm__gemm_codesK(type, w + (size_t)r * bw + (size_t)sb * bs, a, sc16, &d, &dmin, mn);
            for (s = 0; s < 16; s++)
                for (l = 0; l < 8; l++)
                    W[8 * s + l] = qlm__pair16(sc16[s] * a[16 * s + l], sc16[s] * a[16 * s + l + 8]);
            DX[r] = d;
            DM[r] = dmin;
            for (j = 0; j < 8; j++) M[8 * r + j] = qlm__pair16(mn[j], mn[j]);
        }
    }
}
#define QLM__GEMM_UNPACKK(T, TYPE)                                                                 \
    static QLM__MAYBE_UNUSED void qlm__gemm_unpack_##T##_ref(int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) { \
        qlm__gemm_unpackK(TYPE, K, w, bw, nr, R, wt);                                              \
    }
QLM__GEMM_UNPACKK(q3_K, QLM_TYPE_Q3_K)
QLM__GEMM_UNPACKK(q4_K, QLM_TYPE_Q4_K)
QLM__GEMM_UNPACKK(q5_K, QLM_TYPE_Q5_K)
QLM__GEMM_UNPACKK(q6_K, QLM_TYPE_Q6_K)
#undef QLM__GEMM_UNPACKK

/* The specification of every GEMM kernel: y[t * ys + r] = the reference dot of weight row r
   (bw bytes apart) and activation row t (xrow bytes apart), for r < nr, t < nt. */
static QLM__MAYBE_UNUSED void qlm__gemm_ref(qlm_type type, int64_t K, const uint8_t *w, size_t bw, int64_t nr,
                                            const uint8_t *xq, size_t xrow, int64_t nt, float *y, size_t ys) {
    int64_t r, t;
    for (t = 0; t < nt; t++)
        for (r = 0; r < nr; r++)
            qlm__type_traits[type].vec_dot((int)K, &y[t * (int64_t)ys + r], w + r * (int64_t)bw, xq + t * (int64_t)xrow);
}

/* Variants: each has a `supported` test for the running CPU and a `fill` that overwrites the
   entries it implements. Defined in the per-architecture sections below. */
typedef struct {
    const char *name;
    int (*supported)(void);
    void (*fill)(qlm__kernels *k);
} qlm__kernel_variant;

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define QLM__X86 1
#else
#define QLM__X86 0
#endif
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#define QLM__ARM 1
#else
#define QLM__ARM 0
#endif
/* full unrolling of short loops over registers, so arrays of vectors live in registers (both
   architectures' kernels) */
#define QLM__UNROLL _Pragma("GCC unroll 16")

#if QLM__X86 && !(defined(QLM_NO_SIMD) && QLM_NO_SIMD)
/* >>kernels-x86 — AVX2 and AVX-512 twins of the reference kernels
 *
 * One binary runs everywhere: nothing here needs -mavx2.  Every function carries its own
 * target attribute (QLM__AVX2 / QLM__AVX512 below), qlm__x86_features() asks cpuid what the
 * CPU has and xgetbv what the OS saves on a context switch, and the kernels.inc variants
 * table calls fill_avx2 / fill_avx512 only where that says yes.
 *
 * Contract with the reference (the >>types section), tested by test/test_kernels.c:
 *   - quantisers (q8_0, q8_1, q8_K, f16, bf16 rows) give the reference's bytes exactly: the
 *     same scale formulas in the same float operations, and the same rounding (roundf's
 *     half-away-from-zero for q8_0/q8_1, half-even for q8_K, f16 and bf16).  Each product
 *     that gets rounded goes through qlm__x86_opaque first, so no compiler setting can fuse
 *     it with the next add into an FMA;
 *   - dot products of the quantised types are bit-identical to the reference: the integer
 *     part is summed exactly (int32, no overflow for any block) into the same partial sums
 *     the reference forms, and the float part is the reference's own expressions in its
 *     order (lanes hold independent blocks or lanes, never a reordered sum).  So QLM_CPU=ref
 *     and avx2/avx512 generate the same text.  Caveat, as for the reference: clang given an
 *     explicit -ffp-contract=fast ignores the contraction pragma below and both sides fuse
 *     differently; GCC in any mode and clang's defaults are fine (the test checks);
 *   - f32/f16/bf16 dots sum in float lanes (the reference in double): within a tested bound;
 *   - one documented gap, shared with ggml's SIMD code: q8_0 *weight* codes of -128 (which
 *     no quantiser emits, they clamp at +-127) are multiplied by the sign trick and come out
 *     wrong in the AVX2 q8_0 dot.  Activations are always in -127..127.
 *
 * AVX-512 variant: so far only the 32-block dots and the 8-row dots differ, using VNNI
 * (vpdpbusd / vpdpwssd on 256-bit registers) for the integer part: 0-10% faster in
 * test_kernels --bench for the 32-block dots, 10-20% for the K-quants' 8-row dots.  Their
 * cost is now mostly the exact float part (fp16 scale loads, sequential sum), which wider
 * integer registers would not shorten, so 512-bit rewrites were not attempted; the rest is
 * the AVX2 code.
 *
 * Decode (one token): the 32-block types and q3_K..q6_K also have 8-row dots (vec_dot8):
 * 1.5-2.5x the one-row dots per row in test_kernels --bench (cache-resident rows) for the
 * 32-blocks, whose rows take the float lanes (see "8 rows at once"), and 1.3-2x for the
 * K-quants, whose reference already keeps 8 float lanes per row: there each row keeps its
 * own lanes and the gain is the shared activation work (see "K-quants, 8 rows at once").
 * All bit-identical.  An earlier 4-row form that only interleaved four scalar sums gave
 * 1.0-1.15x and was removed; q2_K has no 8-row form (no measured need).
 *
 * GEMM (prefill, see "GEMM layouts" in >>kernels): tiles of 4 (AVX2) or 8 (AVX-512) weight
 * rows against 8 / 16 tokens, one token per int32 lane, so no horizontal sums; results
 * bit-identical to the one-row dots.  The layout converters are AVX2 for both variants.
 *
 * Layout: feature detection -> helpers -> AVX2 dots (float rows, 32-blocks with their
 * 8-row forms, K-quants with theirs) -> AVX2 quantisers -> KV-cache kernels -> AVX-512 dots
 * -> GEMM converters and tiles -> fill functions. */

#include <immintrin.h>
#include <cpuid.h>

/* No fused multiply-add unless written as one: the dot products repeat the reference's
   float expressions to get its exact bits (see the top of >>kernels-ref for the caveats). */
#if defined(__clang__)
#  pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#  pragma GCC push_options
#  pragma GCC optimize("fp-contract=off")
#endif

#define QLM__AVX2   __attribute__((target("avx2,fma,f16c")))
#define QLM__AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))

/* ---- feature detection ---------------------------------------------------------------- */

enum { QLM__X86_AVX2 = 1, QLM__X86_AVX512 = 2 };

static uint64_t qlm__x86_xcr0(void) {
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* QLM__X86_AVX2: AVX, AVX2, FMA, F16C and the OS saves YMM (XCR0 bits 1-2).
   QLM__X86_AVX512: also AVX512 F/BW/VL/VNNI and the OS saves opmask and ZMM (bits 5-7). */
static int qlm__x86_features(void) {
    unsigned a = 0, b = 0, c = 0, d = 0, max_leaf = __get_cpuid_max(0, NULL);
    int f = 0, avx, fma, f16c;
    uint64_t xcr0;
    if (max_leaf < 7) return 0;
    __get_cpuid_count(1, 0, &a, &b, &c, &d);
    if (!(c & (1u << 27))) return 0; /* OSXSAVE: xgetbv is available */
    fma = (c >> 12) & 1; avx = (c >> 28) & 1; f16c = (c >> 29) & 1;
    xcr0 = qlm__x86_xcr0();
    if ((xcr0 & 0x6) != 0x6) return 0;
    __get_cpuid_count(7, 0, &a, &b, &c, &d);
    if (avx && fma && f16c && ((b >> 5) & 1)) f |= QLM__X86_AVX2;
    if ((f & QLM__X86_AVX2) && ((b >> 16) & 1) && ((b >> 30) & 1) && ((b >> 31) & 1) &&
        ((c >> 11) & 1) && (xcr0 & 0xe6) == 0xe6)
        f |= QLM__X86_AVX512;
    return f;
}
static int qlm__avx2_supported(void) { return (qlm__x86_features() & QLM__X86_AVX2) != 0; }
static int qlm__avx512_supported(void) { return (qlm__x86_features() & QLM__X86_AVX512) != 0; }

/* ---- helpers --------------------------------------------------------------------------- */

/* Make a value opaque to the optimiser so a rounded product stays rounded (no FMA fusion
   with what follows, whatever -ffp-contract says). Costs no instruction. */
#define qlm__x86_opaque(v) __asm__("" : "+x"(v))

static inline QLM__AVX2 float qlm__h2f(qlm__f16 h) {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}
static inline QLM__AVX2 float qlm__hsum_ps_avx2(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_add_ps(a, _mm_movehl_ps(a, a));
    a = _mm_add_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}
static inline QLM__AVX2 int qlm__hsum_epi32_sse(__m128i v) {
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0x4e));
    v = _mm_add_epi32(v, _mm_shuffle_epi32(v, 0xb1));
    return _mm_cvtsi128_si32(v);
}
static inline QLM__AVX2 int qlm__hsum_epi32_avx2(__m256i v) {
    return qlm__hsum_epi32_sse(_mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
}
/* 32 unsigned bytes times 32 signed bytes, summed in 8 int32 lanes of 4 neighbours each.
   maddubs saturates its int16 pairs: callers keep 2*|u|*|s| <= 32767 (u <= 127, or u <= 128
   with s >= -127... each caller says why it holds). */
static inline QLM__AVX2 __m256i qlm__dot_us8_avx2(__m256i u, __m256i s) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
/* Signed times signed (a != -128): |a| * (b with a's sign). */
static inline QLM__AVX2 __m256i qlm__dot_ss8_avx2(__m256i a, __m256i b) {
    return qlm__dot_us8_avx2(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}
/* Scales and mins (6 bits each) of the 8 sub-blocks of q4_K / q5_K, as in
   qlm__get_scale_min_k4, four at a time through 32-bit words. */
static inline void qlm__k4_unpack_scales(const uint8_t *p, uint8_t sc[8], uint8_t mn[8]) {
    uint32_t u[3], s[2], m[2];
    memcpy(u, p, 12);
    s[0] = u[0] & 0x3f3f3f3fu;
    m[0] = u[1] & 0x3f3f3f3fu;
    s[1] = (u[2] & 0x0f0f0f0fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    m[1] = ((u[2] >> 4) & 0x0f0f0f0fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    memcpy(sc, s, 8);
    memcpy(mn, m, 8);
}
/* The 16 signed 6-bit scales of q3_K (already minus 32), as qlm__q3k_scale.  In 32-bit
   words u0 u1 u2 of the 12 bytes, the scales are the words
       (u0 & 0x0f0f0f0f)      | ((u2 & 0x03030303) << 4),
       (u1 & 0x0f0f0f0f)      | (((u2 >> 2) & 0x03030303) << 4),
       ((u0 >> 4) & 0x0f0f0f0f) | (((u2 >> 4) & 0x03030303) << 4),
       ((u1 >> 4) & 0x0f0f0f0f) | (((u2 >> 6) & 0x03030303) << 4),
   built here in one register (((u2 >> s) & 3) << 4 == (u2 shifted left by 4 - s) & 0x30);
   the block ends 2 bytes after the scales, so the 12 bytes are read as 8 + 4. */
static inline QLM__AVX2 __m128i qlm__q3k_unpack_scales(const uint8_t *p) {
    uint32_t u2;
    __m128i v, a, b;
    memcpy(&u2, p + 8, 4);
    v = _mm_insert_epi32(_mm_loadl_epi64((const __m128i *)p), (int)u2, 2);           /* u0 u1 u2 0 */
    a = _mm_srlv_epi32(_mm_shuffle_epi32(v, 0x44), _mm_setr_epi32(0, 0, 4, 4));      /* u0 u1 u0 u1 */
    b = _mm_srlv_epi32(_mm_sllv_epi32(_mm_shuffle_epi32(v, 0xaa), _mm_setr_epi32(4, 2, 0, 0)),
                       _mm_setr_epi32(0, 0, 0, 2));                                   /* u2 x4 */
    v = _mm_or_si128(_mm_and_si128(a, _mm_set1_epi8(0x0f)), _mm_and_si128(b, _mm_set1_epi8(0x30)));
    return _mm_sub_epi8(v, _mm_set1_epi8(32));
}
/* ---- AVX2: float rows ------------------------------------------------------------------- */

static QLM__AVX2 void qlm__vec_dot_f32_avx2(int n, float *s, const void *vx, const void *vy) {
    const float *x = (const float *)vx, *y = (const float *)vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    sum = qlm__hsum_ps_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += x[i] * y[i];
    *s = sum;
}

static inline QLM__AVX2 __m256 qlm__load_f16x8(const qlm__f16 *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}
static QLM__AVX2 void qlm__vec_dot_f16_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__f16 *x = (const qlm__f16 *)vx, *y = (const qlm__f16 *)vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(qlm__load_f16x8(x + i), qlm__load_f16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(qlm__load_f16x8(x + i + 8), qlm__load_f16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(qlm__load_f16x8(x + i + 16), qlm__load_f16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(qlm__load_f16x8(x + i + 24), qlm__load_f16x8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(qlm__load_f16x8(x + i), qlm__load_f16x8(y + i), a0);
    sum = qlm__hsum_ps_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += qlm__h2f(x[i]) * qlm__h2f(y[i]);
    *s = sum;
}

static inline QLM__AVX2 __m256 qlm__load_bf16x8(const qlm__bf16 *p) {
    __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
static QLM__AVX2 void qlm__vec_dot_bf16_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__bf16 *x = (const qlm__bf16 *)vx, *y = (const qlm__bf16 *)vy;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    float sum;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(qlm__load_bf16x8(x + i), qlm__load_bf16x8(y + i), a0);
        a1 = _mm256_fmadd_ps(qlm__load_bf16x8(x + i + 8), qlm__load_bf16x8(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(qlm__load_bf16x8(x + i + 16), qlm__load_bf16x8(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(qlm__load_bf16x8(x + i + 24), qlm__load_bf16x8(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(qlm__load_bf16x8(x + i), qlm__load_bf16x8(y + i), a0);
    sum = qlm__hsum_ps_avx2(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    for (; i < n; i++) sum += qlm__bf16_to_fp32(x[i]) * qlm__bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- AVX2: 32-element blocks ------------------------------------------------------------
   Per block: 32 codes in one register in element order (for nibble types: low nibbles =
   elements 0..15, high = 16..31, which is also the order of the q8 activation bytes), an
   exact int32 dot in 8 lanes, then one FMA with d_x*d_y into float lanes. Two accumulators
   so consecutive blocks do not wait on each other's FMA. */

/* 32-element blocks.  Bit-identical to the reference: the integer dot of each block is
   exact, and the float part is the reference's own expression, block after block in its
   order (the sequential float sum costs one add latency per block, which the integer work
   hides).  The integer work goes in pairs of blocks, laid out so no lane-crossing shuffle
   is needed: register "lo" holds elements 0..15 of block i then of block i+1, "hi" elements
   16..31 of both, and the activations are loaded the same way (two 16-byte halves per
   register); the int32 dot then has block i in lanes 0-3 and block i+1 in lanes 4-7, and
   8 blocks are reduced to 8 sums at once. */

static inline QLM__AVX2 __m256i qlm__load_2x16(const void *a, const void *b) {
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)a)),
                                   _mm_loadu_si128((const __m128i *)b), 1);
}
/* Per-block int sums of 8 blocks: from 4 pair vectors (block 2k in the low 4 lanes of p[k],
   2k+1 in the high 4), or from 8 one-block vectors. */
static inline QLM__AVX2 void qlm__reduce4x2_avx2(const __m256i p[4], int32_t out[8]) {
    __m256i h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    /* h: low half blocks 0 2 4 6, high half 1 3 5 7 */
    _mm256_storeu_si256((__m256i *)out, _mm256_permutevar8x32_epi32(h, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}
static inline QLM__AVX2 void qlm__reduce8_avx2(const __m256i p[8], int32_t out[8]) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    /* a: blocks 0-3 low-half sums, then their high-half sums; b likewise for 4-7 */
    _mm256_storeu_si256((__m256i *)out, _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20),
                                                         _mm256_permute2x128_si256(a, b, 0x31)));
}

/* The two fp16 halves of the 32-bit words at p, p + stride, ..., p + 7*stride, as floats
   in block order: lo = first halves (the d fields), hi = second halves (m of q4_1/q5_1, s
   of q8_1; for other types neighbouring bytes, unused). */
static inline QLM__AVX2 __m128i qlm__load4_u32(const uint8_t *b, size_t stride) {
    __m128i w0 = _mm_loadu_si32(b), w1 = _mm_loadu_si32(b + stride);
    __m128i w2 = _mm_loadu_si32(b + 2 * stride), w3 = _mm_loadu_si32(b + 3 * stride);
    return _mm_unpacklo_epi64(_mm_unpacklo_epi32(w0, w1), _mm_unpacklo_epi32(w2, w3));
}
static inline QLM__AVX2 void qlm__f16x8_pairs(const void *p, size_t stride, __m256 *lo, __m256 *hi) {
    const uint8_t *b = (const uint8_t *)p;
    /* words in registers (not through memory: 4-byte stores do not forward to a wide load) */
    __m256 a = _mm256_cvtph_ps(qlm__load4_u32(b, stride));              /* l0 h0 l1 h1 l2 h2 l3 h3 */
    __m256 c = _mm256_cvtph_ps(qlm__load4_u32(b + 4 * stride, stride)); /* l4 h4 ... l7 h7 */
    /* shuffle_ps leaves 64-bit chunks in the order 0 2 1 3: fix with permute4x64 */
    *lo = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, c, 0x88)), 0xd8));
    *hi = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, c, 0xdd)), 0xd8));
}
/* Per-block float terms of 8 blocks in lanes, each rounded as the reference's scalar
   expression (FORM as QLM__X86_TERM_*). */
static inline QLM__AVX2 __m256 qlm__terms8_avx2(const void *x, size_t xs, const void *y, size_t ys,
                                                const int32_t isum[8], int form) {
    __m256 dx, mx, dy, sy, t, u, fi = _mm256_cvtepi32_ps(_mm256_loadu_si256((const __m256i *)isum));
    qlm__f16x8_pairs(x, xs, &dx, &mx);
    qlm__f16x8_pairs(y, ys, &dy, &sy);
    if (form == 0) {
        t = _mm256_mul_ps(fi, dx);
        qlm__x86_opaque(t);
        return _mm256_mul_ps(t, dy);
    }
    t = _mm256_mul_ps(dx, dy);
    qlm__x86_opaque(t);
    t = _mm256_mul_ps(t, fi);
    if (form == 1) return t;
    u = _mm256_mul_ps(mx, sy);
    qlm__x86_opaque(t);
    qlm__x86_opaque(u);
    return _mm256_add_ps(t, u);
}
/* Fifth bits of two q5 blocks in the pair layout: lo gets bits 0..15, hi bits 16..31. */
static inline QLM__AVX2 void qlm__qh_pair_avx2(const uint8_t *qh0, const uint8_t *qh1, __m256i *lo, __m256i *hi) {
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    uint32_t w0, w1;
    __m256i v, l, h;
    memcpy(&w0, qh0, 4); memcpy(&w1, qh1, 4);
    v = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_cvtsi32_si128((int)w0)), _mm_cvtsi32_si128((int)w1), 1);
    l = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0101010101010101LL, 0, 0x0101010101010101LL, 0));
    h = _mm256_shuffle_epi8(v, _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                 0x0303030303030303LL, 0x0202020202020202LL));
    *lo = _mm256_cmpeq_epi8(_mm256_and_si256(l, bit), bit);
    *hi = _mm256_cmpeq_epi8(_mm256_and_si256(h, bit), bit);
}

/* int32 x 8 += u0.s0 + u1.s1 (unsigned by signed bytes).  AVX2: the two maddubs results
   are added as int16 before one madd, so callers keep 2 * (2*|u|*|s|) < 32768: nibbles
   (15), q5 codes (31) and sign-trick magnitudes <= 16 against |s| <= 127 all do. */
static inline QLM__AVX2 __m256i qlm__dot2_us8_avx2(__m256i acc, __m256i u0, __m256i s0, __m256i u1, __m256i s1) {
    __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
}
static inline QLM__AVX512 __m256i qlm__dot2_us8_vnni(__m256i acc, __m256i u0, __m256i s0, __m256i u1, __m256i s1) {
    return _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(acc, u0, s0), u1, s1);
}
static inline QLM__AVX512 __m256i qlm__dot_ss8_vnni(__m256i a, __m256i b) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* The 32-element block kernels, written once and instantiated per variant: SFX names it,
   TGT is its target attribute, DOT2 its qlm__dot2_us8_*, DOTSS a signed x signed dot of
   one register (q8_0), for which AVX2 keeps its own qlm__dot_ss8_avx2. */
#define QLM__X86_BLOCK32_KERNELS(SFX, TGT, DOT2, DOTSS)                                              \
    /* q4_0: codes -8..7 by the sign trick (|q| <= 8) */                                             \
    static inline TGT __m256i qlm__pair_q4_0_##SFX(const qlm__block_q4_0 *x0, const qlm__block_q4_0 *x1, \
                                                   const qlm__block_q8_0 *y0, const qlm__block_q8_0 *y1) { \
        const __m256i m4 = _mm256_set1_epi8(0x0f), e8 = _mm256_set1_epi8(8);                         \
        __m256i v = qlm__load_2x16(x0->qs, x1->qs);                                                  \
        __m256i lo = _mm256_sub_epi8(_mm256_and_si256(v, m4), e8);                                   \
        __m256i hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), e8);             \
        __m256i ya = qlm__load_2x16(y0->qs, y1->qs), yb = qlm__load_2x16(y0->qs + 16, y1->qs + 16);  \
        return DOT2(_mm256_setzero_si256(), _mm256_sign_epi8(lo, lo), _mm256_sign_epi8(ya, lo),      \
                    _mm256_sign_epi8(hi, hi), _mm256_sign_epi8(yb, hi));                             \
    }                                                                                                \
    static inline TGT __m256i qlm__pair_q4_1_##SFX(const qlm__block_q4_1 *x0, const qlm__block_q4_1 *x1, \
                                                   const qlm__block_q8_1 *y0, const qlm__block_q8_1 *y1) { \
        const __m256i m4 = _mm256_set1_epi8(0x0f);                                                   \
        __m256i v = qlm__load_2x16(x0->qs, x1->qs);                                                  \
        __m256i ya = qlm__load_2x16(y0->qs, y1->qs), yb = qlm__load_2x16(y0->qs + 16, y1->qs + 16);  \
        return DOT2(_mm256_setzero_si256(), _mm256_and_si256(v, m4), ya,                             \
                    _mm256_and_si256(_mm256_srli_epi16(v, 4), m4), yb);                              \
    }                                                                                                \
    /* q5_0: code - 16 = nibble - (fifth bit clear ? 16 : 0), sign trick (|q| <= 16) */              \
    static inline TGT __m256i qlm__pair_q5_0_##SFX(const qlm__block_q5_0 *x0, const qlm__block_q5_0 *x1, \
                                                   const qlm__block_q8_0 *y0, const qlm__block_q8_0 *y1) { \
        const __m256i m4 = _mm256_set1_epi8(0x0f), e16 = _mm256_set1_epi8(16);                       \
        __m256i v = qlm__load_2x16(x0->qs, x1->qs), hl, hh;                                          \
        __m256i ya = qlm__load_2x16(y0->qs, y1->qs), yb = qlm__load_2x16(y0->qs + 16, y1->qs + 16);  \
        __m256i lo, hi;                                                                              \
        qlm__qh_pair_avx2(x0->qh, x1->qh, &hl, &hh);                                                 \
        lo = _mm256_sub_epi8(_mm256_and_si256(v, m4), _mm256_andnot_si256(hl, e16));                 \
        hi = _mm256_sub_epi8(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_andnot_si256(hh, e16)); \
        return DOT2(_mm256_setzero_si256(), _mm256_sign_epi8(lo, lo), _mm256_sign_epi8(ya, lo),      \
                    _mm256_sign_epi8(hi, hi), _mm256_sign_epi8(yb, hi));                             \
    }                                                                                                \
    static inline TGT __m256i qlm__pair_q5_1_##SFX(const qlm__block_q5_1 *x0, const qlm__block_q5_1 *x1, \
                                                   const qlm__block_q8_1 *y0, const qlm__block_q8_1 *y1) { \
        const __m256i m4 = _mm256_set1_epi8(0x0f), e16 = _mm256_set1_epi8(16);                       \
        __m256i v = qlm__load_2x16(x0->qs, x1->qs), hl, hh;                                          \
        __m256i ya = qlm__load_2x16(y0->qs, y1->qs), yb = qlm__load_2x16(y0->qs + 16, y1->qs + 16);  \
        qlm__qh_pair_avx2(x0->qh, x1->qh, &hl, &hh);                                                 \
        return DOT2(_mm256_setzero_si256(), _mm256_or_si256(_mm256_and_si256(v, m4), _mm256_and_si256(hl, e16)), ya, \
                    _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), _mm256_and_si256(hh, e16)), yb); \
    }                                                                                                \
    /* q8_0: one block per register (|q| up to 127 leaves no room to add int16 pairs) */            \
    static inline TGT void qlm__isum8_q8_0_##SFX(const qlm__block_q8_0 *x, const qlm__block_q8_0 *y, int g, \
                                                 int32_t isum[8]) {                                  \
        __m256i p[8];                                                                                \
        int b;                                                                                       \
        for (b = 0; b < 8; b++)                                                                      \
            p[b] = b < g ? DOTSS(_mm256_loadu_si256((const __m256i *)x[b].qs),                       \
                                 _mm256_loadu_si256((const __m256i *)y[b].qs))                       \
                         : _mm256_setzero_si256();                                                   \
        qlm__reduce8_avx2(p, isum);                                                                  \
    }                                                                                                \
    QLM__X86_ROWS32(SFX, TGT, q4_0, q8_0, QLM__X86_ISUM8_PAIRS(qlm__pair_q4_0_##SFX), 0)             \
    QLM__X86_ROWS32(SFX, TGT, q4_1, q8_1, QLM__X86_ISUM8_PAIRS(qlm__pair_q4_1_##SFX), 2)             \
    QLM__X86_ROWS32(SFX, TGT, q5_0, q8_0, QLM__X86_ISUM8_PAIRS(qlm__pair_q5_0_##SFX), 1)             \
    QLM__X86_ROWS32(SFX, TGT, q5_1, q8_1, QLM__X86_ISUM8_PAIRS(qlm__pair_q5_1_##SFX), 2)             \
    QLM__X86_ROWS32(SFX, TGT, q8_0, q8_0, qlm__isum8_q8_0_##SFX(x, y, g, isum), 1)

/* Exact int sums of g <= 8 blocks from x, y into isum[8] by pairs (a lone last block pairs
   with itself; its copy's lanes are ignored). */
#define QLM__X86_ISUM8_PAIRS(PAIR)                                                                   \
    do {                                                                                             \
        __m256i p_[4];                                                                               \
        int k_;                                                                                      \
        for (k_ = 0; k_ < 4; k_++) {                                                                 \
            int b0_ = 2 * k_, b1_ = 2 * k_ + 1 < g ? b0_ + 1 : b0_;                                  \
            p_[k_] = b0_ < g ? PAIR(&x[b0_], &x[b1_], &y[b0_], &y[b1_]) : _mm256_setzero_si256();    \
        }                                                                                            \
        qlm__reduce4x2_avx2(p_, isum);                                                               \
    } while (0)

/* The float part, exactly the reference's per-block expression (FORM: 0 q4_0, 1 q5_0/q8_0,
   2 with min: q4_1/q5_1), and the row functions around it:
     qlm__terms8_T_SFX   the 8 per-block terms of a full group of 8 blocks, computed in vector
                         lanes (each lane rounds exactly as the scalar expression does);
     qlm__tail_T_SFX     sumf += terms of a last group of g < 8 blocks, scalar;
     qlm__vec_dot_T_SFX  one row: sumf += term, block after block, as the reference
                         (8 rows at once: qlm__vec_dot8_T_SFX below). */
#define QLM__X86_ROWS32(SFX, TGT, T, TY, ISUM8, FORM)                                                \
    static inline TGT void qlm__terms8_##T##_##SFX(const qlm__block_##T *x, const qlm__block_##TY *y, float t[8]) { \
        int32_t isum[8];                                                                             \
        const int g = 8;                                                                             \
        ISUM8;                                                                                       \
        _mm256_storeu_ps(t, qlm__terms8_avx2(x, sizeof *x, y, sizeof *y, isum, FORM));               \
    }                                                                                                \
    static inline TGT float qlm__tail_##T##_##SFX(const qlm__block_##T *x, const qlm__block_##TY *y, int g, float sumf) { \
        int32_t isum[8];                                                                             \
        int b;                                                                                       \
        ISUM8;                                                                                       \
        for (b = 0; b < g; b++) sumf += QLM__X86_TERM_##FORM(b, isum[b]);                            \
        return sumf;                                                                                 \
    }                                                                                                \
    static TGT void qlm__vec_dot_##T##_##SFX(int n, float *s, const void *vx, const void *vy) {     \
        const qlm__block_##T *x = (const qlm__block_##T *)vx;                                        \
        const qlm__block_##TY *y = (const qlm__block_##TY *)vy;                                      \
        float sumf = 0.0f, t[8];                                                                     \
        int i, b, nb = n / 32;                                                                       \
        for (i = 0; i + 8 <= nb; i += 8) {                                                           \
            qlm__terms8_##T##_##SFX(x + i, y + i, t);                                                \
            for (b = 0; b < 8; b++) sumf += t[b];                                                    \
        }                                                                                            \
        *s = i < nb ? qlm__tail_##T##_##SFX(x + i, y + i, nb - i, sumf) : sumf;                      \
    }
#define QLM__X86_TERM_0(b, si) ((si) * qlm__h2f(x[b].d) * qlm__h2f(y[b].d))
#define QLM__X86_TERM_1(b, si) ((qlm__h2f(x[b].d) * qlm__h2f(y[b].d)) * (si))
#define QLM__X86_TERM_2(b, si) ((qlm__h2f(x[b].d) * qlm__h2f(y[b].d)) * (si) + qlm__h2f(x[b].m) * qlm__h2f(y[b].s))

QLM__X86_BLOCK32_KERNELS(avx2, QLM__AVX2, qlm__dot2_us8_avx2, qlm__dot_ss8_avx2)

/* ---- AVX2 / AVX-512: 8 rows at once (decode) ----------------------------------------------
   A matrix-vector product (one token) takes 8 weight rows per call with the rows in the 8
   float lanes: each row's sum still runs block after block in the reference's order, but as
   one vector add for all 8 rows, so results stay bit-identical to the one-row dots while the
   scalar add chain, the per-row scale shuffles and the activation loads are shared by 8 rows.
   Codes enter the integer dot unsigned (nibbles 0..15, q5 codes 0..31; q8_0 with VNNI as
   x + 128) and the offset comes back exactly as off * sum(y) per block.  Two blocks per
   register as in the one-row dots (block i in lanes 0-3, i + 1 in lanes 4-7), so one hadd
   tree reduces 8 rows x 2 blocks; a lone last block pairs with itself. */

/* Decode streams each matrix once, 8 rows per call, and 8 interleaved row streams are more
   than the hardware prefetcher ramps up in time (a row of a 576-wide q4_0 matrix is 5 cache
   lines): memory latency, not bandwidth, bounded decode. So as a call reads block *xb of row
   r it prefetches the same bytes of row r + 8 into L1 (the next call's rows: matrices are
   row-contiguous) and of row r + 16 into L2 (the call after: enough lead for DRAM latency,
   without holding L1's few fill buffers that long). Past a thread's last row or the matrix
   end a prefetch is harmless. Every line of a block is touched: blocks are read in order and
   a 32-block pair advances < 64 bytes; a super-block (144-210 bytes) prefetches each 64
   bytes and its last byte. tg, 2 threads, alternated (BENCHMARKS.md, session 8):
   Llama-1B-shape Q4_0 22.4 -> 39 t/s (L1 only: 36, L2 only: 39), Q8_0 14.6 -> 22.5;
   SmolLM2-shape (L3-resident on the 260 MiB L3 dev VM) Q4_0 +30%, where L2 only loses 5%. */
#define QLM__X86_PREFETCH8(xb, bx)                                                                  \
    do {                                                                                           \
        const uintptr_t pf_ = (uintptr_t)(xb) + 8 * (bx); /* may lie past the matrix: no pointer */ \
        size_t o_;                                                                                 \
        for (o_ = 0; o_ < sizeof *(xb); o_ += 64) {                                                \
            _mm_prefetch((const char *)(pf_ + o_), _MM_HINT_T0);                                   \
            _mm_prefetch((const char *)(pf_ + 8 * (bx) + o_), _MM_HINT_T1);                        \
        }                                                                                          \
        if (sizeof *(xb) > 64) {                                                                   \
            _mm_prefetch((const char *)(pf_ + sizeof *(xb) - 1), _MM_HINT_T0);                     \
            _mm_prefetch((const char *)(pf_ + 8 * (bx) + sizeof *(xb) - 1), _MM_HINT_T1);          \
        }                                                                                          \
    } while (0)

/* Unsigned codes of blocks x0, x1 in the pair layout: lo = elements 0..15, hi = 16..31. */
static inline QLM__AVX2 void qlm__u4_pair_avx2(const uint8_t *qs0, const uint8_t *qs1, __m256i *lo, __m256i *hi) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i v = qlm__load_2x16(qs0, qs1);
    *lo = _mm256_and_si256(v, m4);
    *hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
}
static inline QLM__AVX2 void qlm__u5_pair_avx2(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1,
                                               const uint8_t *qh1, __m256i *lo, __m256i *hi) {
    const __m256i e16 = _mm256_set1_epi8(16);
    __m256i hl, hh;
    qlm__u4_pair_avx2(qs0, qs1, lo, hi);
    qlm__qh_pair_avx2(qh0, qh1, &hl, &hh);
    *lo = _mm256_or_si256(*lo, _mm256_and_si256(hl, e16));
    *hi = _mm256_or_si256(*hi, _mm256_and_si256(hh, e16));
}
#define QLM__U_PAIR_q4_0_avx2(a, b, lo, hi) qlm__u4_pair_avx2((a)->qs, (b)->qs, lo, hi)
#define QLM__U_PAIR_q4_1_avx2(a, b, lo, hi) qlm__u4_pair_avx2((a)->qs, (b)->qs, lo, hi)
#define QLM__U_PAIR_q5_0_avx2(a, b, lo, hi) qlm__u5_pair_avx2((a)->qs, (a)->qh, (b)->qs, (b)->qh, lo, hi)
#define QLM__U_PAIR_q5_1_avx2(a, b, lo, hi) qlm__u5_pair_avx2((a)->qs, (a)->qh, (b)->qs, (b)->qh, lo, hi)

/* The sum of v's 8 lanes, in every lane. */
static inline QLM__AVX2 __m256i qlm__bsum8_avx2(__m256i v) {
    v = _mm256_hadd_epi32(v, v);
    v = _mm256_hadd_epi32(v, v);
    return _mm256_add_epi32(v, _mm256_permute2x128_si256(v, v, 0x01));
}
/* 8 one-block vectors (row r in p[r]) -> their 8 sums, row r in lane r. */
static inline QLM__AVX2 __m256i qlm__rows8_avx2(const __m256i p[8]) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    return _mm256_add_epi32(_mm256_permute2x128_si256(a, b, 0x20), _mm256_permute2x128_si256(a, b, 0x31));
}
/* 8 pair vectors -> block i's 8 row sums (*s0) and block i + 1's (*s1). */
static inline QLM__AVX2 void qlm__rows8x2_avx2(const __m256i p[8], __m256i *s0, __m256i *s1) {
    __m256i a = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    __m256i b = _mm256_hadd_epi32(_mm256_hadd_epi32(p[4], p[5]), _mm256_hadd_epi32(p[6], p[7]));
    *s0 = _mm256_permute2x128_si256(a, b, 0x20);
    *s1 = _mm256_permute2x128_si256(a, b, 0x31);
}
/* acc += the 8 rows' term of block b (rows bx bytes apart from x0), FORM as QLM__X86_TERM_*. */
static inline QLM__AVX2 __m256 qlm__acc8_avx2(__m256 acc, const void *x0, size_t bx, float dyf, float syf,
                                              __m256i isum, int form) {
    __m256 dx, mx, t, u, fi = _mm256_cvtepi32_ps(isum), dy = _mm256_set1_ps(dyf);
    qlm__f16x8_pairs(x0, bx, &dx, &mx);
    if (form == 0) {
        t = _mm256_mul_ps(fi, dx);
        qlm__x86_opaque(t);
        t = _mm256_mul_ps(t, dy);
    } else {
        t = _mm256_mul_ps(dx, dy);
        qlm__x86_opaque(t);
        t = _mm256_mul_ps(t, fi);
        if (form == 2) {
            u = _mm256_mul_ps(mx, _mm256_set1_ps(syf));
            qlm__x86_opaque(t);
            qlm__x86_opaque(u);
            t = _mm256_add_ps(t, u);
        }
    }
    qlm__x86_opaque(t);
    return _mm256_add_ps(acc, t);
}
#define QLM__X86_SY_q8_0(yb) 0.0f
#define QLM__X86_SY_q8_1(yb) qlm__h2f((yb).s)

/* The 32-block types with nibble codes, by pairs of blocks: SHIFT > 0 subtracts
   sum(y) << SHIFT (the code offset 8 or 16). */
#define QLM__X86_DOT8_PAIRS(SFX, TGT, T, TY, DOT2, SHIFT, FORM)                                      \
    static TGT void qlm__vec_dot8_##T##_##SFX(int n, float *s, const void *vx, size_t bx, const void *vy) { \
        const qlm__block_##T *x0 = (const qlm__block_##T *)vx;                                       \
        const qlm__block_##TY *y = (const qlm__block_##TY *)vy;                                      \
        const __m256i one = _mm256_set1_epi8(1);                                                     \
        __m256 acc = _mm256_setzero_ps();                                                            \
        int i, r, nb = n / 32;                                                                       \
        for (i = 0; i < nb; i += 2) {                                                                \
            int j = i + 1 < nb ? i + 1 : i;                                                          \
            __m256i ya = qlm__load_2x16(y[i].qs, y[j].qs), yb = qlm__load_2x16(y[i].qs + 16, y[j].qs + 16); \
            __m256i p[8], s0, s1;                                                                    \
            /* unrolled, so p[] stays in registers: tg, Zen 5, 2 threads, alternated: Llama-1B-shape \
               Q4_0 56-58 -> 62-70 t/s, SmolLM2-shape 374-413 -> 454-478 (neutral on the q8_0 loop) */ \
            QLM__UNROLL for (r = 0; r < 8; r++) {                                                    \
                const qlm__block_##T *x = (const qlm__block_##T *)((const uint8_t *)vx + (size_t)r * bx); \
                __m256i lo, hi;                                                                      \
                QLM__X86_PREFETCH8(&x[i], bx);                                                       \
                QLM__U_PAIR_##T##_##SFX(&x[i], &x[j], &lo, &hi);                                     \
                p[r] = DOT2(_mm256_setzero_si256(), lo, ya, hi, yb);                                 \
            }                                                                                        \
            qlm__rows8x2_avx2(p, &s0, &s1);                                                          \
            if (SHIFT) {                                                                             \
                __m256i q = DOT2(_mm256_setzero_si256(), one, ya, one, yb);                          \
                q = _mm256_hadd_epi32(q, q);                                                         \
                q = _mm256_slli_epi32(_mm256_hadd_epi32(q, q), SHIFT); /* [sum_i x4 | sum_j x4] */   \
                s0 = _mm256_sub_epi32(s0, _mm256_permute2x128_si256(q, q, 0x00));                    \
                s1 = _mm256_sub_epi32(s1, _mm256_permute2x128_si256(q, q, 0x11));                    \
            }                                                                                        \
            acc = qlm__acc8_avx2(acc, &x0[i], bx, qlm__h2f(y[i].d), QLM__X86_SY_##TY(y[i]), s0, FORM); \
            if (j != i)                                                                              \
                acc = qlm__acc8_avx2(acc, &x0[j], bx, qlm__h2f(y[j].d), QLM__X86_SY_##TY(y[j]), s1, FORM); \
        }                                                                                            \
        _mm256_storeu_ps(s, acc);                                                                    \
    }
/* q8_0, one block per register: ROWDOT(x, y) is the row's lanes with the offset SHIFT
   (AVX2: the sign trick, offset 0; VNNI: (x + 128) . y, offset 128 = 1 << 7); DOTUS an
   unsigned x signed one-register dot for sum(y). */
#define QLM__X86_DOT8_Q8_0(SFX, TGT, ROWDOT, DOTUS, SHIFT)                                             \
    static TGT void qlm__vec_dot8_q8_0_##SFX(int n, float *s, const void *vx, size_t bx, const void *vy) { \
        const qlm__block_q8_0 *x0 = (const qlm__block_q8_0 *)vx, *y = (const qlm__block_q8_0 *)vy;  \
        __m256 acc = _mm256_setzero_ps();                                                            \
        int i, r, nb = n / 32;                                                                       \
        for (i = 0; i < nb; i++) {                                                                   \
            __m256i yv = _mm256_loadu_si256((const __m256i *)y[i].qs), p[8], si;                     \
            for (r = 0; r < 8; r++) {                                                                \
                const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)((const uint8_t *)vx + (size_t)r * bx); \
                QLM__X86_PREFETCH8(&x[i], bx);                                                       \
                p[r] = ROWDOT(_mm256_loadu_si256((const __m256i *)x[i].qs), yv);                     \
            }                                                                                        \
            si = qlm__rows8_avx2(p);                                                                 \
            if (SHIFT) {                                                                             \
                __m256i q = qlm__bsum8_avx2(DOTUS(_mm256_set1_epi8(1), yv));                         \
                si = _mm256_sub_epi32(si, _mm256_slli_epi32(q, SHIFT));                              \
            }                                                                                        \
            acc = qlm__acc8_avx2(acc, &x0[i], bx, qlm__h2f(y[i].d), 0.0f, si, 1);                    \
        }                                                                                            \
        _mm256_storeu_ps(s, acc);                                                                    \
    }
#define QLM__X86_DOT8_KERNELS(SFX, TGT, DOT2, Q8ROW, DOTUS, Q8SHIFT)                                  \
    QLM__X86_DOT8_PAIRS(SFX, TGT, q4_0, q8_0, DOT2, 3, 0)                                            \
    QLM__X86_DOT8_PAIRS(SFX, TGT, q4_1, q8_1, DOT2, 0, 2)                                            \
    QLM__X86_DOT8_PAIRS(SFX, TGT, q5_0, q8_0, DOT2, 4, 1)                                            \
    QLM__X86_DOT8_PAIRS(SFX, TGT, q5_1, q8_1, DOT2, 0, 2)                                            \
    QLM__X86_DOT8_Q8_0(SFX, TGT, Q8ROW, DOTUS, Q8SHIFT)

QLM__X86_DOT8_KERNELS(avx2, QLM__AVX2, qlm__dot2_us8_avx2, qlm__dot_ss8_avx2, qlm__dot_us8_avx2, 0)

/* ---- AVX2: K-quants --------------------------------------------------------------------
   Bit-identical to the reference, which sums integer products into 8 lanes by element index
   mod 8 and scales each lane in float per super-block.  The SIMD code builds exactly those
   lane sums: a byte shuffle pairs element e with e+8 inside each 16-element half (same
   lane, same sub-block), maddubs adds each pair, and two runs' int16 results are interleaved
   so one madd applies both runs' scales while keeping lanes apart.  q2_K's reference keeps
   one integer per block, which any order gives. */

/* lo/hi += lanes of runs A and B (32 elements each; codes u unsigned 0..63, or signed
   values a in -32..31 for the _s version).  sv holds int16 scales [sA, sB] repeated, the low
   128 bits for elements 0..15 of the runs, the high for 16..31.  lo gets lanes 0-3 (low and
   high halves separately), hi lanes 4-7; qlm__kres_lanes adds the halves. */
static inline QLM__AVX2 __m256i qlm__kres_pairs(void) {
    return _mm256_setr_epi8(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15,
                            0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
}
static inline QLM__AVX2 void qlm__kres_add(__m256i pa, __m256i pb, __m256i sv, __m256i *lo, __m256i *hi) {
    *lo = _mm256_add_epi32(*lo, _mm256_madd_epi16(_mm256_unpacklo_epi16(pa, pb), sv));
    *hi = _mm256_add_epi32(*hi, _mm256_madd_epi16(_mm256_unpackhi_epi16(pa, pb), sv));
}
static inline QLM__AVX2 void qlm__kres_u(__m256i ua, __m256i ya, __m256i ub, __m256i yb, __m256i sv,
                                         __m256i *lo, __m256i *hi) {
    const __m256i P = qlm__kres_pairs();
    __m256i pa = _mm256_maddubs_epi16(_mm256_shuffle_epi8(ua, P), _mm256_shuffle_epi8(ya, P));
    __m256i pb = _mm256_maddubs_epi16(_mm256_shuffle_epi8(ub, P), _mm256_shuffle_epi8(yb, P));
    qlm__kres_add(pa, pb, sv, lo, hi);
}
static inline QLM__AVX2 void qlm__kres_s(__m256i aa, __m256i ya, __m256i ab, __m256i yb, __m256i sv,
                                         __m256i *lo, __m256i *hi) {
    const __m256i P = qlm__kres_pairs();
    __m256i a = _mm256_shuffle_epi8(aa, P), b = _mm256_shuffle_epi8(ab, P);
    __m256i pa = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(_mm256_shuffle_epi8(ya, P), a));
    __m256i pb = _mm256_maddubs_epi16(_mm256_sign_epi8(b, b), _mm256_sign_epi8(_mm256_shuffle_epi8(yb, P), b));
    qlm__kres_add(pa, pb, sv, lo, hi);
}
/* The 8 lanes in order 0..7 from lo/hi. */
static inline QLM__AVX2 __m256i qlm__kres_lanes(__m256i lo, __m256i hi) {
    return _mm256_add_epi32(_mm256_permute2x128_si256(lo, hi, 0x20), _mm256_permute2x128_si256(lo, hi, 0x31));
}
/* sv for sub-block scales: a/b = runs A/B, 0/1 = their first/second 16 elements. */
static inline QLM__AVX2 __m256i qlm__kres_sv(int a0, int b0, int a1, int b1) {
    return _mm256_set_m128i(_mm_set1_epi32((int)((uint32_t)(uint16_t)b1 << 16 | (uint16_t)a1)),
                            _mm_set1_epi32((int)((uint32_t)(uint16_t)b0 << 16 | (uint16_t)a0)));
}
/* sums[8] += d * lanes, each product rounded as the reference rounds it (d in every lane). */
static inline QLM__AVX2 __m256 qlm__kres_scale_ps(__m256 sums, __m256 d, __m256i lanes) {
    __m256 t = _mm256_mul_ps(d, _mm256_cvtepi32_ps(lanes));
    qlm__x86_opaque(t);
    return _mm256_add_ps(sums, t);
}
static inline QLM__AVX2 __m256 qlm__kres_scale(__m256 sums, float d, __m256i lanes) {
    return qlm__kres_scale_ps(sums, _mm256_set1_ps(d), lanes);
}
/* sumf + sums[0] + ... + sums[7], in that order. */
static inline QLM__AVX2 float qlm__kres_final(float sumf, __m256 sums) {
    float v[8];
    int l;
    _mm256_storeu_ps(v, sums);
    for (l = 0; l < 8; l++) sumf += v[l];
    return sumf;
}

static QLM__AVX2 void qlm__vec_dot_q2_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q2_K *x = (const qlm__block_q2_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3);
    float sumf = 0.0f;
    int i, h, k, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++) {
        const int8_t *q8 = y[i].qs;
        __m128i sc8 = _mm_loadu_si128((const __m128i *)x[i].scales);
        __m128i mn8 = _mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0f));
        __m128i mp = _mm_add_epi32(_mm_madd_epi16(_mm_cvtepu8_epi16(mn8), _mm_loadu_si128((const __m128i *)y[i].bsums)),
                                   _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(mn8, 8)),
                                                  _mm_loadu_si128((const __m128i *)(y[i].bsums + 8))));
        __m256i isum = _mm256_setzero_si256();
        float dall, dmin;
        for (h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (k = 0; k < 4; k++, q8 += 32) {
                int j = 8 * h + 2 * k; /* sub-blocks j, j+1 */
                __m256i p = _mm256_maddubs_epi16(_mm256_and_si256(q, m3), _mm256_loadu_si256((const __m256i *)q8));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set_m128i(_mm_set1_epi16((short)(x[i].scales[j + 1] & 0x0f)),
                                                                                    _mm_set1_epi16((short)(x[i].scales[j] & 0x0f)))));
                q = _mm256_srli_epi16(q, 2);
            }
        }
        dall = y[i].d * qlm__h2f(x[i].d);
        dmin = y[i].d * qlm__h2f(x[i].dmin);
        sumf += dall * qlm__hsum_epi32_avx2(isum) - dmin * qlm__hsum_epi32_sse(mp);
    }
    *s = sumf;
}

static QLM__AVX2 void qlm__vec_dot_q3_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q3_K *x = (const qlm__block_q3_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    __m256 sums = _mm256_setzero_ps();
    int i, h, k, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++) {
        const int8_t *q8 = y[i].qs;
        int8_t sc[16];
        __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        _mm_storeu_si128((__m128i *)sc, qlm__q3k_unpack_scales(x[i].scales));
        for (h = 0; h < 2; h++) {
            __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h)), a[4];
            for (k = 0; k < 4; k++) { /* value = 2 low bits + 4 * hmask bit - 4, in -4..3 */
                a[k] = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(q, m3), _mm256_slli_epi16(_mm256_and_si256(hm, one), 2)), four);
                q = _mm256_srli_epi16(q, 2);
                hm = _mm256_srli_epi16(hm, 1);
            }
            for (k = 0; k < 4; k += 2, q8 += 64) {
                const int8_t *c = sc + 8 * h + 2 * k; /* run k: sub-blocks c[0], c[1]; run k+1: c[2], c[3] */
                qlm__kres_s(a[k], _mm256_loadu_si256((const __m256i *)q8), a[k + 1], _mm256_loadu_si256((const __m256i *)(q8 + 32)),
                            qlm__kres_sv(c[0], c[2], c[1], c[3]), &lo, &hi);
            }
        }
        sums = qlm__kres_scale(sums, qlm__h2f(x[i].d) * y[i].d, qlm__kres_lanes(lo, hi));
    }
    *s = qlm__kres_final(0.0f, sums);
}

/* q4_K and q5_K share everything but the fifth bit (qh = NULL for q4_K).  Returns the
   integer min correction sum_j mn[j] * (bsums[2j] + bsums[2j+1]). */
static inline QLM__AVX2 int qlm__k45_block_avx2(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                                const qlm__block_q8_K *y, float d, __m256 *sums) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const int8_t *q8 = y->qs;
    uint8_t sc[8], mn[8];
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256(), hb = _mm256_setzero_si256();
    __m128i bs;
    int j;
    qlm__k4_unpack_scales(scales, sc, mn);
    bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y->bsums), _mm_loadu_si128((const __m128i *)(y->bsums + 8)));
    if (qh) hb = _mm256_loadu_si256((const __m256i *)qh);
    for (j = 0; j < 4; j++, q8 += 64) {
        __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
        __m256i c0 = _mm256_and_si256(q, m4), c1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) { /* bit 2j (first 32) and 2j+1 (next 32) of qh[l] is bit 4 */
            c0 = _mm256_or_si256(c0, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(1)), 4));
            c1 = _mm256_or_si256(c1, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(2)), 3));
            hb = _mm256_srli_epi16(hb, 2);
        }
        qlm__kres_u(c0, _mm256_loadu_si256((const __m256i *)q8), c1, _mm256_loadu_si256((const __m256i *)(q8 + 32)),
                    qlm__kres_sv(sc[2 * j], sc[2 * j + 1], sc[2 * j], sc[2 * j + 1]), &lo, &hi);
    }
    *sums = qlm__kres_scale(*sums, d, qlm__kres_lanes(lo, hi));
    return qlm__hsum_epi32_sse(_mm_madd_epi16(_mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)mn)), bs));
}

static QLM__AVX2 void qlm__vec_dot_q4_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q4_K *x = (const qlm__block_q4_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    __m256 sums = _mm256_setzero_ps();
    float sumf = 0.0f;
    int i, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++) {
        int sumi = qlm__k45_block_avx2(x[i].scales, x[i].qs, NULL, &y[i], qlm__h2f(x[i].d) * y[i].d, &sums);
        float dmin = qlm__h2f(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    *s = qlm__kres_final(sumf, sums);
}

static QLM__AVX2 void qlm__vec_dot_q5_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q5_K *x = (const qlm__block_q5_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    __m256 sums = _mm256_setzero_ps();
    float sumf = 0.0f;
    int i, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++) {
        int sumi = qlm__k45_block_avx2(x[i].scales, x[i].qs, x[i].qh, &y[i], qlm__h2f(x[i].d) * y[i].d, &sums);
        float dmin = qlm__h2f(x[i].dmin) * y[i].d;
        sumf -= dmin * sumi;
    }
    *s = qlm__kres_final(sumf, sums);
}

static QLM__AVX2 void qlm__vec_dot_q6_K_avx2(int n, float *s, const void *vx, const void *vy) {
    const qlm__block_q6_K *x = (const qlm__block_q6_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3), o32 = _mm256_set1_epi8(32);
    __m256 sums = _mm256_setzero_ps();
    int i, h, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++) {
        const int8_t *q8 = y[i].qs;
        const int8_t *sc = x[i].scales;
        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
        for (h = 0; h < 2; h++, q8 += 128, sc += 8) {
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            __m256i qh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            /* value = 4 low bits | 2 high bits << 4, minus 32: -32..31 */
            __m256i a0 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)), o32);
            __m256i a1 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)), o32);
            __m256i a2 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)), o32);
            __m256i a3 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)), o32);
            qlm__kres_s(a0, _mm256_loadu_si256((const __m256i *)q8), a1, _mm256_loadu_si256((const __m256i *)(q8 + 32)),
                        qlm__kres_sv(sc[0], sc[2], sc[1], sc[3]), &lo, &hi);
            qlm__kres_s(a2, _mm256_loadu_si256((const __m256i *)(q8 + 64)), a3, _mm256_loadu_si256((const __m256i *)(q8 + 96)),
                        qlm__kres_sv(sc[4], sc[6], sc[5], sc[7]), &lo, &hi);
        }
        sums = qlm__kres_scale(sums, qlm__h2f(x[i].d) * y[i].d, qlm__kres_lanes(lo, hi));
    }
    *s = qlm__kres_final(0.0f, sums);
}

/* ---- AVX2: K-quants, 8 rows at once (decode) --------------------------------------------
   The vec_dot8 form of the K-quant dots (q3_K..q6_K).  Each row keeps its own 8 float lanes
   (and, with mins, its own float sum, here row r in lane r), updated per super-block by the
   one-row dot's expressions and reduced at the end by qlm__kres_final, so each result is
   bit-identical to the one-row dot.  The 8 rows share the activation side: the q8_K codes
   put in pair order once per super-block (qlm__k8_acts_avx2), the bsums, and for q3_K/q6_K
   the offset products; the 8 rows' d (and dmin) are converted in one vector.  Each row is
   also cheaper than in the one-row dot:
     - the pair shuffle is applied to the packed weight bytes before their fields are split
       (the fields of one byte are elements 32, 64 or 96 apart: same lane and position);
     - the signed codes a of q3_K/q6_K enter maddubs unsigned (a + off) and each int16 pair
       sum gives back off * (y[e] + y[e+8]), shared by the rows (exact, no saturation:
       2 * 63 * 128 < 32767), instead of the two sign operations;
     - the sub-block scales are unpacked in vector registers, and each run pair's scale
       vector (qlm__kres_sv) is one vpermd of them.
   Per super-block and row: 8 int16 product vectors p[k], run k = elements 32k..32k+31 in
   pair order (qlm__k*_prod8_avx2), then ACC (qlm__kres_add, or its VNNI twin) adds run
   pair g = (p[2g], p[2g+1]) with scale vector SV(s16, g). */

/* Block y's 8 runs of 32 codes in pair order; with off > 0 also yo[k] = off * (y[e] + y[e+8])
   per int16 pair of run k. */
static inline QLM__AVX2 void qlm__k8_acts_avx2(const qlm__block_q8_K *y, int off, __m256i ys[8], __m256i yo[8]) {
    const __m256i P = qlm__kres_pairs();
    int k;
    QLM__UNROLL for (k = 0; k < 8; k++) {
        ys[k] = _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)(y->qs + 32 * k)), P);
        if (off) yo[k] = _mm256_maddubs_epi16(_mm256_set1_epi8((char)off), ys[k]);
    }
}
/* 32 packed bytes at p in pair order. */
static inline QLM__AVX2 __m256i qlm__k8_load_avx2(const uint8_t *p) {
    return _mm256_shuffle_epi8(_mm256_loadu_si256((const __m256i *)p), qlm__kres_pairs());
}
/* The 8 fp16 words at p, p + stride, ... p + 7 * stride, as floats; lo = 1: the word at p,
   lo = 0: the word after it (two-word loads, see qlm__f16x8_pairs). */
static inline QLM__AVX2 __m256 qlm__f16x8_avx2(const void *p, size_t stride, int lo) {
    __m256 a, b;
    qlm__f16x8_pairs(p, stride, &a, &b);
    return lo ? a : b;
}
/* qlm__k4_unpack_scales in a register: int16 scales sc[0..7] in the low half, mins mn[0..7]
   in the high half.  Reads 16 bytes from p (the 12 scale bytes and 4 of the next field). */
static inline QLM__AVX2 __m256i qlm__k4_scales16_avx2(const uint8_t *p) {
    __m128i v = _mm_loadu_si128((const __m128i *)p);       /* u0 u1 u2 - */
    __m128i a = _mm_shuffle_epi32(v, 0xa4), b = _mm_shuffle_epi32(v, 0x44); /* u0 u1 u2 u2, u0 u1 u0 u1 */
    /* [s0, m0, s1, m1] as 4-byte words (((u >> 6) & 3) << 4 == (u >> 2) & 0x30) */
    __m128i w = _mm_or_si128(_mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                           _mm_setr_epi32(0x3f3f3f3f, 0x3f3f3f3f, 0x0f0f0f0f, 0x0f0f0f0f)),
                             _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, 0, 0x30303030, 0x30303030)));
    return _mm256_cvtepu8_epi16(_mm_shuffle_epi32(w, 0xd8)); /* s0 s1 m0 m1 */
}
/* 16 signed sub-block scales c[0..15] (q3_K, q6_K) as int16, dword 2g = (c[4g], c[4g+2]),
   dword 2g+1 = (c[4g+1], c[4g+3]): the sv of run pair g is [dword 2g x4 | dword 2g+1 x4]. */
static inline QLM__AVX2 __m256i qlm__k16_scales16_avx2(__m128i c) {
    return _mm256_cvtepi8_epi16(_mm_shuffle_epi8(c, _mm_setr_epi8(0, 2, 1, 3, 4, 6, 5, 7, 8, 10, 9, 11, 12, 14, 13, 15)));
}
static inline QLM__AVX2 __m256i qlm__k16_sv_avx2(__m256i s16, int g) {
    return _mm256_permutevar8x32_epi32(s16, _mm256_setr_epi32(2 * g, 2 * g, 2 * g, 2 * g, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1));
}
/* q4_K/q5_K: run 2j, 2j+1 have one scale each, sc[2j] and sc[2j+1] = dword j. */
static inline QLM__AVX2 __m256i qlm__k4_sv_avx2(__m256i s16, int g) {
    return _mm256_permutevar8x32_epi32(s16, _mm256_set1_epi32(g));
}
/* The products of one q4_K/q5_K super-block (qh = NULL for q4_K). */
static inline QLM__AVX2 void qlm__k45_prod8_avx2(const uint8_t *qs, const uint8_t *qh, const __m256i ys[8], __m256i p[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256i hb = qh ? qlm__k8_load_avx2(qh) : _mm256_setzero_si256();
    int j;
    QLM__UNROLL for (j = 0; j < 4; j++) {
        __m256i q = qlm__k8_load_avx2(qs + 32 * j);
        __m256i c0 = _mm256_and_si256(q, m4), c1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) { /* as in qlm__k45_block_avx2 */
            c0 = _mm256_or_si256(c0, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(1)), 4));
            c1 = _mm256_or_si256(c1, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(2)), 3));
            hb = _mm256_srli_epi16(hb, 2);
        }
        p[2 * j] = _mm256_maddubs_epi16(c0, ys[2 * j]);
        p[2 * j + 1] = _mm256_maddubs_epi16(c1, ys[2 * j + 1]);
    }
}
/* The products of one q6_K super-block (yo: offset 32). */
static inline QLM__AVX2 void qlm__k6_prod8_avx2(const qlm__block_q6_K *x, const __m256i ys[8], const __m256i yo[8], __m256i p[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    int h, k;
    QLM__UNROLL for (h = 0; h < 2; h++) {
        __m256i l0 = qlm__k8_load_avx2(x->ql + 64 * h), l1 = qlm__k8_load_avx2(x->ql + 64 * h + 32);
        __m256i qh = qlm__k8_load_avx2(x->qh + 32 * h), u[4];
        /* code = 4 low bits | 2 high bits << 4, 0..63 (the value + 32); the 16-bit shifts
           move bits across bytes only where the masks drop them */
        u[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        u[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        u[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
        u[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
        QLM__UNROLL for (k = 0; k < 4; k++)
            p[4 * h + k] = _mm256_sub_epi16(_mm256_maddubs_epi16(u[k], ys[4 * h + k]), yo[4 * h + k]);
    }
}
/* The products of one q3_K super-block (yo: offset 4). */
static inline QLM__AVX2 void qlm__k3_prod8_avx2(const qlm__block_q3_K *x, const __m256i ys[8], const __m256i yo[8], __m256i p[8]) {
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256i hm = qlm__k8_load_avx2(x->hmask);
    int h, k;
    QLM__UNROLL for (h = 0; h < 2; h++) {
        __m256i q = qlm__k8_load_avx2(x->qs + 32 * h);
        QLM__UNROLL for (k = 0; k < 4; k++) { /* code = 2 low bits + 4 * hmask bit, 0..7 (the value + 4) */
            __m256i u = _mm256_or_si256(_mm256_and_si256(q, m3), _mm256_slli_epi16(_mm256_and_si256(hm, one), 2));
            p[4 * h + k] = _mm256_sub_epi16(_mm256_maddubs_epi16(u, ys[4 * h + k]), yo[4 * h + k]);
            q = _mm256_srli_epi16(q, 2);
            hm = _mm256_srli_epi16(hm, 1);
        }
    }
}
/* Per type: the products, the scales (s16) and their sv, the activation offset; q4_K and
   q5_K have mins (s16's high half, against the bsums) and d, dmin as the first fields,
   q3_K and q6_K have d as the last field. */
#define QLM__K8_PROD_q3_K(x, ys, yo, p) qlm__k3_prod8_avx2(x, ys, yo, p)
#define QLM__K8_PROD_q4_K(x, ys, yo, p) qlm__k45_prod8_avx2((x)->qs, NULL, ys, p)
#define QLM__K8_PROD_q5_K(x, ys, yo, p) qlm__k45_prod8_avx2((x)->qs, (x)->qh, ys, p)
#define QLM__K8_PROD_q6_K(x, ys, yo, p) qlm__k6_prod8_avx2(x, ys, yo, p)
#define QLM__K8_S16_q3_K(x) qlm__k16_scales16_avx2(qlm__q3k_unpack_scales((x)->scales))
#define QLM__K8_S16_q4_K(x) qlm__k4_scales16_avx2((x)->scales)
#define QLM__K8_S16_q5_K(x) qlm__k4_scales16_avx2((x)->scales)
#define QLM__K8_S16_q6_K(x) qlm__k16_scales16_avx2(_mm_loadu_si128((const __m128i *)(x)->scales))
#define QLM__K8_SV_q3_K qlm__k16_sv_avx2
#define QLM__K8_SV_q4_K qlm__k4_sv_avx2
#define QLM__K8_SV_q5_K qlm__k4_sv_avx2
#define QLM__K8_SV_q6_K qlm__k16_sv_avx2

/* s[r] = row r's dot; OFF as qlm__k8_acts_avx2.  MINS (q4_K, q5_K): rows also carry
   sumf -= dmin * sumi, and d, dmin are the block's first fields; otherwise d is the last
   field, loaded with the word before it (dropped). */
#define QLM__X86_DOT8_K(SFX, TGT, ACC, T, OFF, MINS)                                               \
    static TGT void qlm__vec_dot8_##T##_##SFX(int n, float *s, const void *vx, size_t bx, const void *vy) { \
        const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;                                    \
        __m256 sums[8], sumf = _mm256_setzero_ps();                                                \
        __m256i ys[8], yo[8], mins[8];                                                             \
        float f[8];                                                                                \
        int i, r, g, nb = n / QLM__QK_K;                                                           \
        for (r = 0; r < 8; r++) sums[r] = _mm256_setzero_ps();                                     \
        for (i = 0; i < nb; i++) {                                                                 \
            const qlm__block_##T *x0 = (const qlm__block_##T *)vx + i;                             \
            const __m256 yd = _mm256_set1_ps(y[i].d);                                              \
            __m256 d = _mm256_mul_ps(MINS ? qlm__f16x8_avx2(&x0->d, bx, 1)                         \
                                          : qlm__f16x8_avx2((const uint8_t *)&x0->d - 2, bx, 0), yd); \
            __m256i bs = _mm256_setzero_si256();                                                   \
            qlm__k8_acts_avx2(&y[i], OFF, ys, yo);                                                 \
            if (MINS) /* bsum pairs in the high half, against the mins */                          \
                bs = _mm256_inserti128_si256(bs, _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)y[i].bsums), \
                                                                 _mm_loadu_si128((const __m128i *)(y[i].bsums + 8))), 1); \
            for (r = 0; r < 8; r++) {                                                              \
                const qlm__block_##T *x = (const qlm__block_##T *)((const uint8_t *)x0 + (size_t)r * bx); \
                __m256i p[8], lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();            \
                QLM__X86_PREFETCH8(x, bx);                                                         \
                __m256i s16 = QLM__K8_S16_##T(x);                                                  \
                QLM__K8_PROD_##T(x, ys, yo, p);                                                    \
                QLM__UNROLL for (g = 0; g < 4; g++) ACC(p[2 * g], p[2 * g + 1], QLM__K8_SV_##T(s16, g), &lo, &hi); \
                sums[r] = qlm__kres_scale_ps(sums[r], _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(r)), \
                                             qlm__kres_lanes(lo, hi));                             \
                if (MINS) mins[r] = _mm256_madd_epi16(s16, bs);                                    \
            }                                                                                      \
            if (MINS) { /* each row: sumf -= dmin * sumi, dmin = h2f(x.dmin) * y.d */              \
                __m256 dmin = _mm256_mul_ps(qlm__f16x8_avx2(&x0->d, bx, 0), yd);                   \
                __m256 t = _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(qlm__rows8_avx2(mins)));         \
                qlm__x86_opaque(dmin);                                                             \
                qlm__x86_opaque(t);                                                                \
                sumf = _mm256_sub_ps(sumf, t);                                                     \
            }                                                                                      \
        }                                                                                          \
        _mm256_storeu_ps(f, sumf);                                                                 \
        for (r = 0; r < 8; r++) s[r] = qlm__kres_final(f[r], sums[r]);                             \
    }
#define QLM__X86_DOT8_K_KERNELS(SFX, TGT, ACC)                                                    \
    QLM__X86_DOT8_K(SFX, TGT, ACC, q3_K, 4, 0)                                                     \
    QLM__X86_DOT8_K(SFX, TGT, ACC, q4_K, 0, 1)                                                     \
    QLM__X86_DOT8_K(SFX, TGT, ACC, q5_K, 0, 1)                                                     \
    QLM__X86_DOT8_K(SFX, TGT, ACC, q6_K, 32, 0)

QLM__X86_DOT8_K_KERNELS(avx2, QLM__AVX2, qlm__kres_add)

/* ---- AVX2: activation quantisers -------------------------------------------------------- */

/* roundf (half away from zero) of float lanes holding integers' neighbours, |v| < 2^23:
   trunc(v + copysign(0.5 - 2^-25, v)).  The add rounds to nearest-even, which carries
   exactly the |fraction| >= 0.5 cases over the next integer (at v = k + 0.5 the sum lands
   on the midpoint 1 - 2^-25 only for k = 0, and that tie goes to 1). */
static inline QLM__AVX2 __m256i qlm__roundf_epi32_avx2(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f), half = _mm256_set1_ps(0.49999997f);
    __m256 r = _mm256_add_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), half));
    return _mm256_cvttps_epi32(r);
}
/* Max |x| over 8 lanes, reduced to a float. */
static inline QLM__AVX2 float qlm__hmax_ps_avx2(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}
/* 4 x 8 int32 (each -128..127) -> 32 int8 in order. */
static inline QLM__AVX2 __m256i qlm__pack_i32x32_avx2(__m256i a, __m256i b, __m256i c, __m256i d) {
    __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(c, d));
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* One q8_0/q8_1 block: d = amax / 127, codes roundf(x * id) as the reference; returns d and
   stores the codes, and their int sum in *sum. */
static inline QLM__AVX2 float qlm__quant_q8_block_avx2(const float *x, int8_t *qs, int *sum) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 v[4], id;
    __m256i c[4];
    float amax, d;
    int k;
    for (k = 0; k < 4; k++) v[k] = _mm256_loadu_ps(x + 8 * k);
    amax = qlm__hmax_ps_avx2(_mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], absm), _mm256_and_ps(v[1], absm)),
                                           _mm256_max_ps(_mm256_and_ps(v[2], absm), _mm256_and_ps(v[3], absm))));
    d = amax / 127;
    id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    for (k = 0; k < 4; k++) {
        __m256 p = _mm256_mul_ps(v[k], id);
        qlm__x86_opaque(p);
        c[k] = qlm__roundf_epi32_avx2(p);
    }
    if (sum) {
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3]));
        *sum = qlm__hsum_epi32_avx2(t);
    }
    _mm256_storeu_si256((__m256i *)qs, qlm__pack_i32x32_avx2(c[0], c[1], c[2], c[3]));
    return d;
}

static QLM__AVX2 void qlm__quant_row_q8_0_avx2(const float *src, void *dst, int64_t n) {
    qlm__block_q8_0 *b = (qlm__block_q8_0 *)dst;
    int64_t i, nb = n / QLM__QK8_0;
    for (i = 0; i < nb; i++, src += QLM__QK8_0)
        b[i].d = qlm__fp32_to_fp16(qlm__quant_q8_block_avx2(src, b[i].qs, NULL));
}

static QLM__AVX2 void qlm__quant_row_q8_1_avx2(const float *src, void *dst, int64_t n) {
    qlm__block_q8_1 *b = (qlm__block_q8_1 *)dst;
    int64_t i, nb = n / QLM__QK8_1;
    for (i = 0; i < nb; i++, src += QLM__QK8_1) {
        int sum;
        float d = qlm__quant_q8_block_avx2(src, b[i].qs, &sum), sd = (float)sum * d;
        b[i].d = qlm__fp32_to_fp16(d);
        b[i].s = qlm__fp32_to_fp16(sd);
    }
}

/* q8_K: max = the first value of largest magnitude (with its sign), iscale = -127 / max,
   codes nearest-even (as qlm__nearest_int) clamped to 127, d = 1 / iscale. */
static QLM__AVX2 void qlm__quant_row_q8_K_avx2(const float *src, void *dst, int64_t n) {
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    qlm__block_q8_K *b = (qlm__block_q8_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        __m256 m = _mm256_setzero_ps(), is;
        float amax, max = 0.0f, iscale;
        int j, k;
        /* max(new, old): a NaN lane is skipped, as the reference's comparisons skip it */
        for (j = 0; j < QLM__QK_K; j += 8) m = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(src + j), absm), m);
        amax = qlm__hmax_ps_avx2(m);
        for (j = 0; j < QLM__QK_K && amax > 0.0f; j += 8) {
            __m256 v = _mm256_loadu_ps(src + j);
            int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(v, absm), _mm256_set1_ps(amax), _CMP_EQ_OQ));
            if (hit) { max = src[j + __builtin_ctz((unsigned)hit)]; break; }
        }
        if (max == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        iscale = -127.0f / max;
        is = _mm256_set1_ps(iscale);
        for (j = 0; j < QLM__QK_K; j += 32) {
            __m256i c[4], q;
            for (k = 0; k < 4; k++) {
                __m256 p = _mm256_mul_ps(_mm256_loadu_ps(src + j + 8 * k), is);
                qlm__x86_opaque(p);
                p = _mm256_round_ps(p, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
                c[k] = _mm256_min_epi32(_mm256_cvttps_epi32(p), _mm256_set1_epi32(127));
            }
            q = qlm__pack_i32x32_avx2(c[0], c[1], c[2], c[3]);
            _mm256_storeu_si256((__m256i *)(b[i].qs + j), q);
            /* two bsums of 16 codes each: widen to int16, add pairs, fold */
            {
                __m256i w = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
                /* w: 8 int32, lanes 0-3 = codes 0..15 of this run, lanes 4-7 = 16..31 */
                __m128i s4 = _mm_hadd_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
                s4 = _mm_hadd_epi32(s4, s4);
                b[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(s4);
                b[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(s4, 1);
            }
        }
        b[i].d = 1 / iscale;
    }
}

/* f16 row: F16C's round-to-nearest-even matches qlm__fp32_to_fp16 for every non-NaN input
   (subnormal halves and overflow to inf included); a group of 8 holding a NaN goes through
   the reference, which makes NaNs 0x7e00. */
static QLM__AVX2 void qlm__quant_row_f16_avx2(const float *src, void *dst, int64_t n) {
    qlm__f16 *y = (qlm__f16 *)dst;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            qlm__quant_row_f16_ref(src + i, y + i, 8);
            continue;
        }
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
    }
    for (; i < n; i++) y[i] = qlm__fp32_to_fp16(src[i]);
}

/* bf16 row: (u + 0x7fff + bit16) >> 16, as qlm__fp32_to_bf16; NaN groups via the reference. */
static QLM__AVX2 void qlm__quant_row_bf16_avx2(const float *src, void *dst, int64_t n) {
    qlm__bf16 *y = (qlm__bf16 *)dst;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 v0 = _mm256_loadu_ps(src + i), v1 = _mm256_loadu_ps(src + i + 8);
        __m256i u0 = _mm256_castps_si256(v0), u1 = _mm256_castps_si256(v1), r;
        if (_mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(v0, v0, _CMP_UNORD_Q), _mm256_cmp_ps(v1, v1, _CMP_UNORD_Q)))) {
            qlm__quant_row_bf16_ref(src + i, y + i, 16);
            continue;
        }
        u0 = _mm256_add_epi32(u0, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u0, 16), _mm256_set1_epi32(1))));
        u1 = _mm256_add_epi32(u1, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u1, 16), _mm256_set1_epi32(1))));
        r = _mm256_packus_epi32(_mm256_srli_epi32(u0, 16), _mm256_srli_epi32(u1, 16));
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_permute4x64_epi64(r, 0xd8));
    }
    for (; i < n; i++) y[i] = qlm__fp32_to_bf16(src[i]);
}

/* ---- KV cache: the fp8 K dot and the V axpys (twins of the >>kernels-ref KV section) ---- */

/* 8 E4M3 codes -> 8 floats times 2^-8 (see the E4M3 note in >>kernels-ref) */
static inline QLM__AVX2 __m256 qlm__e4m3x8_avx2(const uint8_t *p) {
    __m128i b = _mm_cvtepu8_epi16(_mm_loadl_epi64((const __m128i *)p));
    __m128i h = _mm_or_si128(_mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x80)), 8),
                             _mm_slli_epi16(_mm_and_si128(b, _mm_set1_epi16(0x7f)), 7));
    return _mm256_cvtph_ps(h);
}
static QLM__AVX2 void qlm__kv_dot_fp8_avx2(int n, float *s, const void *k, const void *vq) {
    const uint8_t *c = (const uint8_t *)k + 4;
    const float *q = (const float *)vq;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    float d, sum;
    int i = 0;
    memcpy(&d, k, 4);
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(qlm__e4m3x8_avx2(c + i), _mm256_loadu_ps(q + i), a0);
        a1 = _mm256_fmadd_ps(qlm__e4m3x8_avx2(c + i + 8), _mm256_loadu_ps(q + i + 8), a1);
    }
    for (; i + 8 <= n; i += 8) a0 = _mm256_fmadd_ps(qlm__e4m3x8_avx2(c + i), _mm256_loadu_ps(q + i), a0);
    sum = qlm__hsum_ps_avx2(_mm256_add_ps(a0, a1)) * 256.0f;
    for (; i < n; i++) sum += qlm__e4m3_to_fp32(c[i]) * q[i];
    *s = sum * d;
}
static QLM__AVX2 void qlm__kv_axpy_fp8_avx2(int n, float *acc, float a, const void *v) {
    const uint8_t *c = (const uint8_t *)v + 4;
    float d;
    __m256 f;
    int i = 0;
    memcpy(&d, v, 4);
    a *= d;
    f = _mm256_set1_ps(a * 256.0f);
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(qlm__e4m3x8_avx2(c + i), f, _mm256_loadu_ps(acc + i)));
    for (; i < n; i++) acc[i] += a * qlm__e4m3_to_fp32(c[i]);
}
static QLM__AVX2 void qlm__kv_axpy_f16_avx2(int n, float *acc, float a, const void *v) {
    const qlm__f16 *x = (const qlm__f16 *)v;
    __m256 f = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(acc + i, _mm256_fmadd_ps(qlm__load_f16x8(x + i), f, _mm256_loadu_ps(acc + i)));
    for (; i < n; i++) acc[i] += a * qlm__h2f(x[i]);
}
static QLM__AVX2 void qlm__kv_axpy_q8_0_avx2(int n, float *acc, float a, const void *v) {
    const qlm__block_q8_0 *b = (const qlm__block_q8_0 *)v;
    int i, j;
    for (i = 0; i < n / QLM__QK8_0; i++) {
        __m256 f = _mm256_set1_ps(a * qlm__h2f(b[i].d));
        float *y = acc + i * QLM__QK8_0;
        for (j = 0; j < QLM__QK8_0; j += 8) {
            __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[i].qs + j))));
            _mm256_storeu_ps(y + j, _mm256_fmadd_ps(q, f, _mm256_loadu_ps(y + j)));
        }
    }
}
/* q4_1 and q4_0 share the nibble order: elements j (low) and j + 16 (high) of byte j */
static QLM__AVX2 void qlm__kv_axpy_nib_avx2(float *y, const uint8_t *qs, __m256 f, __m256 m) {
    __m128i raw = _mm_loadu_si128((const __m128i *)qs);
    __m128i lo = _mm_and_si128(raw, _mm_set1_epi8(0x0f));
    __m128i hi = _mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f));
    __m256 q0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    __m256 q1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)));
    __m256 q2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    __m256 q3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)));
    _mm256_storeu_ps(y, _mm256_add_ps(_mm256_fmadd_ps(q0, f, _mm256_loadu_ps(y)), m));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_fmadd_ps(q1, f, _mm256_loadu_ps(y + 8)), m));
    _mm256_storeu_ps(y + 16, _mm256_add_ps(_mm256_fmadd_ps(q2, f, _mm256_loadu_ps(y + 16)), m));
    _mm256_storeu_ps(y + 24, _mm256_add_ps(_mm256_fmadd_ps(q3, f, _mm256_loadu_ps(y + 24)), m));
}
static QLM__AVX2 void qlm__kv_axpy_q4_1_avx2(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_1 *b = (const qlm__block_q4_1 *)v;
    int i;
    for (i = 0; i < n / QLM__QK4_1; i++)
        qlm__kv_axpy_nib_avx2(acc + i * QLM__QK4_1, b[i].qs, _mm256_set1_ps(a * qlm__h2f(b[i].d)),
                              _mm256_set1_ps(a * qlm__h2f(b[i].m)));
}
static QLM__AVX2 void qlm__kv_axpy_q4_0_avx2(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_0 *b = (const qlm__block_q4_0 *)v;
    int i;
    for (i = 0; i < n / QLM__QK4_0; i++) { /* (q - 8) f = q f - 8 f */
        float f = a * qlm__h2f(b[i].d);
        qlm__kv_axpy_nib_avx2(acc + i * QLM__QK4_0, b[i].qs, _mm256_set1_ps(f), _mm256_set1_ps(-8.0f * f));
    }
}

/* ---- KV cache, blocks of cells: scores of up to 32 cells for one q head, and V of up to 32
   cells into the accumulators of all g heads of a group (each V segment decoded once for all
   of them). Used by attention when the table has them and head_dim % 32 == 0; the reference
   is a loop of kv_dot / kv_axpy over the cells (see qlm__att_block), their twin. ---- */

/* lane c of the result = horizontal sum of a[c] */
static inline QLM__AVX2 __m256 qlm__reduce8_ps_avx2(const __m256 *a) {
    __m256 t0 = _mm256_hadd_ps(a[0], a[1]), t1 = _mm256_hadd_ps(a[2], a[3]);
    __m256 t2 = _mm256_hadd_ps(a[4], a[5]), t3 = _mm256_hadd_ps(a[6], a[7]);
    t0 = _mm256_hadd_ps(t0, t1);
    t2 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(t0, t2, 0x20), _mm256_permute2f128_ps(t0, t2, 0x31));
}
/* 16 nibbles -> 32 bytes in block order (element j: low nibble of byte j, j + 16: high) */
static inline QLM__AVX2 __m256i qlm__nib32_avx2(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__kv_scores_avx2(int t, int hd, int n, const uint8_t *K, size_t row, const int32_t *cells, const void *vq,
                    float *out) {
    float qf[512], scale[8], res[8];
    const uint8_t *kp[8];
    int i, c, d;
    if (t == QLM_KV_F16)
        for (d = 0; d < hd; d += 8) _mm256_storeu_ps(qf + d, qlm__load_f16x8((const qlm__f16 *)vq + d));
    for (i = 0; i < n; i += 8) {
        __m256 acc[8];
        int m = n - i < 8 ? n - i : 8;
        /* 8 cells at a time, the inner loop over cells: 8 independent FMA chains (a short cell
           block repeats its first cell, whose extra results are dropped) */
        for (c = 0; c < 8; c++) {
            kp[c] = K + (size_t)cells[i + (c < m ? c : 0)] * row;
            acc[c] = _mm256_setzero_ps();
            scale[c] = 1.0f;
        }
        switch (t) {
        case QLM_KV_F16:
            for (d = 0; d < hd; d += 8) {
                __m256 q = _mm256_loadu_ps(qf + d);
                QLM__UNROLL for (c = 0; c < 8; c++) /* unrolled: acc[] stays in registers */
                    acc[c] = _mm256_fmadd_ps(qlm__load_f16x8((const qlm__f16 *)kp[c] + d), q, acc[c]);
            }
            break;
        case QLM_KV_FP8:
            for (c = 0; c < 8; c++) {
                memcpy(&scale[c], kp[c], 4);
                scale[c] *= 256.0f;
            }
            for (d = 0; d < hd; d += 8) {
                __m256 q = _mm256_loadu_ps((const float *)vq + d);
                QLM__UNROLL for (c = 0; c < 8; c++) acc[c] = _mm256_fmadd_ps(qlm__e4m3x8_avx2(kp[c] + 4 + d), q, acc[c]);
            }
            break;
        }
        _mm256_storeu_ps(res, _mm256_mul_ps(qlm__reduce8_ps_avx2(acc), _mm256_loadu_ps(scale)));
        for (c = 0; c < m; c++) out[i + c] = res[c];
    }
}
/* qlm__kv_scores_NAME_avx2 for the float caches (f16, fp8): one query head at a time */
#define QLM__KV_SCORES_FN(name, T, SFX, TGT)                                                      \
    static TGT void qlm__kv_scores_##name##_##SFX(int hd, int n, int g, const uint8_t *K, size_t row, \
                                                  const int32_t *cells, const void *q, size_t qs,   \
                                                  float *out, int64_t ldo) {                        \
        int gi;                                                                                     \
        for (gi = 0; gi < g; gi++)                                                                  \
            qlm__kv_scores_##SFX(T, hd, n, K, row, cells, (const uint8_t *)q + (size_t)gi * qs,     \
                                 out + gi * ldo);                                                   \
    }
QLM__KV_SCORES_FN(f16d, QLM_KV_F16, avx2, QLM__AVX2)
/* The f16 kernel above with the keys transposed once per call (8 x 8 transposes: kt[d] = element d
   of 32 cells) and each cell summed in its lane in the same order (FMA chains over d = l, l + 8,
   ..., then ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))): the same bits, and the transposes
   shared by all g heads, 3 at a time (see qlm__kv_scores_f16t_avx512). */
static QLM__AVX2 void qlm__kv_scores_f16t_avx2(int hd, int n, int g, const uint8_t *K, size_t row, const int32_t *cells,
                                               const void *vq, size_t qs, float *out, int64_t ldo) {
    float kt[256 * 32], qf[3][256]; /* hd <= 256: 35 KiB of stack (musl's threads get 128 KiB) */
    int ng = (n + 7) / 8, grp, g0, gn, h, c, d, l;
    for (grp = 0; grp < ng; grp++) {
        const uint8_t *kp[8];
        int m = n - 8 * grp < 8 ? n - 8 * grp : 8;
        for (c = 0; c < 8; c++) kp[c] = K + (size_t)cells[8 * grp + (c < m ? c : 0)] * row;
        for (d = 0; d < hd; d += 8) {
            __m256 r[8], a[8], b[8];
            QLM__UNROLL for (c = 0; c < 8; c++) r[c] = qlm__load_f16x8((const qlm__f16 *)kp[c] + d);
            QLM__UNROLL for (c = 0; c < 8; c += 2) {
                a[c] = _mm256_unpacklo_ps(r[c], r[c + 1]);
                a[c + 1] = _mm256_unpackhi_ps(r[c], r[c + 1]);
            }
            QLM__UNROLL for (c = 0; c < 8; c += 4) { /* b[c + k], 128-bit lane L: rows c..c+3 of column 4L + k */
                b[c] = _mm256_shuffle_ps(a[c], a[c + 2], 0x44);
                b[c + 1] = _mm256_shuffle_ps(a[c], a[c + 2], 0xee);
                b[c + 2] = _mm256_shuffle_ps(a[c + 1], a[c + 3], 0x44);
                b[c + 3] = _mm256_shuffle_ps(a[c + 1], a[c + 3], 0xee);
            }
            QLM__UNROLL for (c = 0; c < 4; c++) {
                _mm256_storeu_ps(kt + (size_t)(d + c) * 32 + 8 * grp, _mm256_permute2f128_ps(b[c], b[4 + c], 0x20));
                _mm256_storeu_ps(kt + (size_t)(d + 4 + c) * 32 + 8 * grp, _mm256_permute2f128_ps(b[c], b[4 + c], 0x31));
            }
        }
    }
    for (g0 = 0; g0 < g; g0 += 3) {
        gn = g - g0 < 3 ? g - g0 : 3;
        for (h = 0; h < gn; h++)
            for (d = 0; d < hd; d += 8)
                _mm256_storeu_ps(qf[h] + d, qlm__load_f16x8((const qlm__f16 *)((const uint8_t *)vq + (size_t)(g0 + h) * qs) + d));
        for (grp = 0; grp < ng; grp++) {
            const float *k = kt + 8 * grp;
            __m256 Z[3], W[3], S[3];
            QLM__UNROLL for (h = 0; h < 3; h++) Z[h] = W[h] = S[h] = _mm256_setzero_ps(); /* (g++ cannot see l's order) */
            for (l = 0; l < 8; l += 2) { /* the pair (a_l, a_(l+1)), then up the tree */
                __m256 a0[3], a1[3];
                QLM__UNROLL for (h = 0; h < 3; h++) a0[h] = a1[h] = _mm256_setzero_ps();
                for (d = l; d < hd; d += 8) {
                    __m256 k0 = _mm256_loadu_ps(k + (size_t)d * 32), k1 = _mm256_loadu_ps(k + (size_t)(d + 1) * 32);
                    QLM__UNROLL for (h = 0; h < 3; h++)
                        if (h < gn) {
                            a0[h] = _mm256_fmadd_ps(k0, _mm256_broadcast_ss(&qf[h][d]), a0[h]);
                            a1[h] = _mm256_fmadd_ps(k1, _mm256_broadcast_ss(&qf[h][d + 1]), a1[h]);
                        }
                }
                QLM__UNROLL for (h = 0; h < 3; h++) {
                    __m256 y = _mm256_add_ps(a0[h], a1[h]);
                    if (l == 0 || l == 4) Z[h] = y;
                    else if (l == 2) W[h] = _mm256_add_ps(Z[h], y);
                    else S[h] = _mm256_add_ps(W[h], _mm256_add_ps(Z[h], y));
                }
            }
            for (h = 0; h < gn; h++) {
                int m = n - 8 * grp < 8 ? n - 8 * grp : 8;
                float res[8];
                _mm256_storeu_ps(res, S[h]);
                memcpy(out + (g0 + h) * ldo + 8 * grp, res, (size_t)m * 4);
            }
        }
    }
}
/* The two forms sum alike; the transposes pay from 3 heads on (per (head, cell) at hd 64: 5.1 ns
   one head at a time at any g; transposed 4.7 ns at g = 3, 2.4 ns at g = 24) */
static QLM__AVX2 void qlm__kv_scores_f16_avx2(int hd, int n, int g, const uint8_t *K, size_t row, const int32_t *cells,
                                              const void *vq, size_t qs, float *out, int64_t ldo) {
    (g >= 3 && hd <= 256 ? qlm__kv_scores_f16t_avx2 : qlm__kv_scores_f16d_avx2)(hd, n, g, K, row, cells, vq, qs, out, ldo);
}
QLM__KV_SCORES_FN(fp8, QLM_KV_FP8, avx2, QLM__AVX2)

/* 8 cells' 16 bytes at offset off, transposed: lane i of r[j] = bytes 4j..4j+3 of cell i (two
   cells per register, cell 4k + m in 128-bit lane k of z[m], then a 4 x 4 dword transpose in
   each lane; the AVX-512 kernel's qlm__kv_t16_avx512 on 8 cells) */
static inline __attribute__((always_inline)) QLM__AVX2 void qlm__kv_t8_avx2(const uint8_t *const *kp, size_t off,
                                                                             __m256i r[4]) {
    __m256i z[4], t0, t1, t2, t3;
    int m;
    for (m = 0; m < 4; m++)
        z[m] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(kp[m] + off))),
                                       _mm_loadu_si128((const __m128i *)(kp[4 + m] + off)), 1);
    t0 = _mm256_unpacklo_epi32(z[0], z[1]);
    t1 = _mm256_unpackhi_epi32(z[0], z[1]);
    t2 = _mm256_unpacklo_epi32(z[2], z[3]);
    t3 = _mm256_unpackhi_epi32(z[2], z[3]);
    r[0] = _mm256_unpacklo_epi64(t0, t2);
    r[1] = _mm256_unpackhi_epi64(t0, t2);
    r[2] = _mm256_unpacklo_epi64(t1, t3);
    r[3] = _mm256_unpackhi_epi64(t1, t3);
}
/* K . q_gi for a q8_0, q4 or q4_0 cache and all g heads, 8 cells in the 8 lanes: the AVX-512
   kernel's scheme with maddubs + madd for the 4-code dots. q8_0 keeps signed codes through the
   sign trick (|k| . sign(q, k), each pair <= 2 * 127 * 127, no saturation); nibbles are
   unsigned, so a block's 8 maddubs (<= 8 * 2 * 15 * 127) add in 16 bits before one madd. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__kv_scores8_avx2(int t, int hd, int n, int g, const uint8_t *K, size_t row, const int32_t *cells,
                     const void *vq, size_t qstride, float *out, int64_t ldo) {
    const size_t kb = t == QLM_KV_Q8_0 ? sizeof(qlm__block_q8_0) : t == QLM_KV_Q4 ? sizeof(qlm__block_q4_1)
                                                                                 : sizeof(qlm__block_q4_0);
    const size_t qb = t == QLM_KV_Q4 ? sizeof(qlm__block_q8_1) : sizeof(qlm__block_q8_0);
    const size_t koff = t == QLM_KV_Q8_0 ? offsetof(qlm__block_q8_0, qs) : t == QLM_KV_Q4 ? offsetof(qlm__block_q4_1, qs)
                                                                                        : offsetof(qlm__block_q4_0, qs);
    const size_t yoff = t == QLM_KV_Q4 ? offsetof(qlm__block_q8_1, qs) : offsetof(qlm__block_q8_0, qs);
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    __m256 fs[64]; /* per head: the 8 cells' scores so far (g <= 64) */
    int i, c, b, gi, j, nb = hd / 32;
    for (i = 0; i < n; i += 8) {
        const uint8_t *kp[8];
        int m = n - i < 8 ? n - i : 8;
        for (c = 0; c < 8; c++) kp[c] = K + (size_t)cells[i + (c < m ? c : 0)] * row;
        for (b = 0; b < nb; b++) {
            const size_t o = (size_t)b * kb;
            __m256i r[8];
            __m256 dx, mx = _mm256_setzero_ps();
            qlm__f16 dh[8], mh[8];
            for (c = 0; c < 8; c++) {
                memcpy(&dh[c], kp[c] + o, 2);
                if (t == QLM_KV_Q4) memcpy(&mh[c], kp[c] + o + 2, 2);
            }
            dx = _mm256_cvtph_ps(_mm_set_epi16((short)dh[7], (short)dh[6], (short)dh[5], (short)dh[4], (short)dh[3],
                                               (short)dh[2], (short)dh[1], (short)dh[0]));
            if (t == QLM_KV_Q4)
                mx = _mm256_cvtph_ps(_mm_set_epi16((short)mh[7], (short)mh[6], (short)mh[5], (short)mh[4],
                                                   (short)mh[3], (short)mh[2], (short)mh[1], (short)mh[0]));
            qlm__kv_t8_avx2(kp, o + koff, r);
            if (t == QLM_KV_Q8_0)
                qlm__kv_t8_avx2(kp, o + koff + 16, r + 4);
            else
                QLM__UNROLL for (j = 0; j < 4; j++) {
                    r[4 + j] = _mm256_and_si256(_mm256_srli_epi16(r[j], 4), m4);
                    r[j] = _mm256_and_si256(r[j], m4);
                }
            for (gi = 0; gi < g; gi++) {
                const uint8_t *y = (const uint8_t *)vq + (size_t)gi * qstride + (size_t)b * qb;
                __m256i acc;
                __m256 sc;
                int32_t yw[8];
                qlm__f16 h[2];
                memcpy(h, y, 4); /* d, and s for q8_1 */
                memcpy(yw, y + yoff, 32);
                if (t == QLM_KV_Q8_0) {
                    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
                    QLM__UNROLL for (j = 0; j < 8; j += 2) {
                        __m256i q0 = _mm256_set1_epi32(yw[j]), q1 = _mm256_set1_epi32(yw[j + 1]);
                        a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(r[j], r[j]),
                                                                                         _mm256_sign_epi8(q0, r[j])), ones));
                        a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_sign_epi8(r[j + 1], r[j + 1]),
                                                                                         _mm256_sign_epi8(q1, r[j + 1])), ones));
                    }
                    acc = _mm256_add_epi32(a0, a1);
                } else {
                    __m256i s16 = _mm256_maddubs_epi16(r[0], _mm256_set1_epi32(yw[0]));
                    QLM__UNROLL for (j = 1; j < 8; j++)
                        s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(r[j], _mm256_set1_epi32(yw[j])));
                    acc = _mm256_madd_epi16(s16, ones);
                    if (t == QLM_KV_Q4_0) { /* sum (n - 8) q = sum n q - 8 sum q */
                        int ys = 0;
                        for (j = 0; j < 32; j++) ys += (int8_t)y[yoff + j];
                        acc = _mm256_sub_epi32(acc, _mm256_set1_epi32(8 * ys));
                    }
                }
                sc = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(dx, _mm256_set1_ps(qlm__h2f(h[0]))));
                if (t == QLM_KV_Q4) sc = _mm256_fmadd_ps(mx, _mm256_set1_ps(qlm__h2f(h[1])), sc);
                fs[gi] = b > 0 ? _mm256_add_ps(fs[gi], sc) : sc;
            }
        }
        for (gi = 0; gi < g; gi++) {
            if (m == 8) _mm256_storeu_ps(out + gi * ldo + i, fs[gi]);
            else {
                float tmp[8];
                _mm256_storeu_ps(tmp, fs[gi]);
                memcpy(out + gi * ldo + i, tmp, (size_t)m * 4);
            }
        }
    }
}
/* qlm__kv_scores_NAME_SFX: the multi-head kernel GEN of variant SFX (target TGT) for type T
   (used again for AVX-512 below) */
#define QLM__KV_SCORES_G(name, T, SFX, TGT, GEN)                                                   \
    static TGT void qlm__kv_scores_##name##_##SFX(int hd, int n, int g, const uint8_t *K, size_t row, \
                                                  const int32_t *cells, const void *q, size_t qs,   \
                                                  float *out, int64_t ldo) {                        \
        GEN(T, hd, n, g, K, row, cells, q, qs, out, ldo);                                           \
    }
QLM__KV_SCORES_G(q8_0, QLM_KV_Q8_0, avx2, QLM__AVX2, qlm__kv_scores8_avx2)
QLM__KV_SCORES_G(q4, QLM_KV_Q4, avx2, QLM__AVX2, qlm__kv_scores8_avx2)
QLM__KV_SCORES_G(q4_0, QLM_KV_Q4_0, avx2, QLM__AVX2, qlm__kv_scores8_avx2)

/* qlm__att_softmax_ref's exponential on 8 lanes (the body is shared with the AVX-512 kernel) */
#define QLM__EXP_BODY(T, PS, EPI, V, OUT)                                                           \
    do {                                                                                           \
        const T lo_ = PS##_set1_ps(QLM__EXP_MIN);                                                  \
        T v_ = PS##_max_ps(V, lo_), n_, r_, p_;                                               \
        int j_;                                                                                    \
        n_ = PS##_floor_ps(PS##_fmadd_ps(v_, PS##_set1_ps(QLM__EXP_LOG2E), PS##_set1_ps(0.5f)));   \
        r_ = PS##_fnmadd_ps(n_, PS##_set1_ps(QLM__EXP_LN2_HI), v_);                                \
        r_ = PS##_fnmadd_ps(n_, PS##_set1_ps(QLM__EXP_LN2_LO), r_);                                \
        p_ = PS##_set1_ps(qlm__exp_poly[0]);                                                       \
        for (j_ = 1; j_ < 6; j_++) p_ = PS##_fmadd_ps(p_, r_, PS##_set1_ps(qlm__exp_poly[j_]));    \
        p_ = PS##_add_ps(PS##_fmadd_ps(p_, PS##_mul_ps(r_, r_), r_), PS##_set1_ps(1.0f));          \
        p_ = PS##_mul_ps(p_, PS##_castsi##EPI##_ps(PS##_slli_epi32(                                \
                                 PS##_add_epi32(PS##_cvtps_epi32(n_), PS##_set1_epi32(127)), 23))); \
        OUT = p_;                                                                                  \
    } while (0)
static inline QLM__AVX2 __m256 qlm__exp8_avx2(__m256 v) { /* v <= 88; -inf and NaN give 0 */
    __m256 keep = _mm256_cmp_ps(v, _mm256_set1_ps(QLM__EXP_MIN), _CMP_GE_OQ), e;
    QLM__EXP_BODY(__m256, _mm256, 256, v, e);
    return _mm256_and_ps(e, keep);
}
/* qlm__glu_ref on 8 lanes; the tail (n % 8) takes the reference */
static QLM__AVX2 void qlm__glu_avx2(int64_t n, const float *g, const float *u, float *y, int gelu) {
    const __m256 mx = _mm256_set1_ps(QLM__GLU_EXP_MAX), one = _mm256_set1_ps(1.0f), sign = _mm256_set1_ps(-0.0f),
                 c3 = _mm256_set1_ps(QLM__GELU_C3), c2 = _mm256_set1_ps(QLM__GELU_2C);
    int64_t i;
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 x = _mm256_loadu_ps(g + i), z = x, e;
        if (gelu) z = _mm256_mul_ps(c2, _mm256_fmadd_ps(_mm256_mul_ps(c3, _mm256_mul_ps(x, x)), x, x));
        e = qlm__exp8_avx2(_mm256_min_ps(_mm256_xor_ps(z, sign), mx));
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_div_ps(x, _mm256_add_ps(one, e)), _mm256_loadu_ps(u + i)));
    }
    qlm__glu_ref(n - i, g + i, u + i, y + i, gelu);
}
/* the 16-lane fold of qlm__att_softmax_ref: lanes 0-7 in lo, 8-15 in hi */
static inline QLM__AVX2 float qlm__fold16_avx2(__m256 lo, __m256 hi) {
    __m256 a = _mm256_add_ps(lo, hi);
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_shuffle_ps(b, b, 1)));
}
/* qlm__att_softmax_ref on 4 x 8 lanes; a short block is padded with -inf (p = 0) */
static QLM__AVX2 void qlm__att_softmax_avx2(int g, int n, float *s, int64_t lds, const float *add, float scale,
                                           float *M, double *S, float *p, int ldp, float *f) {
    int gi, j;
    for (gi = 0; gi < g; gi++) {
        float *x = s + gi * lds, *y = p + gi * ldp, tmp[32];
        const float *xs = x;
        __m256 v[4], e[4], mx, a = _mm256_set1_ps(add ? add[gi] : 0.0f), sc = _mm256_set1_ps(scale), m;
        __m128 m4;
        if (n < 32) {
            for (j = 0; j < 32; j++) tmp[j] = j < n ? x[j] : -INFINITY;
            xs = tmp;
        }
        for (j = 0; j < 4; j++) v[j] = _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(xs + 8 * j), a), sc);
        mx = _mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3]));
        m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        f[gi] = qlm__att_rescale(_mm_cvtss_f32(m4), &M[gi], &S[gi]);
        m = _mm256_set1_ps(M[gi]);
        for (j = 0; j < 4; j++) e[j] = qlm__exp8_avx2(_mm256_sub_ps(v[j], m));
        if (n == 32)
            for (j = 0; j < 4; j++) {
                _mm256_storeu_ps(x + 8 * j, v[j]);
                _mm256_storeu_ps(y + 8 * j, e[j]);
            }
        else {
            for (j = 0; j < 4; j++) _mm256_storeu_ps(tmp + 8 * j, v[j]);
            memcpy(x, tmp, (size_t)n * 4);
            for (j = 0; j < 4; j++) _mm256_storeu_ps(tmp + 8 * j, e[j]);
            memcpy(y, tmp, (size_t)n * 4);
        }
        S[gi] += (double)qlm__fold16_avx2(_mm256_add_ps(e[0], e[2]), _mm256_add_ps(e[1], e[3]));
    }
}

/* 8 elements d..d+7 of a V segment as floats (for q4_1 / q4_0 / q8_0 without the block scale,
   which *f and *m return) */
static inline QLM__AVX2 __m256 qlm__kv_load8_avx2(int t, const uint8_t *v, int d, float *f, float *m) {
    int b = d / 32, o = d % 32;
    switch (t) {
    case QLM_KV_F16:
        return qlm__load_f16x8((const qlm__f16 *)v + d);
    case QLM_KV_FP8:
        memcpy(f, v, 4);
        *f *= 256.0f;
        return qlm__e4m3x8_avx2(v + 4 + d);
    case QLM_KV_Q8_0: {
        const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)v + b;
        *f = qlm__h2f(x->d);
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x->qs + o))));
    }
    case QLM_KV_Q4: {
        const qlm__block_q4_1 *x = (const qlm__block_q4_1 *)v + b;
        __m128i r = _mm_loadl_epi64((const __m128i *)(x->qs + o % 16));
        if (o >= 16) r = _mm_srli_epi16(r, 4);
        *f = qlm__h2f(x->d);
        *m = qlm__h2f(x->m);
        return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_and_si128(r, _mm_set1_epi8(0x0f))));
    }
    default: { /* Q4_0 */
        const qlm__block_q4_0 *x = (const qlm__block_q4_0 *)v + b;
        __m128i r = _mm_loadl_epi64((const __m128i *)(x->qs + o % 16));
        if (o >= 16) r = _mm_srli_epi16(r, 4);
        *f = qlm__h2f(x->d);
        *m = -8.0f * *f;
        return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_and_si128(r, _mm_set1_epi8(0x0f))));
    }
    }
}
/* acc[gi * hd + ..] += sum_i p[gi * ldp + i] * V[cells[i]], for gi < g: for every 8 elements,
   up to 4 heads' accumulators stay in registers while the cells stream by. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__kv_accum_avx2(int t, int hd, int n, int g, const uint8_t *V, size_t row, const int32_t *cells, const float *p,
                   int ldp, float *acc) {
    int d, g0, gi, i;
    for (d = 0; d < hd; d += 8)
        for (g0 = 0; g0 < g; g0 += 4) {
            int gn = g - g0 < 4 ? g - g0 : 4;
            __m256 ac[4];
            QLM__UNROLL
            for (gi = 0; gi < 4; gi++)
                ac[gi] = gi < gn ? _mm256_loadu_ps(acc + (size_t)(g0 + gi) * hd + d) : _mm256_setzero_ps();
            for (i = 0; i < n; i++) {
                float f = 1.0f, m = 0.0f;
                __m256 v = qlm__kv_load8_avx2(t, V + (size_t)cells[i] * row, d, &f, &m);
                const float *pp = p + (size_t)g0 * ldp + i;
                if (t == QLM_KV_Q4 || t == QLM_KV_Q4_0) v = _mm256_fmadd_ps(v, _mm256_set1_ps(f), _mm256_set1_ps(m));
                else if (t != QLM_KV_F16) v = _mm256_mul_ps(v, _mm256_set1_ps(f));
                QLM__UNROLL
                for (gi = 0; gi < 4; gi++)
                    if (gi < gn) ac[gi] = _mm256_fmadd_ps(v, _mm256_set1_ps(pp[(size_t)gi * ldp]), ac[gi]);
            }
            QLM__UNROLL
            for (gi = 0; gi < 4; gi++)
                if (gi < gn) _mm256_storeu_ps(acc + (size_t)(g0 + gi) * hd + d, ac[gi]);
        }
}
/* The same for the 32-blocks of q8_0, q4 (q4_1 blocks) and q4_0, as the AVX-512 kernel below
   does it: per block, the cells' scales are folded into the probabilities first (pd = p * d,
   8 cells per multiply), then a cell costs two 8-code conversions and one FMA per head for
   each half-block (16 elements), 4 heads' halves (8 ymm) held while the cells stream; q4's
   minimums are summed apart (sum_i p_i m_i) and added once per block. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__kv_accum_fold_avx2(int t, int hd, int n, int g, const uint8_t *V, size_t row, const int32_t *cells,
                        const float *p, int ldp, float *acc) {
    const size_t bs = t == QLM_KV_Q8_0 ? sizeof(qlm__block_q8_0) : t == QLM_KV_Q4 ? sizeof(qlm__block_q4_1)
                                                                                : sizeof(qlm__block_q4_0);
    const size_t qo = t == QLM_KV_Q8_0 ? offsetof(qlm__block_q8_0, qs) : t == QLM_KV_Q4 ? offsetof(qlm__block_q4_1, qs)
                                                                                      : offsetof(qlm__block_q4_0, qs);
    float d[32], mn[32], pd[4][32], extra[4]; /* n <= 32 cells */
    int b, g0, h, i, half, nb = hd / 32;
    for (i = n; i < 32; i++) d[i] = mn[i] = 0.0f;
    for (b = 0; b < nb; b++) {
        for (i = 0; i < n; i++) {
            qlm__f16 hh[2];
            memcpy(hh, V + (size_t)cells[i] * row + (size_t)b * bs, 4);
            d[i] = qlm__h2f(hh[0]);
            mn[i] = t == QLM_KV_Q4 ? qlm__h2f(hh[1]) : 0.0f;
        }
        for (g0 = 0; g0 < g; g0 += 4) {
            int gn = g - g0 < 4 ? g - g0 : 4;
            for (h = 0; h < gn; h++) {
                const float *ph = p + (size_t)(g0 + h) * ldp;
                __m256 sm = _mm256_setzero_ps();
                for (i = 0; i < n; i += 8) {
                    __m256 pv = _mm256_maskload_ps(ph + i, _mm256_cmpgt_epi32(_mm256_set1_epi32(n - i),
                                                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
                    _mm256_storeu_ps(pd[h] + i, _mm256_mul_ps(pv, _mm256_loadu_ps(d + i)));
                    if (t == QLM_KV_Q4) sm = _mm256_fmadd_ps(pv, _mm256_loadu_ps(mn + i), sm);
                }
                extra[h] = t == QLM_KV_Q4 ? qlm__hsum_ps_avx2(sm) : 0.0f;
            }
            for (half = 0; half < 2; half++) {
                float *a = acc + (size_t)g0 * hd + (size_t)b * 32 + (size_t)half * 16;
                __m256 ac[4][2]; /* up to 4 heads x 2 halves of 8: 8 registers */
                QLM__UNROLL
                for (h = 0; h < 4; h++) {
                    ac[h][0] = h < gn ? _mm256_loadu_ps(a + (size_t)h * hd) : _mm256_setzero_ps();
                    ac[h][1] = h < gn ? _mm256_loadu_ps(a + (size_t)h * hd + 8) : _mm256_setzero_ps();
                }
                for (i = 0; i < n; i++) {
                    const uint8_t *x = V + (size_t)cells[i] * row + (size_t)b * bs + qo;
                    __m256 v0, v1;
                    if (t == QLM_KV_Q8_0) {
                        v0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + 16 * half))));
                        v1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(x + 16 * half + 8))));
                    } else { /* elements 0-15: low nibbles of the 16 bytes, 16-31: high */
                        __m256i w0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)x));
                        __m256i w1 = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x + 8)));
                        const __m256i m4 = _mm256_set1_epi32(0x0f);
                        w0 = half ? _mm256_srli_epi32(w0, 4) : _mm256_and_si256(w0, m4);
                        w1 = half ? _mm256_srli_epi32(w1, 4) : _mm256_and_si256(w1, m4);
                        if (t == QLM_KV_Q4_0) {
                            w0 = _mm256_sub_epi32(w0, _mm256_set1_epi32(8));
                            w1 = _mm256_sub_epi32(w1, _mm256_set1_epi32(8));
                        }
                        v0 = _mm256_cvtepi32_ps(w0);
                        v1 = _mm256_cvtepi32_ps(w1);
                    }
                    QLM__UNROLL
                    for (h = 0; h < 4; h++)
                        if (h < gn) {
                            __m256 f = _mm256_broadcast_ss(&pd[h][i]);
                            ac[h][0] = _mm256_fmadd_ps(v0, f, ac[h][0]);
                            ac[h][1] = _mm256_fmadd_ps(v1, f, ac[h][1]);
                        }
                }
                QLM__UNROLL
                for (h = 0; h < 4; h++)
                    if (h < gn) {
                        __m256 e = _mm256_set1_ps(extra[h]);
                        _mm256_storeu_ps(a + (size_t)h * hd, _mm256_add_ps(ac[h][0], e));
                        _mm256_storeu_ps(a + (size_t)h * hd + 8, _mm256_add_ps(ac[h][1], e));
                    }
            }
        }
    }
}
#define QLM__KV_ACCUM_AVX2(name, T, IMPL)                                                          \
    static QLM__AVX2 void qlm__kv_accum_##name##_avx2(int hd, int n, int g, const uint8_t *V,       \
                                                      size_t row, const int32_t *cells,             \
                                                      const float *p, int ldp, float *acc) {        \
        IMPL(T, hd, n, g, V, row, cells, p, ldp, acc);                                              \
    }
QLM__KV_ACCUM_AVX2(f16, QLM_KV_F16, qlm__kv_accum_avx2)
QLM__KV_ACCUM_AVX2(q8_0, QLM_KV_Q8_0, qlm__kv_accum_fold_avx2)
QLM__KV_ACCUM_AVX2(fp8, QLM_KV_FP8, qlm__kv_accum_avx2)
QLM__KV_ACCUM_AVX2(q4, QLM_KV_Q4, qlm__kv_accum_fold_avx2)
QLM__KV_ACCUM_AVX2(q4_0, QLM_KV_Q4_0, qlm__kv_accum_fold_avx2)
#undef QLM__KV_ACCUM_AVX2

/* ---- AVX-512 (VNNI on 256-bit registers) -------------------------------------------------- */

QLM__X86_BLOCK32_KERNELS(avx512, QLM__AVX512, qlm__dot2_us8_vnni, qlm__dot_ss8_vnni)
/* q8_0 codes as x + 128 (unsigned), exact for every code including -128. */
static inline QLM__AVX512 __m256i qlm__dot_q8x_vnni(__m256i x, __m256i y) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80)), y);
}
static inline QLM__AVX512 __m256i qlm__dot_us8_vnni(__m256i u, __m256i s) {
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
}
/* q5 codes with the fifth bits as byte-mask registers (AVX-512BW): 16 added where set. */
static inline QLM__AVX512 void qlm__u5_pair_avx512(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1,
                                                   const uint8_t *qh1, __m256i *lo, __m256i *hi) {
    const __m256i e16 = _mm256_set1_epi8(16);
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    qlm__u4_pair_avx2(qs0, qs1, lo, hi);
    *lo = _mm256_mask_add_epi8(*lo, (__mmask32)((h0 & 0xffffu) | (h1 << 16)), *lo, e16);
    *hi = _mm256_mask_add_epi8(*hi, (__mmask32)((h0 >> 16) | (h1 & 0xffff0000u)), *hi, e16);
}
#define QLM__U_PAIR_q4_0_avx512 QLM__U_PAIR_q4_0_avx2
#define QLM__U_PAIR_q4_1_avx512 QLM__U_PAIR_q4_1_avx2
#define QLM__U_PAIR_q5_0_avx512(a, b, lo, hi) qlm__u5_pair_avx512((a)->qs, (a)->qh, (b)->qs, (b)->qh, lo, hi)
#define QLM__U_PAIR_q5_1_avx512(a, b, lo, hi) qlm__u5_pair_avx512((a)->qs, (a)->qh, (b)->qs, (b)->qh, lo, hi)
QLM__X86_DOT8_KERNELS(avx512, QLM__AVX512, qlm__dot2_us8_vnni, qlm__dot_q8x_vnni, qlm__dot_us8_vnni, 7)

/* The K-quants' 8-row dots with the scale step of qlm__kres_add as VNNI vpdpwssd (multiply
   int16 pairs, add, accumulate: one instruction for madd + add, same exact int32 sums). */
static inline QLM__AVX512 void qlm__kres_add_vnni(__m256i pa, __m256i pb, __m256i sv, __m256i *lo, __m256i *hi) {
    *lo = _mm256_dpwssd_epi32(*lo, _mm256_unpacklo_epi16(pa, pb), sv);
    *hi = _mm256_dpwssd_epi32(*hi, _mm256_unpackhi_epi16(pa, pb), sv);
}
QLM__X86_DOT8_K_KERNELS(avx512, QLM__AVX512, qlm__kres_add_vnni)

/* zmm attention kernels: g++'s false maybe-uninitialized, as for the AVX-512 GEMM tiles below */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* qlm__att_softmax_ref on 2 x 16 lanes; lanes past n masked (-inf, p = 0) */
static QLM__AVX512 void qlm__att_softmax_avx512(int g, int n, float *s, int64_t lds, const float *add, float scale,
                                               float *M, double *S, float *p, int ldp, float *f) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY), lo = _mm512_set1_ps(QLM__EXP_MIN);
    __mmask16 k0 = (__mmask16)(n >= 16 ? 0xffffu : (1u << n) - 1u);
    __mmask16 k1 = (__mmask16)(n >= 32 ? 0xffffu : n > 16 ? (1u << (n - 16)) - 1u : 0u);
    int gi, j;
    for (gi = 0; gi < g; gi++) {
        float *x = s + gi * lds, *y = p + gi * ldp;
        __m512 v[2], e[2], a = _mm512_set1_ps(add ? add[gi] : 0.0f), sc = _mm512_set1_ps(scale), m;
        __mmask16 k[2];
        k[0] = k0;
        k[1] = k1;
        for (j = 0; j < 2; j++) { /* full halves unmasked: a masked store cannot forward */
            __m512 t = k[j] == 0xffffu ? _mm512_loadu_ps(x + 16 * j) : _mm512_maskz_loadu_ps(k[j], x + 16 * j);
            v[j] = _mm512_mask_mov_ps(ninf, k[j], _mm512_mul_ps(_mm512_add_ps(t, a), sc));
        }
        f[gi] = qlm__att_rescale(_mm512_reduce_max_ps(_mm512_max_ps(v[0], v[1])), &M[gi], &S[gi]);
        m = _mm512_set1_ps(M[gi]);
        for (j = 0; j < 2; j++) {
            __m512 t = _mm512_sub_ps(v[j], m);
            __mmask16 keep = _mm512_cmp_ps_mask(t, lo, _CMP_GE_OQ);
            QLM__EXP_BODY(__m512, _mm512, 512, t, e[j]);
            e[j] = _mm512_maskz_mov_ps(keep, e[j]);
            if (k[j] == 0xffffu) {
                _mm512_storeu_ps(x + 16 * j, v[j]);
                _mm512_storeu_ps(y + 16 * j, e[j]);
            } else {
                _mm512_mask_storeu_ps(x + 16 * j, k[j], v[j]);
                _mm512_mask_storeu_ps(y + 16 * j, k[j], e[j]);
            }
        }
        e[0] = _mm512_add_ps(e[0], e[1]);
        S[gi] += (double)qlm__fold16_avx2(_mm512_castps512_ps256(e[0]), _mm256_castsi256_ps(_mm512_extracti64x4_epi64(_mm512_castps_si512(e[0]), 1)));
    }
}

/* qlm__glu_ref on 16 lanes; the tail (n % 16) takes the reference */
static QLM__AVX512 void qlm__glu_avx512(int64_t n, const float *g, const float *u, float *y, int gelu) {
    const __m512 mx = _mm512_set1_ps(QLM__GLU_EXP_MAX), one = _mm512_set1_ps(1.0f), lo = _mm512_set1_ps(QLM__EXP_MIN),
                 c3 = _mm512_set1_ps(QLM__GELU_C3), c2 = _mm512_set1_ps(QLM__GELU_2C);
    const __m512i sign = _mm512_set1_epi32((int32_t)0x80000000u);
    int64_t i;
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 x = _mm512_loadu_ps(g + i), z = x, a, e;
        __mmask16 keep;
        if (gelu) z = _mm512_mul_ps(c2, _mm512_fmadd_ps(_mm512_mul_ps(c3, _mm512_mul_ps(x, x)), x, x));
        a = _mm512_min_ps(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(z), sign)), mx);
        keep = _mm512_cmp_ps_mask(a, lo, _CMP_GE_OQ);
        QLM__EXP_BODY(__m512, _mm512, 512, a, e);
        e = _mm512_maskz_mov_ps(keep, e);
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_div_ps(x, _mm512_add_ps(one, e)), _mm512_loadu_ps(u + i)));
    }
    qlm__glu_ref(n - i, g + i, u + i, y + i, gelu);
}

/* acc[gi * hd + ..] += sum_i p[gi * ldp + i] * V[cells[i]] for an f16, q8_0, q4 (q4_1 blocks)
   or q4_0 cache, one 32-element block of every cell at a time: the cells' block scales are
   folded into the probabilities first (pd = p * d, 16 cells per multiply), so a cell costs two
   code conversions (16 elements each) and one FMA per head and half-block with pd broadcast
   from memory; up to 8 heads' accumulators (16 zmm) stay in registers while the cells stream
   by (each head's sums are the same whatever its group, so a prefill tile's g x nq heads give
   what one query gives). q4_0's offset 8 is taken off the integer codes; q4's minimums are summed apart
   (sum_i p_i m_i per head) and added once per block. The same sums as the reference axpy loop
   in another order (within test_kvcache's kv_accum tolerance). */
static inline __attribute__((always_inline)) QLM__AVX512 void
qlm__kv_accum_avx512(int t, int hd, int n, int g, const uint8_t *V, size_t row, const int32_t *cells, const float *p,
                     int ldp, float *acc) {
    const size_t bs = t == QLM_KV_F16 ? 64 : t == QLM_KV_Q8_0 ? sizeof(qlm__block_q8_0)
                                           : t == QLM_KV_Q4 ? sizeof(qlm__block_q4_1) : sizeof(qlm__block_q4_0);
    float d[32], mn[32], pd[8][32], extra[8]; /* n <= 32 cells */
    int b, g0, h, i, nb = hd / 32;
    for (i = n; i < 32; i++) d[i] = mn[i] = 0.0f;
    for (b = 0; b < nb; b++) {
        for (i = 0; i < n; i++) {
            const uint8_t *x = V + (size_t)cells[i] * row + (size_t)b * bs;
            qlm__f16 hh[2];
            memcpy(hh, x, 4);
            d[i] = t == QLM_KV_F16 ? 1.0f : qlm__h2f(hh[0]);
            mn[i] = t == QLM_KV_Q4 ? qlm__h2f(hh[1]) : 0.0f;
        }
        for (g0 = 0; g0 < g; g0 += 8) {
            int gn = g - g0 < 8 ? g - g0 : 8;
            float *a = acc + (size_t)g0 * hd + (size_t)b * 32;
            __m512 ac[8][2]; /* up to 8 heads x 2 halves of 16: 16 registers */
            for (h = 0; h < gn; h++) {
                const float *ph = p + (size_t)(g0 + h) * ldp;
                __m512 s = _mm512_setzero_ps();
                for (i = 0; i < n; i += 16) {
                    __m512 pv = n - i >= 16 ? _mm512_loadu_ps(ph + i)
                                            : _mm512_maskz_loadu_ps((__mmask16)((1u << (n - i)) - 1u), ph + i);
                    _mm512_storeu_ps(pd[h] + i, _mm512_mul_ps(pv, _mm512_loadu_ps(d + i)));
                    if (t == QLM_KV_Q4) s = _mm512_fmadd_ps(pv, _mm512_loadu_ps(mn + i), s);
                }
                extra[h] = t == QLM_KV_Q4 ? _mm512_reduce_add_ps(s) : 0.0f;
            }
            QLM__UNROLL
            for (h = 0; h < 8; h++) {
                ac[h][0] = h < gn ? _mm512_loadu_ps(a + (size_t)h * hd) : _mm512_setzero_ps();
                ac[h][1] = h < gn ? _mm512_loadu_ps(a + (size_t)h * hd + 16) : _mm512_setzero_ps();
            }
            for (i = 0; i < n; i++) {
                const uint8_t *x = V + (size_t)cells[i] * row + (size_t)b * bs;
                __m512 v0, v1;
                if (t == QLM_KV_F16) {
                    v0 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)x));
                    v1 = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + 32)));
                } else if (t == QLM_KV_Q8_0) {
                    const int8_t *qs = ((const qlm__block_q8_0 *)x)->qs;
                    v0 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs)));
                    v1 = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(qs + 16))));
                } else {
                    __m512i w = _mm512_cvtepu8_epi32(_mm_loadu_si128(
                        (const __m128i *)(x + (t == QLM_KV_Q4 ? offsetof(qlm__block_q4_1, qs) : offsetof(qlm__block_q4_0, qs)))));
                    __m512i lo = _mm512_and_si512(w, _mm512_set1_epi32(0x0f)), hi = _mm512_srli_epi32(w, 4);
                    if (t == QLM_KV_Q4_0) {
                        lo = _mm512_sub_epi32(lo, _mm512_set1_epi32(8));
                        hi = _mm512_sub_epi32(hi, _mm512_set1_epi32(8));
                    }
                    v0 = _mm512_cvtepi32_ps(lo);
                    v1 = _mm512_cvtepi32_ps(hi);
                }
                QLM__UNROLL
                for (h = 0; h < 8; h++)
                    if (h < gn) {
                        __m512 f = _mm512_set1_ps(pd[h][i]);
                        ac[h][0] = _mm512_fmadd_ps(v0, f, ac[h][0]);
                        ac[h][1] = _mm512_fmadd_ps(v1, f, ac[h][1]);
                    }
            }
            QLM__UNROLL
            for (h = 0; h < 8; h++)
                if (h < gn) {
                    __m512 e = _mm512_set1_ps(t == QLM_KV_Q4 ? extra[h] : 0.0f);
                    _mm512_storeu_ps(a + (size_t)h * hd, t == QLM_KV_Q4 ? _mm512_add_ps(ac[h][0], e) : ac[h][0]);
                    _mm512_storeu_ps(a + (size_t)h * hd + 16, t == QLM_KV_Q4 ? _mm512_add_ps(ac[h][1], e) : ac[h][1]);
                }
        }
    }
}
#define QLM__KV_ACCUM_AVX512(name, T)                                                              \
    static QLM__AVX512 void qlm__kv_accum_##name##_avx512(int hd, int n, int g, const uint8_t *V,   \
                                                          size_t row, const int32_t *cells,         \
                                                          const float *p, int ldp, float *acc) {    \
        qlm__kv_accum_avx512(T, hd, n, g, V, row, cells, p, ldp, acc);                              \
    }
QLM__KV_ACCUM_AVX512(f16, QLM_KV_F16)
QLM__KV_ACCUM_AVX512(q8_0, QLM_KV_Q8_0)
QLM__KV_ACCUM_AVX512(q4, QLM_KV_Q4)
QLM__KV_ACCUM_AVX512(q4_0, QLM_KV_Q4_0)
#undef QLM__KV_ACCUM_AVX512

/* 16 cells' 16 bytes at offset off, transposed: lane i of r[j] = bytes 4j..4j+3 of cell i
   (kp[i] + off). Four cells per register (cell 4k + m in 128-bit lane k of z[m]), then a 4 x 4
   transpose of dwords inside every 128-bit lane. */
static inline __attribute__((always_inline)) QLM__AVX512 void qlm__kv_t16_avx512(const uint8_t *const *kp, size_t off,
                                                                                  __m512i r[4]) {
    __m512i z[4], t0, t1, t2, t3;
    int m;
    for (m = 0; m < 4; m++) {
        z[m] = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(kp[m] + off)));
        z[m] = _mm512_inserti32x4(z[m], _mm_loadu_si128((const __m128i *)(kp[4 + m] + off)), 1);
        z[m] = _mm512_inserti32x4(z[m], _mm_loadu_si128((const __m128i *)(kp[8 + m] + off)), 2);
        z[m] = _mm512_inserti32x4(z[m], _mm_loadu_si128((const __m128i *)(kp[12 + m] + off)), 3);
    }
    t0 = _mm512_unpacklo_epi32(z[0], z[1]);
    t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    t2 = _mm512_unpacklo_epi32(z[2], z[3]);
    t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    r[0] = _mm512_unpacklo_epi64(t0, t2);
    r[1] = _mm512_unpackhi_epi64(t0, t2);
    r[2] = _mm512_unpacklo_epi64(t1, t3);
    r[3] = _mm512_unpackhi_epi64(t1, t3);
}

/* K . q_gi for up to 32 cells of a q8_0, q4 (q4_1 blocks) or q4_0 cache and all g query heads,
   16 cells at a time in the 16 lanes. Per 32-element block the 16 cells' codes are transposed
   once (qlm__kv_t16_avx512: lane = cell, register j = codes 4j..4j+3; nibbles split into
   codes j and 16 + j), then each head costs 8 vpdpbusd with its q's dwords broadcast, so every
   integer sum lands in its cell's lane with no horizontal reduction, and the g heads share the
   loads and the transpose. Codes go unsigned (q8_0 as k + 128, nibbles as they are); the
   offset 128 or 8 times sum(q) is taken back once per block and head. Float part per block:
   isum * (dx * dy) (+ mx * sy for q4), blocks added in order (the reference's terms, rounded
   in another order: within the kv_scores tolerance of test_kvcache). */
static inline __attribute__((always_inline)) QLM__AVX512 void
qlm__kv_scores_avx512(int t, int hd, int n, int g, const uint8_t *K, size_t row, const int32_t *cells,
                      const void *vq, size_t qstride, float *out, int64_t ldo) {
    const size_t kb = t == QLM_KV_Q8_0 ? sizeof(qlm__block_q8_0) : t == QLM_KV_Q4 ? sizeof(qlm__block_q4_1)
                                                                                 : sizeof(qlm__block_q4_0);
    const size_t qb = t == QLM_KV_Q4 ? sizeof(qlm__block_q8_1) : sizeof(qlm__block_q8_0);
    const size_t koff = t == QLM_KV_Q8_0 ? offsetof(qlm__block_q8_0, qs) : t == QLM_KV_Q4 ? offsetof(qlm__block_q4_1, qs)
                                                                                        : offsetof(qlm__block_q4_0, qs);
    const size_t yoff = t == QLM_KV_Q4 ? offsetof(qlm__block_q8_1, qs) : offsetof(qlm__block_q8_0, qs);
    const __m512i m4 = _mm512_set1_epi8(0x0f), x80 = _mm512_set1_epi8((char)0x80);
    int32_t yo[64 * 16]; /* per (head, block): the code offset times sum(q); g <= 64, hd <= 512 */
    float dy[64 * 16], sy[64 * 16];
    __m512 fs[64]; /* per head: the 16 cells' scores so far */
    int i, c, b, gi, j, nb = hd / 32;
    for (gi = 0; gi < g; gi++)
        for (b = 0; b < nb; b++) {
            const uint8_t *y = (const uint8_t *)vq + (size_t)gi * qstride + (size_t)b * qb;
            __m256i sum = qlm__bsum8_avx2(_mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1),
                                                              _mm256_loadu_si256((const __m256i *)(y + yoff))));
            qlm__f16 h[2];
            memcpy(h, y, 4); /* d, and s for q8_1 */
            yo[gi * nb + b] = t == QLM_KV_Q4 ? 0 : _mm256_cvtsi256_si32(sum) * (t == QLM_KV_Q8_0 ? 128 : 8);
            dy[gi * nb + b] = qlm__h2f(h[0]);
            sy[gi * nb + b] = t == QLM_KV_Q4 ? qlm__h2f(h[1]) : 0.0f;
        }
    for (i = 0; i < n; i += 16) {
        const uint8_t *kp[16];
        __m512i kpv[2];
        int m = n - i < 16 ? n - i : 16;
        __mmask16 mk = (__mmask16)((1u << m) - 1u);
        for (c = 0; c < 16; c++) kp[c] = K + (size_t)cells[i + (c < m ? c : 0)] * row;
        memcpy(kpv, kp, sizeof kp);
        for (b = 0; b < nb; b++) {
            __m512i r[8], w;
            __m512 dx, mx = _mm512_setzero_ps();
            /* the 16 cells' block heads (d, and m for q4_1) gathered by address */
            w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_i64gather_epi32(
                                       _mm512_add_epi64(kpv[0], _mm512_set1_epi64((long long)(b * kb))), (const void *)0, 1)),
                                   _mm512_i64gather_epi32(_mm512_add_epi64(kpv[1], _mm512_set1_epi64((long long)(b * kb))),
                                                          (const void *)0, 1),
                                   1);
            dx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(w));
            if (t == QLM_KV_Q4) mx = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(w, 16)));
            qlm__kv_t16_avx512(kp, (size_t)b * kb + koff, r);
            if (t == QLM_KV_Q8_0) {
                qlm__kv_t16_avx512(kp, (size_t)b * kb + koff + 16, r + 4);
                QLM__UNROLL for (j = 0; j < 8; j++) r[j] = _mm512_xor_si512(r[j], x80);
            } else
                QLM__UNROLL for (j = 0; j < 4; j++) {
                    r[4 + j] = _mm512_and_si512(_mm512_srli_epi32(r[j], 4), m4);
                    r[j] = _mm512_and_si512(r[j], m4);
                }
            for (gi = 0; gi < g; gi++) {
                const uint8_t *y = (const uint8_t *)vq + (size_t)gi * qstride + (size_t)b * qb;
                __m512i acc = _mm512_set1_epi32(-yo[gi * nb + b]), acc2 = _mm512_setzero_si512();
                __m512 sc;
                int32_t yw[8];
                memcpy(yw, y + yoff, 32);
                QLM__UNROLL for (j = 0; j < 8; j += 2) { /* two chains */
                    acc = _mm512_dpbusd_epi32(acc, r[j], _mm512_set1_epi32(yw[j]));
                    acc2 = _mm512_dpbusd_epi32(acc2, r[j + 1], _mm512_set1_epi32(yw[j + 1]));
                }
                sc = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, acc2)), _mm512_mul_ps(dx, _mm512_set1_ps(dy[gi * nb + b])));
                if (t == QLM_KV_Q4) sc = _mm512_fmadd_ps(mx, _mm512_set1_ps(sy[gi * nb + b]), sc);
                fs[gi] = b > 0 ? _mm512_add_ps(fs[gi], sc) : sc;
            }
        }
        for (gi = 0; gi < g; gi++) { /* full groups unmasked: a masked store cannot forward */
            if (m == 16) _mm512_storeu_ps(out + gi * ldo + i, fs[gi]);
            else _mm512_mask_storeu_ps(out + gi * ldo + i, mk, fs[gi]);
        }
    }
}
/* K . q_gi for up to 32 cells of an f16 cache and all g query heads (q in f16, as the
   reference rounds it), 3 heads at a time: per 8 cells and 16 elements, each cell's keys are
   converted once and meet the 3 heads' q in 24 zmm accumulators (lane = element); one
   reduction per head and 8 cells at the end. The AVX2 kernel converts each key once per head.
   For few heads (decode); qlm__kv_scores_f16t_avx512 below gives the same bits. */
static QLM__AVX512 void qlm__kv_scores_f16d_avx512(int hd, int n, int g, const uint8_t *K, size_t row,
                                                  const int32_t *cells, const void *vq, size_t qs, float *out,
                                                  int64_t ldo) {
    float qf[3][512];
    int g0, gn, h, i, c, d;
    for (g0 = 0; g0 < g; g0 += 3) {
        gn = g - g0 < 3 ? g - g0 : 3;
        for (h = 0; h < gn; h++)
            for (d = 0; d < hd; d += 16)
                _mm512_storeu_ps(qf[h] + d, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                (const __m256i *)((const uint8_t *)vq + (size_t)(g0 + h) * qs + 2 * d))));
        for (h = gn; h < 3; h++) memcpy(qf[h], qf[0], (size_t)hd * 4); /* unused lanes: any finite q */
        for (i = 0; i < n; i += 8) {
            __m512 a0[8], a1[8], a2[8];
            const uint8_t *kp[8];
            int m = n - i < 8 ? n - i : 8;
            for (c = 0; c < 8; c++) kp[c] = K + (size_t)cells[i + (c < m ? c : 0)] * row;
            QLM__UNROLL for (c = 0; c < 8; c++) a0[c] = a1[c] = a2[c] = _mm512_setzero_ps();
            for (d = 0; d < hd; d += 16) {
                __m512 q0 = _mm512_loadu_ps(qf[0] + d), q1 = _mm512_loadu_ps(qf[1] + d), q2 = _mm512_loadu_ps(qf[2] + d);
                QLM__UNROLL for (c = 0; c < 8; c++) {
                    __m512 k = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kp[c] + 2 * d)));
                    a0[c] = _mm512_fmadd_ps(k, q0, a0[c]);
                    a1[c] = _mm512_fmadd_ps(k, q1, a1[c]);
                    a2[c] = _mm512_fmadd_ps(k, q2, a2[c]);
                }
            }
            for (h = 0; h < gn; h++) {
                __m512 *a = h == 0 ? a0 : h == 1 ? a1 : a2;
                __m256 y[8];
                float res[8];
                QLM__UNROLL for (c = 0; c < 8; c++)
                    y[c] = _mm256_add_ps(_mm512_castps512_ps256(a[c]),
                                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a[c]), 1)));
                _mm256_storeu_ps(res, qlm__reduce8_ps_avx2(y));
                memcpy(out + (g0 + h) * ldo + i, res, (size_t)m * 4);
            }
        }
    }
}
/* 16 x 16 floats transposed in registers: r[c] = row c in, r[d] = column d out (unpacks of
   pairs and quads inside 128-bit lanes, then two rounds of 128-bit lane shuffles) */
static inline __attribute__((always_inline)) QLM__AVX512 void qlm__transpose16_avx512(__m512 r[16]) {
    __m512 a[16], b[16], c[4];
    int i, k;
    QLM__UNROLL for (i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    QLM__UNROLL for (i = 0; i < 4; i++) { /* b[4i + k], 128-bit lane L: rows 4i..4i+3 of column 4L + k */
        b[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[4 * i]), _mm512_castps_pd(a[4 * i + 2])));
        b[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[4 * i]), _mm512_castps_pd(a[4 * i + 2])));
        b[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[4 * i + 1]), _mm512_castps_pd(a[4 * i + 3])));
        b[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[4 * i + 1]), _mm512_castps_pd(a[4 * i + 3])));
    }
    QLM__UNROLL for (k = 0; k < 4; k++) {
        c[0] = _mm512_shuffle_f32x4(b[k], b[4 + k], 0x88);
        c[1] = _mm512_shuffle_f32x4(b[k], b[4 + k], 0xdd);
        c[2] = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0x88);
        c[3] = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0xdd);
        r[k] = _mm512_shuffle_f32x4(c[0], c[2], 0x88);
        r[4 + k] = _mm512_shuffle_f32x4(c[1], c[3], 0x88);
        r[8 + k] = _mm512_shuffle_f32x4(c[0], c[2], 0xdd);
        r[12 + k] = _mm512_shuffle_f32x4(c[1], c[3], 0xdd);
    }
}
/* K . q_gi for up to 32 cells of an f16 cache and all g query heads (q in f16, as the
   reference rounds it). The cells' keys are converted and transposed once per call, kt[d] =
   element d of the 32 cells (two 16 x 16 transposes per 16 elements), then every lane (cell)
   sums as a dot product over 16 lanes of elements would: a_l = FMA chain over d = l, l + 16,
   ... (the f16 products are exact in f32), y_l = a_l + a_(l+8), then a pairwise tree over the 8
   y_l, with q[d] broadcast, 4 heads at a time. No horizontal sums, the transposes are shared by
   all g heads (g x 8 in a prefill tile), and each score is the same sum whatever g and n, so a
   tile's heads score exactly as one query's. It is the order of qlm__kv_scores_f16d_avx512
   (elements in lanes, reduced per cell): the same bits, so either may serve any call. (One
   sequential chain over d instead moved the golden tests' top-5 logit error by up to 50%, as
   rounding-order changes do on these models.) */
static QLM__AVX512 void qlm__kv_scores_f16t_avx512(int hd, int n, int g, const uint8_t *K, size_t row,
                                                   const int32_t *cells, const void *vq, size_t qs, float *out,
                                                   int64_t ldo) {
    float kt[256 * 32], qf[4][256]; /* hd <= 256: 36 KiB of stack (musl's threads get 128 KiB) */
    int nh = n > 16 ? 2 : 1, half, g0, gn, h, c, d, j;
    for (half = 0; half < nh; half++) {
        const uint8_t *kp[16];
        int m = n - 16 * half < 16 ? n - 16 * half : 16;
        for (c = 0; c < 16; c++) kp[c] = K + (size_t)cells[16 * half + (c < m ? c : 0)] * row;
        for (d = 0; d < hd; d += 16) {
            __m512 r[16];
            QLM__UNROLL for (c = 0; c < 16; c++) r[c] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(kp[c] + 2 * d)));
            qlm__transpose16_avx512(r);
            QLM__UNROLL for (j = 0; j < 16; j++) _mm512_storeu_ps(kt + (size_t)(d + j) * 32 + 16 * half, r[j]);
        }
    }
    for (g0 = 0; g0 < g; g0 += 4) {
        gn = g - g0 < 4 ? g - g0 : 4;
        for (h = 0; h < gn; h++)
            for (d = 0; d < hd; d += 16)
                _mm512_storeu_ps(qf[h] + d, _mm512_cvtph_ps(_mm256_loadu_si256(
                                                (const __m256i *)((const uint8_t *)vq + (size_t)(g0 + h) * qs + 2 * d))));
        for (half = 0; half < nh; half++) {
            const float *k = kt + 16 * half;
            __m512 Y[4], Z[4], W[4], S[4];
            int l;
            for (l = 0; l < 8; l++) { /* y_l = a_l + a_(l+8); a_l: the FMA chain over d = l, l + 16, ... */
                __m512 a0[4], a1[4];
                QLM__UNROLL for (h = 0; h < 4; h++) a0[h] = a1[h] = _mm512_setzero_ps();
                for (d = l; d < hd; d += 16) {
                    __m512 k0 = _mm512_loadu_ps(k + (size_t)d * 32), k1 = _mm512_loadu_ps(k + (size_t)(d + 8) * 32);
                    QLM__UNROLL for (h = 0; h < 4; h++)
                        if (h < gn) {
                            a0[h] = _mm512_fmadd_ps(k0, _mm512_set1_ps(qf[h][d]), a0[h]);
                            a1[h] = _mm512_fmadd_ps(k1, _mm512_set1_ps(qf[h][d + 8]), a1[h]);
                        }
                }
                QLM__UNROLL for (h = 0; h < 4; h++) { /* s = ((y0 + y1) + (y2 + y3)) + ((y4 + y5) + (y6 + y7)) */
                    __m512 y = _mm512_add_ps(a0[h], a1[h]);
                    if (l % 2 == 0) {
                        Y[h] = y;
                        continue;
                    }
                    y = _mm512_add_ps(Y[h], y);
                    if (l % 4 == 1) Z[h] = y;
                    else if (l == 3) W[h] = _mm512_add_ps(Z[h], y);
                    else S[h] = _mm512_add_ps(W[h], _mm512_add_ps(Z[h], y));
                }
            }
            for (h = 0; h < gn; h++) { /* a full half unmasked: a masked store cannot forward */
                float *o = out + (g0 + h) * ldo + 16 * half;
                int m = n - 16 * half;
                if (m >= 16) _mm512_storeu_ps(o, S[h]);
                else _mm512_mask_storeu_ps(o, (__mmask16)((1u << m) - 1u), S[h]);
            }
        }
    }
}
/* The two forms sum alike; the transposes pay from about 5 heads on (per (head, cell) at
   hd 64: 3.3 ns lanes-of-elements at any g; transposed 4.3 ns at g = 3, 1.45 ns at g = 24) */
static QLM__AVX512 void qlm__kv_scores_f16_avx512(int hd, int n, int g, const uint8_t *K, size_t row,
                                                  const int32_t *cells, const void *vq, size_t qs, float *out,
                                                  int64_t ldo) {
    (g >= 5 && hd <= 256 ? qlm__kv_scores_f16t_avx512 : qlm__kv_scores_f16d_avx512)(hd, n, g, K, row, cells, vq, qs, out,
                                                                                   ldo);
}
QLM__KV_SCORES_G(q8_0, QLM_KV_Q8_0, avx512, QLM__AVX512, qlm__kv_scores_avx512)
QLM__KV_SCORES_G(q4, QLM_KV_Q4, avx512, QLM__AVX512, qlm__kv_scores_avx512)
QLM__KV_SCORES_G(q4_0, QLM_KV_Q4_0, avx512, QLM__AVX512, qlm__kv_scores_avx512)
#undef QLM__KV_SCORES_G
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#undef QLM__KV_SCORES_FN

/* ---- GEMM tiles (the layouts are described under "GEMM layouts" in >>kernels) -------------
   A tile is QLM__X86_GEMM_ROWS weight rows against one group of tokens (8 per ymm for AVX2,
   16 per zmm for AVX-512). Per block: the integer dot of every (row, token) accumulates in the
   token's lane, starting from the row's N (-128 * sum of codes: activations are stored + 128
   so they can be vpdpbusd's / maddubs's unsigned operand), then the float part is the
   reference's expression on whole registers, one lane per token. The 4 x lanes results leave
   through a 4x4 transpose inside each 128-bit lane: 4 consecutive floats per token. */

#define QLM__X86_GEMM_ROWS 4
#define QLM__X86_GEMM32_ROWS512 8 /* the AVX-512 32-block tile: 8 independent dot chains */
/* full unrolling of the loops over rows / steps, so accumulators live in registers */

/* qlm__x86_opaque for registers that may be zmm16-31 */
#define qlm__x86_opaque_v(v) __asm__("" : "+v"(v))

static inline uint32_t qlm__ld32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* f[r] holds rows r = 0..3 of 4 * n128 tokens (n128 128-bit lanes per register, stored to
   u[] by the caller after the transposing unpacks): token t's 4 results are at
   u + 4 * (n128 * 4 * (t & 3) + (t >> 2)) ... written as 4 floats (nr of them) at y + t * ys. */
static inline void qlm__gemm_store_t(const float *u, int n128, int nr, int nt, float *y, size_t ys) {
    int t, r;
    for (t = 0; t < nt; t++) {
        const float *v = u + 4 * (n128 * (t & 3) + (t >> 2));
        float *d = y + (size_t)t * ys;
        if (nr == 4) memcpy(d, v, 16);
        else for (r = 0; r < nr; r++) d[r] = v[r];
    }
}

/* -- layout converters (AVX2, used by both variants): twins of the >>kernels `_ref` ones,
   byte-identical (test_kernels). */

/* byte e of the result = 0x10 if bit e of the little-endian word at qh is set (q5 fifth bits) */
static inline QLM__AVX2 __m256i qlm__qh_bits_avx2(const uint8_t *qh) {
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    uint32_t w;
    __m256i v;
    memcpy(&w, qh, 4);
    v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)w),
                            _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                             2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit), _mm256_set1_epi8(0x10));
}

static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__gemm_unpack32_avx2(qlm_type type, int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) {
    const size_t bs = qlm__type_traits[type].type_size;
    const __m256i one8 = _mm256_set1_epi8(1), one16 = _mm256_set1_epi16(1);
    int64_t b, nb = K / 32;
    int r;
    for (b = 0; b < nb; b++) { /* R <= 8 rows of one block: codes, then N, DX, MX 8 at a time */
        uint8_t *o = wt + (size_t)b * 44 * (size_t)R;
        __m256i p[8];
        qlm__f16 hd[8], hm[8];
        int32_t sums[8];
        float f[8];
        for (r = 0; r < 8; r++) {
            const uint8_t *blk = w + (size_t)r * bw + (size_t)b * bs;
            __m256i c = _mm256_setzero_si256();
            hd[r] = hm[r] = 0;
            if (r < nr) switch (type) {
            case QLM_TYPE_Q4_0: {
                const qlm__block_q4_0 *x = (const qlm__block_q4_0 *)blk;
                c = _mm256_sub_epi8(qlm__nib32_avx2(x->qs), _mm256_set1_epi8(8));
                hd[r] = x->d;
                break;
            }
            case QLM_TYPE_Q4_1: {
                const qlm__block_q4_1 *x = (const qlm__block_q4_1 *)blk;
                c = qlm__nib32_avx2(x->qs);
                hd[r] = x->d;
                hm[r] = x->m;
                break;
            }
            case QLM_TYPE_Q5_0: {
                const qlm__block_q5_0 *x = (const qlm__block_q5_0 *)blk;
                c = _mm256_sub_epi8(_mm256_or_si256(qlm__nib32_avx2(x->qs), qlm__qh_bits_avx2(x->qh)), _mm256_set1_epi8(16));
                hd[r] = x->d;
                break;
            }
            case QLM_TYPE_Q5_1: {
                const qlm__block_q5_1 *x = (const qlm__block_q5_1 *)blk;
                c = _mm256_or_si256(qlm__nib32_avx2(x->qs), qlm__qh_bits_avx2(x->qh));
                hd[r] = x->d;
                hm[r] = x->m;
                break;
            }
            default: {
                const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)blk;
                c = _mm256_loadu_si256((const __m256i *)x->qs);
                hd[r] = x->d;
                break;
            }
            }
            if (r < R) _mm256_storeu_si256((__m256i *)(o + 32 * r), c);
            p[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(one8, c), one16); /* sum of codes, in 8 lanes */
            if (r + 1 == R) break;
        }
        for (r = R; r < 8; r++) p[r] = _mm256_setzero_si256();
        qlm__reduce8_avx2(p, sums);
        _mm256_storeu_si256((__m256i *)sums, _mm256_mullo_epi32(_mm256_loadu_si256((const __m256i *)sums), _mm256_set1_epi32(-128)));
        memcpy(o + 32 * R, sums, 4 * (size_t)R);
        _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hd)));
        memcpy(o + 36 * R, f, 4 * (size_t)R);
        _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)hm)));
        memcpy(o + 40 * R, f, 4 * (size_t)R);
    }
}
#define QLM__GEMM_UNPACK32_AVX2(T, TYPE)                                                           \
    static QLM__AVX2 void qlm__gemm_unpack_##T##_avx2(int64_t K, const uint8_t *w, size_t bw, int nr, int R, \
                                                     uint8_t *wt) {                                \
        qlm__gemm_unpack32_avx2(TYPE, K, w, bw, nr, R, wt);                                        \
    }
QLM__GEMM_UNPACK32_AVX2(q4_0, QLM_TYPE_Q4_0)
QLM__GEMM_UNPACK32_AVX2(q4_1, QLM_TYPE_Q4_1)
QLM__GEMM_UNPACK32_AVX2(q5_0, QLM_TYPE_Q5_0)
QLM__GEMM_UNPACK32_AVX2(q5_1, QLM_TYPE_Q5_1)
QLM__GEMM_UNPACK32_AVX2(q8_0, QLM_TYPE_Q8_0)
#undef QLM__GEMM_UNPACK32_AVX2

/* Sub-block J of 32 signed codes in element order (v) with the scales of its two 16-element
   groups -> the 16 words W[8 s + l] of groups s = 2J, 2J + 1: int16 pairs (sc * c[l], sc * c[l + 8]). */
static inline QLM__AVX2 void qlm__gemm_kpairs_avx2(__m256i v, int sc0, int sc1, uint8_t *W) {
    __m256i x = _mm256_unpacklo_epi8(v, _mm256_srli_si256(v, 8)); /* per 16: c0 c8 c1 c9 ... c7 c15 */
    __m256i g0 = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x)), g1 = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1));
    _mm256_storeu_si256((__m256i *)W, _mm256_mullo_epi16(g0, _mm256_set1_epi16((short)sc0)));
    _mm256_storeu_si256((__m256i *)(W + 32), _mm256_mullo_epi16(g1, _mm256_set1_epi16((short)sc1)));
}

static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__gemm_unpackK_avx2(qlm_type type, int64_t K, const uint8_t *w, size_t bw, int nr, int R, uint8_t *wt) {
    const size_t bs = qlm__type_traits[type].type_size;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(3);
    int64_t sb, nsb = K / QLM__QK_K;
    int r, j, h, k;
    for (sb = 0; sb < nsb; sb++) {
        uint8_t *o = wt + (size_t)sb * 552 * (size_t)R;
        float *DX = (float *)(o + 512 * R), *DM = DX + R;
        uint32_t *M = (uint32_t *)(DM + R);
        for (r = 0; r < R; r++) {
            const uint8_t *blk = w + (size_t)r * bw + (size_t)sb * bs;
            uint8_t *W = o + 512 * r;
            if (r >= nr) {
                memset(W, 0, 512);
                DX[r] = DM[r] = 0.0f;
                for (j = 0; j < 8; j++) M[8 * r + j] = 0;
                continue;
            }
            switch (type) {
            case QLM_TYPE_Q4_K:
            case QLM_TYPE_Q5_K: {
                const uint8_t *qs, *qh = NULL, *sc12;
                uint8_t sc[8], mn[8];
                qlm__f16 hd, hm;
                __m256i hb = _mm256_setzero_si256();
                if (type == QLM_TYPE_Q4_K) {
                    const qlm__block_q4_K *x = (const qlm__block_q4_K *)blk;
                    qs = x->qs; sc12 = x->scales; hd = x->d; hm = x->dmin;
                } else {
                    const qlm__block_q5_K *x = (const qlm__block_q5_K *)blk;
                    qs = x->qs; qh = x->qh; sc12 = x->scales; hd = x->d; hm = x->dmin;
                    hb = _mm256_loadu_si256((const __m256i *)qh);
                }
                qlm__k4_unpack_scales(sc12, sc, mn);
                for (j = 0; j < 4; j++) { /* sub-blocks 2j (low nibbles) and 2j + 1 (high) */
                    __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * j));
                    __m256i c0 = _mm256_and_si256(q, m4), c1 = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
                    if (qh) {
                        c0 = _mm256_or_si256(c0, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(1)), 4));
                        c1 = _mm256_or_si256(c1, _mm256_slli_epi16(_mm256_and_si256(hb, _mm256_set1_epi8(2)), 3));
                        hb = _mm256_srli_epi16(hb, 2);
                    }
                    qlm__gemm_kpairs_avx2(c0, sc[2 * j], sc[2 * j], W + 128 * j);
                    qlm__gemm_kpairs_avx2(c1, sc[2 * j + 1], sc[2 * j + 1], W + 128 * j + 64);
                }
                DX[r] = qlm__h2f(hd);
                DM[r] = qlm__h2f(hm);
                for (j = 0; j < 8; j++) M[8 * r + j] = (uint32_t)mn[j] * 0x10001u;
                break;
            }
            case QLM_TYPE_Q6_K: {
                const qlm__block_q6_K *x = (const qlm__block_q6_K *)blk;
                const __m256i o32 = _mm256_set1_epi8(32);
                const int8_t *sc = x->scales;
                for (h = 0; h < 2; h++, sc += 8) {
                    __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
                    __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
                    __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                    __m256i a0 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(qh, m3), 4)), o32);
                    __m256i a1 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), m3), 4)), o32);
                    __m256i a2 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), m3), 4)), o32);
                    __m256i a3 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), m3), 4)), o32);
                    qlm__gemm_kpairs_avx2(a0, sc[0], sc[1], W + 256 * h);
                    qlm__gemm_kpairs_avx2(a1, sc[2], sc[3], W + 256 * h + 64);
                    qlm__gemm_kpairs_avx2(a2, sc[4], sc[5], W + 256 * h + 128);
                    qlm__gemm_kpairs_avx2(a3, sc[6], sc[7], W + 256 * h + 192);
                }
                DX[r] = qlm__h2f(x->d);
                DM[r] = 0.0f;
                for (j = 0; j < 8; j++) M[8 * r + j] = 0;
                break;
            }
            default: { /* q3_K: value = 2 low bits + 4 * hmask bit - 4 */
                const qlm__block_q3_K *x = (const qlm__block_q3_K *)blk;
                const __m256i one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
                __m256i hm = _mm256_loadu_si256((const __m256i *)x->hmask);
                int8_t sc[16];
                _mm_storeu_si128((__m128i *)sc, qlm__q3k_unpack_scales(x->scales));
                for (h = 0; h < 2; h++) {
                    __m256i q = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * h));
                    for (k = 0; k < 4; k++) {
                        __m256i a = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(q, m3), _mm256_slli_epi16(_mm256_and_si256(hm, one), 2)), four);
                        qlm__gemm_kpairs_avx2(a, sc[8 * h + 2 * k], sc[8 * h + 2 * k + 1], W + 256 * h + 64 * k);
                        q = _mm256_srli_epi16(q, 2);
                        hm = _mm256_srli_epi16(hm, 1);
                    }
                }
                DX[r] = qlm__h2f(x->d);
                DM[r] = 0.0f;
                for (j = 0; j < 8; j++) M[8 * r + j] = 0;
                break;
            }
            }
        }
    }
}
#define QLM__GEMM_UNPACKK_AVX2(T, TYPE)                                                            \
    static QLM__AVX2 void qlm__gemm_unpack_##T##_avx2(int64_t K, const uint8_t *w, size_t bw, int nr, int R, \
                                                     uint8_t *wt) {                                \
        qlm__gemm_unpackK_avx2(TYPE, K, w, bw, nr, R, wt);                                         \
    }
QLM__GEMM_UNPACKK_AVX2(q3_K, QLM_TYPE_Q3_K)
QLM__GEMM_UNPACKK_AVX2(q4_K, QLM_TYPE_Q4_K)
QLM__GEMM_UNPACKK_AVX2(q5_K, QLM_TYPE_Q5_K)
QLM__GEMM_UNPACKK_AVX2(q6_K, QLM_TYPE_Q6_K)
#undef QLM__GEMM_UNPACKK_AVX2

/* r[i][j] <-> r[j][i] for an 8 x 8 matrix of 32-bit words */
static inline QLM__AVX2 void qlm__tr8x8_epi32(__m256i r[8]) {
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* Activations, 8 tokens at a time: each token's block in a register, then an 8 x 8 word
   transpose gives the 8 tokens' word j in one register. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__gemm_prep_q8_avx2(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp, const int q8_1) {
    const size_t bs = q8_1 ? sizeof(qlm__block_q8_1) : sizeof(qlm__block_q8_0), qoff = q8_1 ? 4 : 2;
    const __m256i x80 = _mm256_set1_epi8((char)0x80);
    int64_t b, nb = K / 32;
    int t0, t, j;
    for (b = 0; b < nb; b++) {
        uint8_t *g = grp + (size_t)b * 40 * (size_t)L;
        float *D = (float *)(g + 32 * L), *S = D + L;
        for (t0 = 0; t0 < L; t0 += 8) {
            __m256i r[8];
            QLM__UNROLL for (t = 0; t < 8; t++) {
                const uint8_t *blk = xq + (size_t)(t0 + t) * xrow + (size_t)b * bs;
                r[t] = t0 + t < nt ? _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + qoff)), x80) : x80;
            }
            qlm__tr8x8_epi32(r);
            QLM__UNROLL for (j = 0; j < 8; j++) _mm256_storeu_si256((__m256i *)(g + 4 * (j * L + t0)), r[j]);
        }
        for (t = 0; t < L; t++) {
            const uint8_t *blk = xq + (size_t)t * xrow + (size_t)b * bs;
            qlm__f16 h[2];
            if (t < nt) {
                memcpy(h, blk, 4);
                D[t] = qlm__h2f(h[0]);
                S[t] = q8_1 ? qlm__h2f(h[1]) : 0.0f;
            } else {
                D[t] = S[t] = 0.0f;
            }
        }
    }
}
static QLM__AVX2 void qlm__gemm_prep_q8_0_avx2(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    qlm__gemm_prep_q8_avx2(K, xq, xrow, nt, L, grp, 0);
}
static QLM__AVX2 void qlm__gemm_prep_q8_1_avx2(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    qlm__gemm_prep_q8_avx2(K, xq, xrow, nt, L, grp, 1);
}
static QLM__AVX2 void qlm__gemm_prep_q8_K_avx2(int64_t K, const uint8_t *xq, size_t xrow, int nt, int L, uint8_t *grp) {
    int64_t sb, nsb = K / QLM__QK_K;
    int t0, t, l, s, j;
    for (sb = 0; sb < nsb; sb++) {
        uint8_t *g = grp + (size_t)sb * 548 * (size_t)L;
        uint32_t *B = (uint32_t *)(g + 516 * L);
        float *D = (float *)(g + 512 * L);
        for (t0 = 0; t0 < L; t0 += 8) {
            for (s = 0; s < 16; s += 2) { /* int16 pairs (a[16s+l], a[16s+l+8]) of groups s, s+1 */
                __m256i r0[8], r1[8];
                QLM__UNROLL for (t = 0; t < 8; t++) {
                    const qlm__block_q8_K *y = (const qlm__block_q8_K *)(xq + (size_t)(t0 + t) * xrow) + sb;
                    __m256i v = t0 + t < nt ? _mm256_loadu_si256((const __m256i *)(y->qs + 16 * s)) : _mm256_setzero_si256();
                    __m256i x = _mm256_unpacklo_epi8(v, _mm256_srli_si256(v, 8));
                    r0[t] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(x));
                    r1[t] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(x, 1));
                }
                qlm__tr8x8_epi32(r0);
                qlm__tr8x8_epi32(r1);
                QLM__UNROLL for (l = 0; l < 8; l++) {
                    _mm256_storeu_si256((__m256i *)(g + 4 * ((16 * l + s) * L + t0)), r0[l]);
                    _mm256_storeu_si256((__m256i *)(g + 4 * ((16 * l + s + 1) * L + t0)), r1[l]);
                }
            }
        }
        for (t = 0; t < L; t++) {
            const qlm__block_q8_K *y = (const qlm__block_q8_K *)(xq + (size_t)t * xrow) + sb;
            uint32_t bp[8];
            if (t < nt) memcpy(bp, y->bsums, 32);
            else memset(bp, 0, sizeof bp);
            D[t] = t < nt ? y->d : 0.0f;
            QLM__UNROLL for (j = 0; j < 8; j++) B[j * L + t] = bp[j];
        }
    }
}

/* -- AVX2 (8 tokens per group). maddubs products of two codes are added as int16 over G
   steps of 4 codes before one madd: |code| <= 8 (q4_0) allows G = 8 (8 * 2 * 255 * 8 =
   32640), <= 16 (q4_1 q5_0) G = 4, <= 31 (q5_1) G = 2. q8_0 (G = 0) has no room at all:
   it multiplies |w| by a with w's sign (a back to signed), as the one-row kernel does. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__gemm32_avx2(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y, size_t ys,
                 const int form, const int G) {
    enum { R = QLM__X86_GEMM_ROWS, L = 8 };
    const __m256i ones = _mm256_set1_epi16(1), x80 = _mm256_set1_epi8((char)0x80);
    const int64_t nb = K / 32;
    __m256 f[R];
    float u[4 * 8];
    int64_t b;
    int r, j, j0;
    QLM__UNROLL for (r = 0; r < R; r++) f[r] = _mm256_setzero_ps();
    for (b = 0; b < nb; b++) {
        const uint8_t *W = wt + (size_t)b * 44 * R, *A = grp + (size_t)b * 40 * L;
        const float *DX = (const float *)(W + 36 * R), *MX = DX + R;
        const __m256 dy = _mm256_loadu_ps((const float *)(A + 32 * L));
        __m256i s[R];
        QLM__UNROLL for (r = 0; r < R; r++)
            s[r] = G ? _mm256_set1_epi32((int)qlm__ld32(W + 32 * R + 4 * r)) : _mm256_setzero_si256();
        if (G == 0) {
            QLM__UNROLL for (j = 0; j < 8; j++) {
                __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(A + 32 * j)), x80);
                QLM__UNROLL for (r = 0; r < R; r++) {
                    __m256i wb = _mm256_set1_epi32((int)qlm__ld32(W + 32 * r + 4 * j));
                    __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(wb), _mm256_sign_epi8(a, wb));
                    s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(p, ones));
                }
            }
        } else {
            QLM__UNROLL for (j0 = 0; j0 < 8; j0 += G) {
                __m256i p[R];
                QLM__UNROLL for (r = 0; r < R; r++) p[r] = _mm256_setzero_si256();
                QLM__UNROLL for (j = j0; j < j0 + G; j++) {
                    __m256i a = _mm256_loadu_si256((const __m256i *)(A + 32 * j));
                    QLM__UNROLL for (r = 0; r < R; r++)
                        p[r] = _mm256_add_epi16(p[r], _mm256_maddubs_epi16(a, _mm256_set1_epi32((int)qlm__ld32(W + 32 * r + 4 * j))));
                }
                QLM__UNROLL for (r = 0; r < R; r++) s[r] = _mm256_add_epi32(s[r], _mm256_madd_epi16(p[r], ones));
            }
        }
        QLM__UNROLL for (r = 0; r < R; r++) {
            __m256 fi = _mm256_cvtepi32_ps(s[r]), t;
            if (form == 0) { /* (sumi * dx) * dy */
                t = _mm256_mul_ps(fi, _mm256_set1_ps(DX[r]));
                qlm__x86_opaque(t);
                t = _mm256_mul_ps(t, dy);
            } else { /* (dx * dy) * sumi [+ mx * sy] */
                t = _mm256_mul_ps(_mm256_set1_ps(DX[r]), dy);
                qlm__x86_opaque(t);
                t = _mm256_mul_ps(t, fi);
                if (form == 2) {
                    __m256 v = _mm256_mul_ps(_mm256_set1_ps(MX[r]), _mm256_loadu_ps((const float *)(A + 36 * L)));
                    qlm__x86_opaque(t);
                    qlm__x86_opaque(v);
                    t = _mm256_add_ps(t, v);
                }
            }
            qlm__x86_opaque(t);
            f[r] = _mm256_add_ps(f[r], t);
        }
    }
    {
        __m256 t0 = _mm256_unpacklo_ps(f[0], f[1]), t1 = _mm256_unpackhi_ps(f[0], f[1]);
        __m256 t2 = _mm256_unpacklo_ps(f[2], f[3]), t3 = _mm256_unpackhi_ps(f[2], f[3]);
        _mm256_storeu_ps(u, _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))));
        _mm256_storeu_ps(u + 8, _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))));
        _mm256_storeu_ps(u + 16, _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))));
        _mm256_storeu_ps(u + 24, _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))));
        qlm__gemm_store_t(u, 2, nr, nt, y, ys);
    }
}

/* K-quants, AVX2: lane sums by madd of int16 pairs. */
static inline __attribute__((always_inline)) QLM__AVX2 void
qlm__gemmK_avx2(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y, size_t ys,
                const int has_min) {
    enum { R = QLM__X86_GEMM_ROWS, L = 8 };
    const int64_t nsb = K / QLM__QK_K;
    __m256 S[R][8], sf[R];
    float u[4 * 8];
    int64_t sb;
    int r, l, s, j;
    QLM__UNROLL for (r = 0; r < R; r++) {
        sf[r] = _mm256_setzero_ps();
        QLM__UNROLL for (l = 0; l < 8; l++) S[r][l] = _mm256_setzero_ps();
    }
    for (sb = 0; sb < nsb; sb++) {
        const uint8_t *W = wt + (size_t)sb * 552 * R, *A = grp + (size_t)sb * 548 * L;
        const float *DX = (const float *)(W + 512 * R), *DM = DX + R;
        const uint8_t *M = W + 520 * R, *B = A + 516 * L;
        const __m256 dy = _mm256_loadu_ps((const float *)(A + 512 * L));
        __m256 d[R];
        QLM__UNROLL for (r = 0; r < R; r++) {
            d[r] = _mm256_mul_ps(_mm256_set1_ps(DX[r]), dy);
            qlm__x86_opaque(d[r]);
        }
        for (l = 0; l < 8; l++) {
            __m256i acc[R];
            QLM__UNROLL for (r = 0; r < R; r++) acc[r] = _mm256_setzero_si256();
            QLM__UNROLL for (s = 0; s < 16; s++) {
                __m256i a = _mm256_loadu_si256((const __m256i *)(A + (size_t)(16 * l + s) * 32));
                QLM__UNROLL for (r = 0; r < R; r++)
                    acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(a, _mm256_set1_epi32((int)qlm__ld32(W + 512 * r + 4 * (8 * s + l)))));
            }
            QLM__UNROLL for (r = 0; r < R; r++) {
                __m256 t = _mm256_mul_ps(d[r], _mm256_cvtepi32_ps(acc[r]));
                qlm__x86_opaque(t);
                S[r][l] = _mm256_add_ps(S[r][l], t);
            }
        }
        if (has_min)
            QLM__UNROLL for (r = 0; r < R; r++) {
                __m256i mi = _mm256_setzero_si256();
                __m256 dm, t;
                QLM__UNROLL for (j = 0; j < 8; j++)
                    mi = _mm256_add_epi32(mi, _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)(B + 32 * j)),
                                                                _mm256_set1_epi32((int)qlm__ld32(M + 32 * r + 4 * j))));
                dm = _mm256_mul_ps(_mm256_set1_ps(DM[r]), dy);
                qlm__x86_opaque(dm);
                t = _mm256_mul_ps(dm, _mm256_cvtepi32_ps(mi));
                qlm__x86_opaque(t);
                sf[r] = _mm256_sub_ps(sf[r], t);
            }
    }
    QLM__UNROLL for (r = 0; r < R; r++)
        QLM__UNROLL for (l = 0; l < 8; l++) sf[r] = _mm256_add_ps(sf[r], S[r][l]);
    {
        __m256 t0 = _mm256_unpacklo_ps(sf[0], sf[1]), t1 = _mm256_unpackhi_ps(sf[0], sf[1]);
        __m256 t2 = _mm256_unpacklo_ps(sf[2], sf[3]), t3 = _mm256_unpackhi_ps(sf[2], sf[3]);
        _mm256_storeu_ps(u, _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))));
        _mm256_storeu_ps(u + 8, _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t0), _mm256_castps_pd(t2))));
        _mm256_storeu_ps(u + 16, _mm256_castpd_ps(_mm256_unpacklo_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))));
        _mm256_storeu_ps(u + 24, _mm256_castpd_ps(_mm256_unpackhi_pd(_mm256_castps_pd(t1), _mm256_castps_pd(t3))));
        qlm__gemm_store_t(u, 2, nr, nt, y, ys);
    }
}

/* GCC 12's avx512fintrin.h builds "undefined" vectors as `__m512 __Y = __Y;`, which g++ -O2
   reports as maybe-uninitialized once inlined here (a false positive). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
/* -- AVX-512 (16 tokens per group): vpdpbusd / vpdpwssd on zmm, the broadcast weight codes
   as their memory operand. */
static inline __attribute__((always_inline)) QLM__AVX512 void
qlm__gemm_store4x16(const __m512 f[4], int nr, int nt, float *y, size_t ys) {
    float u[4 * 16];
    __m512 t0 = _mm512_unpacklo_ps(f[0], f[1]), t1 = _mm512_unpackhi_ps(f[0], f[1]);
    __m512 t2 = _mm512_unpacklo_ps(f[2], f[3]), t3 = _mm512_unpackhi_ps(f[2], f[3]);
    _mm512_storeu_ps(u, _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))));
    _mm512_storeu_ps(u + 16, _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2))));
    _mm512_storeu_ps(u + 32, _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3))));
    _mm512_storeu_ps(u + 48, _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3))));
    qlm__gemm_store_t(u, 4, nr, nt, y, ys);
}

static inline __attribute__((always_inline)) QLM__AVX512 void
qlm__gemm32_avx512(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y, size_t ys,
                   const int form) {
    enum { R = QLM__X86_GEMM32_ROWS512, L = 16 };
    const int64_t nb = K / 32;
    __m512 f[R];
    int64_t b;
    int r, j;
    QLM__UNROLL for (r = 0; r < R; r++) f[r] = _mm512_setzero_ps();
    for (b = 0; b < nb; b++) {
        const uint8_t *W = wt + (size_t)b * 44 * R, *A = grp + (size_t)b * 40 * L;
        const float *DX = (const float *)(W + 36 * R), *MX = DX + R;
        const __m512 dy = _mm512_loadu_ps(A + 32 * L);
        __m512i s[R];
        QLM__UNROLL for (r = 0; r < R; r++) s[r] = _mm512_set1_epi32((int)qlm__ld32(W + 32 * R + 4 * r));
        QLM__UNROLL for (j = 0; j < 8; j++) {
            __m512i a = _mm512_loadu_si512(A + 64 * j);
            QLM__UNROLL for (r = 0; r < R; r++) s[r] = _mm512_dpbusd_epi32(s[r], a, _mm512_set1_epi32((int)qlm__ld32(W + 32 * r + 4 * j)));
        }
        QLM__UNROLL for (r = 0; r < R; r++) {
            __m512 fi = _mm512_cvtepi32_ps(s[r]), t;
            if (form == 0) {
                t = _mm512_mul_ps(fi, _mm512_set1_ps(DX[r]));
                qlm__x86_opaque_v(t);
                t = _mm512_mul_ps(t, dy);
            } else {
                t = _mm512_mul_ps(_mm512_set1_ps(DX[r]), dy);
                qlm__x86_opaque_v(t);
                t = _mm512_mul_ps(t, fi);
                if (form == 2) {
                    __m512 v = _mm512_mul_ps(_mm512_set1_ps(MX[r]), _mm512_loadu_ps(A + 36 * L));
                    qlm__x86_opaque_v(t);
                    qlm__x86_opaque_v(v);
                    t = _mm512_add_ps(t, v);
                }
            }
            qlm__x86_opaque_v(t);
            f[r] = _mm512_add_ps(f[r], t);
        }
    }
    for (r = 0; r < R && r < nr; r += 4) qlm__gemm_store4x16(f + r, nr - r < 4 ? nr - r : 4, nt, y + r, ys);
}

static inline __attribute__((always_inline)) QLM__AVX512 void
qlm__gemmK_avx512(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y, size_t ys,
                  const int has_min) {
    enum { R = QLM__X86_GEMM32_ROWS512, L = 16 };
    const int64_t nsb = K / QLM__QK_K;
    __m512 S[R][8], sf[R];
    int64_t sb;
    int r, l, s, j;
    QLM__UNROLL for (r = 0; r < R; r++) {
        sf[r] = _mm512_setzero_ps();
        QLM__UNROLL for (l = 0; l < 8; l++) S[r][l] = _mm512_setzero_ps();
    }
    for (sb = 0; sb < nsb; sb++) {
        const uint8_t *W = wt + (size_t)sb * 552 * R, *A = grp + (size_t)sb * 548 * L;
        const float *DX = (const float *)(W + 512 * R), *DM = DX + R;
        const uint8_t *M = W + 520 * R, *B = A + 516 * L;
        const __m512 dy = _mm512_loadu_ps(A + 512 * L);
        __m512 d[R];
        QLM__UNROLL for (r = 0; r < R; r++) {
            d[r] = _mm512_mul_ps(_mm512_set1_ps(DX[r]), dy);
            qlm__x86_opaque_v(d[r]);
        }
        for (l = 0; l < 8; l++) {
            __m512i acc[2][R]; /* two chains per row (even / odd s): dpwssd's latency is 5 */
            QLM__UNROLL for (r = 0; r < R; r++) acc[0][r] = acc[1][r] = _mm512_setzero_si512();
            QLM__UNROLL for (s = 0; s < 16; s++) {
                __m512i a = _mm512_loadu_si512(A + (size_t)(16 * l + s) * 64);
                QLM__UNROLL for (r = 0; r < R; r++)
                    acc[s & 1][r] = _mm512_dpwssd_epi32(acc[s & 1][r], a, _mm512_set1_epi32((int)qlm__ld32(W + 512 * r + 4 * (8 * s + l))));
            }
            QLM__UNROLL for (r = 0; r < R; r++) {
                __m512 t = _mm512_mul_ps(d[r], _mm512_cvtepi32_ps(_mm512_add_epi32(acc[0][r], acc[1][r])));
                qlm__x86_opaque_v(t);
                S[r][l] = _mm512_add_ps(S[r][l], t);
            }
        }
        if (has_min)
            QLM__UNROLL for (r = 0; r < R; r++) {
                __m512i mi = _mm512_setzero_si512();
                __m512 dm, t;
                QLM__UNROLL for (j = 0; j < 8; j++)
                    mi = _mm512_dpwssd_epi32(mi, _mm512_loadu_si512(B + 64 * j), _mm512_set1_epi32((int)qlm__ld32(M + 32 * r + 4 * j)));
                dm = _mm512_mul_ps(_mm512_set1_ps(DM[r]), dy);
                qlm__x86_opaque_v(dm);
                t = _mm512_mul_ps(dm, _mm512_cvtepi32_ps(mi));
                qlm__x86_opaque_v(t);
                sf[r] = _mm512_sub_ps(sf[r], t);
            }
    }
    QLM__UNROLL for (r = 0; r < R; r++)
        QLM__UNROLL for (l = 0; l < 8; l++) sf[r] = _mm512_add_ps(sf[r], S[r][l]);
    for (r = 0; r < R && r < nr; r += 4) qlm__gemm_store4x16(sf + r, nr - r < 4 ? nr - r : 4, nt, y + r, ys);
}

/* The kernels: tile functions per type and variant, and their table entries. */
#define QLM__X86_GEMM(T, SFX, TGT, LANES, ROWS, PREP, CALL)                                              \
    static TGT void qlm__gemm_tile_##T##_##SFX(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, \
                                              float *y, size_t ys) {                               \
        CALL;                                                                                      \
    }                                                                                              \
    static const qlm__gemm_kernel qlm__gemm_##T##_##SFX = {LANES, ROWS, PREP,                      \
                                                          qlm__gemm_unpack_##T##_avx2, qlm__gemm_tile_##T##_##SFX};
#define QLM__X86_GEMM_ARGS K, wt, grp, nr, nt, y, ys
QLM__X86_GEMM(q4_0, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx2(QLM__X86_GEMM_ARGS, 0, 8))
QLM__X86_GEMM(q4_1, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_1_avx2, qlm__gemm32_avx2(QLM__X86_GEMM_ARGS, 2, 4))
QLM__X86_GEMM(q5_0, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx2(QLM__X86_GEMM_ARGS, 1, 4))
QLM__X86_GEMM(q5_1, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_1_avx2, qlm__gemm32_avx2(QLM__X86_GEMM_ARGS, 2, 2))
QLM__X86_GEMM(q8_0, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx2(QLM__X86_GEMM_ARGS, 1, 0))
QLM__X86_GEMM(q3_K, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx2(QLM__X86_GEMM_ARGS, 0))
QLM__X86_GEMM(q4_K, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx2(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q5_K, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx2(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q6_K, avx2, QLM__AVX2, 8, QLM__X86_GEMM_ROWS, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx2(QLM__X86_GEMM_ARGS, 0))
QLM__X86_GEMM(q4_0, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx512(QLM__X86_GEMM_ARGS, 0))
QLM__X86_GEMM(q4_1, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_1_avx2, qlm__gemm32_avx512(QLM__X86_GEMM_ARGS, 2))
QLM__X86_GEMM(q5_0, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx512(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q5_1, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_1_avx2, qlm__gemm32_avx512(QLM__X86_GEMM_ARGS, 2))
QLM__X86_GEMM(q8_0, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_0_avx2, qlm__gemm32_avx512(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q3_K, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx512(QLM__X86_GEMM_ARGS, 0))
QLM__X86_GEMM(q4_K, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx512(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q5_K, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx512(QLM__X86_GEMM_ARGS, 1))
QLM__X86_GEMM(q6_K, avx512, QLM__AVX512, 16, QLM__X86_GEMM32_ROWS512, qlm__gemm_prep_q8_K_avx2, qlm__gemmK_avx512(QLM__X86_GEMM_ARGS, 0))
#undef QLM__X86_GEMM_ARGS
#undef QLM__X86_GEMM
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#define QLM__X86_GEMM_FILL(k, SFX)                                                                 \
    do {                                                                                           \
        (k)->gemm[QLM_TYPE_Q4_0] = &qlm__gemm_q4_0_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q4_1] = &qlm__gemm_q4_1_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q5_0] = &qlm__gemm_q5_0_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q5_1] = &qlm__gemm_q5_1_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q8_0] = &qlm__gemm_q8_0_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q3_K] = &qlm__gemm_q3_K_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q4_K] = &qlm__gemm_q4_K_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q5_K] = &qlm__gemm_q5_K_##SFX;                                          \
        (k)->gemm[QLM_TYPE_Q6_K] = &qlm__gemm_q6_K_##SFX;                                          \
    } while (0)

/* ---- fill functions ------------------------------------------------------------------- */

static void qlm__kernels_fill_avx2(qlm__kernels *k) {
    k->vec_dot[QLM_TYPE_F32] = qlm__vec_dot_f32_avx2;
    k->vec_dot[QLM_TYPE_F16] = qlm__vec_dot_f16_avx2;
    k->vec_dot[QLM_TYPE_BF16] = qlm__vec_dot_bf16_avx2;
    k->vec_dot[QLM_TYPE_Q4_0] = qlm__vec_dot_q4_0_avx2;
    k->vec_dot[QLM_TYPE_Q4_1] = qlm__vec_dot_q4_1_avx2;
    k->vec_dot[QLM_TYPE_Q5_0] = qlm__vec_dot_q5_0_avx2;
    k->vec_dot[QLM_TYPE_Q5_1] = qlm__vec_dot_q5_1_avx2;
    k->vec_dot[QLM_TYPE_Q8_0] = qlm__vec_dot_q8_0_avx2;
    k->vec_dot[QLM_TYPE_Q2_K] = qlm__vec_dot_q2_K_avx2;
    k->vec_dot[QLM_TYPE_Q3_K] = qlm__vec_dot_q3_K_avx2;
    k->vec_dot[QLM_TYPE_Q4_K] = qlm__vec_dot_q4_K_avx2;
    k->vec_dot[QLM_TYPE_Q5_K] = qlm__vec_dot_q5_K_avx2;
    k->vec_dot[QLM_TYPE_Q6_K] = qlm__vec_dot_q6_K_avx2;
    k->vec_dot8[QLM_TYPE_Q4_0] = qlm__vec_dot8_q4_0_avx2;
    k->vec_dot8[QLM_TYPE_Q4_1] = qlm__vec_dot8_q4_1_avx2;
    k->vec_dot8[QLM_TYPE_Q5_0] = qlm__vec_dot8_q5_0_avx2;
    k->vec_dot8[QLM_TYPE_Q5_1] = qlm__vec_dot8_q5_1_avx2;
    k->vec_dot8[QLM_TYPE_Q8_0] = qlm__vec_dot8_q8_0_avx2;
    k->vec_dot8[QLM_TYPE_Q3_K] = qlm__vec_dot8_q3_K_avx2;
    k->vec_dot8[QLM_TYPE_Q4_K] = qlm__vec_dot8_q4_K_avx2;
    k->vec_dot8[QLM_TYPE_Q5_K] = qlm__vec_dot8_q5_K_avx2;
    k->vec_dot8[QLM_TYPE_Q6_K] = qlm__vec_dot8_q6_K_avx2;
    k->from_float[QLM_TYPE_Q8_0] = qlm__quant_row_q8_0_avx2;
    k->from_float[QLM_TYPE_Q8_1] = qlm__quant_row_q8_1_avx2;
    k->from_float[QLM_TYPE_Q8_K] = qlm__quant_row_q8_K_avx2;
    k->from_float[QLM_TYPE_F16] = qlm__quant_row_f16_avx2;
    k->from_float[QLM_TYPE_BF16] = qlm__quant_row_bf16_avx2;
    k->kv_dot[QLM_KV_FP8] = qlm__kv_dot_fp8_avx2;
    k->kv_axpy[QLM_KV_F16] = qlm__kv_axpy_f16_avx2;
    k->kv_axpy[QLM_KV_Q8_0] = qlm__kv_axpy_q8_0_avx2;
    k->kv_axpy[QLM_KV_FP8] = qlm__kv_axpy_fp8_avx2;
    k->kv_axpy[QLM_KV_Q4] = qlm__kv_axpy_q4_1_avx2;
    k->kv_axpy[QLM_KV_Q4_0] = qlm__kv_axpy_q4_0_avx2;
    k->kv_scores[QLM_KV_F16] = qlm__kv_scores_f16_avx2;
    k->kv_scores[QLM_KV_Q8_0] = qlm__kv_scores_q8_0_avx2;
    k->kv_scores[QLM_KV_FP8] = qlm__kv_scores_fp8_avx2;
    k->kv_scores[QLM_KV_Q4] = qlm__kv_scores_q4_avx2;
    k->kv_scores[QLM_KV_Q4_0] = qlm__kv_scores_q4_0_avx2;
    k->kv_accum[QLM_KV_F16] = qlm__kv_accum_f16_avx2;
    k->kv_accum[QLM_KV_Q8_0] = qlm__kv_accum_q8_0_avx2;
    k->kv_accum[QLM_KV_FP8] = qlm__kv_accum_fp8_avx2;
    k->kv_accum[QLM_KV_Q4] = qlm__kv_accum_q4_avx2;
    k->kv_accum[QLM_KV_Q4_0] = qlm__kv_accum_q4_0_avx2;
    k->att_softmax = qlm__att_softmax_avx2;
    k->glu = qlm__glu_avx2;
    QLM__X86_GEMM_FILL(k, avx2);
}

static void qlm__kernels_fill_avx512(qlm__kernels *k) {
    qlm__kernels_fill_avx2(k);
    k->kv_scores[QLM_KV_F16] = qlm__kv_scores_f16_avx512;
    k->kv_scores[QLM_KV_Q8_0] = qlm__kv_scores_q8_0_avx512;
    k->kv_scores[QLM_KV_Q4] = qlm__kv_scores_q4_avx512;
    k->kv_scores[QLM_KV_Q4_0] = qlm__kv_scores_q4_0_avx512;
    k->att_softmax = qlm__att_softmax_avx512;
    k->glu = qlm__glu_avx512;
    k->kv_accum[QLM_KV_F16] = qlm__kv_accum_f16_avx512;
    k->kv_accum[QLM_KV_Q8_0] = qlm__kv_accum_q8_0_avx512;
    k->kv_accum[QLM_KV_Q4] = qlm__kv_accum_q4_avx512;
    k->kv_accum[QLM_KV_Q4_0] = qlm__kv_accum_q4_0_avx512;
    k->vec_dot[QLM_TYPE_Q4_0] = qlm__vec_dot_q4_0_avx512;
    k->vec_dot[QLM_TYPE_Q4_1] = qlm__vec_dot_q4_1_avx512;
    k->vec_dot[QLM_TYPE_Q5_0] = qlm__vec_dot_q5_0_avx512;
    k->vec_dot[QLM_TYPE_Q5_1] = qlm__vec_dot_q5_1_avx512;
    k->vec_dot[QLM_TYPE_Q8_0] = qlm__vec_dot_q8_0_avx512;
    k->vec_dot8[QLM_TYPE_Q4_0] = qlm__vec_dot8_q4_0_avx512;
    k->vec_dot8[QLM_TYPE_Q4_1] = qlm__vec_dot8_q4_1_avx512;
    k->vec_dot8[QLM_TYPE_Q5_0] = qlm__vec_dot8_q5_0_avx512;
    k->vec_dot8[QLM_TYPE_Q5_1] = qlm__vec_dot8_q5_1_avx512;
    k->vec_dot8[QLM_TYPE_Q8_0] = qlm__vec_dot8_q8_0_avx512;
    k->vec_dot8[QLM_TYPE_Q3_K] = qlm__vec_dot8_q3_K_avx512;
    k->vec_dot8[QLM_TYPE_Q4_K] = qlm__vec_dot8_q4_K_avx512;
    k->vec_dot8[QLM_TYPE_Q5_K] = qlm__vec_dot8_q5_K_avx512;
    k->vec_dot8[QLM_TYPE_Q6_K] = qlm__vec_dot8_q6_K_avx512;
    QLM__X86_GEMM_FILL(k, avx512);
}

#if defined(__clang__)
#  pragma STDC FP_CONTRACT DEFAULT
#elif defined(__GNUC__)
#  pragma GCC pop_options
#endif
#endif
#if QLM__ARM && !(defined(QLM_NO_SIMD) && QLM_NO_SIMD)
/* >>kernels-arm ------------------------------------------------------------------------------
   AArch64 NEON twins of the reference dot products and activation quantisers (>>kernels-ref
   is the specification; test/test_kernels_arm.c checks every function here against it).

   Two builds of each integer dot product: `_neon` uses only base AArch64 NEON (every AArch64
   CPU has it) and `_neon_dp` uses the ARMv8.2 dot-product instruction (SDOT, vdotq_s32),
   compiled for that one function with a target attribute and chosen at run time (Linux:
   HWCAP_ASIMDDP). Both share one always-inline body; the only difference is how 16 int8
   products are summed into an int32x4 (qlm__neon_dot). The lanes hold different partial
   sums in the two builds, so bodies only ever use a whole int32x4 (its total), never a lane.

   Numerics:
   - integer parts are exact for any block bytes (no int16 saturation: see qlm__neon_dot);
   - the 32-block dots (q4_0 .. q8_0) are bit-identical to the reference: each block's integer
     total goes through the reference's float expression in its order (qlm__neon_blk32), so
     prompt (GEMM tiles) and decode round alike on every ARM CPU, and as on x86;
   - the K-quant and float dots accumulate in another order (vector lanes, fused
     multiply-add), hence the per-type tolerances in the test;
   - the quantisers produce exactly the reference bytes: same d / id formulas in scalar
     float, the same single multiply per element, and the same rounding (vcvtaq = roundf's
     ties-away for q8_0/q8_1, vcvtnq = qlm__nearest_int's ties-even for q8_K, whose inputs
     are bounded by 127.x so the two agree). Inputs with NaN/inf are outside the contract.

   Compilers: GCC builds the dot-product variant from any base -march below ARMv8.2 or at
   ARMv8.2+ (with fp16/complex/jcvt/sve flags visible); clang's arm_neon.h (before 16) only
   exposes vdotq_s32 when the whole file is built with dotprod, so clang gets the plain
   variant unless -march/-mcpu already has dotprod (as on Apple silicon). */

#if defined(__ARM_NEON)
#include <arm_neon.h>
#if defined(__linux__)
#include <sys/auxv.h>
#endif

#if defined(__ARM_FEATURE_DOTPROD)
#  define QLM__NEON_HAVE_DP 1
#  define QLM__NEON_TARGET_DP
#elif defined(__GNUC__) && !defined(__clang__)
#  define QLM__NEON_HAVE_DP 1
   /* The attribute must name a superset of the base target, or the always-inline bodies
      below cannot be inlined into the function: ARMv8.2+ bases just add dotprod; older
      bases are raised to armv8.2-a (+crypto keeps a "+crypto" base a subset). */
#  if defined(__ARM_FEATURE_FP16_SCALAR_ARITHMETIC) || defined(__ARM_FEATURE_JCVT) || \
      defined(__ARM_FEATURE_COMPLEX) || defined(__ARM_FEATURE_SVE)
#    define QLM__NEON_TARGET_DP __attribute__((target("+dotprod")))
#  else
#    define QLM__NEON_TARGET_DP __attribute__((target("arch=armv8.2-a+dotprod+crypto")))
#  endif
#else
#  define QLM__NEON_HAVE_DP 0
#endif

#define QLM__NEON_INLINE static inline __attribute__((always_inline))

/* 1 if this CPU executes SDOT. */
static int qlm__neon_has_dotprod(void) {
#if defined(__ARM_FEATURE_DOTPROD)
    return 1;
#elif QLM__NEON_HAVE_DP && defined(__linux__)
#  ifndef HWCAP_ASIMDDP
#    define HWCAP_ASIMDDP (1UL << 20)
#  endif
    return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#else
    return 0;
#endif
}

/* Every AArch64 CPU has Advanced SIMD. */
static int qlm__neon_supported(void) { return 1; }

/* ---- helpers ----------------------------------------------------------------------------- */

/* fp16 bits to float with the FCVT instruction: exact, as qlm__fp16_to_fp32. */
QLM__NEON_INLINE float qlm__neon_h2f(qlm__f16 h) {
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

/* acc + the 16 products a[i]*b[i], exactly: each product fits int16 (even -128*-128), and
   pairs are widened to int32 before they are added (an int16 sum of two could wrap). */
QLM__NEON_INLINE int32x4_t qlm__neon_dot_plain(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

#if QLM__NEON_HAVE_DP
QLM__NEON_TARGET_DP static inline int32x4_t qlm__neon_dot_sdot(int32x4_t acc, int8x16_t a, int8x16_t b) {
    return vdotq_s32(acc, a, b);
}
#define QLM__NEON_DOT(dp, acc, a, b) ((dp) ? qlm__neon_dot_sdot(acc, a, b) : qlm__neon_dot_plain(acc, a, b))
#else
#define QLM__NEON_DOT(dp, acc, a, b) ((void)(dp), qlm__neon_dot_plain(acc, a, b))
#endif

/* Dot of two 32-byte int8 runs (a0|a1 against y[0..31]) added to acc. */
QLM__NEON_INLINE int32x4_t qlm__neon_dot32(int dp, int32x4_t acc, int8x16_t a0, int8x16_t a1, const int8_t *y) {
    acc = QLM__NEON_DOT(dp, acc, a0, vld1q_s8(y));
    return QLM__NEON_DOT(dp, acc, a1, vld1q_s8(y + 16));
}

/* Keeps a product in its register, so the compiler cannot fuse it with the add after it (the
   reference rounds both; GCC in GNU modes would make one FMA of them). Costs no instruction. */
#define qlm__neon_opaque(v) __asm__("" : "+w"(v))

/* The reference's float step of a 32-block dot: sumf + this block's term, in its order and
   each product rounded on its own, from the integer total of p. So the 32-block dots are
   bit-identical to the reference, and the plain and SDOT builds (whose lanes hold different
   partial sums) to each other. form 0: (sumi dx) dy (q4_0); 1: (dx dy) sumi (q5_0 q8_0);
   2: that + mx sy (q4_1 q5_1). */
QLM__NEON_INLINE float qlm__neon_blk32(float sumf, int32x4_t p, int form, qlm__f16 dx, qlm__f16 dy, qlm__f16 mx,
                                       qlm__f16 sy) {
    float fi = (float)vaddvq_s32(p), t;
    if (form == 0) {
        t = fi * qlm__neon_h2f(dx);
        qlm__neon_opaque(t);
        t = t * qlm__neon_h2f(dy);
    } else {
        t = qlm__neon_h2f(dx) * qlm__neon_h2f(dy);
        qlm__neon_opaque(t);
        t = t * fi;
        if (form == 2) {
            float m = qlm__neon_h2f(mx) * qlm__neon_h2f(sy);
            qlm__neon_opaque(t);
            qlm__neon_opaque(m);
            t = t + m;
        }
    }
    qlm__neon_opaque(t);
    return sumf + t;
}

/* Fifth bits of a q5_0/q5_1 block as 0x10 per byte: *lo for elements 0..15 (qh bits 0..15),
   *hi for 16..31. Byte j of a half picks qh byte j/8 and tests bit j%8. */
QLM__NEON_INLINE void qlm__neon_q5_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t bit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bit), b4 = vdupq_n_u8(0x10);
    *lo = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1])), m), b4);
    *hi = vandq_u8(vtstq_u8(vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3])), m), b4);
}

/* sum(a[i] * b[i]) for 16 int16 a (bsums) and 16 int16 b (small mins), exactly. */
QLM__NEON_INLINE int32_t qlm__neon_dot_s16x16(const int16_t *a, int16x8_t b0, int16x8_t b1) {
    const int16x8_t a0 = vld1q_s16(a), a1 = vld1q_s16(a + 8);
    int32x4_t p = vmull_s16(vget_low_s16(a0), vget_low_s16(b0));
    p = vmlal_high_s16(p, a0, b0);
    p = vmlal_s16(p, vget_low_s16(a1), vget_low_s16(b1));
    p = vmlal_high_s16(p, a1, b1);
    return vaddvq_s32(p);
}

/* ---- 32-element blocks --------------------------------------------------------------------- */

QLM__NEON_INLINE void qlm__vec_dot_q4_0_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q4_0 *x = (const qlm__block_q4_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t k8 = vdupq_n_s8(8);
    float sumf = 0.0f;
    int i, nb = n / QLM__QK8_0;
    for (i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, m4)), k8);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), k8);
        const int32x4_t p = qlm__neon_dot32(dp, vdupq_n_s32(0), lo, hi, y[i].qs);
        sumf = qlm__neon_blk32(sumf, p, 0, x[i].d, y[i].d, 0, 0);
    }
    *s = sumf;
}

/* q4_1 . q8_1 = d_x d_y sum(q p) + m s_y per block (s_y = d_y sum p, stored). */
QLM__NEON_INLINE void qlm__vec_dot_q4_1_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q4_1 *x = (const qlm__block_q4_1 *)vx;
    const qlm__block_q8_1 *y = (const qlm__block_q8_1 *)vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sumf = 0.0f;
    int i, nb = n / QLM__QK8_1;
    for (i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(q, m4));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
        const int32x4_t p = qlm__neon_dot32(dp, vdupq_n_s32(0), lo, hi, y[i].qs);
        sumf = qlm__neon_blk32(sumf, p, 2, x[i].d, y[i].d, x[i].m, y[i].s);
    }
    *s = sumf;
}

QLM__NEON_INLINE void qlm__vec_dot_q5_0_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q5_0 *x = (const qlm__block_q5_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t k16 = vdupq_n_s8(16);
    float sumf = 0.0f;
    int i, nb = n / QLM__QK8_0;
    for (i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        uint8x16_t hlo, hhi;
        int8x16_t lo, hi;
        int32x4_t p;
        qlm__neon_q5_bits(x[i].qh, &hlo, &hhi);
        lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hlo)), k16);
        hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hhi)), k16);
        p = qlm__neon_dot32(dp, vdupq_n_s32(0), lo, hi, y[i].qs);
        sumf = qlm__neon_blk32(sumf, p, 1, x[i].d, y[i].d, 0, 0);
    }
    *s = sumf;
}

QLM__NEON_INLINE void qlm__vec_dot_q5_1_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q5_1 *x = (const qlm__block_q5_1 *)vx;
    const qlm__block_q8_1 *y = (const qlm__block_q8_1 *)vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sumf = 0.0f;
    int i, nb = n / QLM__QK8_1;
    for (i = 0; i < nb; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        uint8x16_t hlo, hhi;
        int8x16_t lo, hi;
        int32x4_t p;
        qlm__neon_q5_bits(x[i].qh, &hlo, &hhi);
        lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, m4), hlo));
        hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hhi));
        p = qlm__neon_dot32(dp, vdupq_n_s32(0), lo, hi, y[i].qs);
        sumf = qlm__neon_blk32(sumf, p, 2, x[i].d, y[i].d, x[i].m, y[i].s);
    }
    *s = sumf;
}

QLM__NEON_INLINE void qlm__vec_dot_q8_0_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q8_0 *x = (const qlm__block_q8_0 *)vx;
    const qlm__block_q8_0 *y = (const qlm__block_q8_0 *)vy;
    float sumf = 0.0f;
    int i, nb = n / QLM__QK8_0;
    for (i = 0; i < nb; i++) {
        const int32x4_t p = qlm__neon_dot32(dp, vdupq_n_s32(0), vld1q_s8(x[i].qs), vld1q_s8(x[i].qs + 16), y[i].qs);
        sumf = qlm__neon_blk32(sumf, p, 1, x[i].d, y[i].d, 0, 0);
    }
    *s = sumf;
}

/* ---- K-quants: one int32x4 accumulates scale * (16- or 32-element dot) per super-block ---- */

/* q2_K: 2-bit codes, element 128h + 32k + l in bits 2k of qs[32h + l]; scales[j] low nibble =
   scale, high nibble = min of the 16 elements 16j..16j+15. */
QLM__NEON_INLINE void qlm__vec_dot_q2_K_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q2_K *x = (const qlm__block_q2_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const uint8x16_t m3 = vdupq_n_u8(3), m4 = vdupq_n_u8(0x0f);
    int i, h, k, nb = n / QLM__QK_K;
    float sumf = 0.0f;
    for (i = 0; i < nb; i++) {
        const uint8x16_t sc = vld1q_u8(x[i].scales);
        const uint8x16_t mins = vshrq_n_u8(sc, 4);
        uint8_t scale[16];
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        int32_t summs = qlm__neon_dot_s16x16(y[i].bsums,
                                             vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins))),
                                             vreinterpretq_s16_u16(vmovl_high_u8(mins)));
        vst1q_u8(scale, vandq_u8(sc, m4));
        for (h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (k = 0; k < 4; k++, q8 += 32) {
                const int8x16_t c0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)(-2 * k))), m3));
                const int8x16_t c1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)(-2 * k))), m3));
                const int j = 8 * h + 2 * k;
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c0, vld1q_s8(q8)), scale[j]);
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c1, vld1q_s8(q8 + 16)), scale[j + 1]);
            }
        }
        sumf += (y[i].d * qlm__neon_h2f(x[i].d)) * (float)vaddvq_s32(acc)
              - (y[i].d * qlm__neon_h2f(x[i].dmin)) * (float)summs;
    }
    *s = sumf;
}

/* q3_K: q2_K's 2-bit layout minus 4 where the hmask bit is clear (bit 4h + k of hmask[l]);
   16 signed 6-bit scales. */
QLM__NEON_INLINE void qlm__vec_dot_q3_K_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q3_K *x = (const qlm__block_q3_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const uint8x16_t m3 = vdupq_n_u8(3), four = vdupq_n_u8(4);
    int i, h, k, j, nb = n / QLM__QK_K;
    float sumf = 0.0f;
    for (i = 0; i < nb; i++) {
        const uint8x16_t hm0 = vld1q_u8(x[i].hmask), hm1 = vld1q_u8(x[i].hmask + 16);
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        int scale[16];
        for (j = 0; j < 16; j++) scale[j] = qlm__q3k_scale(x[i].scales, j) - 32;
        for (h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (k = 0; k < 4; k++, q8 += 32) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * k));
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + k)));
                /* code - 4 unless the high bit is set: subtract 4 & ~mask */
                const int8x16_t c0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, sh), m3)),
                                              vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm0, bit))));
                const int8x16_t c1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, sh), m3)),
                                              vreinterpretq_s8_u8(vbicq_u8(four, vtstq_u8(hm1, bit))));
                j = 8 * h + 2 * k;
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c0, vld1q_s8(q8)), scale[j]);
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c1, vld1q_s8(q8 + 16)), scale[j + 1]);
            }
        }
        sumf += (qlm__neon_h2f(x[i].d) * y[i].d) * (float)vaddvq_s32(acc);
    }
    *s = sumf;
}

/* q4_K / q5_K share a body (qh = NULL for q4_K): 8 sub-blocks of 32 with 6-bit scale and
   min; group g of 64 elements = low nibbles of qs[32g..32g+31], then high nibbles; the q5_K
   fifth bit of element 64g + 32t + l is bit 2g + t of qh[l]. Returns d*sum - dmin*mins. */
QLM__NEON_INLINE float qlm__neon_k4_block(int dp, float d, float dmin, const uint8_t *sc12,
                                          const uint8_t *qs, const uint8_t *qh, const qlm__block_q8_K *y) {
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    uint8x16_t h0 = vdupq_n_u8(0), h1 = vdupq_n_u8(0);
    const int8_t *q8 = y->qs;
    int32x4_t acc = vdupq_n_s32(0);
    int16_t mins[16];
    uint8_t scale[8];
    int32_t summs;
    int g;
    for (g = 0; g < 8; g++) {
        uint8_t sc, m;
        qlm__get_scale_min_k4(g, sc12, &sc, &m);
        scale[g] = sc;
        mins[2 * g] = mins[2 * g + 1] = (int16_t)m;  /* each min covers two bsums */
    }
    summs = qlm__neon_dot_s16x16(y->bsums, vld1q_s16(mins), vld1q_s16(mins + 8));
    if (qh) { h0 = vld1q_u8(qh); h1 = vld1q_u8(qh + 16); }
    for (g = 0; g < 4; g++, q8 += 64) {
        const uint8x16_t q0 = vld1q_u8(qs + 32 * g), q1 = vld1q_u8(qs + 32 * g + 16);
        uint8x16_t l0 = vandq_u8(q0, m4), l1 = vandq_u8(q1, m4);
        uint8x16_t u0 = vshrq_n_u8(q0, 4), u1 = vshrq_n_u8(q1, 4);
        int32x4_t p;
        if (qh) {
            const uint8x16_t one = vdupq_n_u8(1), two = vdupq_n_u8(2);
            l0 = vorrq_u8(l0, vshlq_n_u8(vandq_u8(h0, one), 4));
            l1 = vorrq_u8(l1, vshlq_n_u8(vandq_u8(h1, one), 4));
            u0 = vorrq_u8(u0, vshlq_n_u8(vandq_u8(h0, two), 3));
            u1 = vorrq_u8(u1, vshlq_n_u8(vandq_u8(h1, two), 3));
            h0 = vshrq_n_u8(h0, 2);
            h1 = vshrq_n_u8(h1, 2);
        }
        p = qlm__neon_dot32(dp, vdupq_n_s32(0), vreinterpretq_s8_u8(l0), vreinterpretq_s8_u8(l1), q8);
        acc = vmlaq_n_s32(acc, p, scale[2 * g]);
        p = qlm__neon_dot32(dp, vdupq_n_s32(0), vreinterpretq_s8_u8(u0), vreinterpretq_s8_u8(u1), q8 + 32);
        acc = vmlaq_n_s32(acc, p, scale[2 * g + 1]);
    }
    return d * (float)vaddvq_s32(acc) - dmin * (float)summs;
}

QLM__NEON_INLINE void qlm__vec_dot_q4_K_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q4_K *x = (const qlm__block_q4_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, nb = n / QLM__QK_K;
    float sumf = 0.0f;
    for (i = 0; i < nb; i++) {
        sumf += qlm__neon_k4_block(dp, qlm__neon_h2f(x[i].d) * y[i].d, qlm__neon_h2f(x[i].dmin) * y[i].d,
                                   x[i].scales, x[i].qs, NULL, &y[i]);
    }
    *s = sumf;
}

QLM__NEON_INLINE void qlm__vec_dot_q5_K_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q5_K *x = (const qlm__block_q5_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    int i, nb = n / QLM__QK_K;
    float sumf = 0.0f;
    for (i = 0; i < nb; i++) {
        sumf += qlm__neon_k4_block(dp, qlm__neon_h2f(x[i].d) * y[i].d, qlm__neon_h2f(x[i].dmin) * y[i].d,
                                   x[i].scales, x[i].qs, x[i].qh, &y[i]);
    }
    *s = sumf;
}

/* q6_K: per half h (128 elements), element 128h + 32k + l has its low 4 bits in
   ql[64h + l + 32(k&1)] (nibble k>>1) and its high 2 bits in qh[32h + l] (bits 2k);
   code - 32; 16 signed 8-bit scales, one per 16 elements. */
QLM__NEON_INLINE void qlm__vec_dot_q6_K_body(int n, float *s, const void *vx, const void *vy, int dp) {
    const qlm__block_q6_K *x = (const qlm__block_q6_K *)vx;
    const qlm__block_q8_K *y = (const qlm__block_q8_K *)vy;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
    const int8x16_t k32 = vdupq_n_s8(32);
    int i, h, k, nb = n / QLM__QK_K;
    float sumf = 0.0f;
    for (i = 0; i < nb; i++) {
        const int8_t *q8 = y[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            const uint8x16_t qh0 = vld1q_u8(x[i].qh + 32 * h), qh1 = vld1q_u8(x[i].qh + 32 * h + 16);
            for (k = 0; k < 4; k++, q8 += 32) {
                const uint8x16_t a0 = vld1q_u8(ql + 32 * (k & 1)), a1 = vld1q_u8(ql + 32 * (k & 1) + 16);
                /* bits 2k..2k+1 of qh moved to bits 4..5 */
                const int8x16_t hs = vdupq_n_s8((int8_t)(4 - 2 * k));
                const uint8x16_t lo0 = (k >> 1) ? vshrq_n_u8(a0, 4) : vandq_u8(a0, m4);
                const uint8x16_t lo1 = (k >> 1) ? vshrq_n_u8(a1, 4) : vandq_u8(a1, m4);
                const int8x16_t c0 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo0, vandq_u8(vshlq_u8(qh0, hs), m30))), k32);
                const int8x16_t c1 = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo1, vandq_u8(vshlq_u8(qh1, hs), m30))), k32);
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c0, vld1q_s8(q8)), sc[2 * k]);
                acc = vmlaq_n_s32(acc, QLM__NEON_DOT(dp, vdupq_n_s32(0), c1, vld1q_s8(q8 + 16)), sc[2 * k + 1]);
            }
        }
        sumf += (qlm__neon_h2f(x[i].d) * y[i].d) * (float)vaddvq_s32(acc);
    }
    *s = sumf;
}

/* The two builds of each integer dot: plain NEON, and SDOT for CPUs with dotprod. */
#if QLM__NEON_HAVE_DP
#define QLM__NEON_DOT_FNS(T)                                                                     \
    static void qlm__vec_dot_##T##_neon(int n, float *s, const void *x, const void *y) {        \
        qlm__vec_dot_##T##_body(n, s, x, y, 0);                                                  \
    }                                                                                            \
    QLM__NEON_TARGET_DP static void qlm__vec_dot_##T##_neon_dp(int n, float *s, const void *x,  \
                                                                const void *y) {                 \
        qlm__vec_dot_##T##_body(n, s, x, y, 1);                                                  \
    }
#else
#define QLM__NEON_DOT_FNS(T)                                                                     \
    static void qlm__vec_dot_##T##_neon(int n, float *s, const void *x, const void *y) {        \
        qlm__vec_dot_##T##_body(n, s, x, y, 0);                                                  \
    }
#endif
QLM__NEON_DOT_FNS(q4_0)
QLM__NEON_DOT_FNS(q4_1)
QLM__NEON_DOT_FNS(q5_0)
QLM__NEON_DOT_FNS(q5_1)
QLM__NEON_DOT_FNS(q8_0)
QLM__NEON_DOT_FNS(q2_K)
QLM__NEON_DOT_FNS(q3_K)
QLM__NEON_DOT_FNS(q4_K)
QLM__NEON_DOT_FNS(q5_K)
QLM__NEON_DOT_FNS(q6_K)
#undef QLM__NEON_DOT_FNS

/* ---- float dots: f32 products (exact for f16/bf16 inputs), fused into 4 x 4 lanes ---------- */

static void qlm__vec_dot_f32_neon(int n, float *s, const void *vx, const void *vy) {
    const float *x = (const float *)vx, *y = (const float *)vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float tail = 0.0f;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
        a1 = vfmaq_f32(a1, vld1q_f32(x + i + 4), vld1q_f32(y + i + 4));
        a2 = vfmaq_f32(a2, vld1q_f32(x + i + 8), vld1q_f32(y + i + 8));
        a3 = vfmaq_f32(a3, vld1q_f32(x + i + 12), vld1q_f32(y + i + 12));
    }
    for (; i + 4 <= n; i += 4) a0 = vfmaq_f32(a0, vld1q_f32(x + i), vld1q_f32(y + i));
    for (; i < n; i++) tail += x[i] * y[i];
    *s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))) + tail;
}

static void qlm__vec_dot_f16_neon(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = (const uint16_t *)vx, *y = (const uint16_t *)vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float tail = 0.0f;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const float16x8_t x0 = vreinterpretq_f16_u16(vld1q_u16(x + i)), y0 = vreinterpretq_f16_u16(vld1q_u16(y + i));
        const float16x8_t x1 = vreinterpretq_f16_u16(vld1q_u16(x + i + 8)), y1 = vreinterpretq_f16_u16(vld1q_u16(y + i + 8));
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vget_low_f16(x0)), vcvt_f32_f16(vget_low_f16(y0)));
        a1 = vfmaq_f32(a1, vcvt_high_f32_f16(x0), vcvt_high_f32_f16(y0));
        a2 = vfmaq_f32(a2, vcvt_f32_f16(vget_low_f16(x1)), vcvt_f32_f16(vget_low_f16(y1)));
        a3 = vfmaq_f32(a3, vcvt_high_f32_f16(x1), vcvt_high_f32_f16(y1));
    }
    for (; i + 4 <= n; i += 4) {
        a0 = vfmaq_f32(a0, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i))),
                       vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(y + i))));
    }
    for (; i < n; i++) tail += qlm__neon_h2f(x[i]) * qlm__neon_h2f(y[i]);
    *s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))) + tail;
}

/* bf16 -> f32 is a 16-bit left shift of the bits. */
static void qlm__vec_dot_bf16_neon(int n, float *s, const void *vx, const void *vy) {
    const uint16_t *x = (const uint16_t *)vx, *y = (const uint16_t *)vy;
    float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
    float tail = 0.0f;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const uint16x8_t x0 = vld1q_u16(x + i), y0 = vld1q_u16(y + i);
        const uint16x8_t x1 = vld1q_u16(x + i + 8), y1 = vld1q_u16(y + i + 8);
        a0 = vfmaq_f32(a0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(x0), 16)),
                       vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(y0), 16)));
        a1 = vfmaq_f32(a1, vreinterpretq_f32_u32(vshll_high_n_u16(x0, 16)),
                       vreinterpretq_f32_u32(vshll_high_n_u16(y0, 16)));
        a2 = vfmaq_f32(a2, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(x1), 16)),
                       vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(y1), 16)));
        a3 = vfmaq_f32(a3, vreinterpretq_f32_u32(vshll_high_n_u16(x1, 16)),
                       vreinterpretq_f32_u32(vshll_high_n_u16(y1, 16)));
    }
    for (; i < n; i++) tail += qlm__bf16_to_fp32(x[i]) * qlm__bf16_to_fp32(y[i]);
    *s = vaddvq_f32(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3))) + tail;
}

/* ---- GEMM tiles, 32-element blocks (layouts under "GEMM layouts" in >>kernels-ref) --------
   4 weight rows against a group of 8 tokens (two int32x4, one token per lane). The group
   stores activations + 128 for x86's unsigned operand; here each register is XORed back to
   signed bytes, so one SDOT (or, without dotprod, vmull_s8 and two pairwise adds) per 16
   bytes adds lane t's 4 products exactly and the row's N is not needed. The float part is
   the reference's expression per lane, each product kept from fusing with the add after it
   (qlm__neon_opaque), so every result is bit-identical to the reference vec_dot, as on x86.
   The layout converters are the reference's (scalar): a tile is unpacked once and used for
   every group of the batch. Tiles are 64-byte aligned and all offsets are multiples of 4, so
   a weight word is loaded (and broadcast) as a uint32. K-quant tiles are not written for NEON yet (a loop of vec_dot). */

/* acc lane i + a[4i..4i+3] . w[4i..4i+3] without SDOT: products fit int16, a pair of them too
   (|a| <= 127 for activations, so even a -128 weight code gives at most 32512) */
QLM__NEON_INLINE int32x4_t qlm__neon_dot4_plain(int32x4_t acc, int8x16_t a, int8x16_t w) {
    return vpadalq_s16(acc, vpaddq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(w)), vmull_high_s8(a, w)));
}
#if QLM__NEON_HAVE_DP
#define QLM__NEON_DOT4(dp, acc, a, b) ((dp) ? qlm__neon_dot_sdot(acc, a, b) : qlm__neon_dot4_plain(acc, a, b))
#else
#define QLM__NEON_DOT4(dp, acc, a, b) ((void)(dp), qlm__neon_dot4_plain(acc, a, b))
#endif

/* form 0: (sumi * dx) * dy (q4_0); 1: (dx * dy) * sumi (q5_0 q8_0); 2: that + mx * sy (q4_1 q5_1) */
QLM__NEON_INLINE void qlm__gemm32_neon(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt, float *y,
                                       size_t ys, const int form, const int dp) {
    enum { R = 4, L = 8 };
    const int64_t nb = K / 32;
    const uint8x16_t x80 = vdupq_n_u8(0x80);
    float32x4_t f[R][2];
    float u[R][L];
    int64_t b;
    int r, h, j, t;
    QLM__UNROLL for (r = 0; r < R; r++) f[r][0] = f[r][1] = vdupq_n_f32(0.0f);
    for (b = 0; b < nb; b++) {
        const uint8_t *W = wt + (size_t)b * 44 * R, *A = grp + (size_t)b * 40 * L;
        const float *DX = (const float *)(W + 36 * R), *MX = DX + R, *DY = (const float *)(A + 32 * L), *SY = DY + L;
        int32x4_t s[R][2];
        QLM__UNROLL for (r = 0; r < R; r++) s[r][0] = s[r][1] = vdupq_n_s32(0);
        QLM__UNROLL for (j = 0; j < 8; j++) {
            const int8x16_t a0 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(A + 32 * j), x80));
            const int8x16_t a1 = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(A + 32 * j + 16), x80));
            QLM__UNROLL for (r = 0; r < R; r++) {
                const int8x16_t w = vreinterpretq_s8_u32(vld1q_dup_u32((const uint32_t *)(W + 32 * r + 4 * j)));
                s[r][0] = QLM__NEON_DOT4(dp, s[r][0], a0, w);
                s[r][1] = QLM__NEON_DOT4(dp, s[r][1], a1, w);
            }
        }
        QLM__UNROLL for (r = 0; r < R; r++) QLM__UNROLL for (h = 0; h < 2; h++) {
            float32x4_t fi = vcvtq_f32_s32(s[r][h]), dy = vld1q_f32(DY + 4 * h), v;
            if (form == 0) {
                v = vmulq_n_f32(fi, DX[r]);
                qlm__neon_opaque(v);
                v = vmulq_f32(v, dy);
            } else {
                v = vmulq_n_f32(dy, DX[r]);
                qlm__neon_opaque(v);
                v = vmulq_f32(v, fi);
                if (form == 2) {
                    float32x4_t m = vmulq_n_f32(vld1q_f32(SY + 4 * h), MX[r]);
                    qlm__neon_opaque(v);
                    qlm__neon_opaque(m);
                    v = vaddq_f32(v, m);
                }
            }
            qlm__neon_opaque(v);
            f[r][h] = vaddq_f32(f[r][h], v);
        }
    }
    QLM__UNROLL for (r = 0; r < R; r++) {
        vst1q_f32(u[r], f[r][0]);
        vst1q_f32(u[r] + 4, f[r][1]);
    }
    for (t = 0; t < nt; t++)
        for (r = 0; r < nr; r++) y[(size_t)t * ys + r] = u[r][t];
}
#define QLM__NEON_GEMM(T, PREP, FORM)                                                                       \
    static void qlm__gemm_tile_##T##_neon(int64_t K, const uint8_t *wt, const uint8_t *grp, int nr, int nt,     \
                                          float *y, size_t ys) {                                            \
        qlm__gemm32_neon(K, wt, grp, nr, nt, y, ys, FORM, 0);                                               \
    }                                                                                                       \
    static const qlm__gemm_kernel qlm__gemm_##T##_neon = {8, 4, PREP, qlm__gemm_unpack_##T##_ref,            \
                                                          qlm__gemm_tile_##T##_neon};                       \
    QLM__NEON_GEMM_DP(T, PREP, FORM)
#if QLM__NEON_HAVE_DP
#define QLM__NEON_GEMM_DP(T, PREP, FORM)                                                                    \
    QLM__NEON_TARGET_DP static void qlm__gemm_tile_##T##_neon_dp(int64_t K, const uint8_t *wt, const uint8_t *grp, \
                                                                int nr, int nt, float *y, size_t ys) {      \
        qlm__gemm32_neon(K, wt, grp, nr, nt, y, ys, FORM, 1);                                               \
    }                                                                                                       \
    static const qlm__gemm_kernel qlm__gemm_##T##_neon_dp = {8, 4, PREP, qlm__gemm_unpack_##T##_ref,         \
                                                             qlm__gemm_tile_##T##_neon_dp};
#else
#define QLM__NEON_GEMM_DP(T, PREP, FORM)
#endif
QLM__NEON_GEMM(q4_0, qlm__gemm_prep_q8_0_ref, 0)
QLM__NEON_GEMM(q4_1, qlm__gemm_prep_q8_1_ref, 2)
QLM__NEON_GEMM(q5_0, qlm__gemm_prep_q8_0_ref, 1)
QLM__NEON_GEMM(q5_1, qlm__gemm_prep_q8_1_ref, 2)
QLM__NEON_GEMM(q8_0, qlm__gemm_prep_q8_0_ref, 1)
#undef QLM__NEON_GEMM
#undef QLM__NEON_GEMM_DP

/* ---- activation quantisers (bytes identical to the _ref ones) ------------------------------ */

/* Codes of one 32-element block: int8(round_ties_away(src * id)) as the ref's
   (int8_t)roundf(); the int32 -> int8 narrowing truncates like that cast. */
QLM__NEON_INLINE int32_t qlm__neon_q8_block(const float *src, float id, int8_t *qs) {
    int j;
    int32_t sum = 0;
    for (j = 0; j < 32; j += 16) {
        const int32x4_t r0 = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(src + j), id));
        const int32x4_t r1 = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 4), id));
        const int32x4_t r2 = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 8), id));
        const int32x4_t r3 = vcvtaq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 12), id));
        const int8x16_t q = vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(r0), vmovn_s32(r1))),
                                        vmovn_s16(vcombine_s16(vmovn_s32(r2), vmovn_s32(r3))));
        vst1q_s8(qs + j, q);
        sum += vaddlvq_s8(q);
    }
    return sum;
}

/* max |src[j]| over n (a multiple of 16) floats. */
QLM__NEON_INLINE float qlm__neon_absmax(const float *src, int n) {
    float32x4_t m0 = vdupq_n_f32(0.0f), m1 = m0, m2 = m0, m3 = m0;
    int j;
    for (j = 0; j < n; j += 16) {
        m0 = vmaxq_f32(m0, vabsq_f32(vld1q_f32(src + j)));
        m1 = vmaxq_f32(m1, vabsq_f32(vld1q_f32(src + j + 4)));
        m2 = vmaxq_f32(m2, vabsq_f32(vld1q_f32(src + j + 8)));
        m3 = vmaxq_f32(m3, vabsq_f32(vld1q_f32(src + j + 12)));
    }
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

static void qlm__quant_row_q8_0_neon(const float *src, void *dst, int64_t n) {
    qlm__block_q8_0 *b = (qlm__block_q8_0 *)dst;
    int64_t i, nb = n / QLM__QK8_0;
    for (i = 0; i < nb; i++, src += QLM__QK8_0) {
        const float d  = qlm__neon_absmax(src, QLM__QK8_0) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qlm__fp32_to_fp16(d);
        (void)qlm__neon_q8_block(src, id, b[i].qs);
    }
}

static void qlm__quant_row_q8_1_neon(const float *src, void *dst, int64_t n) {
    qlm__block_q8_1 *b = (qlm__block_q8_1 *)dst;
    int64_t i, nb = n / QLM__QK8_1;
    for (i = 0; i < nb; i++, src += QLM__QK8_1) {
        const float d  = qlm__neon_absmax(src, QLM__QK8_1) / 127;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const int32_t sum = qlm__neon_q8_block(src, id, b[i].qs);
        b[i].d = qlm__fp32_to_fp16(d);
        b[i].s = qlm__fp32_to_fp16((float)sum * d);
    }
}

/* q8_K: the reference's max is the first value of largest magnitude, with its sign. */
static void qlm__quant_row_q8_K_neon(const float *src, void *dst, int64_t n) {
    qlm__block_q8_K *b = (qlm__block_q8_K *)dst;
    int64_t i, nb = n / QLM__QK_K;
    int j;
    for (i = 0; i < nb; i++, src += QLM__QK_K) {
        const float amax = qlm__neon_absmax(src, QLM__QK_K);
        const int32x4_t k127 = vdupq_n_s32(127);
        float max = 0.0f, iscale;
        for (j = 0; j < QLM__QK_K; j++) {
            if (fabsf(src[j]) == amax) { max = src[j]; break; }
        }
        if (max == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        iscale = -127.0f / max;
        for (j = 0; j < QLM__QK_K; j += 16) {
            /* ties to even, as qlm__nearest_int; only the top is clamped, as in the ref */
            const int32x4_t r0 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j), iscale)), k127);
            const int32x4_t r1 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 4), iscale)), k127);
            const int32x4_t r2 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 8), iscale)), k127);
            const int32x4_t r3 = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(src + j + 12), iscale)), k127);
            const int8x16_t q = vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(r0), vmovn_s32(r1))),
                                            vmovn_s16(vcombine_s16(vmovn_s32(r2), vmovn_s32(r3))));
            vst1q_s8(b[i].qs + j, q);
            b[i].bsums[j / 16] = vaddlvq_s8(q);
        }
        b[i].d = 1 / iscale;
    }
}

/* qlm__att_softmax_ref's exponential on 4 lanes (-inf and NaN give 0) */
QLM__NEON_INLINE float32x4_t qlm__exp4_neon(float32x4_t v) {
    const float32x4_t lo = vdupq_n_f32(QLM__EXP_MIN);
    uint32x4_t keep = vcgeq_f32(v, lo);
    float32x4_t nn, r, p, two;
    int j;
    v = vbslq_f32(keep, v, lo);
    nn = vrndmq_f32(vfmaq_f32(vdupq_n_f32(0.5f), v, vdupq_n_f32(QLM__EXP_LOG2E)));
    r = vfmsq_f32(v, nn, vdupq_n_f32(QLM__EXP_LN2_HI));
    r = vfmsq_f32(r, nn, vdupq_n_f32(QLM__EXP_LN2_LO));
    p = vdupq_n_f32(qlm__exp_poly[0]);
    for (j = 1; j < 6; j++) p = vfmaq_f32(vdupq_n_f32(qlm__exp_poly[j]), p, r);
    p = vaddq_f32(vfmaq_f32(r, p, vmulq_f32(r, r)), vdupq_n_f32(1.0f));
    two = vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(nn), vdupq_n_s32(127)), 23));
    return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(vmulq_f32(p, two)), keep));
}
/* qlm__glu_ref on 4 lanes; the tail (n % 4) takes the reference. vminnmq is the min that
   gives 88 for NaN, as the reference's clamp does (vminq would keep the NaN). */
static void qlm__glu_neon(int64_t n, const float *g, const float *u, float *y, int gelu) {
    const float32x4_t mx = vdupq_n_f32(QLM__GLU_EXP_MAX), one = vdupq_n_f32(1.0f), c3 = vdupq_n_f32(QLM__GELU_C3),
                      c2 = vdupq_n_f32(QLM__GELU_2C);
    int64_t i;
    for (i = 0; i + 4 <= n; i += 4) {
        float32x4_t x = vld1q_f32(g + i), z = x, e;
        if (gelu) z = vmulq_f32(c2, vfmaq_f32(x, vmulq_f32(c3, vmulq_f32(x, x)), x));
        e = qlm__exp4_neon(vminnmq_f32(vnegq_f32(z), mx));
        vst1q_f32(y + i, vmulq_f32(vdivq_f32(x, vaddq_f32(one, e)), vld1q_f32(u + i)));
    }
    qlm__glu_ref(n - i, g + i, u + i, y + i, gelu);
}
/* qlm__att_softmax_ref on 8 x 4 lanes; a short block is padded with -inf (p = 0) */
static void qlm__att_softmax_neon(int g, int n, float *s, int64_t lds, const float *add, float scale, float *M,
                                  double *S, float *p, int ldp, float *f) {
    int gi, j;
    for (gi = 0; gi < g; gi++) {
        float *x = s + gi * lds, *y = p + gi * ldp, tmp[32];
        float32x4_t v[8], e[8], a = vdupq_n_f32(add ? add[gi] : 0.0f), mx, h, b;
        for (j = 0; j < 32; j++) tmp[j] = j < n ? x[j] : -INFINITY;
        for (j = 0; j < 8; j++) v[j] = vmulq_n_f32(vaddq_f32(vld1q_f32(tmp + 4 * j), a), scale);
        mx = v[0];
        for (j = 1; j < 8; j++) mx = vmaxq_f32(mx, v[j]);
        f[gi] = qlm__att_rescale(vmaxvq_f32(mx), &M[gi], &S[gi]);
        for (j = 0; j < 8; j++) e[j] = qlm__exp4_neon(vsubq_f32(v[j], vdupq_n_f32(M[gi])));
        for (j = 0; j < 8; j++) vst1q_f32(tmp + 4 * j, v[j]);
        memcpy(x, tmp, (size_t)n * 4);
        for (j = 0; j < 8; j++) vst1q_f32(tmp + 4 * j, e[j]);
        memcpy(y, tmp, (size_t)n * 4);
        /* lanes 4k.. of 16: e[k] + e[k + 4]; fold k + (k + 8), then (0+4)+(2+6), (1+5)+(3+7) */
        h = vaddq_f32(vaddq_f32(e[0], e[4]), vaddq_f32(e[2], e[6]));
        b = vaddq_f32(vaddq_f32(e[1], e[5]), vaddq_f32(e[3], e[7]));
        h = vaddq_f32(h, b);
        b = vaddq_f32(h, vextq_f32(h, h, 2));
        S[gi] += (double)(vgetq_lane_f32(b, 0) + vgetq_lane_f32(b, 1));
    }
}

/* ---- KV cache: the fp8 K dot and the V axpys (twins of the >>kernels-ref KV section) ---- */

/* 8 E4M3 codes -> two float32x4 times 2^-8 (see the E4M3 note in >>kernels-ref) */
QLM__NEON_INLINE void qlm__e4m3x8_neon(const uint8_t *p, float32x4_t *lo, float32x4_t *hi) {
    uint16x8_t b = vmovl_u8(vld1_u8(p));
    uint16x8_t h = vorrq_u16(vshlq_n_u16(vandq_u16(b, vdupq_n_u16(0x80)), 8),
                             vshlq_n_u16(vandq_u16(b, vdupq_n_u16(0x7f)), 7));
    float16x8_t f = vreinterpretq_f16_u16(h);
    *lo = vcvt_f32_f16(vget_low_f16(f));
    *hi = vcvt_f32_f16(vget_high_f16(f));
}
static void qlm__kv_dot_fp8_neon(int n, float *s, const void *k, const void *vq) {
    const uint8_t *c = (const uint8_t *)k + 4;
    const float *q = (const float *)vq;
    float32x4_t a0 = vdupq_n_f32(0), a1 = vdupq_n_f32(0), lo, hi;
    float d, sum;
    int i = 0;
    memcpy(&d, k, 4);
    for (; i + 8 <= n; i += 8) {
        qlm__e4m3x8_neon(c + i, &lo, &hi);
        a0 = vfmaq_f32(a0, lo, vld1q_f32(q + i));
        a1 = vfmaq_f32(a1, hi, vld1q_f32(q + i + 4));
    }
    sum = vaddvq_f32(vaddq_f32(a0, a1)) * 256.0f;
    for (; i < n; i++) sum += qlm__e4m3_to_fp32(c[i]) * q[i];
    *s = sum * d;
}
static void qlm__kv_axpy_fp8_neon(int n, float *acc, float a, const void *v) {
    const uint8_t *c = (const uint8_t *)v + 4;
    float32x4_t lo, hi;
    float d, f;
    int i = 0;
    memcpy(&d, v, 4);
    a *= d;
    f = a * 256.0f;
    for (; i + 8 <= n; i += 8) {
        qlm__e4m3x8_neon(c + i, &lo, &hi);
        vst1q_f32(acc + i, vfmaq_n_f32(vld1q_f32(acc + i), lo, f));
        vst1q_f32(acc + i + 4, vfmaq_n_f32(vld1q_f32(acc + i + 4), hi, f));
    }
    for (; i < n; i++) acc[i] += a * qlm__e4m3_to_fp32(c[i]);
}
static void qlm__kv_axpy_f16_neon(int n, float *acc, float a, const void *v) {
    const qlm__f16 *x = (const qlm__f16 *)v;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t h = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x + i)));
        vst1q_f32(acc + i, vfmaq_n_f32(vld1q_f32(acc + i), h, a));
    }
    for (; i < n; i++) acc[i] += a * qlm__fp16_to_fp32(x[i]);
}
static void qlm__kv_axpy_q8_0_neon(int n, float *acc, float a, const void *v) {
    const qlm__block_q8_0 *b = (const qlm__block_q8_0 *)v;
    int i, j;
    for (i = 0; i < n / QLM__QK8_0; i++) {
        float f = a * qlm__fp16_to_fp32(b[i].d);
        float *y = acc + i * QLM__QK8_0;
        for (j = 0; j < QLM__QK8_0; j += 8) {
            int16x8_t q = vmovl_s8(vld1_s8(b[i].qs + j));
            vst1q_f32(y + j, vfmaq_n_f32(vld1q_f32(y + j), vcvtq_f32_s32(vmovl_s16(vget_low_s16(q))), f));
            vst1q_f32(y + j + 4, vfmaq_n_f32(vld1q_f32(y + j + 4), vcvtq_f32_s32(vmovl_s16(vget_high_s16(q))), f));
        }
    }
}
/* q4_1 and q4_0 share the nibble order: elements j (low) and j + 16 (high) of byte j */
static void qlm__kv_axpy_nib_neon(float *y, const uint8_t *qs, float f, float m) {
    uint8x16_t raw = vld1q_u8(qs);
    uint8x16_t part[2];
    int h, k;
    part[0] = vandq_u8(raw, vdupq_n_u8(0x0f));
    part[1] = vshrq_n_u8(raw, 4);
    for (h = 0; h < 2; h++) {
        uint16x8_t w[2];
        w[0] = vmovl_u8(vget_low_u8(part[h]));
        w[1] = vmovl_u8(vget_high_u8(part[h]));
        for (k = 0; k < 4; k++) {
            uint32x4_t u = k & 1 ? vmovl_u16(vget_high_u16(w[k >> 1])) : vmovl_u16(vget_low_u16(w[k >> 1]));
            float *p = y + h * 16 + k * 4;
            vst1q_f32(p, vaddq_f32(vfmaq_n_f32(vld1q_f32(p), vcvtq_f32_u32(u), f), vdupq_n_f32(m)));
        }
    }
}
static void qlm__kv_axpy_q4_1_neon(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_1 *b = (const qlm__block_q4_1 *)v;
    int i;
    for (i = 0; i < n / QLM__QK4_1; i++)
        qlm__kv_axpy_nib_neon(acc + i * QLM__QK4_1, b[i].qs, a * qlm__fp16_to_fp32(b[i].d),
                              a * qlm__fp16_to_fp32(b[i].m));
}
static void qlm__kv_axpy_q4_0_neon(int n, float *acc, float a, const void *v) {
    const qlm__block_q4_0 *b = (const qlm__block_q4_0 *)v;
    int i;
    for (i = 0; i < n / QLM__QK4_0; i++) {
        float f = a * qlm__fp16_to_fp32(b[i].d);
        qlm__kv_axpy_nib_neon(acc + i * QLM__QK4_0, b[i].qs, f, -8.0f * f);
    }
}

/* ---- table -------------------------------------------------------------------------------- */

/* Overwrite k's entries with the NEON kernels; dotprod picks the SDOT builds. */
static void qlm__neon_fill(qlm__kernels *k, int dotprod) {
    k->vec_dot[QLM_TYPE_F32]  = qlm__vec_dot_f32_neon;
    k->vec_dot[QLM_TYPE_F16]  = qlm__vec_dot_f16_neon;
    k->vec_dot[QLM_TYPE_BF16] = qlm__vec_dot_bf16_neon;
    k->vec_dot[QLM_TYPE_Q4_0] = qlm__vec_dot_q4_0_neon;
    k->vec_dot[QLM_TYPE_Q4_1] = qlm__vec_dot_q4_1_neon;
    k->vec_dot[QLM_TYPE_Q5_0] = qlm__vec_dot_q5_0_neon;
    k->vec_dot[QLM_TYPE_Q5_1] = qlm__vec_dot_q5_1_neon;
    k->vec_dot[QLM_TYPE_Q8_0] = qlm__vec_dot_q8_0_neon;
    k->vec_dot[QLM_TYPE_Q2_K] = qlm__vec_dot_q2_K_neon;
    k->vec_dot[QLM_TYPE_Q3_K] = qlm__vec_dot_q3_K_neon;
    k->vec_dot[QLM_TYPE_Q4_K] = qlm__vec_dot_q4_K_neon;
    k->vec_dot[QLM_TYPE_Q5_K] = qlm__vec_dot_q5_K_neon;
    k->vec_dot[QLM_TYPE_Q6_K] = qlm__vec_dot_q6_K_neon;
    k->gemm[QLM_TYPE_Q4_0] = &qlm__gemm_q4_0_neon;
    k->gemm[QLM_TYPE_Q4_1] = &qlm__gemm_q4_1_neon;
    k->gemm[QLM_TYPE_Q5_0] = &qlm__gemm_q5_0_neon;
    k->gemm[QLM_TYPE_Q5_1] = &qlm__gemm_q5_1_neon;
    k->gemm[QLM_TYPE_Q8_0] = &qlm__gemm_q8_0_neon;
#if QLM__NEON_HAVE_DP
    if (dotprod) {
        k->gemm[QLM_TYPE_Q4_0] = &qlm__gemm_q4_0_neon_dp;
        k->gemm[QLM_TYPE_Q4_1] = &qlm__gemm_q4_1_neon_dp;
        k->gemm[QLM_TYPE_Q5_0] = &qlm__gemm_q5_0_neon_dp;
        k->gemm[QLM_TYPE_Q5_1] = &qlm__gemm_q5_1_neon_dp;
        k->gemm[QLM_TYPE_Q8_0] = &qlm__gemm_q8_0_neon_dp;
        k->vec_dot[QLM_TYPE_Q4_0] = qlm__vec_dot_q4_0_neon_dp;
        k->vec_dot[QLM_TYPE_Q4_1] = qlm__vec_dot_q4_1_neon_dp;
        k->vec_dot[QLM_TYPE_Q5_0] = qlm__vec_dot_q5_0_neon_dp;
        k->vec_dot[QLM_TYPE_Q5_1] = qlm__vec_dot_q5_1_neon_dp;
        k->vec_dot[QLM_TYPE_Q8_0] = qlm__vec_dot_q8_0_neon_dp;
        k->vec_dot[QLM_TYPE_Q2_K] = qlm__vec_dot_q2_K_neon_dp;
        k->vec_dot[QLM_TYPE_Q3_K] = qlm__vec_dot_q3_K_neon_dp;
        k->vec_dot[QLM_TYPE_Q4_K] = qlm__vec_dot_q4_K_neon_dp;
        k->vec_dot[QLM_TYPE_Q5_K] = qlm__vec_dot_q5_K_neon_dp;
        k->vec_dot[QLM_TYPE_Q6_K] = qlm__vec_dot_q6_K_neon_dp;
    }
#else
    (void)dotprod;
#endif
    k->from_float[QLM_TYPE_Q8_0] = qlm__quant_row_q8_0_neon;
    k->from_float[QLM_TYPE_Q8_1] = qlm__quant_row_q8_1_neon;
    k->from_float[QLM_TYPE_Q8_K] = qlm__quant_row_q8_K_neon;
    k->kv_dot[QLM_KV_FP8] = qlm__kv_dot_fp8_neon;
    k->kv_axpy[QLM_KV_F16] = qlm__kv_axpy_f16_neon;
    k->kv_axpy[QLM_KV_Q8_0] = qlm__kv_axpy_q8_0_neon;
    k->kv_axpy[QLM_KV_FP8] = qlm__kv_axpy_fp8_neon;
    k->kv_axpy[QLM_KV_Q4] = qlm__kv_axpy_q4_1_neon;
    k->kv_axpy[QLM_KV_Q4_0] = qlm__kv_axpy_q4_0_neon;
    k->att_softmax = qlm__att_softmax_neon;
    k->glu = qlm__glu_neon;
}

static void qlm__kernels_fill_neon(qlm__kernels *k) { qlm__neon_fill(k, qlm__neon_has_dotprod()); }

#undef QLM__NEON_INLINE
#undef QLM__NEON_DOT

#else /* no Advanced SIMD in this build (e.g. -march=armv8-a+nofp): the variant is absent */
static int qlm__neon_supported(void) { return 0; }
static void qlm__kernels_fill_neon(qlm__kernels *k) { (void)k; }
#endif /* __ARM_NEON */
#endif

/* Best first. */
static const qlm__kernel_variant qlm__variants[] = {
#if QLM__X86 && !(defined(QLM_NO_SIMD) && QLM_NO_SIMD)
    {"avx512", qlm__avx512_supported, qlm__kernels_fill_avx512},
    {"avx2", qlm__avx2_supported, qlm__kernels_fill_avx2},
#endif
#if QLM__ARM && !(defined(QLM_NO_SIMD) && QLM_NO_SIMD)
    {"neon", qlm__neon_supported, qlm__kernels_fill_neon},
#endif
    {"ref", NULL, NULL},
};

/* Fill k for `want` ("auto", "ref" or a variant name; NULL reads QLM_CPU, default auto).
   Asking for a variant this build or CPU lacks is an error, not a silent fallback. */
static qlm_status qlm__kernels_select(qlm__kernels *k, const char *want) {
    size_t i, n = sizeof qlm__variants / sizeof qlm__variants[0];
    if (!want) want = getenv("QLM_CPU");
    if (!want || !*want) want = "auto";
    qlm__kernels_fill_ref(k);
    for (i = 0; i < n; i++) {
        const qlm__kernel_variant *v = &qlm__variants[i];
        int ok = !v->supported || v->supported();
        if (strcmp(want, "auto") == 0 ? !ok : strcmp(want, v->name) != 0) continue;
        if (!ok) {
            qlm__errorf("CPU kernels '%s' are not supported by this CPU", want);
            return QLM_ERR_UNSUPPORTED;
        }
        if (v->fill) v->fill(k);
        qlm__kernels_link_kv(k);
        k->name = v->name;
        return QLM_OK;
    }
    {
        char names[128] = "auto";
        for (i = 0; i < n; i++) {
            strncat(names, ", ", sizeof names - strlen(names) - 1);
            strncat(names, qlm__variants[i].name, sizeof names - strlen(names) - 1);
        }
        qlm__errorf("unknown CPU kernels '%s' (this build has: %s)", want, names);
    }
    return QLM_ERR_INVALID_ARG;
}

/* >>gguf ------------------------------------------------------------------------------------
   GGUF v2/v3 reader (zero copy over a mapped file) and writer. Every count, length and offset
   read from the file is checked against the bytes that remain before it is used. */

typedef struct {
    const char *ptr;
    uint64_t len;
} qlm__str;

enum {
    QLM__GGUF_U8 = 0, QLM__GGUF_I8 = 1, QLM__GGUF_U16 = 2, QLM__GGUF_I16 = 3,
    QLM__GGUF_U32 = 4, QLM__GGUF_I32 = 5, QLM__GGUF_F32 = 6, QLM__GGUF_BOOL = 7,
    QLM__GGUF_STR = 8, QLM__GGUF_ARR = 9, QLM__GGUF_U64 = 10, QLM__GGUF_I64 = 11,
    QLM__GGUF_F64 = 12, QLM__GGUF_NTYPES = 13
};

#define QLM__GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define QLM__GGUF_DEFAULT_ALIGN 32

static const uint8_t qlm__gguf_type_size[QLM__GGUF_NTYPES] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
static const char *const qlm__gguf_type_name[QLM__GGUF_NTYPES] = {
    "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"};

typedef struct {
    qlm__str key;
    int type;
    const uint8_t *val;   /* the value's bytes in the file (for ARR: the first element) */
    uint64_t raw_begin;   /* byte range of the whole entry, for copying it unchanged */
    uint64_t raw_end;
    int arr_type;
    uint64_t arr_n;
    qlm__str *strs;       /* ARR of STR: every element, indexed */
} qlm__gguf_kv;

typedef struct {
    qlm__str name;
    int n_dims;
    int64_t ne[4];
    qlm_type type;
    uint64_t offset; /* from the start of the data section */
    uint64_t size;
    const uint8_t *data;
} qlm__gguf_tensor;

typedef struct qlm__gguf {
    qlm__file file;
    const uint8_t *base;
    uint64_t size;
    uint32_t version;
    int64_t n_kv;
    qlm__gguf_kv *kv;
    int64_t n_tensors;
    qlm__gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t data_size;
} qlm__gguf;

typedef struct {
    const uint8_t *p;
    uint64_t pos, size;
    const char *what; /* file name for messages */
} qlm__rd;

static int qlm__rd_need(qlm__rd *r, uint64_t n, const char *field) {
    if (n > r->size - r->pos) {
        qlm__errorf("%s: truncated file: %s needs %llu bytes at offset %llu, %llu left", r->what,
                    field, (unsigned long long)n, (unsigned long long)r->pos,
                    (unsigned long long)(r->size - r->pos));
        return 0;
    }
    return 1;
}
static int qlm__rd_u32(qlm__rd *r, uint32_t *v, const char *field) {
    if (!qlm__rd_need(r, 4, field)) return 0;
    memcpy(v, r->p + r->pos, 4);
    r->pos += 4;
    return 1;
}
static int qlm__rd_u64(qlm__rd *r, uint64_t *v, const char *field) {
    if (!qlm__rd_need(r, 8, field)) return 0;
    memcpy(v, r->p + r->pos, 8);
    r->pos += 8;
    return 1;
}
static int qlm__rd_str(qlm__rd *r, qlm__str *s, const char *field) {
    uint64_t n;
    if (!qlm__rd_u64(r, &n, field)) return 0;
    if (n > QLM__MAX_STR) {
        qlm__errorf("%s: %s: string length %llu exceeds the limit", r->what, field,
                    (unsigned long long)n);
        return 0;
    }
    if (!qlm__rd_need(r, n, field)) return 0;
    s->ptr = (const char *)r->p + r->pos;
    s->len = n;
    r->pos += n;
    return 1;
}

static int qlm__str_eq(qlm__str s, const char *c) {
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

/* Read one value of type t (not ARR) and skip past it. */
static int qlm__rd_skip_value(qlm__rd *r, int t, const char *field) {
    if (t == QLM__GGUF_STR) {
        qlm__str s;
        return qlm__rd_str(r, &s, field);
    }
    if (t < 0 || t >= QLM__GGUF_NTYPES || t == QLM__GGUF_ARR) {
        qlm__errorf("%s: %s: bad value type %d", r->what, field, t);
        return 0;
    }
    if (!qlm__rd_need(r, qlm__gguf_type_size[t], field)) return 0;
    r->pos += qlm__gguf_type_size[t];
    return 1;
}

static void qlm__gguf_free_parsed(qlm__gguf *g) {
    int64_t i;
    if (g->kv)
        for (i = 0; i < g->n_kv; i++) QLM_FREE(g->kv[i].strs);
    QLM_FREE(g->kv);
    QLM_FREE(g->tensors);
    g->kv = NULL;
    g->tensors = NULL;
}

/* Parse a GGUF image held in memory. `what` names it in messages. */
static qlm_status qlm__gguf_parse(qlm__gguf *g, const uint8_t *data, uint64_t size,
                                  const char *what) {
    qlm__rd r;
    uint32_t magic, version;
    uint64_t n_tensors, n_kv, i;
    char field[96];
    r.p = data;
    r.pos = 0;
    r.size = size;
    r.what = what;
    g->base = data;
    g->size = size;
    g->alignment = QLM__GGUF_DEFAULT_ALIGN;
    if (!qlm__rd_u32(&r, &magic, "magic")) return QLM_ERR_FORMAT;
    if (magic != QLM__GGUF_MAGIC) {
        qlm__errorf("%s: not a GGUF file (bad magic %02x %02x %02x %02x)", what, data[0],
                    size > 1 ? data[1] : 0, size > 2 ? data[2] : 0, size > 3 ? data[3] : 0);
        return QLM_ERR_FORMAT;
    }
    if (!qlm__rd_u32(&r, &version, "version")) return QLM_ERR_FORMAT;
    if (version != 2 && version != 3) {
        qlm__errorf("%s: GGUF version %u is not supported (2 and 3 are)", what, version);
        return QLM_ERR_UNSUPPORTED;
    }
    g->version = version;
    if (!qlm__rd_u64(&r, &n_tensors, "tensor count") || !qlm__rd_u64(&r, &n_kv, "kv count"))
        return QLM_ERR_FORMAT;
    if (n_tensors > QLM__MAX_TENSORS || n_kv > QLM__MAX_KV) {
        qlm__errorf("%s: implausible counts: %llu tensors, %llu metadata entries", what,
                    (unsigned long long)n_tensors, (unsigned long long)n_kv);
        return QLM_ERR_FORMAT;
    }
    g->kv = (qlm__gguf_kv *)qlm__calloc((size_t)n_kv, sizeof *g->kv);
    g->tensors = (qlm__gguf_tensor *)qlm__calloc((size_t)n_tensors, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        qlm__errorf("%s: out of memory for the file's tables", what);
        return QLM_ERR_NOMEM;
    }
    g->n_kv = (int64_t)n_kv;
    g->n_tensors = (int64_t)n_tensors;

    for (i = 0; i < n_kv; i++) {
        qlm__gguf_kv *kv = &g->kv[i];
        uint32_t t;
        kv->raw_begin = r.pos;
        snprintf(field, sizeof field, "metadata entry %llu", (unsigned long long)i);
        if (!qlm__rd_str(&r, &kv->key, field)) return QLM_ERR_FORMAT;
        snprintf(field, sizeof field, "metadata '%.*s'", (int)QLM__MIN(kv->key.len, 60),
                 kv->key.ptr);
        if (!qlm__rd_u32(&r, &t, field)) return QLM_ERR_FORMAT;
        if (t >= QLM__GGUF_NTYPES) {
            qlm__errorf("%s: %s has unknown value type %u", what, field, t);
            return QLM_ERR_FORMAT;
        }
        kv->type = (int)t;
        if (t == QLM__GGUF_ARR) {
            uint32_t at;
            uint64_t n, j, bytes;
            if (!qlm__rd_u32(&r, &at, field) || !qlm__rd_u64(&r, &n, field)) return QLM_ERR_FORMAT;
            if (at >= QLM__GGUF_NTYPES || at == QLM__GGUF_ARR) {
                qlm__errorf("%s: %s: arrays of type %u are not supported", what, field, at);
                return QLM_ERR_FORMAT;
            }
            if (n > QLM__MAX_ARR) {
                qlm__errorf("%s: %s: array of %llu elements exceeds the limit", what, field,
                            (unsigned long long)n);
                return QLM_ERR_FORMAT;
            }
            kv->arr_type = (int)at;
            kv->arr_n = n;
            kv->val = r.p + r.pos;
            if (at == QLM__GGUF_STR) {
                /* each string needs at least its 8-byte length: bound n before allocating */
                if (n > (r.size - r.pos) / 8) {
                    qlm__errorf("%s: truncated file: %s claims %llu strings", what, field,
                                (unsigned long long)n);
                    return QLM_ERR_FORMAT;
                }
                kv->strs = (qlm__str *)qlm__calloc((size_t)(n ? n : 1), sizeof(qlm__str));
                if (!kv->strs) {
                    qlm__errorf("%s: out of memory for %s", what, field);
                    return QLM_ERR_NOMEM;
                }
                for (j = 0; j < n; j++)
                    if (!qlm__rd_str(&r, &kv->strs[j], field)) return QLM_ERR_FORMAT;
            } else {
                if (!qlm__mul_ok(n, qlm__gguf_type_size[at], &bytes) ||
                    !qlm__rd_need(&r, bytes, field))
                    return QLM_ERR_FORMAT;
                r.pos += bytes;
            }
        } else {
            kv->val = r.p + r.pos;
            if (!qlm__rd_skip_value(&r, (int)t, field)) return QLM_ERR_FORMAT;
        }
        kv->raw_end = r.pos;
        if (qlm__str_eq(kv->key, "general.alignment")) {
            uint32_t a = 0;
            if (t != QLM__GGUF_U32) {
                qlm__errorf("%s: general.alignment must be u32", what);
                return QLM_ERR_FORMAT;
            }
            memcpy(&a, kv->val, 4);
            if (a == 0 || (a & (a - 1)) || a > (1u << 20)) {
                qlm__errorf("%s: general.alignment %u is not a power of two", what, a);
                return QLM_ERR_FORMAT;
            }
            g->alignment = a;
        }
    }

    for (i = 0; i < n_tensors; i++) {
        qlm__gguf_tensor *t = &g->tensors[i];
        uint32_t nd, ty;
        uint64_t nel = 1, j;
        snprintf(field, sizeof field, "tensor info %llu", (unsigned long long)i);
        if (!qlm__rd_str(&r, &t->name, field)) return QLM_ERR_FORMAT;
        if (t->name.len == 0 || t->name.len > 64) {
            qlm__errorf("%s: %s: name length %llu out of range", what, field,
                        (unsigned long long)t->name.len);
            return QLM_ERR_FORMAT;
        }
        snprintf(field, sizeof field, "tensor '%.*s'", (int)t->name.len, t->name.ptr);
        if (!qlm__rd_u32(&r, &nd, field)) return QLM_ERR_FORMAT;
        if (nd == 0 || nd > 4) {
            qlm__errorf("%s: %s has %u dimensions (1..4 allowed)", what, field, nd);
            return QLM_ERR_FORMAT;
        }
        t->n_dims = (int)nd;
        for (j = 0; j < 4; j++) t->ne[j] = 1;
        for (j = 0; j < nd; j++) {
            uint64_t d;
            if (!qlm__rd_u64(&r, &d, field)) return QLM_ERR_FORMAT;
            if (d == 0 || d > (uint64_t)QLM__MAX_NE || !qlm__mul_ok(nel, d, &nel) ||
                nel > (uint64_t)QLM__MAX_NE) {
                qlm__errorf("%s: %s has a bad dimension %llu", what, field, (unsigned long long)d);
                return QLM_ERR_FORMAT;
            }
            t->ne[j] = (int64_t)d;
        }
        if (!qlm__rd_u32(&r, &ty, field) || !qlm__rd_u64(&r, &t->offset, field))
            return QLM_ERR_FORMAT;
        /* qlm's private FP8 id maps to its table slot; that slot's number itself is no type */
        if (ty == QLM_GGUF_TYPE_FP8_E4M3) ty = QLM_TYPE_FP8_E4M3;
        else if (ty == QLM_TYPE_FP8_E4M3) ty = UINT32_MAX;
        if (!qlm__type_valid((int)ty)) {
            qlm__errorf("%s: %s has tensor type %u, which qlm does not support", what, field, ty);
            return QLM_ERR_UNSUPPORTED;
        }
        t->type = (qlm_type)ty;
        if (t->ne[0] % qlm__type_traits[ty].blck_size != 0) {
            qlm__errorf("%s: %s: row length %lld is not a multiple of the %s block size %lld",
                        what, field, (long long)t->ne[0], qlm__type_traits[ty].name,
                        (long long)qlm__type_traits[ty].blck_size);
            return QLM_ERR_FORMAT;
        }
        if (!qlm__mul_ok((uint64_t)qlm__row_size(t->type, t->ne[0]), nel / (uint64_t)t->ne[0],
                         &t->size)) {
            qlm__errorf("%s: %s: size overflows", what, field);
            return QLM_ERR_FORMAT;
        }
        if (t->offset % g->alignment != 0) {
            qlm__errorf("%s: %s: offset %llu is not aligned to %llu", what, field,
                        (unsigned long long)t->offset, (unsigned long long)g->alignment);
            return QLM_ERR_FORMAT;
        }
    }
    /* data section: after the header, aligned */
    {
        uint64_t off = r.pos, pad = (g->alignment - off % g->alignment) % g->alignment;
        if (n_tensors > 0 && !qlm__add_ok(off, pad, &off)) return QLM_ERR_FORMAT;
        g->data_offset = n_tensors > 0 ? off : r.pos;
        if (g->data_offset > size) {
            qlm__errorf("%s: truncated file: data section would start at %llu, file is %llu bytes",
                        what, (unsigned long long)g->data_offset, (unsigned long long)size);
            return QLM_ERR_FORMAT;
        }
        g->data_size = size - g->data_offset;
    }
    for (i = 0; i < n_tensors; i++) {
        qlm__gguf_tensor *t = &g->tensors[i];
        uint64_t end;
        if (!qlm__add_ok(t->offset, t->size, &end) || end > g->data_size) {
            qlm__errorf("%s: truncated file: tensor '%.*s' (%llu bytes at %llu) runs past the end "
                        "of the data (%llu bytes)",
                        what, (int)t->name.len, t->name.ptr, (unsigned long long)t->size,
                        (unsigned long long)t->offset, (unsigned long long)g->data_size);
            return QLM_ERR_FORMAT;
        }
        t->data = data + g->data_offset + t->offset;
    }
    return QLM_OK;
}

static void qlm__gguf_close(qlm__gguf *g) {
    if (!g) return;
    qlm__gguf_free_parsed(g);
    qlm__file_close(&g->file);
    QLM_FREE(g);
}

static qlm_status qlm__gguf_open_ex(const char *path, int no_mmap, qlm__gguf **out) {
    qlm__gguf *g;
    qlm_status st;
    *out = NULL;
    g = (qlm__gguf *)qlm__calloc(1, sizeof *g);
    if (!g) {
        qlm__errorf("%s: out of memory", path);
        return QLM_ERR_NOMEM;
    }
    st = qlm__file_open(&g->file, path, no_mmap);
    if (st == QLM_OK) st = qlm__gguf_parse(g, g->file.data, g->file.size, path);
    if (st != QLM_OK) {
        qlm__gguf_close(g);
        return st;
    }
    *out = g;
    return QLM_OK;
}

static QLM__MAYBE_UNUSED qlm_status qlm__gguf_open(const char *path, qlm__gguf **out) {
    return qlm__gguf_open_ex(path, 0, out);
}

static int64_t qlm__gguf_find(const qlm__gguf *g, const char *key) {
    int64_t i;
    for (i = 0; i < g->n_kv; i++)
        if (qlm__str_eq(g->kv[i].key, key)) return i;
    return -1;
}

static int64_t qlm__gguf_find_tensor(const qlm__gguf *g, const char *name) {
    int64_t i;
    for (i = 0; i < g->n_tensors; i++)
        if (qlm__str_eq(g->tensors[i].name, name)) return i;
    return -1;
}

static int qlm__gguf_kv_type(const qlm__gguf *g, int64_t kv) { return g->kv[kv].type; }
static qlm__str qlm__gguf_get_str(const qlm__gguf *g, int64_t kv) {
    qlm__str s;
    memcpy(&s.len, g->kv[kv].val, 8);
    s.ptr = (const char *)g->kv[kv].val + 8;
    return s;
}
static QLM__MAYBE_UNUSED int qlm__gguf_arr_type(const qlm__gguf *g, int64_t kv) { return g->kv[kv].arr_type; }
static uint64_t qlm__gguf_arr_n(const qlm__gguf *g, int64_t kv) {
    return g->kv[kv].type == QLM__GGUF_ARR ? g->kv[kv].arr_n : 0;
}
static qlm__str qlm__gguf_arr_str(const qlm__gguf *g, int64_t kv, uint64_t i) {
    return g->kv[kv].strs[i];
}

/* A numeric value of type t at p, as double and as int64 (1 if t is numeric). */
static int qlm__gguf_num(int t, const uint8_t *p, double *d, int64_t *iv) {
    union {
        uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
        float f32; uint64_t u64; int64_t i64; double f64;
    } u;
    if (t < 0 || t >= QLM__GGUF_NTYPES || t == QLM__GGUF_STR || t == QLM__GGUF_ARR) return 0;
    memcpy(&u, p, qlm__gguf_type_size[t]);
    switch (t) {
    case QLM__GGUF_U8: *iv = u.u8; break;
    case QLM__GGUF_BOOL: *iv = u.u8 != 0; break;
    case QLM__GGUF_I8: *iv = u.i8; break;
    case QLM__GGUF_U16: *iv = u.u16; break;
    case QLM__GGUF_I16: *iv = u.i16; break;
    case QLM__GGUF_U32: *iv = u.u32; break;
    case QLM__GGUF_I32: *iv = u.i32; break;
    case QLM__GGUF_U64: *iv = u.u64 > INT64_MAX ? INT64_MAX : (int64_t)u.u64; break;
    case QLM__GGUF_I64: *iv = u.i64; break;
    case QLM__GGUF_F32: *d = u.f32; *iv = (int64_t)u.f32; return 1;
    case QLM__GGUF_F64: *d = u.f64; *iv = (int64_t)u.f64; return 1;
    }
    *d = (double)*iv;
    return 1;
}

static int qlm__gguf_arr_get_f64(const qlm__gguf *g, int64_t kv, uint64_t i, double *out) {
    const qlm__gguf_kv *e = &g->kv[kv];
    int64_t iv;
    if (e->type != QLM__GGUF_ARR || i >= e->arr_n || e->arr_type == QLM__GGUF_STR) return 0;
    return qlm__gguf_num(e->arr_type, e->val + i * qlm__gguf_type_size[e->arr_type], out, &iv);
}

static int qlm__gguf_get_i64(const qlm__gguf *g, const char *key, int64_t *out) {
    int64_t kv = qlm__gguf_find(g, key);
    double d;
    int t;
    if (kv < 0) return 0;
    t = g->kv[kv].type;
    if (t == QLM__GGUF_F32 || t == QLM__GGUF_F64) return 0;
    return qlm__gguf_num(t, g->kv[kv].val, &d, out);
}
static int qlm__gguf_get_f32(const qlm__gguf *g, const char *key, float *out) {
    int64_t kv = qlm__gguf_find(g, key), iv;
    double d;
    if (kv < 0 || !qlm__gguf_num(g->kv[kv].type, g->kv[kv].val, &d, &iv)) return 0;
    *out = (float)d;
    return 1;
}
static QLM__MAYBE_UNUSED int qlm__gguf_get_bool(const qlm__gguf *g, const char *key, int *out) {
    int64_t v;
    if (!qlm__gguf_get_i64(g, key, &v)) return 0;
    *out = v != 0;
    return 1;
}

/* Print kv's value as text into buf (arrays show their type, length and first items). */
static void qlm__gguf_kv_text(const qlm__gguf *g, int64_t kv, char *buf, size_t cap) {
    const qlm__gguf_kv *e = &g->kv[kv];
    double d;
    int64_t iv;
    size_t n = 0;
    if (!cap) return;
    buf[0] = 0;
    if (e->type == QLM__GGUF_STR) {
        qlm__str s = qlm__gguf_get_str(g, kv);
        snprintf(buf, cap, "%.*s", (int)QLM__MIN(s.len, (uint64_t)INT_MAX), s.ptr);
    } else if (e->type == QLM__GGUF_ARR) {
        uint64_t i;
        n = (size_t)snprintf(buf, cap, "[%s x %llu]", qlm__gguf_type_name[e->arr_type],
                             (unsigned long long)e->arr_n);
        for (i = 0; i < e->arr_n && i < 4 && n + 1 < cap; i++) {
            if (e->arr_type == QLM__GGUF_STR)
                n += (size_t)snprintf(buf + n, cap - n, " \"%.*s\"",
                                      (int)QLM__MIN(e->strs[i].len, 24), e->strs[i].ptr);
            else if (qlm__gguf_arr_get_f64(g, kv, i, &d))
                n += (size_t)snprintf(buf + n, cap - n, " %g", d);
        }
        if (e->arr_n > 4 && n + 1 < cap) snprintf(buf + n, cap - n, " ...");
    } else if (qlm__gguf_num(e->type, e->val, &d, &iv)) {
        if (e->type == QLM__GGUF_F32 || e->type == QLM__GGUF_F64) snprintf(buf, cap, "%g", d);
        else if (e->type == QLM__GGUF_BOOL) snprintf(buf, cap, "%s", iv ? "true" : "false");
        else snprintf(buf, cap, "%lld", (long long)iv);
    }
    /* metadata text may hold anything: keep it to one printable line */
    for (n = 0; buf[n]; n++)
        if (buf[n] == '\n' || buf[n] == '\r' || buf[n] == '\t') buf[n] = ' ';
}

/* --- writer ---------------------------------------------------------------------------------
   Build the metadata and the tensor table in memory, then write header, padding and data. */
typedef struct {
    char *name;
    int n_dims;
    int64_t ne[4];
    qlm_type type;
    const void *data;
    uint64_t size;
} qlm__gw_tensor;

typedef struct {
    uint8_t *kv;
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    qlm__gw_tensor *t;
    uint64_t n_t, t_cap;
    uint64_t alignment;
    int oom;
} qlm__gguf_writer;

static void qlm__gw_bytes(qlm__gguf_writer *w, const void *p, size_t n) {
    if (w->oom) return;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        uint8_t *q;
        while (cap < w->kv_len + n) cap *= 2;
        q = (uint8_t *)QLM_REALLOC(w->kv, cap);
        if (!q) {
            w->oom = 1;
            return;
        }
        w->kv = q;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}
static void qlm__gw_str(qlm__gguf_writer *w, const char *s, uint64_t n) {
    qlm__gw_bytes(w, &n, 8);
    qlm__gw_bytes(w, s, (size_t)n);
}
static void qlm__gw_key(qlm__gguf_writer *w, const char *key, uint32_t type) {
    qlm__gw_str(w, key, strlen(key));
    qlm__gw_bytes(w, &type, 4);
    w->n_kv++;
}
static QLM__MAYBE_UNUSED void qlm__gw_u32(qlm__gguf_writer *w, const char *key, uint32_t v) {
    qlm__gw_key(w, key, QLM__GGUF_U32);
    qlm__gw_bytes(w, &v, 4);
    if (strcmp(key, "general.alignment") == 0) w->alignment = v;
}
static QLM__MAYBE_UNUSED void qlm__gw_i32(qlm__gguf_writer *w, const char *key, int32_t v) {
    qlm__gw_key(w, key, QLM__GGUF_I32);
    qlm__gw_bytes(w, &v, 4);
}
static QLM__MAYBE_UNUSED void qlm__gw_f32(qlm__gguf_writer *w, const char *key, float v) {
    qlm__gw_key(w, key, QLM__GGUF_F32);
    qlm__gw_bytes(w, &v, 4);
}
static QLM__MAYBE_UNUSED void qlm__gw_bool(qlm__gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    qlm__gw_key(w, key, QLM__GGUF_BOOL);
    qlm__gw_bytes(w, &b, 1);
}
static QLM__MAYBE_UNUSED void qlm__gw_string(qlm__gguf_writer *w, const char *key, const char *v) {
    qlm__gw_key(w, key, QLM__GGUF_STR);
    qlm__gw_str(w, v, strlen(v));
}
static QLM__MAYBE_UNUSED void qlm__gw_arr_str(qlm__gguf_writer *w, const char *key,
                                              const char *const *v, uint64_t n) {
    uint32_t at = QLM__GGUF_STR;
    uint64_t i;
    qlm__gw_key(w, key, QLM__GGUF_ARR);
    qlm__gw_bytes(w, &at, 4);
    qlm__gw_bytes(w, &n, 8);
    for (i = 0; i < n; i++) qlm__gw_str(w, v[i], strlen(v[i]));
}
/* numeric array of GGUF type at with n packed elements at v */
static QLM__MAYBE_UNUSED void qlm__gw_arr_num(qlm__gguf_writer *w, const char *key, int at,
                                              const void *v, uint64_t n) {
    uint32_t t = (uint32_t)at;
    qlm__gw_key(w, key, QLM__GGUF_ARR);
    qlm__gw_bytes(w, &t, 4);
    qlm__gw_bytes(w, &n, 8);
    qlm__gw_bytes(w, v, (size_t)(n * qlm__gguf_type_size[at]));
}
/* copy metadata entry kv of g unchanged */
static QLM__MAYBE_UNUSED void qlm__gw_copy_kv(qlm__gguf_writer *w, const qlm__gguf *g, int64_t kv) {
    const qlm__gguf_kv *e = &g->kv[kv];
    qlm__gw_bytes(w, g->base + e->raw_begin, (size_t)(e->raw_end - e->raw_begin));
    w->n_kv++;
    if (qlm__str_eq(e->key, "general.alignment")) memcpy(&w->alignment, e->val, 4);
}

static QLM__MAYBE_UNUSED qlm_status qlm__gw_tensor_add(qlm__gguf_writer *w, const char *name, qlm_type type,
                                     int n_dims, const int64_t *ne, const void *data) {
    qlm__gw_tensor *t;
    uint64_t nel = 1;
    int i;
    if (n_dims < 1 || n_dims > 4 || !qlm__type_valid(type) ||
        ne[0] % qlm__type_traits[type].blck_size) {
        qlm__errorf("gguf writer: bad tensor '%s'", name);
        return QLM_ERR_INVALID_ARG;
    }
    if (w->n_t == w->t_cap) {
        uint64_t cap = w->t_cap ? w->t_cap * 2 : 64;
        qlm__gw_tensor *q = (qlm__gw_tensor *)QLM_REALLOC(w->t, (size_t)cap * sizeof *q);
        if (!q) return QLM_ERR_NOMEM;
        w->t = q;
        w->t_cap = cap;
    }
    t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = qlm__strndup(name, strlen(name));
    if (!t->name) return QLM_ERR_NOMEM;
    t->n_dims = n_dims;
    for (i = 0; i < 4; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    for (i = 1; i < 4; i++) nel *= (uint64_t)t->ne[i];
    t->type = type;
    t->data = data;
    t->size = qlm__row_size(type, t->ne[0]) * nel;
    w->n_t++;
    return QLM_OK;
}

static QLM__MAYBE_UNUSED void qlm__gw_free(qlm__gguf_writer *w) {
    uint64_t i;
    for (i = 0; i < w->n_t; i++) QLM_FREE(w->t[i].name);
    QLM_FREE(w->t);
    QLM_FREE(w->kv);
    memset(w, 0, sizeof *w);
}

/* Header (magic .. tensor infos) to f; *pos gets the bytes written. Returns 1 if all went. */
static QLM__MAYBE_UNUSED int qlm__gw_header(qlm__gguf_writer *w, FILE *f, uint64_t *pos_out) {
    uint32_t magic = QLM__GGUF_MAGIC, version = 3;
    uint64_t i, off = 0, pos, align = w->alignment ? w->alignment : QLM__GGUF_DEFAULT_ALIGN;
    int ok = 1;
    ok &= fwrite(&magic, 4, 1, f) == 1;
    ok &= fwrite(&version, 4, 1, f) == 1;
    ok &= fwrite(&w->n_t, 8, 1, f) == 1;
    ok &= fwrite(&w->n_kv, 8, 1, f) == 1;
    ok &= fwrite(w->kv, 1, w->kv_len, f) == w->kv_len;
    pos = 24 + w->kv_len;
    for (i = 0; i < w->n_t && ok; i++) {
        qlm__gw_tensor *t = &w->t[i];
        uint64_t nl = strlen(t->name), ne;
        uint32_t nd = (uint32_t)t->n_dims, ty = (uint32_t)t->type;
        int d;
        if (t->type == QLM_TYPE_FP8_E4M3) ty = QLM_GGUF_TYPE_FP8_E4M3;
        ok &= fwrite(&nl, 8, 1, f) == 1;
        ok &= fwrite(t->name, 1, (size_t)nl, f) == nl;
        ok &= fwrite(&nd, 4, 1, f) == 1;
        for (d = 0; d < t->n_dims; d++) {
            ne = (uint64_t)t->ne[d];
            ok &= fwrite(&ne, 8, 1, f) == 1;
        }
        ok &= fwrite(&ty, 4, 1, f) == 1;
        ok &= fwrite(&off, 8, 1, f) == 1;
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        off += t->size;
        off += (align - off % align) % align;
    }
    *pos_out = pos;
    return ok;
}

/* Zero bytes up to the next multiple of the alignment. */
static QLM__MAYBE_UNUSED int qlm__gw_pad(FILE *f, uint64_t *pos, uint64_t align) {
    static const uint8_t zeros[64] = {0};
    uint64_t pad = (align - *pos % align) % align;
    int ok = 1;
    while (pad && ok) {
        size_t k = (size_t)QLM__MIN(pad, sizeof zeros);
        ok &= fwrite(zeros, 1, k, f) == k;
        pad -= k;
        *pos += k;
    }
    return ok;
}

static QLM__MAYBE_UNUSED qlm_status qlm__gw_write(qlm__gguf_writer *w, const char *path) {
    FILE *f;
    uint64_t i, pos = 0, align = w->alignment ? w->alignment : QLM__GGUF_DEFAULT_ALIGN;
    int ok = 1;
    if (w->oom) {
        qlm__errorf("%s: out of memory building the file", path);
        return QLM_ERR_NOMEM;
    }
    f = fopen(path, "wb");
    if (!f) {
        qlm__errorf("%s: cannot create: %s", path, strerror(errno));
        return QLM_ERR_IO;
    }
    ok = qlm__gw_header(w, f, &pos);
    /* data: aligned start, each tensor padded to the alignment (as ggml writes it) */
    for (i = 0; i <= w->n_t && ok && w->n_t; i++) {
        ok &= qlm__gw_pad(f, &pos, align);
        if (i == w->n_t) break;
        if (w->t[i].size)
            ok &= fwrite(w->t[i].data, 1, (size_t)w->t[i].size, f) == w->t[i].size;
        pos += w->t[i].size;
    }
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        qlm__errorf("%s: write failed: %s", path, strerror(errno));
        remove(path);
        return QLM_ERR_IO;
    }
    return QLM_OK;
}

/* >>tokenizer ------------------------------------------------------------------------------- */
/* >>unicode -- UTF-8 and code point categories for the pre-tokenizer.
 *
 * Everything here follows llama.cpp's src/unicode.cpp, because the token ids
 * qlm produces must be the ones llama.cpp produces, including on bad input:
 *  - qlm__utf8_decode accepts what llama.cpp accepts (overlong forms,
 *    surrogates, lead bytes F5..F7) and turns anything else into U+FFFD,
 *    consuming one byte;
 *  - the category table reproduces llama.cpp's unicode-data.cpp (Unicode 15.1);
 *  - "whitespace" is the White_Space property list llama.cpp hard-codes.
 */

/* category bits (same values as llama.cpp's unicode_cpt_flags) */
#define QLM__CPT_UNDEFINED   0x0001u
#define QLM__CPT_NUMBER      0x0002u /* \p{N} */
#define QLM__CPT_LETTER      0x0004u /* \p{L} */
#define QLM__CPT_SEPARATOR   0x0008u /* \p{Z} */
#define QLM__CPT_MARK        0x0010u /* \p{M} */
#define QLM__CPT_PUNCTUATION 0x0020u /* \p{P} */
#define QLM__CPT_SYMBOL      0x0040u /* \p{S} */
#define QLM__CPT_CONTROL     0x0080u /* \p{C} */
#define QLM__CPT_WHITESPACE  0x0100u /* \s */
#define QLM__CPT_MAX         0x110000u

/* Byte length of the sequence a lead byte announces (1 for stray bytes). */
static size_t qlm__utf8_len(unsigned char lead)
{
    static const unsigned char len_by_high_nibble[16] = { 1,1,1,1,1,1,1,1, 1,1,1,1, 2,2, 3, 4 };
    return len_by_high_nibble[lead >> 4];
}

/* Decode one code point from s[0..n), n >= 1. *adv receives the bytes used.
 * Invalid or truncated sequences give U+FFFD and consume one byte. Results
 * above U+10FFFF are possible (F4 90.., F5..F7 leads), as in llama.cpp. */
static uint32_t qlm__utf8_decode(const char *s, size_t n, size_t *adv)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned char c0 = u[0];
    if (c0 < 0x80) { *adv = 1; return c0; }
    if ((c0 & 0x40) == 0) goto bad;           /* continuation byte as lead */
    if ((c0 & 0x20) == 0) {
        if (n < 2 || (u[1] & 0xC0) != 0x80) goto bad;
        *adv = 2;
        return ((uint32_t)(c0 & 0x1F) << 6) | (u[1] & 0x3F);
    }
    if ((c0 & 0x10) == 0) {
        if (n < 3 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80) goto bad;
        *adv = 3;
        return ((uint32_t)(c0 & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    }
    if ((c0 & 0x08) == 0) {
        if (n < 4 || (u[1] & 0xC0) != 0x80 || (u[2] & 0xC0) != 0x80 || (u[3] & 0xC0) != 0x80) goto bad;
        *adv = 4;
        return ((uint32_t)(c0 & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
bad:
    *adv = 1;
    return 0xFFFDu;
}

/* Encode cpt (< 0x200000) into out[0..4); returns the byte count. Values above
 * U+10FFFF only come from qlm__utf8_decode and are written back in the 4-byte
 * form they were read from (llama.cpp throws there). */
static int qlm__utf8_encode(uint32_t cpt, char *out)
{
    unsigned char *o = (unsigned char *)out;
    if (cpt < 0x80) { o[0] = (unsigned char)cpt; return 1; }
    if (cpt < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cpt >> 6));
        o[1] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cpt >> 12));
        o[1] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | ((cpt >> 18) & 0x07));
    o[1] = (unsigned char)(0x80 | ((cpt >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cpt >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cpt & 0x3F));
    return 4;
}

/* White_Space as hard-coded by llama.cpp (PropList.txt). */
static int qlm__cpt_is_whitespace(uint32_t cpt)
{
    if (cpt < 0x80) return cpt == 0x20 || (cpt >= 0x09 && cpt <= 0x0D);
    switch (cpt) {
    case 0x0085: case 0x00A0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cpt >= 0x2000 && cpt <= 0x200A;
    }
}

/* BEGIN GENERATED by test/gen_unicode_tables.py -- do not edit */
#define QLM__UNICODE_N_RANGES 2272
static const uint32_t qlm__unicode_ranges[QLM__UNICODE_N_RANGES] = {
    0x00000080u, 0x00002008u, 0x00002120u, 0x00002440u, 0x00002520u, 0x00002B40u, 0x00002C20u, 0x00003002u,
    0x00003A20u, 0x00003C40u, 0x00003F20u, 0x00004104u, 0x00005B20u, 0x00005E40u, 0x00005F20u, 0x00006040u,
    0x00006104u, 0x00007B20u, 0x00007C40u, 0x00007D20u, 0x00007E40u, 0x00007F80u, 0x0000A008u, 0x0000A120u,
    0x0000A240u, 0x0000A720u, 0x0000A840u, 0x0000AA04u, 0x0000AB20u, 0x0000AC40u, 0x0000AD80u, 0x0000AE40u,
    0x0000B202u, 0x0000B440u, 0x0000B504u, 0x0000B620u, 0x0000B840u, 0x0000B902u, 0x0000BA04u, 0x0000BB20u,
    0x0000BC02u, 0x0000BF20u, 0x0000C004u, 0x0000D740u, 0x0000D804u, 0x0000F740u, 0x0000F804u, 0x0002C240u,
    0x0002C604u, 0x0002D240u, 0x0002E004u, 0x0002E540u, 0x0002EC04u, 0x0002ED40u, 0x0002EE04u, 0x0002EF40u,
    0x00030010u, 0x00037004u, 0x00037540u, 0x00037604u, 0x00037801u, 0x00037A04u, 0x00037E20u, 0x00037F04u,
    0x00038001u, 0x00038440u, 0x00038604u, 0x00038720u, 0x00038804u, 0x00038B01u, 0x00038C04u, 0x00038D01u,
    0x00038E04u, 0x0003A201u, 0x0003A304u, 0x0003F640u, 0x0003F704u, 0x00048240u, 0x00048310u, 0x00048A04u,
    0x00053001u, 0x00053104u, 0x00055701u, 0x00055904u, 0x00055A20u, 0x00056004u, 0x00058920u, 0x00058B01u,
    0x00058D40u, 0x00059001u, 0x00059110u, 0x0005BE20u, 0x0005BF10u, 0x0005C020u, 0x0005C110u, 0x0005C320u,
    0x0005C410u, 0x0005C620u, 0x0005C710u, 0x0005C801u, 0x0005D004u, 0x0005EB01u, 0x0005EF04u, 0x0005F320u,
    0x0005F501u, 0x00060080u, 0x00060640u, 0x00060920u, 0x00060B40u, 0x00060C20u, 0x00060E40u, 0x00061010u,
    0x00061B20u, 0x00061C80u, 0x00061D20u, 0x00062004u, 0x00064B10u, 0x00066002u, 0x00066A20u, 0x00066E04u,
    0x00067010u, 0x00067104u, 0x0006D420u, 0x0006D504u, 0x0006D610u, 0x0006DD80u, 0x0006DE40u, 0x0006DF10u,
    0x0006E504u, 0x0006E710u, 0x0006E940u, 0x0006EA10u, 0x0006EE04u, 0x0006F002u, 0x0006FA04u, 0x0006FD40u,
    0x0006FF04u, 0x00070020u, 0x00070E01u, 0x00070F80u, 0x00071004u, 0x00071110u, 0x00071204u, 0x00073010u,
    0x00074B01u, 0x00074D04u, 0x0007A610u, 0x0007B104u, 0x0007B201u, 0x0007C002u, 0x0007CA04u, 0x0007EB10u,
    0x0007F404u, 0x0007F640u, 0x0007F720u, 0x0007FA04u, 0x0007FB01u, 0x0007FD10u, 0x0007FE40u, 0x00080004u,
    0x00081610u, 0x00081A04u, 0x00081B10u, 0x00082404u, 0x00082510u, 0x00082804u, 0x00082910u, 0x00082E01u,
    0x00083020u, 0x00083F01u, 0x00084004u, 0x00085910u, 0x00085C01u, 0x00085E20u, 0x00085F01u, 0x00086004u,
    0x00086B01u, 0x00087004u, 0x00088840u, 0x00088904u, 0x00088F01u, 0x00089080u, 0x00089201u, 0x00089810u,
    0x0008A004u, 0x0008CA10u, 0x0008E280u, 0x0008E310u, 0x00090404u, 0x00093A10u, 0x00093D04u, 0x00093E10u,
    0x00095004u, 0x00095110u, 0x00095804u, 0x00096210u, 0x00096420u, 0x00096602u, 0x00097020u, 0x00097104u,
    0x00098110u, 0x00098401u, 0x00098504u, 0x00098D01u, 0x00098F04u, 0x00099101u, 0x00099304u, 0x0009A901u,
    0x0009AA04u, 0x0009B101u, 0x0009B204u, 0x0009B301u, 0x0009B604u, 0x0009BA01u, 0x0009BC10u, 0x0009BD04u,
    0x0009BE10u, 0x0009C501u, 0x0009C710u, 0x0009C901u, 0x0009CB10u, 0x0009CE04u, 0x0009CF01u, 0x0009D710u,
    0x0009D801u, 0x0009DC04u, 0x0009DE01u, 0x0009DF04u, 0x0009E210u, 0x0009E401u, 0x0009E602u, 0x0009F004u,
    0x0009F240u, 0x0009F402u, 0x0009FA40u, 0x0009FC04u, 0x0009FD20u, 0x0009FE10u, 0x0009FF01u, 0x000A0110u,
    0x000A0401u, 0x000A0504u, 0x000A0B01u, 0x000A0F04u, 0x000A1101u, 0x000A1304u, 0x000A2901u, 0x000A2A04u,
    0x000A3101u, 0x000A3204u, 0x000A3401u, 0x000A3504u, 0x000A3701u, 0x000A3804u, 0x000A3A01u, 0x000A3C10u,
    0x000A3D01u, 0x000A3E10u, 0x000A4301u, 0x000A4710u, 0x000A4901u, 0x000A4B10u, 0x000A4E01u, 0x000A5110u,
    0x000A5201u, 0x000A5904u, 0x000A5D01u, 0x000A5E04u, 0x000A5F01u, 0x000A6602u, 0x000A7010u, 0x000A7204u,
    0x000A7510u, 0x000A7620u, 0x000A7701u, 0x000A8110u, 0x000A8401u, 0x000A8504u, 0x000A8E01u, 0x000A8F04u,
    0x000A9201u, 0x000A9304u, 0x000AA901u, 0x000AAA04u, 0x000AB101u, 0x000AB204u, 0x000AB401u, 0x000AB504u,
    0x000ABA01u, 0x000ABC10u, 0x000ABD04u, 0x000ABE10u, 0x000AC601u, 0x000AC710u, 0x000ACA01u, 0x000ACB10u,
    0x000ACE01u, 0x000AD004u, 0x000AD101u, 0x000AE004u, 0x000AE210u, 0x000AE401u, 0x000AE602u, 0x000AF020u,
    0x000AF140u, 0x000AF201u, 0x000AF904u, 0x000AFA10u, 0x000B0001u, 0x000B0110u, 0x000B0401u, 0x000B0504u,
    0x000B0D01u, 0x000B0F04u, 0x000B1101u, 0x000B1304u, 0x000B2901u, 0x000B2A04u, 0x000B3101u, 0x000B3204u,
    0x000B3401u, 0x000B3504u, 0x000B3A01u, 0x000B3C10u, 0x000B3D04u, 0x000B3E10u, 0x000B4501u, 0x000B4710u,
    0x000B4901u, 0x000B4B10u, 0x000B4E01u, 0x000B5510u, 0x000B5801u, 0x000B5C04u, 0x000B5E01u, 0x000B5F04u,
    0x000B6210u, 0x000B6401u, 0x000B6602u, 0x000B7040u, 0x000B7104u, 0x000B7202u, 0x000B7801u, 0x000B8210u,
    0x000B8304u, 0x000B8401u, 0x000B8504u, 0x000B8B01u, 0x000B8E04u, 0x000B9101u, 0x000B9204u, 0x000B9601u,
    0x000B9904u, 0x000B9B01u, 0x000B9C04u, 0x000B9D01u, 0x000B9E04u, 0x000BA001u, 0x000BA304u, 0x000BA501u,
    0x000BA804u, 0x000BAB01u, 0x000BAE04u, 0x000BBA01u, 0x000BBE10u, 0x000BC301u, 0x000BC610u, 0x000BC901u,
    0x000BCA10u, 0x000BCE01u, 0x000BD004u, 0x000BD101u, 0x000BD710u, 0x000BD801u, 0x000BE602u, 0x000BF340u,
    0x000BFB01u, 0x000C0010u, 0x000C0504u, 0x000C0D01u, 0x000C0E04u, 0x000C1101u, 0x000C1204u, 0x000C2901u,
    0x000C2A04u, 0x000C3A01u, 0x000C3C10u, 0x000C3D04u, 0x000C3E10u, 0x000C4501u, 0x000C4610u, 0x000C4901u,
    0x000C4A10u, 0x000C4E01u, 0x000C5510u, 0x000C5701u, 0x000C5804u, 0x000C5B01u, 0x000C5D04u, 0x000C5E01u,
    0x000C6004u, 0x000C6210u, 0x000C6401u, 0x000C6602u, 0x000C7001u, 0x000C7720u, 0x000C7802u, 0x000C7F40u,
    0x000C8004u, 0x000C8110u, 0x000C8420u, 0x000C8504u, 0x000C8D01u, 0x000C8E04u, 0x000C9101u, 0x000C9204u,
    0x000CA901u, 0x000CAA04u, 0x000CB401u, 0x000CB504u, 0x000CBA01u, 0x000CBC10u, 0x000CBD04u, 0x000CBE10u,
    0x000CC501u, 0x000CC610u, 0x000CC901u, 0x000CCA10u, 0x000CCE01u, 0x000CD510u, 0x000CD701u, 0x000CDD04u,
    0x000CDF01u, 0x000CE004u, 0x000CE210u, 0x000CE401u, 0x000CE602u, 0x000CF001u, 0x000CF104u, 0x000CF310u,
    0x000CF401u, 0x000D0010u, 0x000D0404u, 0x000D0D01u, 0x000D0E04u, 0x000D1101u, 0x000D1204u, 0x000D3B10u,
    0x000D3D04u, 0x000D3E10u, 0x000D4501u, 0x000D4610u, 0x000D4901u, 0x000D4A10u, 0x000D4E04u, 0x000D4F40u,
    0x000D5001u, 0x000D5404u, 0x000D5710u, 0x000D5802u, 0x000D5F04u, 0x000D6210u, 0x000D6401u, 0x000D6602u,
    0x000D7940u, 0x000D7A04u, 0x000D8001u, 0x000D8110u, 0x000D8401u, 0x000D8504u, 0x000D9701u, 0x000D9A04u,
    0x000DB201u, 0x000DB304u, 0x000DBC01u, 0x000DBD04u, 0x000DBE01u, 0x000DC004u, 0x000DC701u, 0x000DCA10u,
    0x000DCB01u, 0x000DCF10u, 0x000DD501u, 0x000DD610u, 0x000DD701u, 0x000DD810u, 0x000DE001u, 0x000DE602u,
    0x000DF001u, 0x000DF210u, 0x000DF420u, 0x000DF501u, 0x000E0104u, 0x000E3110u, 0x000E3204u, 0x000E3410u,
    0x000E3B01u, 0x000E3F40u, 0x000E4004u, 0x000E4710u, 0x000E4F20u, 0x000E5002u, 0x000E5A20u, 0x000E5C01u,
    0x000E8104u, 0x000E8301u, 0x000E8404u, 0x000E8501u, 0x000E8604u, 0x000E8B01u, 0x000E8C04u, 0x000EA401u,
    0x000EA504u, 0x000EA601u, 0x000EA704u, 0x000EB110u, 0x000EB204u, 0x000EB410u, 0x000EBD04u, 0x000EBE01u,
    0x000EC004u, 0x000EC501u, 0x000EC604u, 0x000EC701u, 0x000EC810u, 0x000ECF01u, 0x000ED002u, 0x000EDA01u,
    0x000EDC04u, 0x000EE001u, 0x000F0004u, 0x000F0140u, 0x000F0420u, 0x000F1340u, 0x000F1420u, 0x000F1540u,
    0x000F1810u, 0x000F1A40u, 0x000F2002u, 0x000F3440u, 0x000F3510u, 0x000F3640u, 0x000F3710u, 0x000F3840u,
    0x000F3910u, 0x000F3A20u, 0x000F3E10u, 0x000F4004u, 0x000F4801u, 0x000F4904u, 0x000F6D01u, 0x000F7110u,
    0x000F8520u, 0x000F8610u, 0x000F8804u, 0x000F8D10u, 0x000F9801u, 0x000F9910u, 0x000FBD01u, 0x000FBE40u,
    0x000FC610u, 0x000FC740u, 0x000FCD01u, 0x000FCE40u, 0x000FD020u, 0x000FD540u, 0x000FD920u, 0x000FDB01u,
    0x00100004u, 0x00102B10u, 0x00103F04u, 0x00104002u, 0x00104A20u, 0x00105004u, 0x00105610u, 0x00105A04u,
    0x00105E10u, 0x00106104u, 0x00106210u, 0x00106504u, 0x00106710u, 0x00106E04u, 0x00107110u, 0x00107504u,
    0x00108210u, 0x00108E04u, 0x00108F10u, 0x00109002u, 0x00109A10u, 0x00109E40u, 0x0010A004u, 0x0010C601u,
    0x0010C704u, 0x0010C801u, 0x0010CD04u, 0x0010CE01u, 0x0010D004u, 0x0010FB20u, 0x0010FC04u, 0x00124901u,
    0x00124A04u, 0x00124E01u, 0x00125004u, 0x00125701u, 0x00125804u, 0x00125901u, 0x00125A04u, 0x00125E01u,
    0x00126004u, 0x00128901u, 0x00128A04u, 0x00128E01u, 0x00129004u, 0x0012B101u, 0x0012B204u, 0x0012B601u,
    0x0012B804u, 0x0012BF01u, 0x0012C004u, 0x0012C101u, 0x0012C204u, 0x0012C601u, 0x0012C804u, 0x0012D701u,
    0x0012D804u, 0x00131101u, 0x00131204u, 0x00131601u, 0x00131804u, 0x00135B01u, 0x00135D10u, 0x00136020u,
    0x00136902u, 0x00137D01u, 0x00138004u, 0x00139040u, 0x00139A01u, 0x0013A004u, 0x0013F601u, 0x0013F804u,
    0x0013FE01u, 0x00140020u, 0x00140104u, 0x00166D40u, 0x00166E20u, 0x00166F04u, 0x00168008u, 0x00168104u,
    0x00169B20u, 0x00169D01u, 0x0016A004u, 0x0016EB20u, 0x0016EE02u, 0x0016F104u, 0x0016F901u, 0x00170004u,
    0x00171210u, 0x00171601u, 0x00171F04u, 0x00173210u, 0x00173520u, 0x00173701u, 0x00174004u, 0x00175210u,
    0x00175401u, 0x00176004u, 0x00176D01u, 0x00176E04u, 0x00177101u, 0x00177210u, 0x00177401u, 0x00178004u,
    0x0017B410u, 0x0017D420u, 0x0017D704u, 0x0017D820u, 0x0017DB40u, 0x0017DC04u, 0x0017DD10u, 0x0017DE01u,
    0x0017E002u, 0x0017EA01u, 0x0017F002u, 0x0017FA01u, 0x00180020u, 0x00180B10u, 0x00180E80u, 0x00180F10u,
    0x00181002u, 0x00181A01u, 0x00182004u, 0x00187901u, 0x00188004u, 0x00188510u, 0x00188704u, 0x0018A910u,
    0x0018AA04u, 0x0018AB01u, 0x0018B004u, 0x0018F601u, 0x00190004u, 0x00191F01u, 0x00192010u, 0x00192C01u,
    0x00193010u, 0x00193C01u, 0x00194040u, 0x00194101u, 0x00194420u, 0x00194602u, 0x00195004u, 0x00196E01u,
    0x00197004u, 0x00197501u, 0x00198004u, 0x0019AC01u, 0x0019B004u, 0x0019CA01u, 0x0019D002u, 0x0019DB01u,
    0x0019DE40u, 0x001A0004u, 0x001A1710u, 0x001A1C01u, 0x001A1E20u, 0x001A2004u, 0x001A5510u, 0x001A5F01u,
    0x001A6010u, 0x001A7D01u, 0x001A7F10u, 0x001A8002u, 0x001A8A01u, 0x001A9002u, 0x001A9A01u, 0x001AA020u,
    0x001AA704u, 0x001AA820u, 0x001AAE01u, 0x001AB010u, 0x001ACF01u, 0x001B0010u, 0x001B0504u, 0x001B3410u,
    0x001B4504u, 0x001B4D01u, 0x001B5002u, 0x001B5A20u, 0x001B6140u, 0x001B6B10u, 0x001B7440u, 0x001B7D20u,
    0x001B7F01u, 0x001B8010u, 0x001B8304u, 0x001BA110u, 0x001BAE04u, 0x001BB002u, 0x001BBA04u, 0x001BE610u,
    0x001BF401u, 0x001BFC20u, 0x001C0004u, 0x001C2410u, 0x001C3801u, 0x001C3B20u, 0x001C4002u, 0x001C4A01u,
    0x001C4D04u, 0x001C5002u, 0x001C5A04u, 0x001C7E20u, 0x001C8004u, 0x001C8901u, 0x001C9004u, 0x001CBB01u,
    0x001CBD04u, 0x001CC020u, 0x001CC801u, 0x001CD010u, 0x001CD320u, 0x001CD410u, 0x001CE904u, 0x001CED10u,
    0x001CEE04u, 0x001CF410u, 0x001CF504u, 0x001CF710u, 0x001CFA04u, 0x001CFB01u, 0x001D0004u, 0x001DC010u,
    0x001E0004u, 0x001F1601u, 0x001F1804u, 0x001F1E01u, 0x001F2004u, 0x001F4601u, 0x001F4804u, 0x001F4E01u,
    0x001F5004u, 0x001F5801u, 0x001F5904u, 0x001F5A01u, 0x001F5B04u, 0x001F5C01u, 0x001F5D04u, 0x001F5E01u,
    0x001F5F04u, 0x001F7E01u, 0x001F8004u, 0x001FB501u, 0x001FB604u, 0x001FBD40u, 0x001FBE04u, 0x001FBF40u,
    0x001FC204u, 0x001FC501u, 0x001FC604u, 0x001FCD40u, 0x001FD004u, 0x001FD401u, 0x001FD604u, 0x001FDC01u,
    0x001FDD40u, 0x001FE004u, 0x001FED40u, 0x001FF001u, 0x001FF204u, 0x001FF501u, 0x001FF604u, 0x001FFD40u,
    0x001FFF01u, 0x00200008u, 0x00200B80u, 0x00201020u, 0x00202808u, 0x00202A80u, 0x00202F08u, 0x00203020u,
    0x00204440u, 0x00204520u, 0x00205240u, 0x00205320u, 0x00205F08u, 0x00206080u, 0x00206501u, 0x00206680u,
    0x00207002u, 0x00207104u, 0x00207201u, 0x00207402u, 0x00207A40u, 0x00207D20u, 0x00207F04u, 0x00208002u,
    0x00208A40u, 0x00208D20u, 0x00208F01u, 0x00209004u, 0x00209D01u, 0x0020A040u, 0x0020C101u, 0x0020D010u,
    0x0020F101u, 0x00210040u, 0x00210204u, 0x00210340u, 0x00210704u, 0x00210840u, 0x00210A04u, 0x00211440u,
    0x00211504u, 0x00211640u, 0x00211904u, 0x00211E40u, 0x00212404u, 0x00212540u, 0x00212604u, 0x00212740u,
    0x00212804u, 0x00212940u, 0x00212A04u, 0x00212E40u, 0x00212F04u, 0x00213A40u, 0x00213C04u, 0x00214040u,
    0x00214504u, 0x00214A40u, 0x00214E04u, 0x00214F40u, 0x00215002u, 0x00218304u, 0x00218502u, 0x00218A40u,
    0x00218C01u, 0x00219040u, 0x00230820u, 0x00230C40u, 0x00232920u, 0x00232B40u, 0x00242701u, 0x00244040u,
    0x00244B01u, 0x00246002u, 0x00249C40u, 0x0024EA02u, 0x00250040u, 0x00276820u, 0x00277602u, 0x00279440u,
    0x0027C520u, 0x0027C740u, 0x0027E620u, 0x0027F040u, 0x00298320u, 0x00299940u, 0x0029D820u, 0x0029DC40u,
    0x0029FC20u, 0x0029FE40u, 0x002B7401u, 0x002B7640u, 0x002B9601u, 0x002B9740u, 0x002C0004u, 0x002CE540u,
    0x002CEB04u, 0x002CEF10u, 0x002CF204u, 0x002CF401u, 0x002CF920u, 0x002CFD02u, 0x002CFE20u, 0x002D0004u,
    0x002D2601u, 0x002D2704u, 0x002D2801u, 0x002D2D04u, 0x002D2E01u, 0x002D3004u, 0x002D6801u, 0x002D6F04u,
    0x002D7020u, 0x002D7101u, 0x002D7F10u, 0x002D8004u, 0x002D9701u, 0x002DA004u, 0x002DA701u, 0x002DA804u,
    0x002DAF01u, 0x002DB004u, 0x002DB701u, 0x002DB804u, 0x002DBF01u, 0x002DC004u, 0x002DC701u, 0x002DC804u,
    0x002DCF01u, 0x002DD004u, 0x002DD701u, 0x002DD804u, 0x002DDF01u, 0x002DE010u, 0x002E0020u, 0x002E2F04u,
    0x002E3020u, 0x002E5040u, 0x002E5220u, 0x002E5E01u, 0x002E8040u, 0x002E9A01u, 0x002E9B40u, 0x002EF401u,
    0x002F0040u, 0x002FD601u, 0x002FF040u, 0x00300008u, 0x00300120u, 0x00300440u, 0x00300504u, 0x00300702u,
    0x00300820u, 0x00301240u, 0x00301420u, 0x00302040u, 0x00302102u, 0x00302A10u, 0x00303020u, 0x00303104u,
    0x00303640u, 0x00303802u, 0x00303B04u, 0x00303D20u, 0x00303E40u, 0x00304001u, 0x00304104u, 0x00309701u,
    0x00309910u, 0x00309B40u, 0x00309D04u, 0x0030A020u, 0x0030A104u, 0x0030FB20u, 0x0030FC04u, 0x00310001u,
    0x00310504u, 0x00313001u, 0x00313104u, 0x00318F01u, 0x00319040u, 0x00319202u, 0x00319640u, 0x0031A004u,
    0x0031C040u, 0x0031E401u, 0x0031EF40u, 0x0031F004u, 0x00320040u, 0x00321F01u, 0x00322002u, 0x00322A40u,
    0x00324802u, 0x00325040u, 0x00325102u, 0x00326040u, 0x00328002u, 0x00328A40u, 0x0032B102u, 0x0032C040u,
    0x00340004u, 0x004DC040u, 0x004E0004u, 0x00A48D01u, 0x00A49040u, 0x00A4C701u, 0x00A4D004u, 0x00A4FE20u,
    0x00A50004u, 0x00A60D20u, 0x00A61004u, 0x00A62002u, 0x00A62A04u, 0x00A62C01u, 0x00A64004u, 0x00A66F10u,
    0x00A67320u, 0x00A67410u, 0x00A67E20u, 0x00A67F04u, 0x00A69E10u, 0x00A6A004u, 0x00A6E602u, 0x00A6F010u,
    0x00A6F220u, 0x00A6F801u, 0x00A70040u, 0x00A71704u, 0x00A72040u, 0x00A72204u, 0x00A78940u, 0x00A78B04u,
    0x00A7CB01u, 0x00A7D004u, 0x00A7D201u, 0x00A7D304u, 0x00A7D401u, 0x00A7D504u, 0x00A7DA01u, 0x00A7F204u,
    0x00A80210u, 0x00A80304u, 0x00A80610u, 0x00A80704u, 0x00A80B10u, 0x00A80C04u, 0x00A82310u, 0x00A82840u,
    0x00A82C10u, 0x00A82D01u, 0x00A83002u, 0x00A83640u, 0x00A83A01u, 0x00A84004u, 0x00A87420u, 0x00A87801u,
    0x00A88010u, 0x00A88204u, 0x00A8B410u, 0x00A8C601u, 0x00A8CE20u, 0x00A8D002u, 0x00A8DA01u, 0x00A8E010u,
    0x00A8F204u, 0x00A8F820u, 0x00A8FB04u, 0x00A8FC20u, 0x00A8FD04u, 0x00A8FF10u, 0x00A90002u, 0x00A90A04u,
    0x00A92610u, 0x00A92E20u, 0x00A93004u, 0x00A94710u, 0x00A95401u, 0x00A95F20u, 0x00A96004u, 0x00A97D01u,
    0x00A98010u, 0x00A98404u, 0x00A9B310u, 0x00A9C120u, 0x00A9CE01u, 0x00A9CF04u, 0x00A9D002u, 0x00A9DA01u,
    0x00A9DE20u, 0x00A9E004u, 0x00A9E510u, 0x00A9E604u, 0x00A9F002u, 0x00A9FA04u, 0x00A9FF01u, 0x00AA0004u,
    0x00AA2910u, 0x00AA3701u, 0x00AA4004u, 0x00AA4310u, 0x00AA4404u, 0x00AA4C10u, 0x00AA4E01u, 0x00AA5002u,
    0x00AA5A01u, 0x00AA5C20u, 0x00AA6004u, 0x00AA7740u, 0x00AA7A04u, 0x00AA7B10u, 0x00AA7E04u, 0x00AAB010u,
    0x00AAB104u, 0x00AAB210u, 0x00AAB504u, 0x00AAB710u, 0x00AAB904u, 0x00AABE10u, 0x00AAC004u, 0x00AAC110u,
    0x00AAC204u, 0x00AAC301u, 0x00AADB04u, 0x00AADE20u, 0x00AAE004u, 0x00AAEB10u, 0x00AAF020u, 0x00AAF204u,
    0x00AAF510u, 0x00AAF701u, 0x00AB0104u, 0x00AB0701u, 0x00AB0904u, 0x00AB0F01u, 0x00AB1104u, 0x00AB1701u,
    0x00AB2004u, 0x00AB2701u, 0x00AB2804u, 0x00AB2F01u, 0x00AB3004u, 0x00AB5B40u, 0x00AB5C04u, 0x00AB6A40u,
    0x00AB6C01u, 0x00AB7004u, 0x00ABE310u, 0x00ABEB20u, 0x00ABEC10u, 0x00ABEE01u, 0x00ABF002u, 0x00ABFA01u,
    0x00AC0004u, 0x00D7A401u, 0x00D7B004u, 0x00D7C701u, 0x00D7CB04u, 0x00D7FC01u, 0x00D80080u, 0x00F90004u,
    0x00FA6E01u, 0x00FA7004u, 0x00FADA01u, 0x00FB0004u, 0x00FB0701u, 0x00FB1304u, 0x00FB1801u, 0x00FB1D04u,
    0x00FB1E10u, 0x00FB1F04u, 0x00FB2940u, 0x00FB2A04u, 0x00FB3701u, 0x00FB3804u, 0x00FB3D01u, 0x00FB3E04u,
    0x00FB3F01u, 0x00FB4004u, 0x00FB4201u, 0x00FB4304u, 0x00FB4501u, 0x00FB4604u, 0x00FBB240u, 0x00FBC301u,
    0x00FBD304u, 0x00FD3E20u, 0x00FD4040u, 0x00FD5004u, 0x00FD9001u, 0x00FD9204u, 0x00FDC801u, 0x00FDCF40u,
    0x00FDD001u, 0x00FDF004u, 0x00FDFC40u, 0x00FE0010u, 0x00FE1020u, 0x00FE1A01u, 0x00FE2010u, 0x00FE3020u,
    0x00FE5301u, 0x00FE5420u, 0x00FE6240u, 0x00FE6320u, 0x00FE6440u, 0x00FE6701u, 0x00FE6820u, 0x00FE6940u,
    0x00FE6A20u, 0x00FE6C01u, 0x00FE7004u, 0x00FE7501u, 0x00FE7604u, 0x00FEFD01u, 0x00FEFF80u, 0x00FF0001u,
    0x00FF0120u, 0x00FF0440u, 0x00FF0520u, 0x00FF0B40u, 0x00FF0C20u, 0x00FF1002u, 0x00FF1A20u, 0x00FF1C40u,
    0x00FF1F20u, 0x00FF2104u, 0x00FF3B20u, 0x00FF3E40u, 0x00FF3F20u, 0x00FF4040u, 0x00FF4104u, 0x00FF5B20u,
    0x00FF5C40u, 0x00FF5D20u, 0x00FF5E40u, 0x00FF5F20u, 0x00FF6604u, 0x00FFBF01u, 0x00FFC204u, 0x00FFC801u,
    0x00FFCA04u, 0x00FFD001u, 0x00FFD204u, 0x00FFD801u, 0x00FFDA04u, 0x00FFDD01u, 0x00FFE040u, 0x00FFE701u,
    0x00FFE840u, 0x00FFEF01u, 0x00FFF980u, 0x00FFFC40u, 0x00FFFE01u, 0x01000004u, 0x01000C01u, 0x01000D04u,
    0x01002701u, 0x01002804u, 0x01003B01u, 0x01003C04u, 0x01003E01u, 0x01003F04u, 0x01004E01u, 0x01005004u,
    0x01005E01u, 0x01008004u, 0x0100FB01u, 0x01010020u, 0x01010301u, 0x01010702u, 0x01013401u, 0x01013740u,
    0x01014002u, 0x01017940u, 0x01018A02u, 0x01018C40u, 0x01018F01u, 0x01019040u, 0x01019D01u, 0x0101A040u,
    0x0101A101u, 0x0101D040u, 0x0101FD10u, 0x0101FE01u, 0x01028004u, 0x01029D01u, 0x0102A004u, 0x0102D101u,
    0x0102E010u, 0x0102E102u, 0x0102FC01u, 0x01030004u, 0x01032002u, 0x01032401u, 0x01032D04u, 0x01034102u,
    0x01034204u, 0x01034A02u, 0x01034B01u, 0x01035004u, 0x01037610u, 0x01037B01u, 0x01038004u, 0x01039E01u,
    0x01039F20u, 0x0103A004u, 0x0103C401u, 0x0103C804u, 0x0103D020u, 0x0103D102u, 0x0103D601u, 0x01040004u,
    0x01049E01u, 0x0104A002u, 0x0104AA01u, 0x0104B004u, 0x0104D401u, 0x0104D804u, 0x0104FC01u, 0x01050004u,
    0x01052801u, 0x01053004u, 0x01056401u, 0x01056F20u, 0x01057004u, 0x01057B01u, 0x01057C04u, 0x01058B01u,
    0x01058C04u, 0x01059301u, 0x01059404u, 0x01059601u, 0x01059704u, 0x0105A201u, 0x0105A304u, 0x0105B201u,
    0x0105B304u, 0x0105BA01u, 0x0105BB04u, 0x0105BD01u, 0x01060004u, 0x01073701u, 0x01074004u, 0x01075601u,
    0x01076004u, 0x01076801u, 0x01078004u, 0x01078601u, 0x01078704u, 0x0107B101u, 0x0107B204u, 0x0107BB01u,
    0x01080004u, 0x01080601u, 0x01080804u, 0x01080901u, 0x01080A04u, 0x01083601u, 0x01083704u, 0x01083901u,
    0x01083C04u, 0x01083D01u, 0x01083F04u, 0x01085601u, 0x01085720u, 0x01085802u, 0x01086004u, 0x01087740u,
    0x01087902u, 0x01088004u, 0x01089F01u, 0x0108A702u, 0x0108B001u, 0x0108E004u, 0x0108F301u, 0x0108F404u,
    0x0108F601u, 0x0108FB02u, 0x01090004u, 0x01091602u, 0x01091C01u, 0x01091F20u, 0x01092004u, 0x01093A01u,
    0x01093F20u, 0x01094001u, 0x01098004u, 0x0109B801u, 0x0109BC02u, 0x0109BE04u, 0x0109C002u, 0x0109D001u,
    0x0109D202u, 0x010A0004u, 0x010A0110u, 0x010A0401u, 0x010A0510u, 0x010A0701u, 0x010A0C10u, 0x010A1004u,
    0x010A1401u, 0x010A1504u, 0x010A1801u, 0x010A1904u, 0x010A3601u, 0x010A3810u, 0x010A3B01u, 0x010A3F10u,
    0x010A4002u, 0x010A4901u, 0x010A5020u, 0x010A5901u, 0x010A6004u, 0x010A7D02u, 0x010A7F20u, 0x010A8004u,
    0x010A9D02u, 0x010AA001u, 0x010AC004u, 0x010AC840u, 0x010AC904u, 0x010AE510u, 0x010AE701u, 0x010AEB02u,
    0x010AF020u, 0x010AF701u, 0x010B0004u, 0x010B3601u, 0x010B3920u, 0x010B4004u, 0x010B5601u, 0x010B5802u,
    0x010B6004u, 0x010B7301u, 0x010B7802u, 0x010B8004u, 0x010B9201u, 0x010B9920u, 0x010B9D01u, 0x010BA902u,
    0x010BB001u, 0x010C0004u, 0x010C4901u, 0x010C8004u, 0x010CB301u, 0x010CC004u, 0x010CF301u, 0x010CFA02u,
    0x010D0004u, 0x010D2410u, 0x010D2801u, 0x010D3002u, 0x010D3A01u, 0x010E6002u, 0x010E7F01u, 0x010E8004u,
    0x010EAA01u, 0x010EAB10u, 0x010EAD20u, 0x010EAE01u, 0x010EB004u, 0x010EB201u, 0x010EFD10u, 0x010F0004u,
    0x010F1D02u, 0x010F2704u, 0x010F2801u, 0x010F3004u, 0x010F4610u, 0x010F5102u, 0x010F5520u, 0x010F5A01u,
    0x010F7004u, 0x010F8210u, 0x010F8620u, 0x010F8A01u, 0x010FB004u, 0x010FC502u, 0x010FCC01u, 0x010FE004u,
    0x010FF701u, 0x01100010u, 0x01100304u, 0x01103810u, 0x01104720u, 0x01104E01u, 0x01105202u, 0x01107010u,
    0x01107104u, 0x01107310u, 0x01107504u, 0x01107601u, 0x01107F10u, 0x01108304u, 0x0110B010u, 0x0110BB20u,
    0x0110BD80u, 0x0110BE20u, 0x0110C210u, 0x0110C301u, 0x0110CD80u, 0x0110CE01u, 0x0110D004u, 0x0110E901u,
    0x0110F002u, 0x0110FA01u, 0x01110010u, 0x01110304u, 0x01112710u, 0x01113501u, 0x01113602u, 0x01114020u,
    0x01114404u, 0x01114510u, 0x01114704u, 0x01114801u, 0x01115004u, 0x01117310u, 0x01117420u, 0x01117604u,
    0x01117701u, 0x01118010u, 0x01118304u, 0x0111B310u, 0x0111C104u, 0x0111C520u, 0x0111C910u, 0x0111CD20u,
    0x0111CE10u, 0x0111D002u, 0x0111DA04u, 0x0111DB20u, 0x0111DC04u, 0x0111DD20u, 0x0111E001u, 0x0111E102u,
    0x0111F501u, 0x01120004u, 0x01121201u, 0x01121304u, 0x01122C10u, 0x01123820u, 0x01123E10u, 0x01123F04u,
    0x01124110u, 0x01124201u, 0x01128004u, 0x01128701u, 0x01128804u, 0x01128901u, 0x01128A04u, 0x01128E01u,
    0x01128F04u, 0x01129E01u, 0x01129F04u, 0x0112A920u, 0x0112AA01u, 0x0112B004u, 0x0112DF10u, 0x0112EB01u,
    0x0112F002u, 0x0112FA01u, 0x01130010u, 0x01130401u, 0x01130504u, 0x01130D01u, 0x01130F04u, 0x01131101u,
    0x01131304u, 0x01132901u, 0x01132A04u, 0x01133101u, 0x01133204u, 0x01133401u, 0x01133504u, 0x01133A01u,
    0x01133B10u, 0x01133D04u, 0x01133E10u, 0x01134501u, 0x01134710u, 0x01134901u, 0x01134B10u, 0x01134E01u,
    0x01135004u, 0x01135101u, 0x01135710u, 0x01135801u, 0x01135D04u, 0x01136210u, 0x01136401u, 0x01136610u,
    0x01136D01u, 0x01137010u, 0x01137501u, 0x01140004u, 0x01143510u, 0x01144704u, 0x01144B20u, 0x01145002u,
    0x01145A20u, 0x01145C01u, 0x01145D20u, 0x01145E10u, 0x01145F04u, 0x01146201u, 0x01148004u, 0x0114B010u,
    0x0114C404u, 0x0114C620u, 0x0114C704u, 0x0114C801u, 0x0114D002u, 0x0114DA01u, 0x01158004u, 0x0115AF10u,
    0x0115B601u, 0x0115B810u, 0x0115C120u, 0x0115D804u, 0x0115DC10u, 0x0115DE01u, 0x01160004u, 0x01163010u,
    0x01164120u, 0x01164404u, 0x01164501u, 0x01165002u, 0x01165A01u, 0x01166020u, 0x01166D01u, 0x01168004u,
    0x0116AB10u, 0x0116B804u, 0x0116B920u, 0x0116BA01u, 0x0116C002u, 0x0116CA01u, 0x01170004u, 0x01171B01u,
    0x01171D10u, 0x01172C01u, 0x01173002u, 0x01173C20u, 0x01173F40u, 0x01174004u, 0x01174701u, 0x01180004u,
    0x01182C10u, 0x01183B20u, 0x01183C01u, 0x0118A004u, 0x0118E002u, 0x0118F301u, 0x0118FF04u, 0x01190701u,
    0x01190904u, 0x01190A01u, 0x01190C04u, 0x01191401u, 0x01191504u, 0x01191701u, 0x01191804u, 0x01193010u,
    0x01193601u, 0x01193710u, 0x01193901u, 0x01193B10u, 0x01193F04u, 0x01194010u, 0x01194104u, 0x01194210u,
    0x01194420u, 0x01194701u, 0x01195002u, 0x01195A01u, 0x0119A004u, 0x0119A801u, 0x0119AA04u, 0x0119D110u,
    0x0119D801u, 0x0119DA10u, 0x0119E104u, 0x0119E220u, 0x0119E304u, 0x0119E410u, 0x0119E501u, 0x011A0004u,
    0x011A0110u, 0x011A0B04u, 0x011A3310u, 0x011A3A04u, 0x011A3B10u, 0x011A3F20u, 0x011A4710u, 0x011A4801u,
    0x011A5004u, 0x011A5110u, 0x011A5C04u, 0x011A8A10u, 0x011A9A20u, 0x011A9D04u, 0x011A9E20u, 0x011AA301u,
    0x011AB004u, 0x011AF901u, 0x011B0020u, 0x011B0A01u, 0x011C0004u, 0x011C0901u, 0x011C0A04u, 0x011C2F10u,
    0x011C3701u, 0x011C3810u, 0x011C4004u, 0x011C4120u, 0x011C4601u, 0x011C5002u, 0x011C6D01u, 0x011C7020u,
    0x011C7204u, 0x011C9001u, 0x011C9210u, 0x011CA801u, 0x011CA910u, 0x011CB701u, 0x011D0004u, 0x011D0701u,
    0x011D0804u, 0x011D0A01u, 0x011D0B04u, 0x011D3110u, 0x011D3701u, 0x011D3A10u, 0x011D3B01u, 0x011D3C10u,
    0x011D3E01u, 0x011D3F10u, 0x011D4604u, 0x011D4710u, 0x011D4801u, 0x011D5002u, 0x011D5A01u, 0x011D6004u,
    0x011D6601u, 0x011D6704u, 0x011D6901u, 0x011D6A04u, 0x011D8A10u, 0x011D8F01u, 0x011D9010u, 0x011D9201u,
    0x011D9310u, 0x011D9804u, 0x011D9901u, 0x011DA002u, 0x011DAA01u, 0x011EE004u, 0x011EF310u, 0x011EF720u,
    0x011EF901u, 0x011F0010u, 0x011F0204u, 0x011F0310u, 0x011F0404u, 0x011F1101u, 0x011F1204u, 0x011F3410u,
    0x011F3B01u, 0x011F3E10u, 0x011F4320u, 0x011F5002u, 0x011F5A01u, 0x011FB004u, 0x011FB101u, 0x011FC002u,
    0x011FD540u, 0x011FF201u, 0x011FFF20u, 0x01200004u, 0x01239A01u, 0x01240002u, 0x01246F01u, 0x01247020u,
    0x01247501u, 0x01248004u, 0x01254401u, 0x012F9004u, 0x012FF120u, 0x012FF301u, 0x01300004u, 0x01343080u,
    0x01344010u, 0x01344104u, 0x01344710u, 0x01345601u, 0x01440004u, 0x01464701u, 0x01680004u, 0x016A3901u,
    0x016A4004u, 0x016A5F01u, 0x016A6002u, 0x016A6A01u, 0x016A6E20u, 0x016A7004u, 0x016ABF01u, 0x016AC002u,
    0x016ACA01u, 0x016AD004u, 0x016AEE01u, 0x016AF010u, 0x016AF520u, 0x016AF601u, 0x016B0004u, 0x016B3010u,
    0x016B3720u, 0x016B3C40u, 0x016B4004u, 0x016B4420u, 0x016B4540u, 0x016B4601u, 0x016B5002u, 0x016B5A01u,
    0x016B5B02u, 0x016B6201u, 0x016B6304u, 0x016B7801u, 0x016B7D04u, 0x016B9001u, 0x016E4004u, 0x016E8002u,
    0x016E9720u, 0x016E9B01u, 0x016F0004u, 0x016F4B01u, 0x016F4F10u, 0x016F5004u, 0x016F5110u, 0x016F8801u,
    0x016F8F10u, 0x016F9304u, 0x016FA001u, 0x016FE004u, 0x016FE220u, 0x016FE304u, 0x016FE410u, 0x016FE501u,
    0x016FF010u, 0x016FF201u, 0x01700004u, 0x0187F801u, 0x01880004u, 0x018CD601u, 0x018D0004u, 0x018D0901u,
    0x01AFF004u, 0x01AFF401u, 0x01AFF504u, 0x01AFFC01u, 0x01AFFD04u, 0x01AFFF01u, 0x01B00004u, 0x01B12301u,
    0x01B13204u, 0x01B13301u, 0x01B15004u, 0x01B15301u, 0x01B15504u, 0x01B15601u, 0x01B16404u, 0x01B16801u,
    0x01B17004u, 0x01B2FC01u, 0x01BC0004u, 0x01BC6B01u, 0x01BC7004u, 0x01BC7D01u, 0x01BC8004u, 0x01BC8901u,
    0x01BC9004u, 0x01BC9A01u, 0x01BC9C40u, 0x01BC9D10u, 0x01BC9F20u, 0x01BCA080u, 0x01BCA401u, 0x01CF0010u,
    0x01CF2E01u, 0x01CF3010u, 0x01CF4701u, 0x01CF5040u, 0x01CFC401u, 0x01D00040u, 0x01D0F601u, 0x01D10040u,
    0x01D12701u, 0x01D12940u, 0x01D16510u, 0x01D16A40u, 0x01D16D10u, 0x01D17380u, 0x01D17B10u, 0x01D18340u,
    0x01D18510u, 0x01D18C40u, 0x01D1AA10u, 0x01D1AE40u, 0x01D1EB01u, 0x01D20040u, 0x01D24210u, 0x01D24540u,
    0x01D24601u, 0x01D2C002u, 0x01D2D401u, 0x01D2E002u, 0x01D2F401u, 0x01D30040u, 0x01D35701u, 0x01D36002u,
    0x01D37901u, 0x01D40004u, 0x01D45501u, 0x01D45604u, 0x01D49D01u, 0x01D49E04u, 0x01D4A001u, 0x01D4A204u,
    0x01D4A301u, 0x01D4A504u, 0x01D4A701u, 0x01D4A904u, 0x01D4AD01u, 0x01D4AE04u, 0x01D4BA01u, 0x01D4BB04u,
    0x01D4BC01u, 0x01D4BD04u, 0x01D4C401u, 0x01D4C504u, 0x01D50601u, 0x01D50704u, 0x01D50B01u, 0x01D50D04u,
    0x01D51501u, 0x01D51604u, 0x01D51D01u, 0x01D51E04u, 0x01D53A01u, 0x01D53B04u, 0x01D53F01u, 0x01D54004u,
    0x01D54501u, 0x01D54604u, 0x01D54701u, 0x01D54A04u, 0x01D55101u, 0x01D55204u, 0x01D6A601u, 0x01D6A804u,
    0x01D6C140u, 0x01D6C204u, 0x01D6DB40u, 0x01D6DC04u, 0x01D6FB40u, 0x01D6FC04u, 0x01D71540u, 0x01D71604u,
    0x01D73540u, 0x01D73604u, 0x01D74F40u, 0x01D75004u, 0x01D76F40u, 0x01D77004u, 0x01D78940u, 0x01D78A04u,
    0x01D7A940u, 0x01D7AA04u, 0x01D7C340u, 0x01D7C404u, 0x01D7CC01u, 0x01D7CE02u, 0x01D80040u, 0x01DA0010u,
    0x01DA3740u, 0x01DA3B10u, 0x01DA6D40u, 0x01DA7510u, 0x01DA7640u, 0x01DA8410u, 0x01DA8540u, 0x01DA8720u,
    0x01DA8C01u, 0x01DA9B10u, 0x01DAA001u, 0x01DAA110u, 0x01DAB001u, 0x01DF0004u, 0x01DF1F01u, 0x01DF2504u,
    0x01DF2B01u, 0x01E00010u, 0x01E00701u, 0x01E00810u, 0x01E01901u, 0x01E01B10u, 0x01E02201u, 0x01E02310u,
    0x01E02501u, 0x01E02610u, 0x01E02B01u, 0x01E03004u, 0x01E06E01u, 0x01E08F10u, 0x01E09001u, 0x01E10004u,
    0x01E12D01u, 0x01E13010u, 0x01E13704u, 0x01E13E01u, 0x01E14002u, 0x01E14A01u, 0x01E14E04u, 0x01E14F40u,
    0x01E15001u, 0x01E29004u, 0x01E2AE10u, 0x01E2AF01u, 0x01E2C004u, 0x01E2EC10u, 0x01E2F002u, 0x01E2FA01u,
    0x01E2FF40u, 0x01E30001u, 0x01E4D004u, 0x01E4EC10u, 0x01E4F002u, 0x01E4FA01u, 0x01E7E004u, 0x01E7E701u,
    0x01E7E804u, 0x01E7EC01u, 0x01E7ED04u, 0x01E7EF01u, 0x01E7F004u, 0x01E7FF01u, 0x01E80004u, 0x01E8C501u,
    0x01E8C702u, 0x01E8D010u, 0x01E8D701u, 0x01E90004u, 0x01E94410u, 0x01E94B04u, 0x01E94C01u, 0x01E95002u,
    0x01E95A01u, 0x01E95E20u, 0x01E96001u, 0x01EC7102u, 0x01ECAC40u, 0x01ECAD02u, 0x01ECB040u, 0x01ECB102u,
    0x01ECB501u, 0x01ED0102u, 0x01ED2E40u, 0x01ED2F02u, 0x01ED3E01u, 0x01EE0004u, 0x01EE0401u, 0x01EE0504u,
    0x01EE2001u, 0x01EE2104u, 0x01EE2301u, 0x01EE2404u, 0x01EE2501u, 0x01EE2704u, 0x01EE2801u, 0x01EE2904u,
    0x01EE3301u, 0x01EE3404u, 0x01EE3801u, 0x01EE3904u, 0x01EE3A01u, 0x01EE3B04u, 0x01EE3C01u, 0x01EE4204u,
    0x01EE4301u, 0x01EE4704u, 0x01EE4801u, 0x01EE4904u, 0x01EE4A01u, 0x01EE4B04u, 0x01EE4C01u, 0x01EE4D04u,
    0x01EE5001u, 0x01EE5104u, 0x01EE5301u, 0x01EE5404u, 0x01EE5501u, 0x01EE5704u, 0x01EE5801u, 0x01EE5904u,
    0x01EE5A01u, 0x01EE5B04u, 0x01EE5C01u, 0x01EE5D04u, 0x01EE5E01u, 0x01EE5F04u, 0x01EE6001u, 0x01EE6104u,
    0x01EE6301u, 0x01EE6404u, 0x01EE6501u, 0x01EE6704u, 0x01EE6B01u, 0x01EE6C04u, 0x01EE7301u, 0x01EE7404u,
    0x01EE7801u, 0x01EE7904u, 0x01EE7D01u, 0x01EE7E04u, 0x01EE7F01u, 0x01EE8004u, 0x01EE8A01u, 0x01EE8B04u,
    0x01EE9C01u, 0x01EEA104u, 0x01EEA401u, 0x01EEA504u, 0x01EEAA01u, 0x01EEAB04u, 0x01EEBC01u, 0x01EEF040u,
    0x01EEF201u, 0x01F00040u, 0x01F02C01u, 0x01F03040u, 0x01F09401u, 0x01F0A040u, 0x01F0AF01u, 0x01F0B140u,
    0x01F0C001u, 0x01F0C140u, 0x01F0D001u, 0x01F0D140u, 0x01F0F601u, 0x01F10002u, 0x01F10D40u, 0x01F1AE01u,
    0x01F1E640u, 0x01F20301u, 0x01F21040u, 0x01F23C01u, 0x01F24040u, 0x01F24901u, 0x01F25040u, 0x01F25201u,
    0x01F26040u, 0x01F26601u, 0x01F30040u, 0x01F6D801u, 0x01F6DC40u, 0x01F6ED01u, 0x01F6F040u, 0x01F6FD01u,
    0x01F70040u, 0x01F77701u, 0x01F77B40u, 0x01F7DA01u, 0x01F7E040u, 0x01F7EC01u, 0x01F7F040u, 0x01F7F101u,
    0x01F80040u, 0x01F80C01u, 0x01F81040u, 0x01F84801u, 0x01F85040u, 0x01F85A01u, 0x01F86040u, 0x01F88801u,
    0x01F89040u, 0x01F8AE01u, 0x01F8B040u, 0x01F8B201u, 0x01F90040u, 0x01FA5401u, 0x01FA6040u, 0x01FA6E01u,
    0x01FA7040u, 0x01FA7D01u, 0x01FA8040u, 0x01FA8901u, 0x01FA9040u, 0x01FABE01u, 0x01FABF40u, 0x01FAC601u,
    0x01FACE40u, 0x01FADC01u, 0x01FAE040u, 0x01FAE901u, 0x01FAF040u, 0x01FAF901u, 0x01FB0040u, 0x01FB9301u,
    0x01FB9440u, 0x01FBCB01u, 0x01FBF002u, 0x01FBFA01u, 0x02000004u, 0x02A6E001u, 0x02A70004u, 0x02B73A01u,
    0x02B74004u, 0x02B81E01u, 0x02B82004u, 0x02CEA201u, 0x02CEB004u, 0x02EBE101u, 0x02EBF004u, 0x02EE5E01u,
    0x02F80004u, 0x02FA1E01u, 0x03000004u, 0x03134B01u, 0x03135004u, 0x0323B001u, 0x0E000180u, 0x0E000201u,
    0x0E002080u, 0x0E008001u, 0x0E010010u, 0x0E01F001u, 0x0F000080u, 0x0FFFFE01u, 0x10000080u, 0x10FFFE01u,
};
/* END GENERATED */

/* Category bits plus QLM__CPT_WHITESPACE. Code points beyond U+10FFFF are
 * UNDEFINED (never 0: a zero means "outside the text" in the splitters). */
static unsigned qlm__cpt_flags(uint32_t cpt)
{
    unsigned flags;
    if (cpt >= QLM__CPT_MAX) {
        flags = QLM__CPT_UNDEFINED;
    } else {
        size_t lo = 0, hi = QLM__UNICODE_N_RANGES; /* last entry with start <= cpt */
        while (hi - lo > 1) {
            size_t mid = (lo + hi) / 2;
            if ((qlm__unicode_ranges[mid] >> 8) <= cpt) lo = mid; else hi = mid;
        }
        flags = qlm__unicode_ranges[lo] & 0xFFu;
    }
    if (qlm__cpt_is_whitespace(cpt)) flags |= QLM__CPT_WHITESPACE;
    return flags;
}
/* >>tokenizer -- vocabulary, BPE and SentencePiece tokenizers, detokenizer.
 *
 * The specification is llama.cpp (src/llama-vocab.cpp, src/unicode.cpp): for
 * the same GGUF and text, qlm__tokenize must give llama_tokenize's ids, and
 * qlm__detokenize llama_detokenize's bytes. Where llama.cpp does something odd
 * (the " ?"-less gpt2 regex still falling back to \s+, the [UNK_BYTE_0x..]
 * text, the 11 default BOS/EOS of BPE vocabularies) qlm does the same, and the
 * comment says so. llama.cpp's regexes are not run through a regex engine:
 * each one is a hand-written matcher over code points (qlm__pre_*), checked
 * against llama.cpp's std::regex results by test/test_tokenizer.c.
 *
 * Thread safety: a loaded qlm__vocab is read-only; every tokenize call keeps
 * its scratch in a qlm__tok on its own, so calls may run concurrently.
 */

/* token attributes: llama.cpp's llama_token_attr bits */
#define QLM__TATTR_UNKNOWN      0x0001u
#define QLM__TATTR_UNUSED       0x0002u
#define QLM__TATTR_NORMAL       0x0004u
#define QLM__TATTR_CONTROL      0x0008u
#define QLM__TATTR_USER_DEFINED 0x0010u
#define QLM__TATTR_BYTE         0x0020u
#define QLM__TATTR_LSTRIP       0x0080u
#define QLM__TATTR_RSTRIP       0x0100u
#define QLM__TATTR_EOG          0x8000u /* qlm's own: member of the end-of-generation set */

/* limits on what a GGUF may ask for */
#define QLM__VOCAB_MAX_TOKENS   10000000
#define QLM__VOCAB_MAX_TEXT     65536u
#define QLM__VOCAB_MAX_MERGES   16000000u
#define QLM__VOCAB_MAX_POOL     0x40000000u /* 1 GiB of token + merge text */

enum { QLM__VOCAB_NONE = 0, QLM__VOCAB_SPM = 1, QLM__VOCAB_BPE = 2 };

/* pre-tokenizer splits: which of llama.cpp's regex lists a BPE vocab uses */
enum {
    QLM__PRE_DEFAULT = 0,   /* [\p{P}$+<=>^~|]+, gpt2, \p{N}+, [0-9][0-9][0-9] */
    QLM__PRE_GPT2,          /* gpt2 */
    QLM__PRE_STARCODER,     /* \p{N}, gpt2 (starcoder, refact, smollm, command-r...) */
    QLM__PRE_FALCON,        /* [\p{P}$+<=>^~|`]+, gpt2, [0-9][0-9][0-9] */
    QLM__PRE_LLAMA3,        /* llama3 (also dbrx, smaug, chatglm4) */
    QLM__PRE_QWEN2,         /* qwen2 (also stablelm2, hunyuan) */
    QLM__PRE_QWEN35,        /* qwen2 with \p{M} in letter runs */
    QLM__PRE_DEEPSEEK_LLM,
    QLM__PRE_DEEPSEEK_CODER,
    QLM__PRE_BLOOM,         /*  ?[^(\s|.,!?...)]+ (bloom, poro, gpt3-finnish) */
    QLM__PRE_VIKING         /* bloom, then \p{N} */
};

/* one step of a split: a custom splitter or an emulated regex */
enum {
    QLM__SPLIT_END = 0,
    QLM__SPLIT_GPT2, QLM__SPLIT_LLAMA3, QLM__SPLIT_QWEN2, QLM__SPLIT_QWEN35,
    QLM__RE_NUM,            /* \p{N} */
    QLM__RE_NUMS,           /* \p{N}+ */
    QLM__RE_DIGIT3,         /* [0-9][0-9][0-9] */
    QLM__RE_PUNCT,          /* [\p{P}\$\+<=>\^~\|]+ */
    QLM__RE_PUNCT_FALCON,   /* [\p{P}\$\+<=>\^~\|`]+ */
    QLM__RE_CRLF,           /* [\r\n] */
    QLM__RE_DSL_LETTERS,    /* \s?[A-Za-zµÀ-Ö...]+ (deepseek-llm) */
    QLM__RE_DSL_PUNCT,      /* \s?[!-/:-~！-／：-～‘-‟　-。]+ */
    QLM__RE_WS_END,         /* \s+$ */
    QLM__RE_CJK,            /* [一-龥ࠀ-一가-퟿]+ */
    QLM__RE_LETTERS,        /* \s?\p{L}+ (deepseek-coder) */
    QLM__RE_PUNCTS,         /* \s?\p{P}+ */
    QLM__RE_BLOOM           /*  ?[^(\s|.,!?…。，、।۔،)]+ */
};

static const unsigned char qlm__pre_steps[][7] = {
    /* DEFAULT */        { QLM__RE_PUNCT, QLM__SPLIT_GPT2, QLM__RE_NUMS, QLM__RE_DIGIT3, 0, 0, 0 },
    /* GPT2 */           { QLM__SPLIT_GPT2, 0, 0, 0, 0, 0, 0 },
    /* STARCODER */      { QLM__RE_NUM, QLM__SPLIT_GPT2, 0, 0, 0, 0, 0 },
    /* FALCON */         { QLM__RE_PUNCT_FALCON, QLM__SPLIT_GPT2, QLM__RE_DIGIT3, 0, 0, 0, 0 },
    /* LLAMA3 */         { QLM__SPLIT_LLAMA3, 0, 0, 0, 0, 0, 0 },
    /* QWEN2 */          { QLM__SPLIT_QWEN2, 0, 0, 0, 0, 0, 0 },
    /* QWEN35 */         { QLM__SPLIT_QWEN35, 0, 0, 0, 0, 0, 0 },
    /* DEEPSEEK_LLM */   { QLM__RE_CRLF, QLM__RE_DSL_LETTERS, QLM__RE_DSL_PUNCT, QLM__RE_WS_END,
                           QLM__RE_CJK, QLM__RE_NUMS, 0 },
    /* DEEPSEEK_CODER */ { QLM__RE_CRLF, QLM__RE_LETTERS, QLM__RE_PUNCTS, QLM__RE_CJK, QLM__RE_NUM, 0, 0 },
    /* BLOOM */          { QLM__RE_BLOOM, 0, 0, 0, 0, 0, 0 },
    /* VIKING */         { QLM__RE_BLOOM, QLM__RE_NUM, 0, 0, 0, 0, 0 },
};

/* flags for qlm__pre_names */
#define QLM__PF_KEEP_SPACES    1 /* clean_spaces = false */
#define QLM__PF_IGNORE_MERGES  2
#define QLM__PF_ADD_BOS        4
#define QLM__PF_NO_BOS         8 /* special_bos_id = none */

/* tokenizer.ggml.pre values llama.cpp knows and qlm implements, with the
 * options llama.cpp sets for each (llama_vocab::impl::load). */
static const struct { const char *name; unsigned char pre, flags; } qlm__pre_names[] = {
    { "default",          QLM__PRE_DEFAULT,        0 },
    { "llama3",           QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "llama-v3",         QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "llama-bpe",        QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "falcon3",          QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "falcon-h1",        QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "pixtral",          QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "midm-2.0",         QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "lfm2",             QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "jina-v5-nano",     QLM__PRE_LLAMA3,         QLM__PF_IGNORE_MERGES | QLM__PF_ADD_BOS },
    { "deepseek-llm",     QLM__PRE_DEEPSEEK_LLM,   QLM__PF_KEEP_SPACES },
    { "deepseek-coder",   QLM__PRE_DEEPSEEK_CODER, QLM__PF_KEEP_SPACES },
    { "falcon",           QLM__PRE_FALCON,         0 },
    { "mpt",              QLM__PRE_GPT2,           0 },
    { "starcoder",        QLM__PRE_STARCODER,      0 },
    { "gpt-2",            QLM__PRE_GPT2,           0 },
    { "phi-2",            QLM__PRE_GPT2,           0 },
    { "jina-es",          QLM__PRE_GPT2,           0 },
    { "jina-de",          QLM__PRE_GPT2,           0 },
    { "gigachat",         QLM__PRE_GPT2,           0 },
    { "jina-v2-es",       QLM__PRE_GPT2,           0 },
    { "jina-v2-de",       QLM__PRE_GPT2,           0 },
    { "a.x-4.0",          QLM__PRE_GPT2,           0 },
    { "mellum",           QLM__PRE_GPT2,           0 },
    { "modern-bert",      QLM__PRE_GPT2,           0 },
    { "jina-v1-en",       QLM__PRE_GPT2,           0 },
    { "jina-v2-code",     QLM__PRE_GPT2,           0 },
    { "roberta-bpe",      QLM__PRE_GPT2,           0 },
    { "refact",           QLM__PRE_STARCODER,      0 },
    { "command-r",        QLM__PRE_STARCODER,      QLM__PF_KEEP_SPACES },
    { "qwen2",            QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "deepseek-r1-qwen", QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "kormo",            QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "f2llmv2",          QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "qwen35",           QLM__PRE_QWEN35,         QLM__PF_KEEP_SPACES },
    { "stablelm2",        QLM__PRE_QWEN2,          0 },
    { "olmo",             QLM__PRE_GPT2,           0 },
    { "dbrx",             QLM__PRE_LLAMA3,         0 },
    { "smaug-bpe",        QLM__PRE_LLAMA3,         0 },
    { "poro-chat",        QLM__PRE_BLOOM,          QLM__PF_KEEP_SPACES },
    { "chatglm-bpe",      QLM__PRE_LLAMA3,         QLM__PF_NO_BOS },
    { "glm4",             QLM__PRE_LLAMA3,         QLM__PF_NO_BOS | QLM__PF_IGNORE_MERGES },
    { "glm5",             QLM__PRE_LLAMA3,         QLM__PF_NO_BOS | QLM__PF_IGNORE_MERGES },
    { "viking",           QLM__PRE_VIKING,         QLM__PF_KEEP_SPACES },
    { "jais",             QLM__PRE_GPT2,           0 },
    { "smollm",           QLM__PRE_STARCODER,      QLM__PF_KEEP_SPACES },
    { "codeshell",        QLM__PRE_STARCODER,      0 },
    { "bloom",            QLM__PRE_BLOOM,          0 },
    { "gpt3-finnish",     QLM__PRE_BLOOM,          0 },
    { "exaone",           QLM__PRE_STARCODER,      0 },
    { "exaone4",          QLM__PRE_GPT2,           0 },
    { "minerva-7b",       QLM__PRE_STARCODER,      0 },
    { "megrez",           QLM__PRE_QWEN2,          0 },
    { "trillion",         QLM__PRE_GPT2,           QLM__PF_KEEP_SPACES },
    { "granite-docling",  QLM__PRE_GPT2,           QLM__PF_KEEP_SPACES },
    { "hunyuan",          QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "solar-open",       QLM__PRE_QWEN2,          QLM__PF_KEEP_SPACES },
    { "mellum2",          QLM__PRE_STARCODER,      0 },
};

/* ---- hash tables: open addressing, linear probing, slots hold index + 1 ---- */

static uint32_t qlm__fnv1a(const char *s, size_t n, uint32_t h)
{
    size_t i;
    for (i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}
#define QLM__FNV_SEED 2166136261u

typedef struct { uint32_t *slot; uint32_t mask; } qlm__htab;

static int qlm__htab_init(qlm__htab *t, size_t n)
{
    size_t cap = 16;
    while (cap < n * 2 + 1) cap *= 2;             /* n <= 16M: no overflow */
    t->slot = (uint32_t *)QLM_MALLOC(cap * sizeof(uint32_t));
    if (!t->slot) return 0;
    memset(t->slot, 0, cap * sizeof(uint32_t));
    t->mask = (uint32_t)(cap - 1);
    return 1;
}

typedef struct { uint32_t off, nl, nr, hash; int32_t rank; } qlm__merge;

typedef struct qlm__vocab qlm__vocab;
struct qlm__vocab {
    int type;                 /* QLM__VOCAB_* */
    int pre;                  /* QLM__PRE_* (BPE) */
    int32_t n_tokens;
    char *text;               /* token texts, back to back */
    uint32_t *text_off;       /* n_tokens + 1 offsets into text */
    uint32_t *text_hash;
    float *score;
    uint16_t *attr;           /* QLM__TATTR_* */
    qlm__htab tokmap;         /* text -> id */
    char *piece;              /* token_to_piece(special = 1) cache */
    uint32_t *piece_off;      /* n_tokens + 1 */
    char *merge_text;         /* "left" "right" back to back */
    qlm__merge *merge;
    uint32_t n_merges;
    qlm__htab mergemap;       /* (left, right) -> merge */
    int32_t *special;         /* control/user-defined/unknown ids, longest text first */
    int32_t n_special;
    int32_t *trie;            /* special-token trie: 4 ints a node (child, sibling, byte, special index) */
    int32_t trie_root[256];
    int32_t bos, eos, eot, eom, unk, sep, pad;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    int add_bos, add_eos, add_space_prefix, ignore_merges, clean_spaces;
};

static const char *qlm__tok_text(const qlm__vocab *v, int32_t id, size_t *len)
{
    *len = v->text_off[id + 1] - v->text_off[id];
    return v->text + v->text_off[id];
}

static int32_t qlm__vocab_lookup(const qlm__vocab *v, const char *s, size_t n)
{
    uint32_t h, i;
    if (!v || !v->tokmap.slot) return -1;
    h = qlm__fnv1a(s, n, QLM__FNV_SEED);
    for (i = h & v->tokmap.mask;; i = (i + 1) & v->tokmap.mask) {
        uint32_t e = v->tokmap.slot[i];
        int32_t id;
        size_t len;
        const char *t;
        if (!e) return -1;
        id = (int32_t)(e - 1);
        if (v->text_hash[id] != h) continue;
        t = qlm__tok_text(v, id, &len);
        if (len == n && memcmp(t, s, n) == 0) return id;
    }
}

static int32_t qlm__merge_rank(const qlm__vocab *v, const char *l, size_t nl, const char *r, size_t nr)
{
    uint32_t h, i;
    if (!v->mergemap.slot) return -1;
    h = qlm__fnv1a(r, nr, qlm__fnv1a(l, nl, QLM__FNV_SEED) ^ (uint32_t)nl);
    for (i = h & v->mergemap.mask;; i = (i + 1) & v->mergemap.mask) {
        uint32_t e = v->mergemap.slot[i];
        const qlm__merge *m;
        if (!e) return -1;
        m = &v->merge[e - 1];
        if (m->hash == h && m->nl == nl && m->nr == nr &&
            memcmp(v->merge_text + m->off, l, nl) == 0 &&
            memcmp(v->merge_text + m->off + nl, r, nr) == 0)
            return m->rank;
    }
}

/* ---- GPT-2 byte <-> unicode mapping ---- */

/* The code point GPT-2's bytes_to_unicode assigns to byte b. */
static uint32_t qlm__byte_to_cpt(unsigned b)
{
    if ((b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
    if (b <= 0x20) return 0x100 + b;                 /* 0x00..0x20 -> U+0100..U+0120 */
    if (b <= 0xA0) return 0x100 + 0x21 + (b - 0x7F); /* 0x7F..0xA0 -> U+0121..U+0142 */
    return 0x143;                                    /* 0xAD */
}

/* Inverse of qlm__byte_to_cpt; -1 for code points GPT-2 never produces. */
static int qlm__cpt_to_byte(uint32_t c)
{
    if ((c >= 0x21 && c <= 0x7E) || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF)) return (int)c;
    if (c >= 0x100 && c <= 0x120) return (int)(c - 0x100);
    if (c >= 0x121 && c <= 0x142) return (int)(c - 0x121 + 0x7F);
    if (c == 0x143) return 0xAD;
    return -1;
}

/* ---- per-call scratch ---- */

typedef struct { int32_t prev, next; size_t off, n; } qlm__sym;
typedef struct { int32_t left, right; int32_t rank; float score; size_t size; } qlm__bigram;
typedef struct { int32_t tok; size_t off, len; } qlm__frag;       /* tok < 0: raw text */
typedef struct { int32_t order; size_t pos; } qlm__occ;

typedef struct {
    const qlm__vocab *v;
    int oom;
    int32_t *out; size_t n_out, cap_out;
    uint32_t *cpt; size_t cap_cpt;
    uint16_t *flg; size_t cap_flg;
    size_t *chunk; size_t n_chunk, cap_chunk;
    size_t *chunk2; size_t n_chunk2, cap_chunk2;
    char *word; size_t cap_word;
    qlm__sym *sym; size_t cap_sym;
    qlm__bigram *heap; size_t n_heap, cap_heap;
    qlm__frag *frag; size_t n_frag, cap_frag;
    qlm__frag *frag2; size_t cap_frag2;
    qlm__occ *occ; size_t cap_occ;
    char *text; size_t cap_text;
} qlm__tok;

/* Grow *p to hold need elements; returns the (possibly moved) block, or the
 * old one with t->oom set. */
static void *qlm__tok_grow(qlm__tok *t, void *p, size_t *cap, size_t need, size_t elem)
{
    size_t ncap = *cap ? *cap : 16;
    void *np;
    if (need <= *cap) return p;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 4) { t->oom = 1; return p; }
        ncap *= 2;
    }
    if (ncap > ((size_t)-1) / elem) { t->oom = 1; return p; }
    np = QLM_REALLOC(p, ncap * elem);
    if (!np) { t->oom = 1; return p; }
    *cap = ncap;
    return np;
}

static void qlm__tok_free(qlm__tok *t)
{
    QLM_FREE(t->out); QLM_FREE(t->cpt); QLM_FREE(t->flg); QLM_FREE(t->chunk); QLM_FREE(t->chunk2);
    QLM_FREE(t->word); QLM_FREE(t->sym); QLM_FREE(t->heap); QLM_FREE(t->frag); QLM_FREE(t->frag2);
    QLM_FREE(t->occ); QLM_FREE(t->text);
}

static void qlm__tok_push(qlm__tok *t, int32_t id)
{
    t->out = (int32_t *)qlm__tok_grow(t, t->out, &t->cap_out, t->n_out + 1, sizeof(int32_t));
    if (!t->oom) t->out[t->n_out++] = id;
}

/* append one piece length to the split being built */
static void qlm__pre_emit(qlm__tok *t, size_t len)
{
    if (len == 0) return;
    t->chunk2 = (size_t *)qlm__tok_grow(t, t->chunk2, &t->cap_chunk2, t->n_chunk2 + 1, sizeof(size_t));
    if (!t->oom) t->chunk2[t->n_chunk2++] = len;
}

/* ---- custom splitters (llama.cpp unicode_regex_split_custom_*) ----
 * Ported statement by statement; CPT/FLG give 0xFFFFFFFF / 0 outside the
 * current piece [ini, end), like llama.cpp's _get_cpt / _get_flags. */

#define QLM__OOR 0xFFFFFFFFu
#define QLM__CPT(p) (((p) >= ini && (p) < end) ? cpt[p] : QLM__OOR)
#define QLM__FLG(p) (((p) >= ini && (p) < end) ? (unsigned)flg[p] : 0u)
#define QLM__IS_L(f) ((f) & QLM__CPT_LETTER)
#define QLM__IS_N(f) ((f) & QLM__CPT_NUMBER)
#define QLM__IS_M(f) ((f) & QLM__CPT_MARK)
#define QLM__IS_WS(f) ((f) & QLM__CPT_WHITESPACE)

static uint32_t qlm__ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* gpt2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
static void qlm__split_gpt2(qlm__tok *t, size_t ini, size_t end)
{
    const uint32_t *cpt = t->cpt;
    const uint16_t *flg = t->flg;
    size_t pos = ini, prev = ini;
#define QLM__ADD(e) do { qlm__pre_emit(t, (e) - prev); prev = (e); } while (0)
    while (pos < end) {
        uint32_t c = QLM__CPT(pos);
        unsigned f = QLM__FLG(pos), f2;
        size_t nws;
        if (c == '\'' && pos + 1 < end) {
            uint32_t n1 = QLM__CPT(pos + 1);
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') { QLM__ADD(pos + 2); pos += 2; continue; }
            if (pos + 2 < end) {
                uint32_t n2 = QLM__CPT(pos + 2);
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    QLM__ADD(pos + 3); pos += 3; continue;
                }
            }
        }
        f2 = (c == ' ') ? QLM__FLG(pos + 1) : f;
        if (QLM__IS_L(f2)) {
            pos += (c == ' ');
            while (QLM__IS_L(f2)) { ++pos; f2 = QLM__FLG(pos); }
            QLM__ADD(pos); continue;
        }
        if (QLM__IS_N(f2)) {
            pos += (c == ' ');
            while (QLM__IS_N(f2)) { ++pos; f2 = QLM__FLG(pos); }
            QLM__ADD(pos); continue;
        }
        if (!(f2 & (QLM__CPT_WHITESPACE | QLM__CPT_LETTER | QLM__CPT_NUMBER)) && f2) {
            pos += (c == ' ');
            while (!(f2 & (QLM__CPT_WHITESPACE | QLM__CPT_LETTER | QLM__CPT_NUMBER)) && f2) { ++pos; f2 = QLM__FLG(pos); }
            QLM__ADD(pos); continue;
        }
        nws = 0;
        while (QLM__IS_WS(QLM__FLG(pos + nws))) nws++;
        if (nws > 1 && QLM__CPT(pos + nws) != QLM__OOR) { pos += nws - 1; QLM__ADD(pos); continue; }
        if (nws > 0) { pos += nws; QLM__ADD(pos); continue; }
        QLM__ADD(pos + 1); pos++;
    }
}

/* llama3 / qwen2 / qwen35:
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * qwen2 has \p{N} for \p{N}{1,3}; qwen35 also takes \p{M} in letter runs. */
static void qlm__split_llama3(qlm__tok *t, size_t ini, size_t end, size_t max_digits, int marks)
{
    const uint32_t *cpt = t->cpt;
    const uint16_t *flg = t->flg;
    size_t pos = ini, prev = ini;
    const unsigned lm = QLM__CPT_LETTER | (marks ? QLM__CPT_MARK : 0u);
    while (pos < end) {
        uint32_t c = QLM__CPT(pos);
        unsigned f = QLM__FLG(pos), f2;
        size_t nws, last_rn;
        if (c == '\'' && pos + 1 < end) {
            uint32_t n1 = qlm__ascii_lower(QLM__CPT(pos + 1));
            if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') { QLM__ADD(pos + 2); pos += 2; continue; }
            if (pos + 2 < end) {
                uint32_t n2 = qlm__ascii_lower(QLM__CPT(pos + 2));
                if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                    QLM__ADD(pos + 3); pos += 3; continue;
                }
            }
        }
        if (!(c == '\r' || c == '\n' || QLM__IS_N(f))) {
            if ((f & lm) || (QLM__FLG(pos + 1) & lm)) {
                pos++;
                while (QLM__FLG(pos) & lm) pos++;
                QLM__ADD(pos); continue;
            }
        }
        if (QLM__IS_N(f)) {
            size_t first = pos;
            while (QLM__IS_N(QLM__FLG(pos))) {
                if (++pos - first >= max_digits) { QLM__ADD(pos); first = pos; }
            }
            QLM__ADD(pos); continue;
        }
        f2 = (c == ' ') ? QLM__FLG(pos + 1) : f;
        if (!(f2 & (QLM__CPT_WHITESPACE | lm | QLM__CPT_NUMBER)) && f) {
            uint32_t c2;
            pos += (c == ' ');
            while (!(f2 & (QLM__CPT_WHITESPACE | lm | QLM__CPT_NUMBER)) && f2) { ++pos; f2 = QLM__FLG(pos); }
            c2 = QLM__CPT(pos);
            while (c2 == '\r' || c2 == '\n') { ++pos; c2 = QLM__CPT(pos); }
            QLM__ADD(pos); continue;
        }
        nws = 0; last_rn = 0;
        while (QLM__IS_WS(QLM__FLG(pos + nws))) {
            uint32_t c2 = QLM__CPT(pos + nws);
            if (c2 == '\r' || c2 == '\n') last_rn = pos + nws + 1;
            nws++;
        }
        if (last_rn > 0) { pos = last_rn; QLM__ADD(pos); continue; }
        if (nws > 1 && QLM__CPT(pos + nws) != QLM__OOR) { pos += nws - 1; QLM__ADD(pos); continue; }
        if (nws > 0) { pos += nws; QLM__ADD(pos); continue; }
        QLM__ADD(pos + 1); pos++;
    }
#undef QLM__ADD
}

/* ---- regex emulation (llama.cpp's std::regex fallback) ----
 * Patterns with \p{..} run on llama.cpp's "collapsed" text; there a class
 * test reduces to the category bits below. Patterns without run on code
 * points, non-ASCII whitespace read as U+000B. Either way \s is exactly
 * QLM__CPT_WHITESPACE. */

typedef struct { uint32_t lo, hi; } qlm__crange;

/* \s?[A-Za-zµÀ-Ö...]+ of deepseek-llm, transcribed from llama-vocab.cpp */
static const qlm__crange qlm__dsl_letters[] = {
    {0x41,0x5A}, {0x61,0x7A}, {0xB5,0xB5}, {0xC0,0xD6}, {0xD8,0xF6}, {0xF8,0x1BA}, {0x1BC,0x1BF},
    {0x1C4,0x293}, {0x295,0x2AF}, {0x370,0x373}, {0x376,0x377}, {0x37B,0x37D}, {0x37F,0x37F},
    {0x386,0x386}, {0x388,0x38A}, {0x38C,0x38C}, {0x38E,0x3A1}, {0x3A3,0x3F5}, {0x3F7,0x481},
    {0x48A,0x52F}, {0x531,0x556}, {0x10A0,0x10C5}, {0x13A0,0x13F5}, {0x13F8,0x13FD},
    {0x1C90,0x1CBA}, {0x1CBD,0x1CBF}, {0x1D00,0x1D2B}, {0x1D6B,0x1D77}, {0x1D79,0x1D9A},
    {0x1E00,0x1F15}, {0x1F18,0x1F1D}, {0x1F20,0x1F45}, {0x1F48,0x1F4D}, {0x1F50,0x1F57},
    {0x1F59,0x1F59}, {0x1F5B,0x1F5B}, {0x1F5D,0x1F5D}, {0x1F5F,0x1F7D}, {0x1F80,0x1FB4},
    {0x1FB6,0x1FBC}, {0x1FBE,0x1FBE}, {0x1FC2,0x1FC4}, {0x1FC6,0x1FCC}, {0x1FD0,0x1FD3},
    {0x1FD6,0x1FDB}, {0x1FE0,0x1FEC}, {0x1FF2,0x1FF4}, {0x1FF6,0x1FFC}, {0x2102,0x2102},
    {0x2107,0x2107}, {0x210A,0x2113}, {0x2115,0x2115}, {0x2119,0x211D}, {0x2124,0x2124},
    {0x2126,0x2126}, {0x2128,0x2128}, {0x212A,0x212D}, {0x212F,0x2134}, {0x2139,0x2139},
    {0x213C,0x213F}, {0x2145,0x2149}, {0x214E,0x214E}, {0x2183,0x2184}, {0x2C00,0x2C7B},
    {0x2C7E,0x2CE4}, {0x2CEB,0x2CEE}, {0x2CF2,0x2CF3}, {0xA640,0xA66D}, {0xA680,0xA69B},
    {0xA722,0xA76F}, {0xA771,0xA787}, {0xA78B,0xA78E}, {0xAB70,0xABBF}, {0xFB00,0xFB06},
    {0xFB13,0xFB17}, {0xFF21,0xFF3A}, {0xFF41,0xFF5A}, {0x10400,0x1044F}, {0x104B0,0x104D3},
    {0x104D8,0x104FB}, {0x10C80,0x10CB2}, {0x10CC0,0x10CF2}, {0x118A0,0x118DF}, {0x1E900,0x1E943},
};
/* [!-/:-~！-／：-～‘-‟　-。]: U+3000 is whitespace, read as U+000B, so never matches */
static const qlm__crange qlm__dsl_punct[] = {
    {0x21,0x2F}, {0x3A,0x7E}, {0x2018,0x201F}, {0x3001,0x3002}, {0xFF01,0xFF0F}, {0xFF1A,0xFF5E},
};
/* [一-龥ࠀ-一가-퟿] */
static const qlm__crange qlm__cjk[] = { {0x800,0x9FA5}, {0xAC00,0xD7FF} };

static int qlm__in_ranges(const qlm__crange *r, size_t n, uint32_t c)
{
    size_t i;
    for (i = 0; i < n; i++) if (c >= r[i].lo && c <= r[i].hi) return 1;
    return 0;
}

/* membership of code point c (category bits f) in the repeated class of regex re */
static int qlm__re_class(int re, uint32_t c, unsigned f)
{
    switch (re) {
    case QLM__RE_NUM: case QLM__RE_NUMS: return QLM__IS_N(f) != 0;
    case QLM__RE_DIGIT3: return c >= '0' && c <= '9';
    case QLM__RE_PUNCT_FALCON: if (c == '`') return 1; /* fall through */
    case QLM__RE_PUNCT:
        return (f & QLM__CPT_PUNCTUATION) || c == '$' || c == '+' || c == '<' || c == '=' ||
               c == '>' || c == '^' || c == '~' || c == '|';
    case QLM__RE_CRLF: return c == '\r' || c == '\n';
    case QLM__RE_DSL_LETTERS:
        return !QLM__IS_WS(f) && qlm__in_ranges(qlm__dsl_letters, sizeof(qlm__dsl_letters) / sizeof(qlm__dsl_letters[0]), c);
    case QLM__RE_DSL_PUNCT:
        return !QLM__IS_WS(f) && qlm__in_ranges(qlm__dsl_punct, sizeof(qlm__dsl_punct) / sizeof(qlm__dsl_punct[0]), c);
    case QLM__RE_CJK: return !QLM__IS_WS(f) && qlm__in_ranges(qlm__cjk, 2, c);
    case QLM__RE_LETTERS: return QLM__IS_L(f) != 0;
    case QLM__RE_PUNCTS: return (f & QLM__CPT_PUNCTUATION) != 0;
    case QLM__RE_BLOOM:
        if (QLM__IS_WS(f)) return 0;
        switch (c) {
        case '(': case '|': case '.': case ',': case '!': case '?': case ')':
        case 0x2026: case 0x3002: case 0xFF0C: case 0x3001: case 0x0964: case 0x06D4: case 0x060C:
            return 0;
        default: return 1;
        }
    default: return 0;
    }
}

/* Leftmost match of regex re in [pos, end): 1 and (*mpos, *mlen), or 0. */
static int qlm__re_find(const qlm__tok *t, int re, size_t pos, size_t end, size_t *mpos, size_t *mlen)
{
    const uint32_t *cpt = t->cpt;
    const uint16_t *flg = t->flg;
    size_t i, j;
    if (re == QLM__RE_WS_END) {                       /* \s+$ */
        j = end;
        while (j > pos && QLM__IS_WS(flg[j - 1])) j--;
        if (j == end) return 0;
        *mpos = j; *mlen = end - j;
        return 1;
    }
    for (i = pos; i < end; i++) {
        size_t first;
        switch (re) {
        case QLM__RE_NUM: case QLM__RE_CRLF:          /* single code point */
            if (!qlm__re_class(re, cpt[i], flg[i])) continue;
            *mpos = i; *mlen = 1;
            return 1;
        case QLM__RE_DIGIT3:
            if (i + 3 > end || !qlm__re_class(re, cpt[i], 0) || !qlm__re_class(re, cpt[i + 1], 0) ||
                !qlm__re_class(re, cpt[i + 2], 0)) continue;
            *mpos = i; *mlen = 3;
            return 1;
        case QLM__RE_DSL_LETTERS: case QLM__RE_DSL_PUNCT:
        case QLM__RE_LETTERS: case QLM__RE_PUNCTS:     /* \s?X+ */
            if (QLM__IS_WS(flg[i]) && i + 1 < end && qlm__re_class(re, cpt[i + 1], flg[i + 1])) first = i + 1;
            else if (qlm__re_class(re, cpt[i], flg[i])) first = i;
            else continue;
            break;
        case QLM__RE_BLOOM:                            /*  ?X+ */
            if (cpt[i] == ' ' && i + 1 < end && qlm__re_class(re, cpt[i + 1], flg[i + 1])) first = i + 1;
            else if (qlm__re_class(re, cpt[i], flg[i])) first = i;
            else continue;
            break;
        default:                                       /* X+ */
            if (!qlm__re_class(re, cpt[i], flg[i])) continue;
            first = i;
            break;
        }
        for (j = first; j < end && qlm__re_class(re, cpt[j], flg[j]); j++) {}
        *mpos = i; *mlen = j - i;
        return 1;
    }
    return 0;
}

/* Split t->cpt[0..n) into pieces (t->chunk, t->n_chunk) with the steps of pre
 * type pre, each step refining the pieces of the one before (as llama.cpp's
 * unicode_regex_split does). */
static void qlm__pre_split(qlm__tok *t, int pre, size_t n)
{
    const unsigned char *step = qlm__pre_steps[pre];
    size_t s, k;
    t->n_chunk = 0;
    if (n == 0) return;
    t->chunk = (size_t *)qlm__tok_grow(t, t->chunk, &t->cap_chunk, 1, sizeof(size_t));
    if (t->oom) return;
    t->chunk[t->n_chunk++] = n;
    for (s = 0; s < sizeof(qlm__pre_steps[0]) && step[s] != QLM__SPLIT_END; s++) {
        size_t start = 0;
        t->n_chunk2 = 0;
        for (k = 0; k < t->n_chunk && !t->oom; k++) {
            size_t ini = start, end = start + t->chunk[k];
            start = end;
            switch (step[s]) {
            case QLM__SPLIT_GPT2: qlm__split_gpt2(t, ini, end); break;
            case QLM__SPLIT_LLAMA3: qlm__split_llama3(t, ini, end, 3, 0); break;
            case QLM__SPLIT_QWEN2: qlm__split_llama3(t, ini, end, 1, 0); break;
            case QLM__SPLIT_QWEN35: qlm__split_llama3(t, ini, end, 1, 1); break;
            default: {
                size_t pos = ini, mp, ml;
                while (pos < end && qlm__re_find(t, step[s], pos, end, &mp, &ml)) {
                    qlm__pre_emit(t, mp - pos);
                    qlm__pre_emit(t, ml);
                    pos = mp + ml;
                }
                qlm__pre_emit(t, end - pos);
            } break;
            }
        }
        if (t->oom) return;
        { /* swap */
            size_t *tmp = t->chunk, tcap = t->cap_chunk;
            t->chunk = t->chunk2; t->cap_chunk = t->cap_chunk2; t->n_chunk = t->n_chunk2;
            t->chunk2 = tmp; t->cap_chunk2 = tcap;
        }
    }
}

/* Decode text into t->cpt / t->flg; returns the code point count. */
static size_t qlm__tok_decode(qlm__tok *t, const char *s, size_t n)
{
    size_t i = 0, m = 0, adv;
    t->cpt = (uint32_t *)qlm__tok_grow(t, t->cpt, &t->cap_cpt, n + 1, sizeof(uint32_t));
    t->flg = (uint16_t *)qlm__tok_grow(t, t->flg, &t->cap_flg, n + 1, sizeof(uint16_t));
    if (t->oom) return 0;
    while (i < n) {
        uint32_t c = qlm__utf8_decode(s + i, n - i, &adv);
        t->cpt[m] = c;
        t->flg[m] = (uint16_t)qlm__cpt_flags(c);
        m++;
        i += adv;
    }
    return m;
}

/* ---- BPE ---- */

static int qlm__bigram_before(const qlm__bigram *a, const qlm__bigram *b, int spm)
{
    if (spm) return a->score > b->score || (a->score == b->score && a->left < b->left);
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void qlm__heap_push(qlm__tok *t, const qlm__bigram *b, int spm)
{
    size_t i;
    t->heap = (qlm__bigram *)qlm__tok_grow(t, t->heap, &t->cap_heap, t->n_heap + 1, sizeof(qlm__bigram));
    if (t->oom) return;
    i = t->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!qlm__bigram_before(b, &t->heap[p], spm)) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = *b;
}

static qlm__bigram qlm__heap_pop(qlm__tok *t, int spm)
{
    qlm__bigram top = t->heap[0], last = t->heap[--t->n_heap];
    size_t i = 0, n = t->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && qlm__bigram_before(&t->heap[c + 1], &t->heap[c], spm)) c++;
        if (!qlm__bigram_before(&t->heap[c], &last, spm)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = last;
    return top;
}

static void qlm__bpe_add_bigram(qlm__tok *t, const char *w, int32_t left, int32_t right)
{
    const qlm__sym *l, *r;
    qlm__bigram b;
    if (left < 0 || right < 0) return;
    l = &t->sym[left]; r = &t->sym[right];
    b.rank = qlm__merge_rank(t->v, w + l->off, l->n, w + r->off, r->n);
    if (b.rank < 0) return;
    b.left = left; b.right = right; b.score = 0; b.size = l->n + r->n;
    qlm__heap_push(t, &b, 0);
}

/* llm_tokenizer_bpe_session::tokenize for one (byte-encoded) word */
static void qlm__bpe_word(qlm__tok *t, const char *w, size_t n)
{
    const qlm__vocab *v = t->v;
    size_t off = 0, k, nsym = 0;
    int32_t id;
    if (n == 0) return;
    if (v->ignore_merges && (id = qlm__vocab_lookup(v, w, n)) >= 0) { qlm__tok_push(t, id); return; }
    t->sym = (qlm__sym *)qlm__tok_grow(t, t->sym, &t->cap_sym, n, sizeof(qlm__sym));
    if (t->oom) return;
    while (off < n) {
        size_t len = qlm__utf8_len((unsigned char)w[off]);
        if (len > n - off) len = n - off;
        t->sym[nsym].off = off;
        t->sym[nsym].n = len;
        t->sym[nsym].prev = (int32_t)nsym - 1;
        off += len;
        t->sym[nsym].next = off == n ? -1 : (int32_t)nsym + 1;
        nsym++;
    }
    t->n_heap = 0;
    for (k = 1; k < nsym; k++) qlm__bpe_add_bigram(t, w, (int32_t)k - 1, (int32_t)k);
    while (t->n_heap > 0 && !t->oom) {
        qlm__bigram b = qlm__heap_pop(t, 0);
        qlm__sym *l = &t->sym[b.left], *r = &t->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* outdated */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) t->sym[r->next].prev = b.left;
        qlm__bpe_add_bigram(t, w, l->prev, b.left);
        qlm__bpe_add_bigram(t, w, b.left, l->next);
    }
    for (k = 0; k < nsym && !t->oom; k++) {
        const qlm__sym *s = &t->sym[k];
        if (s->n == 0) continue;
        id = qlm__vocab_lookup(v, w + s->off, s->n);
        if (id >= 0) { qlm__tok_push(t, id); continue; }
        { /* llama.cpp: each byte of the encoded text as a one-byte token, if any */
            size_t j;
            for (j = 0; j < s->n; j++) {
                id = qlm__vocab_lookup(v, w + s->off + j, 1);
                if (id >= 0) qlm__tok_push(t, id);
            }
        }
    }
}

/* BPE tokenization of one raw-text fragment */
static void qlm__bpe_fragment(qlm__tok *t, const char *s, size_t n)
{
    size_t ncpt = qlm__tok_decode(t, s, n), k, start = 0;
    if (t->oom) return;
    qlm__pre_split(t, t->v->pre, ncpt);
    for (k = 0; k < t->n_chunk && !t->oom; k++) {
        size_t i, wn = 0, end = start + t->chunk[k];
        /* re-encode the code points, then map every byte to its GPT-2 code point */
        t->word = (char *)qlm__tok_grow(t, t->word, &t->cap_word, (end - start) * 8, 1);
        if (t->oom) return;
        for (i = start; i < end; i++) {
            char u[4];
            int j, m = qlm__utf8_encode(t->cpt[i], u);
            for (j = 0; j < m; j++) wn += (size_t)qlm__utf8_encode(qlm__byte_to_cpt((unsigned char)u[j]), t->word + wn);
        }
        start = end;
        qlm__bpe_word(t, t->word, wn);
    }
}

/* ---- SentencePiece (llm_tokenizer_spm_session) ---- */

static void qlm__spm_add_bigram(qlm__tok *t, const char *s, int32_t left, int32_t right)
{
    const qlm__sym *l, *r;
    qlm__bigram b;
    int32_t id;
    if (left < 0 || right < 0) return;
    l = &t->sym[left]; r = &t->sym[right];
    id = qlm__vocab_lookup(t->v, s + l->off, l->n + r->n);
    if (id < 0) return;
    b.left = left; b.right = right; b.rank = 0; b.score = t->v->score[id]; b.size = l->n + r->n;
    qlm__heap_push(t, &b, 1);
}

static int32_t qlm__spm_byte_token(const qlm__vocab *v, unsigned char ch)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[6];
    int32_t id;
    buf[0] = '<'; buf[1] = '0'; buf[2] = 'x'; buf[3] = hex[ch >> 4]; buf[4] = hex[ch & 15]; buf[5] = '>';
    id = qlm__vocab_lookup(v, buf, 6);
    if (id >= 0) return id;
    buf[0] = (char)ch;
    id = qlm__vocab_lookup(v, buf, 1);
    return id >= 0 ? id : v->unk; /* llama.cpp throws here; qlm falls back to <unk> */
}

/* s: text with spaces already escaped to U+2581 */
static void qlm__spm_text(qlm__tok *t, const char *s, size_t n)
{
    size_t off = 0, nsym = 0;
    int32_t i;
    if (n == 0) return;
    t->sym = (qlm__sym *)qlm__tok_grow(t, t->sym, &t->cap_sym, n, sizeof(qlm__sym));
    if (t->oom) return;
    while (off < n) {
        size_t len = qlm__utf8_len((unsigned char)s[off]);
        if (len > n - off) len = n - off;
        t->sym[nsym].off = off;
        t->sym[nsym].n = len;
        t->sym[nsym].prev = (int32_t)nsym - 1;
        off += len;
        t->sym[nsym].next = off == n ? -1 : (int32_t)nsym + 1;
        nsym++;
    }
    t->n_heap = 0;
    for (i = 1; i < (int32_t)nsym; i++) qlm__spm_add_bigram(t, s, i - 1, i);
    while (t->n_heap > 0 && !t->oom) {
        qlm__bigram b = qlm__heap_pop(t, 1);
        qlm__sym *l = &t->sym[b.left], *r = &t->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) t->sym[r->next].prev = b.left;
        qlm__spm_add_bigram(t, s, l->prev, b.left);
        qlm__spm_add_bigram(t, s, b.left, l->next);
    }
    /* llama.cpp's resegment: merged symbols are always tokens (a bigram is only
     * queued when its text is one), so its rev_merge lookup never succeeds and
     * an unknown symbol becomes byte tokens. */
    for (i = 0; i != -1 && !t->oom; i = t->sym[i].next) {
        const qlm__sym *sy = &t->sym[i];
        int32_t id = qlm__vocab_lookup(t->v, s + sy->off, sy->n);
        if (id >= 0) { qlm__tok_push(t, id); continue; }
        {
            size_t j;
            for (j = 0; j < sy->n; j++) {
                id = qlm__spm_byte_token(t->v, (unsigned char)s[sy->off + j]);
                if (id >= 0) qlm__tok_push(t, id);
            }
        }
    }
}

/* SPM tokenization of one fragment: optional leading space, ' ' -> U+2581 */
static void qlm__spm_fragment(qlm__tok *t, const char *s, size_t n, int space_prefix)
{
    size_t i, m = 0, spaces = (size_t)(space_prefix != 0);
    for (i = 0; i < n; i++) spaces += s[i] == ' ';
    t->text = (char *)qlm__tok_grow(t, t->text, &t->cap_text, n + 1 + 2 * spaces, 1);
    if (t->oom) return;
    if (space_prefix) { memcpy(t->text, "\xE2\x96\x81", 3); m = 3; }
    for (i = 0; i < n; i++) {
        if (s[i] == ' ') { memcpy(t->text + m, "\xE2\x96\x81", 3); m += 3; }
        else t->text[m++] = s[i];
    }
    qlm__spm_text(t, t->text, m);
}

/* ---- special tokens (llama_vocab::impl::tokenizer_st_partition) ---- */

static int qlm__c_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int qlm__occ_cmp(const void *a, const void *b)
{
    const qlm__occ *x = (const qlm__occ *)a, *y = (const qlm__occ *)b;
    if (x->order != y->order) return x->order < y->order ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static void qlm__frag_push(qlm__tok *t, int32_t tok, size_t off, size_t len)
{
    t->frag2 = (qlm__frag *)qlm__tok_grow(t, t->frag2, &t->cap_frag2, t->n_frag + 1, sizeof(qlm__frag));
    if (t->oom) return;
    t->frag2[t->n_frag].tok = tok;
    t->frag2[t->n_frag].off = off;
    t->frag2[t->n_frag].len = len;
    t->n_frag++;
}

/* Cut text into raw fragments and special-token fragments (t->frag). llama.cpp
 * takes the special tokens longest text first and splits every raw fragment
 * at each leftmost non-overlapping occurrence; here the occurrences are found
 * in one pass with a trie, then applied token by token in the same order. */
static void qlm__partition(qlm__tok *t, const char *s, size_t n, int parse_special)
{
    const qlm__vocab *v = t->v;
    size_t p, n_occ = 0, a, b;
    t->n_frag = 0;
    t->frag = (qlm__frag *)qlm__tok_grow(t, t->frag, &t->cap_frag, 1, sizeof(qlm__frag));
    if (t->oom || n == 0) return;
    t->frag[0].tok = -1; t->frag[0].off = 0; t->frag[0].len = n;
    t->n_frag = 1;
    if (v->n_special == 0) return;
    for (p = 0; p < n; p++) {
        int32_t node = v->trie_root[(unsigned char)s[p]];
        size_t q = p;
        while (node >= 0) {
            int32_t si = v->trie[node * 4 + 3];
            if (si >= 0) {
                unsigned at = v->attr[v->special[si]];
                if (parse_special || !(at & (QLM__TATTR_CONTROL | QLM__TATTR_UNKNOWN))) {
                    t->occ = (qlm__occ *)qlm__tok_grow(t, t->occ, &t->cap_occ, n_occ + 1, sizeof(qlm__occ));
                    if (t->oom) return;
                    t->occ[n_occ].order = si;
                    t->occ[n_occ].pos = p;
                    n_occ++;
                }
            }
            if (++q >= n) break;
            for (node = v->trie[node * 4 + 0]; node >= 0; node = v->trie[node * 4 + 1])
                if (v->trie[node * 4 + 2] == (unsigned char)s[q]) break;
        }
    }
    if (n_occ == 0) return;
    qsort(t->occ, n_occ, sizeof(qlm__occ), qlm__occ_cmp);
    for (a = 0; a < n_occ; a = b) {
        int32_t tok = v->special[t->occ[a].order];
        unsigned at = v->attr[tok];
        size_t tlen, f, nf = t->n_frag, o = a;
        (void)qlm__tok_text(v, tok, &tlen);
        for (b = a; b < n_occ && t->occ[b].order == t->occ[a].order; b++) {}
        t->n_frag = 0; /* rebuild into frag2 */
        for (f = 0; f < nf && !t->oom; f++) {
            qlm__frag fr = t->frag[f];
            size_t fend = fr.off + fr.len, cur = fr.off;
            while (o < b && t->occ[o].pos < fr.off) o++;
            if (fr.tok >= 0) { qlm__frag_push(t, fr.tok, fr.off, fr.len); continue; }
            for (; o < b && t->occ[o].pos < fend; o++) {
                size_t mp = t->occ[o].pos, left;
                if (mp < cur || mp + tlen > fend) continue;
                left = mp - cur;
                if (at & QLM__TATTR_LSTRIP) while (left > 0 && qlm__c_isspace(s[cur + left - 1])) left--;
                if (left > 0) qlm__frag_push(t, -1, cur, left);
                qlm__frag_push(t, tok, 0, 0);
                cur = mp + tlen;
                if (at & QLM__TATTR_RSTRIP) while (cur < fend && qlm__c_isspace(s[cur])) cur++;
            }
            if (cur < fend) qlm__frag_push(t, -1, cur, fend - cur);
        }
        if (t->oom) return;
        { /* swap */
            qlm__frag *tmp = t->frag; size_t tcap = t->cap_frag;
            t->frag = t->frag2; t->cap_frag = t->cap_frag2;
            t->frag2 = tmp; t->cap_frag2 = tcap;
        }
    }
}

/* ---- public-to-qlm entry points ---- */

static int32_t qlm__tokenize(const qlm__vocab *v, const char *text, int32_t text_len,
                             int32_t *tokens, int32_t cap, int add_special, int parse_special)
{
    qlm__tok t;
    size_t f;
    int32_t result;
    if (!v || text_len < 0 || (!text && text_len > 0) || cap < 0 || (!tokens && cap > 0)) {
        qlm__errorf("qlm__tokenize: invalid argument");
        return INT32_MIN;
    }
    if (v->type == QLM__VOCAB_NONE) {
        qlm__errorf("qlm__tokenize: the model has no vocabulary");
        return INT32_MIN;
    }
    memset(&t, 0, sizeof t);
    t.v = v;
    qlm__partition(&t, text, (size_t)text_len, parse_special);
    if (add_special && v->add_bos && v->bos >= 0) qlm__tok_push(&t, v->bos);
    if (v->type == QLM__VOCAB_SPM) {
        int prev_special = 1; /* prefix with space if first token */
        for (f = 0; f < t.n_frag && !t.oom; f++) {
            if (t.frag[f].tok >= 0) { qlm__tok_push(&t, t.frag[f].tok); prev_special = 1; continue; }
            qlm__spm_fragment(&t, text + t.frag[f].off, t.frag[f].len, v->add_space_prefix && prev_special);
            prev_special = 0;
        }
    } else {
        for (f = 0; f < t.n_frag && !t.oom; f++) {
            if (t.frag[f].tok >= 0) { qlm__tok_push(&t, t.frag[f].tok); continue; }
            qlm__bpe_fragment(&t, text + t.frag[f].off, t.frag[f].len);
        }
    }
    if (add_special && v->add_eos && v->eos >= 0) qlm__tok_push(&t, v->eos);
    if (t.oom) {
        qlm__tok_free(&t);
        qlm__errorf("qlm__tokenize: out of memory");
        return INT32_MIN;
    }
    if (t.n_out > (size_t)INT32_MAX) {
        qlm__tok_free(&t);
        qlm__errorf("qlm__tokenize: more than INT32_MAX tokens");
        return INT32_MIN;
    }
    result = (int32_t)t.n_out;
    if (result > cap) result = -result;
    else if (result > 0) memcpy(tokens, t.out, t.n_out * sizeof(int32_t));
    qlm__tok_free(&t);
    return result;
}

/* token_to_piece with llama.cpp's lstrip (skip up to lstrip leading spaces) */
static int32_t qlm__piece_copy(const qlm__vocab *v, int32_t tok, char *buf, int32_t cap, int lstrip, int special)
{
    const char *p;
    size_t n;
    if (!v || tok < 0 || tok >= v->n_tokens) {
        qlm__errorf("token id %ld out of range", (long)tok);
        return 0;
    }
    if (!special && (v->attr[tok] & (QLM__TATTR_UNKNOWN | QLM__TATTR_CONTROL))) return 0;
    p = v->piece + v->piece_off[tok];
    n = v->piece_off[tok + 1] - v->piece_off[tok];
    if (lstrip && n && *p == ' ') { p++; n--; }
    if ((size_t)cap < n || !buf) return -(int32_t)n;
    if (n) memcpy(buf, p, n);
    return (int32_t)n;
}

static int32_t qlm__token_to_piece(const qlm__vocab *v, int32_t tok, char *buf, int32_t cap, int special)
{
    if (cap < 0) cap = 0;
    return qlm__piece_copy(v, tok, buf, cap, 0, special);
}

static int32_t qlm__detokenize(const qlm__vocab *v, const int32_t *toks, int32_t n, char *buf, int32_t cap,
                               int remove_special, int unparse_special)
{
    int32_t avail = cap < 0 ? 0 : cap, total = 0, i;
    char *text = buf;
    int remove_space;
    if (!v || v->type == QLM__VOCAB_NONE || n <= 0 || !toks) return 0;
    if (cap < 0 || !buf) cap = avail = 0;
    remove_space = v->add_space_prefix;
    if (remove_special && v->add_bos && n > 0 && toks[0] == v->bos) { remove_space = 0; n--; toks++; }
    if (remove_special && v->add_eos && n > 0 && toks[n - 1] == v->eos) n--;
    for (i = 0; i < n; i++) {
        int32_t m = qlm__piece_copy(v, toks[i], avail > 0 ? text : NULL, avail, remove_space, unparse_special);
        remove_space = 0;
        if (m < 0) {
            avail = 0;
            if (total > INT32_MAX + m) { qlm__errorf("qlm__detokenize: text longer than INT32_MAX"); return INT32_MIN; }
            total -= m;
        } else if (m > 0) {
            avail -= m; text += m; total += m;
        }
    }
    if (total > cap) return -total;
    if (v->clean_spaces && total > 0) {
        int32_t t1, t2, t3, j;
        text = buf;
        /* first pass: " ?", " !", " .", " ," lose the space */
        t1 = total; total = 1;
        for (j = 1; j < t1; j++) {
            char x = text[j];
            if (text[j - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
            text[total++] = x;
        }
        /* second pass: " ' " -> "'" */
        t2 = total; total = 1;
        for (j = 1; j < t2; j++) {
            char x = text[j];
            if (x == '\'' && j + 1 < t2 && text[j - 1] == ' ' && text[j + 1] == ' ') {
                total--;
                text[++j] = '\0';
            }
            text[total++] = x;
        }
        /* third pass: " 's", " 'm", " 're", " 've" lose the space */
        t3 = total; total = 1;
        for (j = 1; j < t3; j++) {
            char x = text[j];
            if (text[j - 1] == ' ' && x == '\'' && j + 1 < t3) {
                char x1 = text[j + 1];
                if (x1 == 's' || x1 == 'm') total--;
                else if (j + 2 < t3 && ((x1 == 'r' && text[j + 2] == 'e') || (x1 == 'v' && text[j + 2] == 'e'))) total--;
            }
            text[total++] = x;
        }
    }
    return total <= cap ? total : -total;
}

static int32_t qlm__vocab_n_tokens(const qlm__vocab *v) { return v ? v->n_tokens : 0; }
static int32_t qlm__vocab_bos(const qlm__vocab *v) { return v ? v->bos : -1; }
static int32_t qlm__vocab_eos(const qlm__vocab *v) { return v ? v->eos : -1; }
static QLM__MAYBE_UNUSED int32_t qlm__vocab_eot(const qlm__vocab *v) { return v ? v->eot : -1; }
static QLM__MAYBE_UNUSED int     qlm__vocab_type(const qlm__vocab *v) { return v ? v->type : 0; }

static int qlm__vocab_is_eog(const qlm__vocab *v, int32_t tok)
{
    return v && tok >= 0 && tok < v->n_tokens && (v->attr[tok] & QLM__TATTR_EOG) != 0;
}

static QLM__MAYBE_UNUSED int qlm__vocab_is_control(const qlm__vocab *v, int32_t tok)
{
    return v && tok >= 0 && tok < v->n_tokens && (v->attr[tok] & QLM__TATTR_CONTROL) != 0;
}

static QLM__MAYBE_UNUSED int32_t qlm__vocab_find(const qlm__vocab *v, const char *text, size_t len)
{
    if (!v || (!text && len)) return -1;
    return qlm__vocab_lookup(v, text ? text : "", len);
}

/* ---- loading ---- */

static void qlm__vocab_free(qlm__vocab *v)
{
    if (!v) return;
    QLM_FREE(v->text); QLM_FREE(v->text_off); QLM_FREE(v->text_hash); QLM_FREE(v->score);
    QLM_FREE(v->attr); QLM_FREE(v->tokmap.slot); QLM_FREE(v->piece); QLM_FREE(v->piece_off);
    QLM_FREE(v->merge_text); QLM_FREE(v->merge); QLM_FREE(v->mergemap.slot);
    QLM_FREE(v->special); QLM_FREE(v->trie);
    QLM_FREE(v);
}

/* optional string kv; 0 if absent, -1 if present with another type */
static int qlm__vocab_get_str(const qlm__gguf *g, const char *key, qlm__str *out)
{
    int64_t kv = qlm__gguf_find(g, key);
    if (kv < 0) return 0;
    if (qlm__gguf_kv_type(g, kv) != QLM__GGUF_STR) return -1;
    *out = qlm__gguf_get_str(g, kv);
    return 1;
}

/* optional array kv of element type want (or want2); returns kv, -1 absent, -2 bad type */
static int64_t qlm__vocab_get_arr(const qlm__gguf *g, const char *key, int want, int want2)
{
    int64_t kv = qlm__gguf_find(g, key);
    int at;
    if (kv < 0) return -1;
    if (qlm__gguf_kv_type(g, kv) != QLM__GGUF_ARR) return -2;
    at = qlm__gguf_arr_type(g, kv);
    return (at == want || at == want2) ? kv : -2;
}

/* the token-text heuristics of llama.cpp's load, in its priority order */
static const char *const qlm__eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
    "<end_of_utterance>", NULL };
static const char *const qlm__eom_texts[] = { "<|eom_id|>", NULL };
static const char *const qlm__fim_pre_texts[] = {
    "<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "begin\xEF\xBD\x9C>",
    "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", "<|prefix|>", NULL };
static const char *const qlm__fim_suf_texts[] = {
    "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
    "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", "<|suffix|>", NULL };
static const char *const qlm__fim_mid_texts[] = {
    "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\xEF\xBD\x9C" "fim\xE2\x96\x81" "end\xEF\xBD\x9C>",
    "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", "<|middle|>", NULL };
static const char *const qlm__fim_pad_texts[] = { "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL };
static const char *const qlm__fim_rep_texts[] = {
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL };
static const char *const qlm__fim_sep_texts[] = { "<|file_sep|>", NULL };
static const char *const qlm__eog_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "[e~[", NULL };

static int32_t qlm__vocab_find_z(const qlm__vocab *v, const char *z)
{
    return qlm__vocab_lookup(v, z, strlen(z));
}

/* If *id is unset, pick a token whose text is in the list and force it to
 * control. llama.cpp walks an unordered_map, so with several candidates its
 * pick depends on the C++ library's hash order; qlm takes the lowest id,
 * which is what llama.cpp picks on Linux for the models tested (SmolLM2:
 * <|endoftext|> over <|im_end|>). */
static void qlm__vocab_detect(qlm__vocab *v, int32_t *id, const char *const *texts)
{
    int32_t best = -1;
    size_t i;
    if (*id >= 0) return;
    for (i = 0; texts[i]; i++) {
        int32_t t = qlm__vocab_find_z(v, texts[i]);
        if (t >= 0 && (best < 0 || t < best)) best = t;
    }
    if (best >= 0) {
        *id = best;
        v->attr[best] |= QLM__TATTR_CONTROL;
    }
}

/* Build v->piece: llama.cpp's token_to_piece(special = true) for every token. */
static qlm_status qlm__vocab_build_pieces(qlm__vocab *v)
{
    size_t total = 0, pass;
    int32_t id;
    v->piece_off = (uint32_t *)QLM_MALLOC(((size_t)v->n_tokens + 1) * sizeof(uint32_t));
    if (!v->piece_off) return QLM_ERR_NOMEM;
    for (pass = 0; pass < 2; pass++) { /* pass 0 measures, pass 1 writes */
        size_t o = 0;
        for (id = 0; id < v->n_tokens; id++) {
            unsigned at = v->attr[id];
            size_t n;
            const char *s = qlm__tok_text(v, id, &n);
            char *dst = pass ? v->piece + o : NULL;
            v->piece_off[id] = (uint32_t)o;
            if (at & (QLM__TATTR_UNKNOWN | QLM__TATTR_CONTROL | QLM__TATTR_USER_DEFINED)) {
                if (dst) memcpy(dst, s, n);
                o += n;
            } else if (at & QLM__TATTR_NORMAL) {
                size_t i = 0, adv;
                if (v->type == QLM__VOCAB_SPM) {
                    while (i < n) {
                        if (n - i >= 3 && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                            if (dst) dst[o - v->piece_off[id]] = ' ';
                            o++; i += 3;
                        } else {
                            if (dst) dst[o - v->piece_off[id]] = s[i];
                            o++; i++;
                        }
                    }
                } else {
                    /* llama_decode_text: each code point back to its byte, or
                     * "[UNK_BYTE_0x<hex of code point><whole token text>]" */
                    while (i < n) {
                        uint32_t c = qlm__utf8_decode(s + i, n - i, &adv);
                        int b = qlm__cpt_to_byte(c);
                        if (b >= 0) {
                            if (dst) dst[o - v->piece_off[id]] = (char)b;
                            o++;
                        } else {
                            static const char hex[] = "0123456789abcdef";
                            char u[4];
                            int m = qlm__utf8_encode(c, u), j;
                            size_t base = o - v->piece_off[id];
                            if (dst) memcpy(dst + base, "[UNK_BYTE_0x", 12);
                            o += 12; base += 12;
                            for (j = 0; j < m; j++) {
                                if (dst) {
                                    dst[base] = hex[(unsigned char)u[j] >> 4];
                                    dst[base + 1] = hex[(unsigned char)u[j] & 15];
                                }
                                o += 2; base += 2;
                            }
                            if (dst) { memcpy(dst + base, s, n); dst[base + n] = ']'; }
                            o += n + 1;
                        }
                        i += adv;
                    }
                }
            } else if (at & QLM__TATTR_BYTE) {
                /* token_to_byte: strtol(text.substr(3, 2), 16) */
                unsigned val = 0;
                size_t i;
                for (i = 3; i < 5 && i < n; i++) {
                    char c = s[i];
                    unsigned d = (c >= '0' && c <= '9') ? (unsigned)(c - '0') :
                                 (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10) :
                                 (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10) : 16u;
                    if (d == 16) break;
                    val = val * 16 + d;
                }
                if (dst) *dst = (char)val;
                o++;
            }
            if (o > QLM__VOCAB_MAX_POOL) {
                qlm__errorf("tokenizer: token pieces exceed %u bytes", QLM__VOCAB_MAX_POOL);
                return QLM_ERR_FORMAT;
            }
        }
        v->piece_off[v->n_tokens] = (uint32_t)o;
        if (!pass) {
            total = o;
            v->piece = (char *)QLM_MALLOC(total ? total : 1);
            if (!v->piece) return QLM_ERR_NOMEM;
        }
    }
    return QLM_OK;
}

typedef struct { uint32_t len; int32_t id; } qlm__special_key;

static int qlm__special_cmp(const void *a, const void *b)
{
    const qlm__special_key *x = (const qlm__special_key *)a, *y = (const qlm__special_key *)b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* special-token list (longest first) and the trie that finds them */
static qlm_status qlm__vocab_build_special(qlm__vocab *v)
{
    int32_t id, n = 0, i;
    size_t nodes = 0, cap = 0;
    qlm__special_key *keys;
    for (i = 0; i < 256; i++) v->trie_root[i] = -1;
    for (id = 0; id < v->n_tokens; id++)
        if (v->attr[id] & (QLM__TATTR_CONTROL | QLM__TATTR_USER_DEFINED | QLM__TATTR_UNKNOWN)) n++;
    v->n_special = n;
    if (n == 0) return QLM_OK;
    v->special = (int32_t *)QLM_MALLOC((size_t)n * sizeof(int32_t));
    keys = (qlm__special_key *)QLM_MALLOC((size_t)n * sizeof(qlm__special_key));
    if (!v->special || !keys) { QLM_FREE(keys); return QLM_ERR_NOMEM; }
    n = 0;
    for (id = 0; id < v->n_tokens; id++) {
        if (v->attr[id] & (QLM__TATTR_CONTROL | QLM__TATTR_USER_DEFINED | QLM__TATTR_UNKNOWN)) {
            keys[n].len = v->text_off[id + 1] - v->text_off[id];
            keys[n].id = id;
            cap += keys[n].len;
            n++;
        }
    }
    /* llama.cpp's std::sort by length is not stable; equal lengths go by id here */
    qsort(keys, (size_t)n, sizeof(qlm__special_key), qlm__special_cmp);
    for (i = 0; i < n; i++) v->special[i] = keys[i].id;
    QLM_FREE(keys);
    if (cap > (size_t)INT32_MAX / 4) { qlm__errorf("tokenizer: special tokens too long"); return QLM_ERR_FORMAT; }
    v->trie = (int32_t *)QLM_MALLOC((cap ? cap : 1) * 4 * sizeof(int32_t));
    if (!v->trie) return QLM_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        size_t len, k;
        const char *s = qlm__tok_text(v, v->special[i], &len);
        int32_t node = -1, *link = &v->trie_root[(unsigned char)s[0]];
        for (k = 0; k < len; k++) {
            /* find child with byte s[k] in the list starting at *link */
            int32_t c = *link;
            while (c >= 0 && v->trie[c * 4 + 2] != (unsigned char)s[k]) c = v->trie[c * 4 + 1];
            if (c < 0) {
                c = (int32_t)nodes++;
                v->trie[c * 4 + 0] = -1;
                v->trie[c * 4 + 1] = k == 0 ? -1 : *link;
                v->trie[c * 4 + 2] = (unsigned char)s[k];
                v->trie[c * 4 + 3] = -1;
                *link = c;
            }
            node = c;
            link = &v->trie[node * 4 + 0];
        }
        if (node >= 0 && v->trie[node * 4 + 3] < 0) v->trie[node * 4 + 3] = i;
    }
    return QLM_OK;
}

static qlm_status qlm__vocab_load(qlm__vocab **out, const qlm__gguf *g)
{
    qlm__vocab *v;
    qlm__str model, pre, s;
    int have_pre, r, b;
    int64_t kv_tok, kv_score, kv_type, kv_merges = -1, ival;
    uint64_t n64, i;
    size_t pool = 0;
    int32_t id;
    qlm_status st;
    char name[64];

    if (!out || !g) { qlm__errorf("qlm__vocab_load: invalid argument"); return QLM_ERR_INVALID_ARG; }
    *out = NULL;
    r = qlm__vocab_get_str(g, "tokenizer.ggml.model", &model);
    if (r <= 0) {
        qlm__errorf("tokenizer: %s tokenizer.ggml.model", r < 0 ? "wrong type for" : "missing");
        return QLM_ERR_FORMAT;
    }
    have_pre = qlm__vocab_get_str(g, "tokenizer.ggml.pre", &pre);
    if (have_pre < 0) { qlm__errorf("tokenizer: wrong type for tokenizer.ggml.pre"); return QLM_ERR_FORMAT; }

    v = (qlm__vocab *)QLM_MALLOC(sizeof *v);
    if (!v) { qlm__errorf("tokenizer: out of memory"); return QLM_ERR_NOMEM; }
    memset(v, 0, sizeof *v);
    v->bos = v->eos = v->eot = v->eom = v->unk = v->sep = v->pad = -1;
    v->fim_pre = v->fim_suf = v->fim_mid = v->fim_pad = v->fim_rep = v->fim_sep = -1;
    for (r = 0; r < 256; r++) v->trie_root[r] = -1;

    if (qlm__str_eq(model, "no_vocab") || qlm__str_eq(model, "none")) {
        v->type = QLM__VOCAB_NONE;
        *out = v;
        return QLM_OK;
    } else if (qlm__str_eq(model, "llama")) {
        v->type = QLM__VOCAB_SPM;
        v->bos = 1; v->eos = 2; v->unk = 0;
        v->add_space_prefix = 1; v->add_bos = 1;
    } else if (qlm__str_eq(model, "gpt2")) {
        v->type = QLM__VOCAB_BPE;
        v->bos = 11; v->eos = 11; /* llama.cpp's BPE defaults */
        v->clean_spaces = 1;
        kv_merges = qlm__vocab_get_arr(g, "tokenizer.ggml.merges", QLM__GGUF_STR, QLM__GGUF_STR);
        if (kv_merges < 0) {
            qlm__errorf(kv_merges == -1 ? "tokenizer: cannot find tokenizer merges in model file"
                                        : "tokenizer: tokenizer.ggml.merges is not an array of strings");
            qlm__vocab_free(v);
            return QLM_ERR_FORMAT;
        }
        if (have_pre <= 0 || pre.len == 0) {
            v->pre = QLM__PRE_DEFAULT; /* llama.cpp warns and uses 'default' */
        } else {
            size_t k, nk = sizeof(qlm__pre_names) / sizeof(qlm__pre_names[0]);
            for (k = 0; k < nk && !qlm__str_eq(pre, qlm__pre_names[k].name); k++) {}
            if (k == nk) {
                qlm__errorf("tokenizer: unknown or unsupported pre-tokenizer type: '%.*s'",
                            (int)(pre.len > 64 ? 64 : pre.len), pre.ptr);
                qlm__vocab_free(v);
                return QLM_ERR_UNSUPPORTED;
            }
            v->pre = qlm__pre_names[k].pre;
            if (qlm__pre_names[k].flags & QLM__PF_KEEP_SPACES) v->clean_spaces = 0;
            if (qlm__pre_names[k].flags & QLM__PF_IGNORE_MERGES) v->ignore_merges = 1;
            if (qlm__pre_names[k].flags & QLM__PF_ADD_BOS) v->add_bos = 1;
            if (qlm__pre_names[k].flags & QLM__PF_NO_BOS) v->bos = -1;
        }
    } else {
        qlm__errorf("tokenizer: unsupported tokenizer model '%.*s'", (int)(model.len > 64 ? 64 : model.len), model.ptr);
        qlm__vocab_free(v);
        return QLM_ERR_UNSUPPORTED;
    }
    if (qlm__gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &b)) v->add_space_prefix = b != 0;

    /* tokens, scores, types */
    kv_tok = qlm__vocab_get_arr(g, "tokenizer.ggml.tokens", QLM__GGUF_STR, QLM__GGUF_STR);
    if (kv_tok < 0) {
        qlm__errorf(kv_tok == -1 ? "tokenizer: cannot find tokenizer vocab (tokenizer.ggml.tokens)"
                                 : "tokenizer: tokenizer.ggml.tokens is not an array of strings");
        qlm__vocab_free(v);
        return QLM_ERR_FORMAT;
    }
    n64 = qlm__gguf_arr_n(g, kv_tok);
    if (n64 == 0 || n64 > QLM__VOCAB_MAX_TOKENS) {
        qlm__errorf("tokenizer: %llu tokens (must be 1..%d)", (unsigned long long)n64, QLM__VOCAB_MAX_TOKENS);
        qlm__vocab_free(v);
        return QLM_ERR_FORMAT;
    }
    v->n_tokens = (int32_t)n64;
    kv_score = qlm__vocab_get_arr(g, "tokenizer.ggml.scores", QLM__GGUF_F32, QLM__GGUF_I32);
    kv_type = qlm__vocab_get_arr(g, "tokenizer.ggml.token_type", QLM__GGUF_I32, QLM__GGUF_I32);
    if (kv_score == -2 || kv_type == -2) {
        qlm__errorf("tokenizer: invalid gguf type for %s",
                    kv_score == -2 ? "tokenizer.ggml.scores" : "tokenizer.ggml.token_type");
        qlm__vocab_free(v);
        return QLM_ERR_FORMAT;
    }
    if ((kv_score >= 0 && qlm__gguf_arr_n(g, kv_score) < n64) || (kv_type >= 0 && qlm__gguf_arr_n(g, kv_type) < n64)) {
        qlm__errorf("tokenizer: fewer %s than tokens", (kv_score >= 0 && qlm__gguf_arr_n(g, kv_score) < n64) ? "scores" : "token types");
        qlm__vocab_free(v);
        return QLM_ERR_FORMAT;
    }
    v->text_off = (uint32_t *)QLM_MALLOC(((size_t)n64 + 1) * sizeof(uint32_t));
    v->text_hash = (uint32_t *)QLM_MALLOC((size_t)n64 * sizeof(uint32_t));
    v->score = (float *)QLM_MALLOC((size_t)n64 * sizeof(float));
    v->attr = (uint16_t *)QLM_MALLOC((size_t)n64 * sizeof(uint16_t));
    if (!v->text_off || !v->text_hash || !v->score || !v->attr || !qlm__htab_init(&v->tokmap, (size_t)n64)) goto nomem;
    for (i = 0; i < n64; i++) {
        s = qlm__gguf_arr_str(g, kv_tok, i);
        if (s.len > QLM__VOCAB_MAX_TEXT) {
            qlm__errorf("tokenizer: token %llu is %llu bytes long (limit %u)", (unsigned long long)i,
                        (unsigned long long)s.len, QLM__VOCAB_MAX_TEXT);
            qlm__vocab_free(v);
            return QLM_ERR_FORMAT;
        }
        pool += s.len ? (size_t)s.len : 24;
        if (pool > QLM__VOCAB_MAX_POOL) {
            qlm__errorf("tokenizer: token texts exceed %u bytes", QLM__VOCAB_MAX_POOL);
            qlm__vocab_free(v);
            return QLM_ERR_FORMAT;
        }
    }
    v->text = (char *)QLM_MALLOC(pool ? pool : 1);
    if (!v->text) goto nomem;
    pool = 0;
    for (i = 0; i < n64; i++) {
        double d;
        uint32_t h, slot;
        s = qlm__gguf_arr_str(g, kv_tok, i);
        v->text_off[i] = (uint32_t)pool;
        if (s.len == 0) { /* llama.cpp renames empty tokens */
            pool += (size_t)sprintf(v->text + pool, "[EMPTY_%lu]", (unsigned long)i);
        } else {
            memcpy(v->text + pool, s.ptr, (size_t)s.len);
            pool += (size_t)s.len;
        }
        v->score[i] = 0.0f;
        if (kv_score >= 0 && qlm__gguf_arr_get_f64(g, kv_score, i, &d)) v->score[i] = (float)d;
        v->attr[i] = QLM__TATTR_NORMAL;
        if (kv_type >= 0) {
            int tt = qlm__gguf_arr_get_f64(g, kv_type, i, &d) ? (int)d : 0;
            switch (tt) {
            case 1: v->attr[i] = QLM__TATTR_NORMAL; break;
            case 2: v->attr[i] = QLM__TATTR_UNKNOWN; break;
            case 3: v->attr[i] = QLM__TATTR_CONTROL; break;
            case 4: v->attr[i] = QLM__TATTR_USER_DEFINED; break;
            case 5: v->attr[i] = QLM__TATTR_UNUSED; break;
            case 6: v->attr[i] = QLM__TATTR_BYTE; break;
            default: v->attr[i] = 0; break;
            }
        }
        h = qlm__fnv1a(v->text + v->text_off[i], pool - v->text_off[i], QLM__FNV_SEED);
        v->text_hash[i] = h;
        v->text_off[i + 1] = (uint32_t)pool;
        for (slot = h & v->tokmap.mask;; slot = (slot + 1) & v->tokmap.mask) {
            uint32_t e = v->tokmap.slot[slot];
            if (!e) { v->tokmap.slot[slot] = (uint32_t)i + 1; break; }
            if (v->text_hash[e - 1] == h && v->text_off[e] - v->text_off[e - 1] == pool - v->text_off[i] &&
                memcmp(v->text + v->text_off[e - 1], v->text + v->text_off[i], pool - v->text_off[i]) == 0) {
                /* llama.cpp asserts token_to_id.size() == n_tokens */
                qlm__errorf("tokenizer: tokens %lu and %llu have the same text", (unsigned long)(e - 1),
                            (unsigned long long)i);
                qlm__vocab_free(v);
                return QLM_ERR_FORMAT;
            }
        }
    }

    /* merges: "left right", split at the first space after the first byte;
     * a duplicate pair keeps its first rank (unordered_map::emplace) */
    if (kv_merges >= 0) {
        uint64_t nm = qlm__gguf_arr_n(g, kv_merges);
        size_t mpool = 0;
        if (nm > QLM__VOCAB_MAX_MERGES) {
            qlm__errorf("tokenizer: %llu merges (limit %u)", (unsigned long long)nm, QLM__VOCAB_MAX_MERGES);
            qlm__vocab_free(v);
            return QLM_ERR_FORMAT;
        }
        for (i = 0; i < nm; i++) {
            s = qlm__gguf_arr_str(g, kv_merges, i);
            if (s.len > 2 * QLM__VOCAB_MAX_TEXT) {
                qlm__errorf("tokenizer: merge %llu is %llu bytes long", (unsigned long long)i, (unsigned long long)s.len);
                qlm__vocab_free(v);
                return QLM_ERR_FORMAT;
            }
            mpool += (size_t)s.len;
            if (mpool > QLM__VOCAB_MAX_POOL) {
                qlm__errorf("tokenizer: merges exceed %u bytes", QLM__VOCAB_MAX_POOL);
                qlm__vocab_free(v);
                return QLM_ERR_FORMAT;
            }
        }
        v->merge_text = (char *)QLM_MALLOC(mpool ? mpool : 1);
        v->merge = (qlm__merge *)QLM_MALLOC((nm ? (size_t)nm : 1) * sizeof(qlm__merge));
        if (!v->merge_text || !v->merge || !qlm__htab_init(&v->mergemap, (size_t)nm)) goto nomem;
        mpool = 0;
        for (i = 0; i < nm; i++) {
            qlm__merge *m = &v->merge[v->n_merges];
            size_t sp, nl, nr;
            uint32_t slot;
            s = qlm__gguf_arr_str(g, kv_merges, i);
            for (sp = 1; sp < s.len && s.ptr[sp] != ' '; sp++) {}
            if (sp >= s.len) { nl = 0; nr = 0; }              /* no separator: ("", "") */
            else { nl = sp; nr = (size_t)s.len - sp - 1; }
            if (nl) memcpy(v->merge_text + mpool, s.ptr, nl);
            if (nr) memcpy(v->merge_text + mpool + nl, s.ptr + sp + 1, nr);
            m->off = (uint32_t)mpool;
            m->nl = (uint32_t)nl;
            m->nr = (uint32_t)nr;
            m->rank = (int32_t)i;
            m->hash = qlm__fnv1a(s.ptr + sp + 1, nr, qlm__fnv1a(s.ptr, nl, QLM__FNV_SEED) ^ (uint32_t)nl);
            for (slot = m->hash & v->mergemap.mask;; slot = (slot + 1) & v->mergemap.mask) {
                uint32_t e = v->mergemap.slot[slot];
                const qlm__merge *o;
                if (!e) { v->mergemap.slot[slot] = v->n_merges + 1; v->n_merges++; mpool += nl + nr; break; }
                o = &v->merge[e - 1];
                if (o->hash == m->hash && o->nl == nl && o->nr == nr &&
                    memcmp(v->merge_text + o->off, v->merge_text + mpool, nl + nr) == 0) break; /* duplicate */
            }
        }
    }

    /* special token ids: defaults out of range are dropped, bad keys keep the default */
    {
        static const char *const keys[] = {
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
            "tokenizer.ggml.eom_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
            "tokenizer.ggml.padding_token_id", "tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.fim_suf_token_id",
            "tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.fim_pad_token_id", "tokenizer.ggml.fim_rep_token_id",
            "tokenizer.ggml.fim_sep_token_id", "tokenizer.ggml.prefix_token_id", "tokenizer.ggml.suffix_token_id",
            "tokenizer.ggml.middle_token_id" };
        int32_t *ids[16];
        size_t k;
        ids[0] = &v->bos; ids[1] = &v->eos; ids[2] = &v->eot; ids[3] = &v->eom; ids[4] = &v->unk;
        ids[5] = &v->sep; ids[6] = &v->pad; ids[7] = &v->fim_pre; ids[8] = &v->fim_suf; ids[9] = &v->fim_mid;
        ids[10] = &v->fim_pad; ids[11] = &v->fim_rep; ids[12] = &v->fim_sep; ids[13] = &v->fim_pre;
        ids[14] = &v->fim_suf; ids[15] = &v->fim_mid;
        for (k = 0; k < 16; k++) {
            if (*ids[k] >= v->n_tokens) *ids[k] = -1;
            if (qlm__gguf_get_i64(g, keys[k], &ival) && ival >= 0 && ival < v->n_tokens) *ids[k] = (int32_t)ival;
        }
    }
    if (qlm__gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) v->add_bos = b != 0;
    if (qlm__gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) v->add_eos = b != 0;

    /* text heuristics, as llama.cpp */
    qlm__vocab_detect(v, &v->eot, qlm__eot_texts);
    qlm__vocab_detect(v, &v->eom, qlm__eom_texts);
    qlm__vocab_detect(v, &v->fim_pre, qlm__fim_pre_texts);
    qlm__vocab_detect(v, &v->fim_suf, qlm__fim_suf_texts);
    qlm__vocab_detect(v, &v->fim_mid, qlm__fim_mid_texts);
    qlm__vocab_detect(v, &v->fim_pad, qlm__fim_pad_texts);
    qlm__vocab_detect(v, &v->fim_rep, qlm__fim_rep_texts);
    qlm__vocab_detect(v, &v->fim_sep, qlm__fim_sep_texts);
    for (id = 0; id < v->n_tokens; id++) { /* control tokens named "unused" are unused */
        size_t len, k;
        const char *t = qlm__tok_text(v, id, &len);
        if (!(v->attr[id] & QLM__TATTR_CONTROL) || (v->attr[id] & QLM__TATTR_UNUSED)) continue;
        for (k = 0; k + 6 <= len; k++) {
            if (t[k] == '\0') break; /* llama.cpp uses strstr */
            if (memcmp(t + k, "unused", 6) == 0) { v->attr[id] |= QLM__TATTR_UNUSED; break; }
        }
    }
    {
        int32_t fims[3];
        size_t k;
        fims[0] = v->fim_pad; fims[1] = v->fim_rep; fims[2] = v->fim_sep;
        for (k = 0; k < 3; k++) if (fims[k] >= 0) v->attr[fims[k]] |= QLM__TATTR_EOG;
        for (k = 0; qlm__eog_texts[k]; k++) {
            id = qlm__vocab_find_z(v, qlm__eog_texts[k]);
            if (id >= 0) v->attr[id] |= QLM__TATTR_EOG | QLM__TATTR_CONTROL;
        }
        {   /* gpt-oss: always render these */
            static const char *const ud[] = { "<|channel|>", "<|message|>", "<|start|>", "<|constrain|>" };
            for (k = 0; k < 4; k++) {
                id = qlm__vocab_find_z(v, ud[k]);
                if (id >= 0) v->attr[id] = (uint16_t)((v->attr[id] & QLM__TATTR_EOG) | QLM__TATTR_USER_DEFINED);
            }
        }
        if (v->eos >= 0) v->attr[v->eos] |= QLM__TATTR_EOG;
        if (v->eot >= 0) v->attr[v->eot] |= QLM__TATTR_EOG;
        if (v->eom >= 0) v->attr[v->eom] |= QLM__TATTR_EOG;
        {   /* o200k_harmony / solar-open: <|end|> is not EOG next to <|return|> + <|call|> */
            int32_t ret = qlm__vocab_find_z(v, "<|return|>"), call = qlm__vocab_find_z(v, "<|call|>");
            int32_t calls = qlm__vocab_find_z(v, "<|calls|>"), flush = qlm__vocab_find_z(v, "<|flush|>");
            int32_t end = qlm__vocab_find_z(v, "<|end|>");
            int has_ret = ret >= 0 && (v->attr[ret] & QLM__TATTR_EOG);
            int has_call = (call >= 0 && (v->attr[call] & QLM__TATTR_EOG)) || (calls >= 0 && (v->attr[calls] & QLM__TATTR_EOG));
            int has_flush = flush >= 0 && (v->attr[flush] & QLM__TATTR_EOG);
            if (end >= 0 && (v->attr[end] & QLM__TATTR_EOG) && ((has_ret && has_call) || (has_call && has_flush)))
                v->attr[end] = QLM__TATTR_USER_DEFINED;
        }
        {   /* gemma4 / plamo: </s> is a normal token */
            int32_t tr = qlm__vocab_find_z(v, "<|tool_response>"), pe = qlm__vocab_find_z(v, "<|plamo:eos|>");
            int32_t es = qlm__vocab_find_z(v, "</s>");
            if (es >= 0 && (v->attr[es] & QLM__TATTR_EOG) &&
                ((tr >= 0 && (v->attr[tr] & QLM__TATTR_EOG)) || (pe >= 0 && (v->attr[pe] & QLM__TATTR_EOG))))
                v->attr[es] = QLM__TATTR_NORMAL;
        }
    }

    st = qlm__vocab_build_special(v);
    if (st == QLM_OK) st = qlm__vocab_build_pieces(v);
    if (st != QLM_OK) {
        if (st == QLM_ERR_NOMEM) goto nomem;
        qlm__vocab_free(v);
        return st;
    }

    /* per-model lstrip/rstrip, which GGUF does not carry (llama.cpp sets them
     * by name after building its caches) */
    {
        qlm__str nm, arch;
        size_t k;
        int is_phi3 = 0, is_mbert = 0, is_jina = 0;
        if (qlm__vocab_get_str(g, "general.name", &nm) > 0) {
            size_t len = nm.len < sizeof(name) - 1 ? (size_t)nm.len : sizeof(name) - 1;
            for (k = 0; k < len; k++) {
                char c = nm.ptr[k];
                name[k] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
            }
            name[len] = '\0';
            if (len == (size_t)nm.len) {
                is_phi3 = strstr(name, "phi-3") || strstr(name, "phi3");
                is_mbert = strstr(name, "modern-bert") != NULL;
            }
        }
        if (have_pre > 0) {
            is_jina = pre.len <= 32 && (qlm__str_eq(pre, "jina-v2-de") || qlm__str_eq(pre, "jina-v2-es") ||
                                        qlm__str_eq(pre, "jina-v2-code"));
        }
        if (qlm__vocab_get_str(g, "general.architecture", &arch) > 0 &&
            (qlm__str_eq(arch, "nomic-bert-moe") || qlm__str_eq(arch, "jina-bert-v3"))) is_jina = 1;
        if (is_jina) {
            id = qlm__vocab_find_z(v, "<mask>");
            if (id >= 0) v->attr[id] |= QLM__TATTR_LSTRIP;
        } else if (is_phi3) {
            static const char *const no_rstrip[] = { "<unk>", "<s>", "<|endoftext|>" };
            for (id = 0; id < v->n_special; id++) v->attr[v->special[id]] |= QLM__TATTR_RSTRIP;
            id = qlm__vocab_find_z(v, "</s>");
            if (id >= 0) v->attr[id] |= QLM__TATTR_RSTRIP;
            for (k = 0; k < 3; k++) {
                id = qlm__vocab_find_z(v, no_rstrip[k]);
                if (id >= 0) v->attr[id] &= (uint16_t)~QLM__TATTR_RSTRIP;
            }
        } else if (is_mbert) {
            id = qlm__vocab_find_z(v, "[MASK]");
            if (id >= 0) v->attr[id] |= QLM__TATTR_LSTRIP;
        }
    }
    *out = v;
    return QLM_OK;

nomem:
    qlm__vocab_free(v);
    qlm__errorf("tokenizer: out of memory");
    return QLM_ERR_NOMEM;
}

/* >>threads ---------------------------------------------------------------------------------
   A persistent pool: the calling thread is worker 0, n-1 helpers wait for work. One job runs
   at a time; inside it, workers meet at a sense-reversing spin barrier after every node. */

typedef void (*qlm__job_fn)(void *arg, int ith, int nth);

typedef struct qlm__pool {
    int n;
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    pthread_t *th;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    int started;
#endif
    int gen, stop, n_done;
    qlm__job_fn fn;
    void *arg;
    int bar_count, bar_sense;
} qlm__pool;

/* Sense-reversing barrier: spin, then yield. Measured alternatives (pp512 / tg64, 2 threads,
   on the shared 2-core dev VM under load): sleeping on a condition variable after ~20 us made
   decode 5-10x slower (a woken thread waits for a time slice); spinning with pause for ~18 us
   before yielding halved decode; 0-100 pauses were within noise of this loop. The time that
   profiles show in sched_yield under load is waiting for a descheduled or busier partner
   (load imbalance), not the barrier's own cost. */
static void qlm__barrier(qlm__pool *p) {
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    int sense, spins = 0;
    if (p->n == 1) return;
    sense = __atomic_load_n(&p->bar_sense, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&p->bar_count, 1, __ATOMIC_ACQ_REL) == p->n) {
        __atomic_store_n(&p->bar_count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&p->bar_sense, !sense, __ATOMIC_RELEASE);
        return;
    }
    while (__atomic_load_n(&p->bar_sense, __ATOMIC_ACQUIRE) == sense)
        if (++spins > 1000) sched_yield();
#else
    (void)p;
#endif
}

/* *p += 1, returning the old value; atomic where threads exist. */
static int qlm__fetch_inc(int *p) {
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    return __atomic_fetch_add(p, 1, __ATOMIC_RELAXED);
#else
    return (*p)++;
#endif
}

#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
typedef struct {
    qlm__pool *pool;
    int ith;
} qlm__worker_arg;

static void *qlm__worker(void *varg) {
    qlm__worker_arg *wa = (qlm__worker_arg *)varg;
    qlm__pool *p = wa->pool;
    int ith = wa->ith, seen = 0;
    QLM_FREE(wa);
    for (;;) {
        qlm__job_fn fn;
        void *arg;
        pthread_mutex_lock(&p->mu);
        while (p->gen == seen && !p->stop) pthread_cond_wait(&p->cv_start, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        fn = p->fn;
        arg = p->arg;
        pthread_mutex_unlock(&p->mu);
        fn(arg, ith, p->n);
        pthread_mutex_lock(&p->mu);
        if (++p->n_done == p->n - 1) pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}
#endif

static void qlm__pool_free(qlm__pool *p) {
    if (!p) return;
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    if (p->th) {
        int i;
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv_start);
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
        QLM_FREE(p->th);
    }
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_start);
    pthread_cond_destroy(&p->cv_done);
#endif
    QLM_FREE(p);
}

static qlm_status qlm__pool_new(int n, qlm__pool **out) {
    qlm__pool *p = (qlm__pool *)qlm__calloc(1, sizeof *p);
    *out = NULL;
    if (!p) return QLM_ERR_NOMEM;
#if defined(QLM_NO_THREADS) && QLM_NO_THREADS
    n = 1;
#endif
    p->n = n < 1 ? 1 : n;
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_start, NULL);
    pthread_cond_init(&p->cv_done, NULL);
    if (p->n > 1) {
        int i;
        p->th = (pthread_t *)qlm__calloc((size_t)p->n, sizeof(pthread_t));
        if (!p->th) {
            qlm__pool_free(p);
            return QLM_ERR_NOMEM;
        }
        for (i = 0; i < p->n - 1; i++) {
            qlm__worker_arg *wa = (qlm__worker_arg *)QLM_MALLOC(sizeof *wa);
            if (!wa) break;
            wa->pool = p;
            wa->ith = i + 1;
            if (pthread_create(&p->th[i], NULL, qlm__worker, wa) != 0) {
                QLM_FREE(wa);
                break;
            }
            p->started++;
        }
        if (p->started != p->n - 1) {
            qlm__errorf("cannot start %d threads", p->n - 1);
            qlm__pool_free(p);
            return QLM_ERR_NOMEM;
        }
    }
#endif
    *out = p;
    return QLM_OK;
}

/* Run fn on every worker (the caller is worker 0) and wait for all of them. */
static void qlm__pool_run(qlm__pool *p, qlm__job_fn fn, void *arg) {
#if !(defined(QLM_NO_THREADS) && QLM_NO_THREADS)
    if (p->n > 1) {
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->n_done = 0;
        p->gen++;
        pthread_cond_broadcast(&p->cv_start);
        pthread_mutex_unlock(&p->mu);
        fn(arg, 0, p->n);
        pthread_mutex_lock(&p->mu);
        while (p->n_done != p->n - 1) pthread_cond_wait(&p->cv_done, &p->mu);
        pthread_mutex_unlock(&p->mu);
        return;
    }
#endif
    (void)p;
    fn(arg, 0, 1);
}

/* >>graph -----------------------------------------------------------------------------------
   Nodes are tensors in execution order. Activations get arena offsets from a liveness-based
   planner, so a decode step allocates nothing. */

#define QLM__TYPE_I32 ((qlm_type)26) /* index tensors only (GGUF's number) */

static const char *const qlm__op_names[] = {
#define QLM__X(name) #name,
    QLM__OP_LIST(QLM__X)
#undef QLM__X
};
QLM__STATIC_ASSERT(sizeof(qlm__op_names) / sizeof(qlm__op_names[0]) == QLM__OP_COUNT,
                   "every op needs a name");

typedef struct qlm__graph {
    qlm__tensor *pool; /* every tensor the graph made (leaves and nodes) */
    int n_pool, cap_pool;
    qlm__tensor **nodes; /* execution order */
    int n_nodes;
    int n_layer;
    uint8_t *arena;
    size_t arena_size;
} qlm__graph;

static qlm__tensor *qlm__g_new(qlm__graph *g, int op, qlm_type type, int64_t ne0, int64_t ne1,
                               int rows) {
    qlm__tensor *t;
    if (g->n_pool >= g->cap_pool) return NULL;
    t = &g->pool[g->n_pool++];
    memset(t, 0, sizeof *t);
    t->op = op;
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->nb[0] = type == QLM__TYPE_I32 ? 4 : qlm__type_traits[type].type_size;
    t->nb[1] = type == QLM__TYPE_I32 ? (size_t)ne0 * 4 : qlm__row_size(type, ne0);
    t->nb[2] = t->nb[3] = t->nb[1] * (size_t)ne1;
    t->rows = rows;
    t->offs = -1;
    if (op != QLM__OP_NONE) g->nodes[g->n_nodes++] = t;
    return t;
}

/* Liveness planner: walk nodes in order, give each output the best-fitting free range of the
   arena, return ranges after their last reader. Returns the arena size needed. */
typedef struct {
    size_t off, size;
} qlm__range;

static size_t qlm__plan(qlm__graph *g, qlm__tensor *keep) {
    int i, j, k, n_free = 0;
    size_t top = 0;
    int *last = (int *)qlm__calloc((size_t)g->n_pool, sizeof(int));
    qlm__range *fr = (qlm__range *)qlm__calloc((size_t)g->n_nodes + 1, sizeof(qlm__range));
    if (!last || !fr) {
        QLM_FREE(last);
        QLM_FREE(fr);
        return 0;
    }
    for (i = 0; i < g->n_pool; i++) last[i] = -1;
    for (i = 0; i < g->n_nodes; i++)
        for (j = 0; j < QLM__MAX_SRC; j++) {
            const qlm__tensor *s = g->nodes[i]->src[j];
            if (s && s >= g->pool && s < g->pool + g->n_pool) last[s - g->pool] = i;
        }
    for (i = 0; i < g->n_nodes; i++) {
        qlm__tensor *t = g->nodes[i];
        size_t need = (t->nb[1] * (size_t)t->ne[1] + 63) & ~(size_t)63;
        int best = -1;
        if (t->op == QLM__OP_KV_STORE) continue; /* writes into the cache, owns no memory */
        for (k = 0; k < n_free; k++)
            if (fr[k].size >= need && (best < 0 || fr[k].size < fr[best].size)) best = k;
        if (best >= 0) {
            t->offs = (int64_t)fr[best].off;
            fr[best].off += need;
            fr[best].size -= need;
        } else {
            t->offs = (int64_t)top;
            top += need;
        }
        /* release the inputs whose last reader this is */
        for (j = 0; j < QLM__MAX_SRC; j++) {
            qlm__tensor *s = t->src[j];
            size_t ssz;
            if (!s || s < g->pool || s >= g->pool + g->n_pool || s->offs < 0 || s == keep ||
                s->op == QLM__OP_NONE || s->op == QLM__OP_KV_STORE || last[s - g->pool] != i)
                continue;
            ssz = (s->nb[1] * (size_t)s->ne[1] + 63) & ~(size_t)63;
            /* merge with a neighbour if possible, else add a range */
            for (k = 0; k < n_free; k++) {
                if (fr[k].off + fr[k].size == (size_t)s->offs) {
                    fr[k].size += ssz;
                    break;
                }
                if ((size_t)s->offs + ssz == fr[k].off) {
                    fr[k].off = (size_t)s->offs;
                    fr[k].size += ssz;
                    break;
                }
            }
            if (k == n_free) {
                fr[n_free].off = (size_t)s->offs;
                fr[n_free].size = ssz;
                n_free++;
            }
        }
    }
    QLM_FREE(last);
    QLM_FREE(fr);
    return top;
}

/* >>kvcache ---------------------------------------------------------------------------------
   Per layer, K and V as cells of n_head_kv segments (one head's head_dim elements in a
   qlm_kv_type layout, see >>kernels-ref). K is stored after RoPE: a cached position never
   changes, so decode reads K as it is and nothing is ever re-rotated (StreamingLLM's sinks,
   which want a smaller distance once the window slides, get it by turning q back instead:
   one head of q per query, not every cached key). Quantised K/V are also Hadamard-rotated.

   A layer's cells are used in one of three ways (qlm__kv_layer):
   - full: n_ctx cells, cell = position.
   - window W (the model's sliding-window layers, --swa, or the global layers under --sinks):
     S sink cells (positions 0..S-1, kept for ever) and a ring of W + B cells for the rest,
     cell = S + (p - S) % (W + B), B the tokens of one forward pass: a batch never overwrites
     a position that one of its own queries still needs (the oldest query of the batch reaches
     back W - 1 positions). A query at m attends to the sinks and to m - W + 1 .. m.
   - H2O (--kv-evict h2o): budget + B slots per KV head, each holding any position; after
     every forward pass each head keeps its budget: the most recent budget/2 positions and,
     of the older ones, those with the largest attention mass accumulated so far.
   When every layer is bounded (a window or H2O) positions may grow without end. */
typedef struct {
    int32_t n_cells; /* cells (H2O: slots per head) */
    int32_t sinks;   /* positions kept for ever in cells 0..sinks-1 */
    int32_t window;  /* attends to the last `window` positions (0: all) */
    int32_t h2o;     /* 1: slots, evicted by attention mass */
    int32_t budget;  /* H2O: slots kept per head between forward passes */
} qlm__kv_layer;

typedef struct {
    qlm_kv_type type_k, type_v;
    int rot_k, rot_v;        /* Hadamard rotation of K (and q), of V (undone on the output) */
    int32_t hd, n_head_kv;
    size_t seg_k, seg_v;     /* bytes of one head's segment */
    size_t row_k, row_v;     /* bytes of one cell (all heads): seg * n_head_kv */
    int32_t n_layer, n_cells_max, bounded;
    qlm__kv_layer *L;
    size_t bytes;            /* everything below, as qlm__kv_bytes_layer sums it */
    uint8_t *buf;
    uint8_t **k, **v;        /* per layer */
    int32_t **slot_pos;      /* H2O, per layer: [head][slot] position, -1 free */
    float **slot_mass;       /* H2O, per layer: [head][slot] accumulated attention */
    int32_t *n_used;         /* H2O, per layer: slots in use (the same for every head) */
    int center_k;            /* quantised K is smoothed and centred per head (see KV_STORE) */
    float **k_mean;          /* per layer: [head][hd], in the rotated domain */
    float **k_smooth;        /* per layer: [head][hd], K's channel factors s (q is divided by s) */
    int32_t recent;          /* quantised K: keys this close to the query are scored exactly */
    qlm__f16 **rk;           /* per layer: [head][recent + QLM__KV_FIRST][hd] keys as stored,
                                before quantisation (smoothed, rotated, centred): the last ones
                                at position % recent, the first ones at recent + position */
    int32_t **rpos;          /* per layer: [recent + QLM__KV_FIRST] the position each slot holds, -1 none */
} qlm__kv;

#define QLM__KV_RECENT 32     /* default kv->recent (see "Recent keys" at qlm__op_kv_store) */
#define QLM__KV_RECENT_MAX 4096
#define QLM__KV_FIRST 4       /* ... and the first keys, kept with them */
/* Exact-key slots per layer and head: the recent ring, then the first keys (0: none). */
static size_t qlm__kv_exact_slots(const qlm__kv *kv) {
    return kv->recent > 0 ? (size_t)kv->recent + QLM__KV_FIRST : 0;
}
/* The one function that sizes a layer's cache: the planner and the allocator both call it. */
/* Layout of one layer: K, V (head-major, see qlm__kv_kseg; each padded to 16 bytes), then for H2O the slot
   positions and masses, then for a centred K the per-head means and smoothing factors, then
   the exact recent keys and their positions (see "Recent keys" at qlm__op_kv_store). */
#define QLM__KV_PAD(x) (((x) + 15) & ~(size_t)15)
static size_t qlm__kv_bytes_layer(const qlm__kv *kv, const qlm__kv_layer *L) {
    size_t b = QLM__KV_PAD(kv->row_k * (size_t)L->n_cells) + QLM__KV_PAD(kv->row_v * (size_t)L->n_cells);
    if (L->h2o) b += (sizeof(int32_t) + sizeof(float)) * (size_t)kv->n_head_kv * (size_t)L->n_cells;
    if (kv->center_k) b += 2 * sizeof(float) * (size_t)kv->n_head_kv * (size_t)kv->hd;
    if (kv->recent > 0 && !L->h2o)
        b += QLM__KV_PAD(sizeof(qlm__f16) * qlm__kv_exact_slots(kv) * (size_t)kv->n_head_kv * (size_t)kv->hd) +
             QLM__KV_PAD(sizeof(int32_t) * qlm__kv_exact_slots(kv));
    return QLM__KV_PAD(b);
}
/* Head h's K / V segment of cell c in layer il. A layer's cache is head-major (every cell of
   head 0, then of head 1, ...): attention reads one head at a time, so its keys and values
   stream from contiguous memory (cell-major rows put the other heads' bytes in the same cache
   lines: decode at depth 4096 ran ~1.3x slower that way). */
static uint8_t *qlm__kv_kseg(const qlm__kv *kv, int il, int64_t h, int64_t c) {
    return kv->k[il] + ((size_t)h * (size_t)kv->L[il].n_cells + (size_t)c) * kv->seg_k;
}
static uint8_t *qlm__kv_vseg(const qlm__kv *kv, int il, int64_t h, int64_t c) {
    return kv->v[il] + ((size_t)h * (size_t)kv->L[il].n_cells + (size_t)c) * kv->seg_v;
}
static int32_t qlm__kv_cell(const qlm__kv_layer *L, int32_t pos) {
    return pos < L->sinks ? pos : L->sinks + (pos - L->sinks) % (L->n_cells - L->sinks);
}


/* >>model -----------------------------------------------------------------------------------
   One forward pass for every architecture: what differs is read from GGUF metadata into these
   flags and values. */
enum { QLM__ARCH_LLAMA = 0, QLM__ARCH_QWEN2, QLM__ARCH_QWEN3, QLM__ARCH_GEMMA3 };

#define QLM__MAX_LAYERS 1024
typedef struct qlm__hparams {
    int arch;
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, head_dim, n_rot, n_ctx_train;
    float eps, rope_base, rope_freq_scale;
    int rope_neox;      /* rotate halves (NEOX) instead of adjacent pairs */
    float embd_scale;   /* multiply the embeddings (Gemma: sqrt(n_embd)); 0: no */
    float q_scale;      /* multiply Q after RoPE (Gemma); 0: no, attention uses 1/sqrt(hd) */
    int qk_norm;        /* RMS-norm each head of Q and K (Qwen 3, Gemma 3) */
    int post_norms;     /* RMS-norm the attention and FFN outputs before the residual (Gemma) */
    int gelu;           /* GELU-gated FFN instead of SiLU-gated */
    int qkv_bias;       /* biases on Q, K, V (Qwen 2) */
    int32_t swa_window; /* sliding window of local layers; 0: none */
    float rope_base_swa;
    uint8_t is_swa[QLM__MAX_LAYERS];
} qlm__hparams;

typedef struct {
    qlm__tensor *attn_norm, *wq, *wk, *wv, *wo, *ffn_norm, *gate, *up, *down;
    qlm__tensor *bq, *bk, *bv, *q_norm, *k_norm, *post_attn_norm, *post_ffn_norm;
} qlm__layer;

struct qlm_model {
    qlm__gguf *gguf;
    qlm__hparams hp;
    qlm__vocab *vocab;
    qlm__tensor *w; /* one descriptor per file tensor */
    int64_t n_w;
    qlm__tensor *tok_embd, *out_norm, *output;
    qlm__layer *layers;
    qlm__logger log;
    char arch_name[32];
    char *name, *chat_template;
    uint64_t n_params, size;
    int vocab_only;
};

/* >>backend ---------------------------------------------------------------------------------
   The CPU backend: kernels for each op, run by the pool. */

typedef struct qlm__exec {
    qlm__graph *g;
    qlm__pool *pool;
    const struct qlm__hparams *hp;
    qlm__kv *kv;
    int32_t n_tokens, n_outputs;
    const int32_t *pos; /* positions of the batch */
    uint8_t *wdata;     /* activations quantised for MUL_MAT */
    size_t wdata_size;
    float *att;         /* per-thread attention scratch, att_stride floats each */
    size_t att_stride;
    float *att_part;    /* partial attention states of a split range (decode) */
    qlm__f16 *kbatch;   /* the batch's keys as KV_STORE prepared them: [token][head][hd] */
    qlm__kernels kern;  /* this context's kernels (reference or SIMD) */
    float *f16_table;   /* all 65536 halves as floats: V rows are read through it */
    int first_node, last_node;
    volatile int *interrupt;
    /* Activation hook (>>quantize: imatrix, AWQ, GPTQ): when set, every thread calls it at
       the start of each MUL_MAT with the weight, the float input rows and the row count, and
       reads its share by ith/nth. NULL (the default) costs one test per matmul. */
    void (*mm_hook)(void *user, const qlm__tensor *w, const qlm__tensor *x, int64_t n_rows,
                    int ith, int nth);
    void *mm_user;
    int mm_next; /* MUL_MAT GEMM: next row tile to take (threads take tiles dynamically) */
} qlm__exec;

static int64_t qlm__rows(const qlm__exec *ex, const qlm__tensor *t) {
    if (t->rows == 1) return ex->n_tokens;
    if (t->rows == 2) return ex->n_outputs;
    return t->ne[1] * t->ne[2] * t->ne[3];
}
#define QLM__F(t) ((float *)((t)->data))
#define QLM__ROW(t, r) ((void *)((uint8_t *)(t)->data + (size_t)(r) * (t)->nb[1]))

static void qlm__split(int64_t n, int ith, int nth, int64_t *b, int64_t *e) {
    int64_t per = (n + nth - 1) / nth;
    *b = QLM__MIN(n, per * ith);
    *e = QLM__MIN(n, *b + per);
}

static void qlm__op_get_rows(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    const qlm__tensor *src = t->src[0];
    const int32_t *ids = (const int32_t *)t->src[1]->data;
    int64_t r, b, e, n = qlm__rows(ex, t);
    qlm__split(n, ith, nth, &b, &e);
    for (r = b; r < e; r++) {
        const void *row = QLM__ROW(src, ids[r]);
        if (src->type == QLM_TYPE_F32) memcpy(QLM__ROW(t, r), row, (size_t)t->ne[0] * 4);
        else qlm__type_traits[src->type].to_float(row, (float *)QLM__ROW(t, r), t->ne[0]);
    }
}

/* RMS norm over each group of p[1] elements of a row (0: the whole row; per-head norms use
   the head size). */
static void qlm__op_rms_norm(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int64_t r, i, g0, b, e, n = t->p[1] > 0 ? t->p[1] : t->ne[0];
    float eps;
    memcpy(&eps, &t->p[0], 4);
    qlm__split(qlm__rows(ex, t), ith, nth, &b, &e);
    for (r = b; r < e; r++)
        for (g0 = 0; g0 < t->ne[0]; g0 += n) {
            const float *x = (const float *)QLM__ROW(t->src[0], r) + g0;
            float *y = (float *)QLM__ROW(t, r) + g0, scale;
            double sum = 0; /* ggml sums the squares in double */
            for (i = 0; i < n; i++) sum += (double)(x[i] * x[i]);
            scale = 1.0f / sqrtf((float)(sum / (double)n) + eps);
            for (i = 0; i < n; i++) y[i] = x[i] * scale;
        }
}

/* MUL and ADD: src1 is either the same shape or one row broadcast over all rows; a row
   shorter than src0's repeats along it (a per-head weight). */
static void qlm__op_binary(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int64_t r, i, b, e, n = t->ne[0];
    const qlm__tensor *s1 = t->src[1];
    int bcast = qlm__rows(ex, s1) == 1 && s1->rows == 0;
    if (s1->ne[0] < n) {
        int64_t m = s1->ne[0];
        qlm__split(qlm__rows(ex, t), ith, nth, &b, &e);
        for (r = b; r < e; r++) {
            const float *x = (const float *)QLM__ROW(t->src[0], r);
            const float *y = (const float *)QLM__ROW(s1, bcast ? 0 : r);
            float *z = (float *)QLM__ROW(t, r);
            for (i = 0; i < n; i++) z[i] = t->op == QLM__OP_MUL ? x[i] * y[i % m] : x[i] + y[i % m];
        }
        return;
    }
    qlm__split(qlm__rows(ex, t), ith, nth, &b, &e);
    for (r = b; r < e; r++) {
        const float *x = (const float *)QLM__ROW(t->src[0], r);
        const float *y = (const float *)QLM__ROW(s1, bcast ? 0 : r);
        float *z = (float *)QLM__ROW(t, r);
        if (t->op == QLM__OP_MUL)
            for (i = 0; i < n; i++) z[i] = x[i] * y[i];
        else
            for (i = 0; i < n; i++) z[i] = x[i] + y[i];
    }
}

static void qlm__op_scale(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int64_t r, i, b, e;
    float s;
    memcpy(&s, &t->p[0], 4);
    qlm__split(qlm__rows(ex, t), ith, nth, &b, &e);
    for (r = b; r < e; r++) {
        const float *x = (const float *)QLM__ROW(t->src[0], r);
        float *y = (float *)QLM__ROW(t, r);
        for (i = 0; i < t->ne[0]; i++) y[i] = x[i] * s;
    }
}

/* Split over elements, not rows, so that decode's single row keeps every thread busy: chunks
   of 64 elements per thread; the kernel gives the same bits at any split (its tail is its
   reference, which it equals). */
static void qlm__op_glu(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int64_t n = t->ne[0], total = qlm__rows(ex, t) * n, b, e;
    qlm__split((total + 63) / 64, ith, nth, &b, &e);
    for (b *= 64, e = QLM__MIN(e * 64, total); b < e;) {
        int64_t r = b / n, i = b % n, m = QLM__MIN(n - i, e - b);
        ex->kern.glu(m, (const float *)QLM__ROW(t->src[0], r) + i, (const float *)QLM__ROW(t->src[1], r) + i,
                     (float *)QLM__ROW(t, r) + i, t->op == QLM__OP_GEGLU);
        b += m;
    }
}

/* Batched MUL_MAT (prefill) uses the GEMM kernels from this many tokens on: below it, the
   one-row dots (decode is always 1 token). test_kernels --bench-gemm, 1 thread: the GEMM
   breaks even with the dots at 4-6 tokens for the 32-blocks, 6-8 for the K-quants. */
#define QLM__GEMM_MIN_TOKENS 8

static size_t qlm__align64(size_t n) { return (n + 63) & ~(size_t)63; }

/* Scratch (ex->wdata) a MUL_MAT of weight type wt, K columns, needs for n_tokens tokens and
   n_threads threads: the quantised activation rows, then (GEMM types) the token groups and
   one weight tile per thread. The same for every kernel variant (layouts are shared; lanes
   and rows at their maxima), so switching variants never outgrows it. */
static size_t qlm__mul_mat_wsize(qlm_type wt, int64_t K, int64_t n_tokens, int n_threads) {
    qlm_type vt = qlm__type_traits[wt].vec_dot_type;
    size_t n = vt == QLM_TYPE_F32 ? 0 : qlm__row_size(vt, K) * (size_t)n_tokens, ab = qlm__gemm_act_bytes(wt);
    size_t nb = (size_t)(K / (qlm__type_traits[wt].blck_size ? qlm__type_traits[wt].blck_size : 1));
    if (ab && n_tokens >= QLM__GEMM_MIN_TOKENS) {
        size_t groups = ((size_t)n_tokens + QLM__GEMM_MAX_LANES - 1) / QLM__GEMM_MAX_LANES;
        n = 64 + qlm__align64(n) + qlm__align64(groups * QLM__GEMM_MAX_LANES * nb * ab) +
            (size_t)n_threads * qlm__align64(QLM__GEMM_MAX_ROWS * nb * qlm__gemm_w_bytes(wt));
    }
    return n;
}

/* The GEMM path: each thread quantises whole groups of tokens and converts them to the
   kernel's layout; after a barrier, threads take tiles of weight rows one at a time (an
   atomic counter, so a thread slowed by other load takes fewer) and run each against every
   group. Each result is bit-identical to the one-row path's. */
static void qlm__mul_mat_gemm(qlm__exec *ex, qlm__tensor *t, const qlm__gemm_kernel *gk, int ith, int nth) {
    const qlm__tensor *w = t->src[0], *x = t->src[1];
    qlm_type vt = qlm__type_traits[w->type].vec_dot_type;
    qlm__from_float_fn quant = ex->kern.from_float[vt];
    int64_t K = w->ne[0], N = w->ne[1], T = qlm__rows(ex, t), L = gk->lanes, R = gk->rows;
    int64_t ng = (T + L - 1) / L, nb = K / qlm__type_traits[w->type].blck_size, g, b, e, r;
    size_t xrow = qlm__row_size(vt, K), gbytes = (size_t)(L * nb) * qlm__gemm_act_bytes(w->type);
    uint8_t *base = ex->wdata + ((64 - ((uintptr_t)ex->wdata & 63)) & 63);
    uint8_t *xq = base, *grp = base + qlm__align64((size_t)T * xrow);
    uint8_t *wt = grp + qlm__align64((size_t)ng * gbytes) +
                  (size_t)ith * qlm__align64((size_t)(R * nb) * qlm__gemm_w_bytes(w->type));
    size_t ys = t->nb[1] / sizeof(float);
    qlm__split(ng, ith, nth, &b, &e);
    for (g = b; g < e; g++) {
        int64_t t0 = g * L, nt = QLM__MIN(L, T - t0);
        for (r = t0; r < t0 + nt; r++) quant((const float *)QLM__ROW(x, r), xq + r * xrow, K);
        gk->prep(K, xq + t0 * xrow, xrow, (int)nt, (int)L, grp + g * gbytes);
    }
    if (ith == 0) ex->mm_next = 0;
    qlm__barrier(ex->pool);
    for (;;) {
        int64_t n0 = (int64_t)qlm__fetch_inc(&ex->mm_next) * R, nr;
        if (n0 >= N) break;
        nr = QLM__MIN(R, N - n0);
        gk->unpack(K, (const uint8_t *)QLM__ROW(w, n0), w->nb[1], (int)nr, (int)R, wt);
        for (g = 0; g < ng; g++)
            gk->tile(K, wt, grp + g * gbytes, (int)nr, (int)QLM__MIN(L, T - g * L), (float *)QLM__ROW(t, g * L) + n0, ys);
    }
}

/* y[t][n] = dot(w row n, x row t). The activations are first converted to the weight type's
   vec_dot_type (once per matmul, split by rows), then every thread takes a share of the
   weight rows for all tokens, so each weight row is read once per batch. Batches of several
   tokens go to the GEMM kernels where the type has them. */
static void qlm__op_mul_mat(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    const qlm__tensor *w = t->src[0], *x = t->src[1];
    const qlm__type_traits_t *tt = &qlm__type_traits[w->type];
    qlm_type vt = tt->vec_dot_type;
    qlm__vec_dot_fn dot = ex->kern.vec_dot[w->type];
    qlm__vec_dot8_fn dot8 = ex->kern.vec_dot8[w->type];
    qlm__from_float_fn quant = ex->kern.from_float[vt];
    int64_t K = w->ne[0], N = w->ne[1], T = qlm__rows(ex, t), r, n, b, e;
    size_t xrow = qlm__row_size(vt, K);
    const uint8_t *xq;
    if (ex->mm_hook) ex->mm_hook(ex->mm_user, w, x, T, ith, nth);
    if (ex->kern.gemm[w->type] && T >= QLM__GEMM_MIN_TOKENS) {
        qlm__mul_mat_gemm(ex, t, ex->kern.gemm[w->type], ith, nth);
        return;
    }
    if (vt == QLM_TYPE_F32) {
        xq = (const uint8_t *)x->data;
        xrow = x->nb[1];
    } else {
        qlm__split(T, ith, nth, &b, &e);
        for (r = b; r < e; r++)
            quant((const float *)QLM__ROW(x, r), ex->wdata + r * xrow, K);
        qlm__barrier(ex->pool);
        xq = ex->wdata;
    }
    /* rows split in whole groups of 8, so the 8-row kernel runs on all but the last few */
    qlm__split((N + 7) / 8, ith, nth, &b, &e);
    b *= 8;
    e = QLM__MIN(e * 8, N);
    for (n = b; n < e;) {
        const void *wr = QLM__ROW(w, n);
        if (dot8 && n + 8 <= e) {
            for (r = 0; r < T; r++) dot8((int)K, (float *)QLM__ROW(t, r) + n, wr, w->nb[1], xq + r * xrow);
            n += 8;
            continue;
        }
        for (r = 0; r < T; r++) {
            float s;
            dot((int)K, &s, wr, xq + r * xrow);
            ((float *)QLM__ROW(t, r))[n] = s;
        }
        n++;
    }
}

/* RoPE on rows of n_heads * head_dim; p: [0] n_rot, [1] neox, [2] head_dim, [3] base bits,
   [4] freq_scale bits. theta_i = pos * base^(-2i/n_rot), computed as ggml does: by repeated
   multiplication in float. */
static void qlm__op_rope(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int n_rot = t->p[0], neox = t->p[1], hd = t->p[2], i;
    float base, fscale, theta_scale;
    float cs[2 * 512]; /* cos, sin of each pair: computed once per row, used by every head */
    const int32_t *pos = (const int32_t *)t->src[1]->data;
    int64_t r, b, e, h, nh = t->ne[0] / hd;
    memcpy(&base, &t->p[3], 4);
    memcpy(&fscale, &t->p[4], 4);
    theta_scale = powf(base, -2.0f / (float)n_rot);
    qlm__split(qlm__rows(ex, t), ith, nth, &b, &e);
    for (r = b; r < e; r++) {
        const float *x = (const float *)QLM__ROW(t->src[0], r);
        float *y = (float *)QLM__ROW(t, r), theta = (float)pos[r] * fscale;
        for (i = 0; i < n_rot; i += 2) {
            cs[i] = cosf(theta);
            cs[i + 1] = sinf(theta);
            theta *= theta_scale;
        }
        if (y != x) memcpy(y, x, (size_t)t->ne[0] * 4);
        for (h = 0; h < nh; h++) {
            float *v = y + h * hd;
            for (i = 0; i < n_rot; i += 2) {
                int i0 = neox ? i / 2 : i, i1 = neox ? i / 2 + n_rot / 2 : i + 1;
                float a = v[i0], bb = v[i1], c = cs[i], sn = cs[i + 1];
                v[i0] = a * c - bb * sn;
                v[i1] = a * sn + bb * c;
            }
        }
    }
}

/* Write this batch's K and V into the cache: each head's segment rotated (quantised caches)
   and converted to the cache type, into the cell of its position (H2O: the next free slot). */
/* One head's key or value into its cache segment: smoothed, rotated and centred as the cache
   asks, then quantised; `exact` (or NULL) receives what was quantised, in F16. */
static void qlm__kv_put(qlm__from_float_fn quant, const float *x, uint8_t *dst, int hd, int rot,
                        const float *smooth, const float *mean, qlm__f16 *exact) {
    float tmp[512];
    int d;
    if (rot || mean || smooth) {
        memcpy(tmp, x, (size_t)hd * 4);
        if (smooth)
            for (d = 0; d < hd; d++) tmp[d] *= smooth[d];
        if (rot) qlm__hadamard(tmp, hd, 0);
        if (mean)
            for (d = 0; d < hd; d++) tmp[d] -= mean[d];
        x = tmp;
    }
    if (exact)
        for (d = 0; d < hd; d++) exact[d] = qlm__fp32_to_fp16(x[d]);
    quant(x, dst, hd);
}

/* Recent keys. A 4-bit K costs most where attention looks hardest: at the last few tokens
   and at the first (the attention sink). So a quantised K also keeps its last kv->recent keys
   in F16, in a ring per layer (slot = position % recent, tagged with the position it holds),
   and its first QLM__KV_FIRST keys in the slots after the ring; attention scores those keys
   from there instead of from their codes (KIVI keeps such a residual of recent keys too).
   Measured on SmolLM2-135M, q4 K with f16 V, 4 x 2048 tokens, mean KLD vs f16: 0.0229
   without, 0.0115 with 16, 0.0093 with 64, 0.0085 with 256 recent keys; with 32 (the
   default) 0.0099, and with the first key too 0.0058 (the first four: 0.0058).
   The batch's own keys come from ex->kbatch (written by KV_STORE), older ones from the ring.
   The ring takes a batch's keys after its attention has read the older ones (a barrier at the
   end of ATTN), except the first key, which takes the slot of a position `recent` back, one
   that no query of the batch needs; a decode step (one token) therefore needs no barrier.
   The first keys are written by KV_STORE at once (no query reads their slots before).
   A slot is used only when its tag matches, so a truncated or restarted cache falls back to
   the codes until the ring has refilled. */
static void qlm__kv_recent_put(qlm__kv *kv, int layer, int64_t h, int32_t pos, const qlm__f16 *k, int first) {
    int32_t slot = first ? kv->recent + pos : pos % kv->recent;
    memcpy(kv->rk[layer] + ((size_t)h * qlm__kv_exact_slots(kv) + (size_t)slot) * (size_t)kv->hd, k,
           (size_t)kv->hd * sizeof(qlm__f16));
    if (h == 0) kv->rpos[layer][slot] = pos;
}
#define QLM__KV_SMOOTH_MIN 16 /* tokens a new cache's first batch needs to set K's smoothing */
static void qlm__op_kv_store(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int layer = t->p[0];
    qlm__kv *kv = ex->kv;
    const qlm__kv_layer *L = &kv->L[layer];
    int64_t job, b, e, nkv = kv->n_head_kv, hd = kv->hd, T = qlm__rows(ex, t);
    if (kv->center_k && ex->pos[0] == 0) {
        /* A cache that starts here: K is smoothed, then stored minus the mean of this batch's
           keys (those after the first token, which is often an attention sink), per head.
           Smoothing: channel d of K is multiplied by s_d and of q divided by it (q.k unchanged),
           s_d = (E[q_d^2] / Var[k_d])^(1/8) over this batch (the g query heads of the KV head),
           normalised to a geometric mean of 1, within [e^-2, e^2]: K's resolution moves towards
           the channels the queries weigh. If the rotated per-token scale spread the same noise
           over every channel, the score error would go as |q/s| |k s - c| and the power 1/4
           would minimise it (Cauchy-Schwarz; 0.66x the error on SmolLM2's heads); measured, 1/4
           is worse than no smoothing and 1/8 best (q4 K, mean KLD vs f16 at 2048 context:
           0.0268 none, 0.0246 at 1/16, 0.0233 at 1/8, 0.0270 at 3/16, 0.0327 at 1/4; on a
           held-out text 0.0241 -> 0.0212 at 1/8).
           Centring: every key of a head shifts by the same vector c (rotated, smoothed domain),
           so q.k = q.(k - c) + q.c: attention adds q.c back, and the stored values lose the part
           that all tokens share (RoPE'd K has channels with a large common offset), which is what
           a per-token 4-bit scale spends its codes on. Fewer than QLM__KV_SMOOTH_MIN tokens: no
           smoothing (s = 1); one token alone: no centring (c = 0). */
        const qlm__tensor *qt = t->src[2];
        int g = qt ? (int)(qt->ne[0] / (hd * nkv)) : 0;
        qlm__split(nkv, ith, nth, &b, &e);
        for (job = b; job < e; job++) {
            float *c = kv->k_mean[layer] + job * hd, *sm = kv->k_smooth[layer] + job * hd, tmp[512];
            double ksum[512], ksq[512], qsq[512], lsum = 0, var_sum, msq_sum;
            int64_t r, d, gi;
            for (d = 0; d < hd; d++) c[d] = 0.0f, sm[d] = 1.0f, ksum[d] = ksq[d] = qsq[d] = 0;
            if (g > 0 && T > QLM__KV_SMOOTH_MIN) {
                double *var_k = ksum, *msq_q = ksq, *lr = qsq; /* the sums become these, in place */
                for (r = 1; r < T; r++) {
                    const float *k = (const float *)QLM__ROW(t->src[0], r) + job * hd;
                    for (d = 0; d < hd; d++) ksum[d] += k[d], ksq[d] += (double)k[d] * k[d];
                    for (gi = 0; gi < g; gi++) {
                        const float *q = (const float *)QLM__ROW(qt, r) + (job * g + gi) * hd;
                        for (d = 0; d < hd; d++) qsq[d] += (double)q[d] * q[d];
                    }
                }
                for (d = 0; d < hd; d++) {
                    double m = ksum[d] / (double)(T - 1), var = ksq[d] / (double)(T - 1) - m * m;
                    var_k[d] = var > 0 ? var : 0;
                    msq_q[d] = qsq[d] / (double)((T - 1) * g);
                }
                for (d = 0, var_sum = msq_sum = 0; d < hd; d++) var_sum += var_k[d], msq_sum += msq_q[d];
                for (d = 0; d < hd; d++) { /* floors: a dead channel must not blow s up */
                    double ratio = (msq_q[d] + 1e-3 * msq_sum / hd) / (var_k[d] + 1e-3 * var_sum / hd);
                    lr[d] = 0.125 * log(ratio);
                    lsum += lr[d];
                }
                for (d = 0; d < hd; d++) sm[d] = (float)exp(QLM__MIN(2.0, QLM__MAX(-2.0, lr[d] - lsum / hd)));
            }
            for (r = 1; r < T; r++) {
                const float *k = (const float *)QLM__ROW(t->src[0], r) + job * hd;
                for (d = 0; d < hd; d++) tmp[d] = k[d] * sm[d];
                if (kv->rot_k) qlm__hadamard(tmp, (int)hd, 0);
                for (d = 0; d < hd; d++) c[d] += tmp[d];
            }
            for (d = 0; T > 1 && d < hd; d++) c[d] /= (float)(T - 1);
        }
        qlm__barrier(ex->pool);
    }
    qlm__split(T * nkv, ith, nth, &b, &e);
    for (job = b; job < e; job++) {
        int64_t r = job / nkv, h = job % nkv;
        int32_t cell = L->h2o ? kv->n_used[layer] + (int32_t)r : qlm__kv_cell(L, ex->pos[r]);
        qlm__f16 *exact = kv->rk[layer] ? ex->kbatch + (size_t)(r * nkv + h) * (size_t)hd : NULL;
        qlm__kv_put(ex->kern.kv_quant[kv->type_k], (const float *)QLM__ROW(t->src[0], r) + h * hd,
                    qlm__kv_kseg(kv, layer, h, cell), (int)hd, kv->rot_k,
                    kv->center_k ? kv->k_smooth[layer] + h * hd : NULL,
                    kv->center_k ? kv->k_mean[layer] + h * hd : NULL, exact);
        if (exact && r == 0) qlm__kv_recent_put(kv, layer, h, ex->pos[0], exact, 0); /* see "Recent keys" */
        if (exact && ex->pos[r] < QLM__KV_FIRST) qlm__kv_recent_put(kv, layer, h, ex->pos[r], exact, 1);
        qlm__kv_put(ex->kern.kv_quant[kv->type_v], (const float *)QLM__ROW(t->src[1], r) + h * hd,
                    qlm__kv_vseg(kv, layer, h, cell), (int)hd, kv->rot_v, NULL, NULL, NULL);
        if (L->h2o) {
            kv->slot_pos[layer][h * L->n_cells + cell] = ex->pos[r];
            kv->slot_mass[layer][h * L->n_cells + cell] = 0.0f;
        }
    }
}

/* Turn one rotated head back by `delta` positions (x <- R(-delta) x) with the RoPE of the
   global layers (the only ones with sinks), theta computed as qlm__op_rope does. */
static void qlm__rope_back(float *x, int hd, const qlm__hparams *hp, int32_t delta) {
    int n_rot = (int)hp->n_rot, i;
    float theta = -(float)delta * hp->rope_freq_scale, ts = powf(hp->rope_base, -2.0f / (float)n_rot);
    (void)hd;
    for (i = 0; i < n_rot; i += 2) {
        int i0 = hp->rope_neox ? i / 2 : i, i1 = hp->rope_neox ? i / 2 + n_rot / 2 : i + 1;
        float c = cosf(theta), sn = sinf(theta), a = x[i0], bb = x[i1];
        x[i0] = a * c - bb * sn;
        x[i1] = a * sn + bb * c;
        theta *= ts;
    }
}

/* Attention state of the query heads that share one KV head, for nq queries (rows of the
   batch) at once: head h = t * g1 + gi is query t's head gi. Running max, sum, output. */
#define QLM__ATT_BLOCK 32
#define QLM__ATT_MAX_GROUP 64 /* heads in one state: g1 * nq */
#define QLM__ATT_TILE 8       /* queries per tile in a batch (see qlm__op_attn) */
#ifndef QLM__ATT_PF
#define QLM__ATT_PF 128 /* cells ahead that qlm__att_block prefetches */
#endif
typedef struct {
    float M[QLM__ATT_MAX_GROUP];
    double S[QLM__ATT_MAX_GROUP];
    float *acc;           /* g * hd */
    float *sc;            /* scores: g rows of ld */
    int64_t ld;
    const uint8_t *q;     /* g prepared q, qstride bytes apart */
    size_t qstride;
    const float *corr;    /* g values added to the scores: q . c of the centred K (or NULL) */
    const qlm__f16 *qx;   /* g prepared q in F16 (hd apart), for the recent keys */
    int g1, nq;           /* query heads per query, queries */
    int32_t m[QLM__ATT_MAX_GROUP];  /* each query's position: later cells are masked */
    int32_t lo[QLM__ATT_MAX_GROUP]; /* and its first (window): earlier cells are masked */
    float corr_q[QLM__ATT_MAX_GROUP], corr_s[QLM__ATT_MAX_GROUP]; /* for qc and for qs */
} qlm__att_state;

/* Queries per tile for g query heads per KV head */
static int qlm__att_tq(int g) {
    return QLM__MAX(1, QLM__MIN(QLM__ATT_TILE, QLM__ATT_MAX_GROUP / g));
}

/* The scores of positions p0.. p0+n-1 that lie within kv->recent of query t or among the
   first QLM__KV_FIRST, again from their exact keys (see "Recent keys"): the batch's own from
   ex->kbatch, older ones from their slots where the tag matches. Same F16 score kernel as an
   F16 cache. */
static void qlm__att_recent(const qlm__exec *ex, int layer, int kh, int t, int32_t p0, int n,
                            qlm__att_state *st, int64_t off) {
    const qlm__kv *kv = ex->kv;
    const int32_t R = kv->recent, P0 = ex->pos[0], *tag = kv->rpos[layer];
    const size_t hd = (size_t)kv->hd;
    const int g = st->g1;
    const qlm__f16 *qx = st->qx + (size_t)t * (size_t)g * hd;
    float *out = st->sc + (size_t)t * (size_t)g * (size_t)st->ld;
    qlm__kv_scores_fn scores = hd % 32 == 0 ? ex->kern.kv_scores[QLM_KV_F16] : NULL;
    const uint8_t *src[2];
    size_t row[2];
    int32_t cells[2][QLM__ATT_BLOCK], at[2][QLM__ATT_BLOCK], cnt[2] = {0, 0}, p;
    float sc[QLM__ATT_MAX_GROUP * QLM__ATT_BLOCK];
    int w, gi, i;
    src[0] = (const uint8_t *)(ex->kbatch + (size_t)kh * hd); /* [token][head][hd] */
    row[0] = (size_t)kv->n_head_kv * hd * sizeof(qlm__f16);
    src[1] = (const uint8_t *)(kv->rk[layer] + (size_t)kh * qlm__kv_exact_slots(kv) * hd); /* [slot][hd] */
    row[1] = hd * sizeof(qlm__f16);
    for (p = p0; p < p0 + n; p++) {
        int32_t slot = p < QLM__KV_FIRST ? R + p : p % R;
        if (p <= st->m[t] - R && p >= QLM__KV_FIRST) continue;
        w = p < P0;
        if (w && tag[slot] != p) continue;
        cells[w][cnt[w]] = w ? slot : p - P0;
        at[w][cnt[w]++] = p - p0;
    }
    for (w = 0; w < 2; w++) {
        if (!cnt[w]) continue;
        if (scores) scores((int)hd, cnt[w], g, src[w], row[w], cells[w], qx, hd * sizeof(qlm__f16), sc, QLM__ATT_BLOCK);
        else
            for (gi = 0; gi < g; gi++)
                for (i = 0; i < cnt[w]; i++)
                    ex->kern.kv_dot[QLM_KV_F16]((int)hd, &sc[gi * QLM__ATT_BLOCK + i], src[w] + (size_t)cells[w][i] * row[w],
                                                qx + (size_t)gi * hd);
        for (gi = 0; gi < g; gi++)
            for (i = 0; i < cnt[w]; i++) out[gi * st->ld + off + at[w][i]] = sc[gi * QLM__ATT_BLOCK + i];
    }
}

/* After a batch's attention (all threads past it): its last keys into the ring, but for the
   first, which KV_STORE put there already (see "Recent keys"). */
static void qlm__att_recent_update(qlm__exec *ex, int layer, int64_t T, int ith, int nth) {
    qlm__kv *kv = ex->kv;
    int64_t job, b, e, nkv = kv->n_head_kv, r0 = QLM__MAX(1, T - kv->recent);
    if (!kv->rk[layer] || T < 2) return;
    qlm__barrier(ex->pool);
    qlm__split((T - r0) * nkv, ith, nth, &b, &e);
    for (job = b; job < e; job++) {
        int64_t r = r0 + job / nkv, h = job % nkv;
        qlm__kv_recent_put(kv, layer, h, ex->pos[r], ex->kbatch + (size_t)(r * nkv + h) * (size_t)kv->hd, 0);
    }
}

/* One block of cached tokens (cells[0..n)) into the state: scores, online-softmax update
   (rescale what was summed when the maximum grows), V accumulated through the axpy kernel.
   Scores are kept at sc[gi * ld + off + i] (H2O reads them back). p0 >= 0: the cells hold
   positions p0, p0+1, ..., those near a query are scored from their exact keys, and those
   outside a query's [lo, m] get -inf for its heads: for them the block is the shorter block of
   its own cells, to the bit (p = 0 adds exact zeros), or no block at all if none is left (f = 1,
   p = 0: the softmax kernels give 0 for the NaN of -inf - -inf). */
static void qlm__att_block(const qlm__exec *ex, int layer, int kh, int g, const int32_t *cells,
                           int n, int32_t p0, float scale, qlm__att_state *st, int64_t off) {
    const qlm__kv *kv = ex->kv;
    qlm__vec_dot_fn dot = ex->kern.kv_dot[kv->type_k];
    qlm__kv_axpy_fn axpy = ex->kern.kv_axpy[kv->type_v];
    qlm__kv_scores_fn scores = kv->hd % 32 == 0 ? ex->kern.kv_scores[kv->type_k] : NULL;
    qlm__kv_accum_fn accum = kv->hd % 32 == 0 ? ex->kern.kv_accum[kv->type_v] : NULL;
    const uint8_t *K = qlm__kv_kseg(kv, layer, kh, 0), *V = qlm__kv_vseg(kv, layer, kh, 0);
    float p[QLM__ATT_MAX_GROUP * QLM__ATT_BLOCK];
    int hd = kv->hd, gi, i, t;
    float f[QLM__ATT_MAX_GROUP];
    size_t o;
    /* The cache is read once, in cell order, in short blocks that the hardware's stream
       prefetcher does not run ahead of (measured: half the kernels' time was spent on the first
       touch of each block), so K and V are asked for QLM__ATT_PF cells on: into L2, K before
       the scores and V after them, so the two bursts do not queue together (each variant
       measured at depth 4096: all at once into L1 81-104 t/s, this 85-120). */
    for (o = 0; o < (size_t)n * kv->seg_k; o += 64) QLM__PREFETCH(K + ((size_t)cells[0] + QLM__ATT_PF) * kv->seg_k + o);
    if (scores) scores(hd, n, g, K, kv->seg_k, cells, st->q, st->qstride, st->sc + off, st->ld);
    else
        for (gi = 0; gi < g; gi++)
            for (i = 0; i < n; i++)
                dot(hd, &st->sc[gi * st->ld + off + i], K + (size_t)cells[i] * kv->seg_k, st->q + (size_t)gi * st->qstride);
    for (t = 0; p0 >= 0 && t < st->nq; t++) {
        int a = QLM__MAX(0, st->lo[t] - p0), z = (int)QLM__MIN(n, st->m[t] + 1 - p0), h;
        if (kv->rk[layer] && z > a && (p0 + z > st->m[t] - kv->recent || p0 + a < QLM__KV_FIRST))
            qlm__att_recent(ex, layer, kh, t, p0 + a, z - a, st, off + a);
        for (h = t * st->g1; (a > 0 || z < n) && h < (t + 1) * st->g1; h++)
            for (i = 0; i < n; i++)
                if (i < a || i >= z) st->sc[h * st->ld + off + i] = -INFINITY;
    }
    for (o = 0; o < (size_t)n * kv->seg_v; o += 64) QLM__PREFETCH(V + ((size_t)cells[0] + QLM__ATT_PF) * kv->seg_v + o);
    ex->kern.att_softmax(g, n, st->sc + off, st->ld, st->corr, scale, st->M, st->S, p, QLM__ATT_BLOCK, f);
    for (gi = 0; gi < g; gi++) {
        float *acc = st->acc + (size_t)gi * hd;
        if (f[gi] != 1.0f)
            for (i = 0; i < hd; i++) acc[i] *= f[gi];
        if (!accum)
            for (i = 0; i < n; i++) axpy(hd, acc, p[gi * QLM__ATT_BLOCK + i], V + (size_t)cells[i] * kv->seg_v);
    }
    if (accum) accum(hd, n, g, V, kv->seg_v, cells, p, QLM__ATT_BLOCK, st->acc);
}

/* Causal attention of the batch's queries over the cache, reading it in its own type. p: [0]
   layer, [1] n_head, [2] n_head_kv, [3] head_dim, [4] scale bits. A work item is one KV head
   (its g query heads together, so each cached segment is read once for all of them), a tile of
   up to QLM__ATT_TILE consecutive query tokens of a batch (one token when the layer has sinks
   or H2O, or in decode) and one part of the cached range; when there are fewer items than 2x
   the threads (decode), the range is split and the parts are merged after a barrier (as
   flash-decoding). Items go to the threads in turn, as a causal batch's later rows cost more.
   A tile reads every block once for its g x nq heads, each query masked to its own range, and
   blocks end at multiples of QLM__ATT_BLOCK positions, so a query's sums are the same to the
   bit whatever tile it is in (see qlm__att_block): prefill, decode one token at a time and
   any batch size give the same logits.
   The q side follows llama.cpp's non-fused path for an F16 cache (q rounded to F16, softmax
   sums in double across blocks, in float lanes within one as llama.cpp's vector softmax does,
   probabilities not rounded): measured on Gemma 3, rounding the probabilities
   too triples the logit error at some positions, against llama.cpp and float64 alike. For the
   other cache types q is converted to the matmul's activation type for that block type. */
static void qlm__op_attn(qlm__exec *ex, qlm__tensor *t, int ith, int nth) {
    int layer = t->p[0], nh = t->p[1], nkv = t->p[2], hd = t->p[3], g = nh / nkv, gi;
    const qlm__kv *kv = ex->kv;
    const qlm__kv_layer *L = &kv->L[layer];
    int64_t T = qlm__rows(ex, t), job, b, e, n_items, parts = 1, tq = 1;
    qlm_type qt = qlm__kv_traits[kv->type_k].q_type;
    size_t qstride = qt == QLM_TYPE_F32 ? (size_t)hd * 4 : qlm__row_size(qt, hd);
    float scale, *base = ex->att + (size_t)ith * ex->att_stride, tmp[512];
    int32_t cells[QLM__ATT_BLOCK];
    qlm__att_state st;
    memcpy(&scale, &t->p[4], 4);
    st.sc = base;
    st.ld = L->h2o ? L->n_cells : QLM__ATT_BLOCK;
    st.qstride = qstride;
    st.g1 = g;
    if (!L->h2o && T * nkv < 2 * nth) parts = (2 * nth + T * nkv - 1) / (T * nkv);
    if (!L->h2o && !L->sinks && parts == 1) tq = qlm__att_tq(g);
    n_items = L->h2o ? nkv : (T + tq - 1) / tq * nkv * parts;
    for (job = ith; job < n_items; job += nth) {
        int kh = (int)(L->h2o ? job : job / parts % nkv);
        int64_t part = L->h2o ? 0 : job % parts, r, r0 = L->h2o ? 0 : job / parts / nkv * tq;
        int64_t r1 = L->h2o ? T : QLM__MIN(T, r0 + tq);
        for (r = r0; r < r1; r += st.nq) {
            int32_t lo = 0, hi = 0, delta = 0, j, n;
            int pass, d, ti, G, h;
            uint8_t *qc, *qs;
            qlm__f16 *qx;
            st.nq = L->h2o ? 1 : (int)(r1 - r0);
            G = g * st.nq;
            st.acc = st.sc + (size_t)G * (size_t)st.ld;
            qc = (uint8_t *)(st.acc + (size_t)G * hd);
            qs = qc + (size_t)G * qstride;
            qx = (qlm__f16 *)(void *)(st.acc + 3 * (size_t)G * hd); /* after acc, qc, qs: for qc, then for qs */
            /* the range: sinks (part 0 only), then this part's share of lo..hi, the tile's union */
            for (ti = 0; ti < st.nq; ti++) {
                int32_t m = ex->pos[r + ti];
                st.m[ti] = m;
                st.lo[ti] = L->window > 0 ? QLM__MAX(L->sinks, m - L->window + 1) : 0;
                if (ti == 0 || st.lo[ti] < lo) lo = st.lo[ti];
                if (ti == 0 || m + 1 > hi) hi = m + 1;
            }
            if (st.nq == 1) st.lo[0] = 0; /* one query: the ranges below are its own (sinks too) */
            if (L->sinks > 0 && st.m[0] > L->sinks + L->window - 1) delta = st.m[0] - (L->sinks + L->window - 1);
            if (parts > 1) {
                int64_t per = (hi - lo + parts - 1) / parts;
                int32_t a = (int32_t)QLM__MIN(hi, lo + per * part);
                hi = (int32_t)QLM__MIN(hi, a + per);
                lo = a;
            }
            for (h = 0; h < G; h++) {
                const float *q = (const float *)QLM__ROW(t->src[0], r + h / g) + (size_t)(kh * g + h % g) * hd;
                for (pass = 0; pass < (delta > 0 && part == 0 ? 2 : 1); pass++) {
                    uint8_t *dst = (pass ? qs : qc) + (size_t)h * qstride;
                    memcpy(tmp, q, (size_t)hd * 4);
                    if (pass) qlm__rope_back(tmp, hd, ex->hp, delta);
                    if (kv->center_k) { /* K's smoothing, undone on q (see KV_STORE) */
                        const float *sm = kv->k_smooth[layer] + (size_t)kh * hd;
                        for (d = 0; d < hd; d++) tmp[d] /= sm[d];
                    }
                    if (kv->rot_k) qlm__hadamard(tmp, hd, 0);
                    if (kv->center_k) {
                        const float *c = kv->k_mean[layer] + (size_t)kh * hd;
                        float sum = 0.0f;
                        for (d = 0; d < hd; d++) sum += tmp[d] * c[d];
                        (pass ? st.corr_s : st.corr_q)[h] = sum;
                    }
                    if (qt == QLM_TYPE_F32) memcpy(dst, tmp, (size_t)hd * 4);
                    else ex->kern.from_float[qt](tmp, dst, hd);
                    if (kv->rk[layer]) ex->kern.from_float[QLM_TYPE_F16](tmp, qx + (size_t)(pass * G + h) * hd, hd);
                }
                st.M[h] = -INFINITY;
                st.S[h] = 0.0;
            }
            memset(st.acc, 0, (size_t)G * hd * sizeof(float));
            if (L->h2o) { /* every slot in use; the batch's own later tokens are masked */
                int32_t n_slots = kv->n_used[layer] + (int32_t)T, m = st.m[0];
                const int32_t *sp = kv->slot_pos[layer] + (size_t)kh * L->n_cells;
                st.q = qc;
                st.corr = kv->center_k ? st.corr_q : NULL;
                for (j = 0; j < n_slots; j += n) {
                    int32_t k = 0, i;
                    n = QLM__MIN(QLM__ATT_BLOCK, n_slots - j);
                    for (i = 0; i < n; i++)
                        if (sp[j + i] >= 0 && sp[j + i] <= m) cells[k++] = j + i;
                    /* scores land compacted at [j, j+k); remember which slots they belong to */
                    qlm__att_block(ex, layer, kh, g, cells, k, -1, scale, &st, j);
                    for (gi = 0; gi < g; gi++) {
                        float *s = st.sc + gi * st.ld + j;
                        for (i = k - 1; i >= 0; i--) s[cells[i] - j] = s[i]; /* to slot order */
                        for (i = 0; i < n; i++)
                            if (!(sp[j + i] >= 0 && sp[j + i] <= m)) s[i] = -INFINITY;
                    }
                }
            } else {
                if (part == 0 && L->sinks > 0) { /* sinks, with q turned back by delta */
                    int32_t ns = QLM__MIN(L->sinks, st.m[0] + 1);
                    st.q = delta > 0 ? qs : qc;
                    st.corr = !kv->center_k ? NULL : delta > 0 ? st.corr_s : st.corr_q;
                    st.qx = delta > 0 ? qx + (size_t)g * hd : qx;
                    for (j = 0; j < ns; j++) cells[j] = j;
                    if (ns > 0) qlm__att_block(ex, layer, kh, g, cells, ns, 0, scale, &st, 0);
                }
                st.q = qc;
                st.qx = qx;
                st.corr = kv->center_k ? st.corr_q : NULL;
                for (j = lo; j < hi; j += n) { /* blocks end at multiples of QLM__ATT_BLOCK (from lo in a part) */
                    int32_t i, c = qlm__kv_cell(L, j);
                    n = QLM__MIN(QLM__ATT_BLOCK - (parts > 1 ? j - lo : j) % QLM__ATT_BLOCK, hi - j);
                    for (i = 0; i < n; i++, c++) /* consecutive positions: the ring wraps to sinks */
                        cells[i] = c == L->n_cells ? (c = L->sinks) : c;
                    qlm__att_block(ex, layer, kh, G, cells, n, j, scale, &st, 0);
                }
            }
            if (parts > 1) { /* keep the partial state for the merge */
                float *pp = ex->att_part + (size_t)job * (size_t)g * (size_t)(hd + 2);
                for (gi = 0; gi < g; gi++, pp += hd + 2) {
                    pp[0] = st.M[gi];
                    pp[1] = (float)st.S[gi];
                    memcpy(pp + 2, st.acc + (size_t)gi * hd, (size_t)hd * 4);
                }
                continue;
            }
            for (h = 0; h < G; h++) {
                float *out = (float *)QLM__ROW(t, r + h / g) + (size_t)(kh * g + h % g) * hd;
                const float *acc = st.acc + (size_t)h * hd;
                float inv = st.S[h] > 0 ? (float)(1.0 / st.S[h]) : 0.0f;
                for (d = 0; d < hd; d++) out[d] = acc[d] * inv;
                if (kv->rot_v) qlm__hadamard(out, hd, 1);
            }
            if (L->h2o) { /* accumulated attention mass of each slot, for eviction */
                int32_t n_slots = kv->n_used[layer] + (int32_t)T;
                float *mass = kv->slot_mass[layer] + (size_t)kh * L->n_cells;
                for (gi = 0; gi < g; gi++) {
                    const float *s = st.sc + gi * st.ld;
                    float inv = st.S[gi] > 0 ? (float)(1.0 / st.S[gi]) : 0.0f;
                    for (j = 0; j < n_slots; j++)
                        if (s[j] > -INFINITY) mass[j] += expf(s[j] - st.M[gi]) * inv;
                }
            }
        }
    }
    if (parts == 1) {
        qlm__att_recent_update(ex, layer, T, ith, nth);
        return;
    }
    qlm__barrier(ex->pool);
    qlm__att_recent_update(ex, layer, T, ith, nth); /* past the barrier: the merge reads no K */
    /* merge the parts of each (token, KV head): rescale every part to the largest maximum */
    qlm__split(T * nkv * g, ith, nth, &b, &e);
    for (job = b; job < e; job++) {
        int64_t r = job / (nkv * g), kh = job / g % nkv, p;
        float *out = (float *)QLM__ROW(t, r) + (size_t)(kh * g + job % g) * hd, mx = -INFINITY;
        double sum = 0;
        int d;
        const float *pp0 = ex->att_part + (size_t)((r * nkv + kh) * parts) * (size_t)g * (size_t)(hd + 2) +
                           (size_t)(job % g) * (size_t)(hd + 2);
        size_t pstride = (size_t)g * (size_t)(hd + 2);
        for (p = 0; p < parts; p++) mx = QLM__MAX(mx, pp0[p * pstride]);
        for (d = 0; d < hd; d++) out[d] = 0.0f;
        for (p = 0; p < parts; p++) {
            const float *pp = pp0 + p * pstride;
            float f;
            if (pp[0] == -INFINITY) continue;
            f = expf(pp[0] - mx);
            sum += (double)pp[1] * (double)f;
            for (d = 0; d < hd; d++) out[d] += pp[2 + d] * f;
        }
        if (sum > 0)
            for (d = 0; d < hd; d++) out[d] = (float)((double)out[d] / sum);
        if (kv->rot_v) qlm__hadamard(out, hd, 1);
    }
}

typedef void (*qlm__op_fn)(qlm__exec *ex, qlm__tensor *t, int ith, int nth);
static const qlm__op_fn qlm__cpu_ops[] = {
    NULL,                 /* NONE */
    qlm__op_get_rows,     /* GET_ROWS */
    qlm__op_rms_norm,     /* RMS_NORM */
    qlm__op_binary,       /* MUL */
    qlm__op_binary,       /* ADD */
    qlm__op_mul_mat,      /* MUL_MAT */
    qlm__op_rope,         /* ROPE */
    qlm__op_attn,         /* ATTN */
    qlm__op_kv_store,     /* KV_STORE */
    qlm__op_glu,          /* SWIGLU */
    qlm__op_glu,          /* GEGLU */
    qlm__op_scale,        /* SCALE */
};
QLM__STATIC_ASSERT(sizeof(qlm__cpu_ops) / sizeof(qlm__cpu_ops[0]) == QLM__OP_COUNT,
                   "every op needs a CPU kernel");

static void qlm__exec_job(void *arg, int ith, int nth) {
    qlm__exec *ex = (qlm__exec *)arg;
    int i;
    for (i = ex->first_node; i < ex->last_node; i++) {
        qlm__tensor *t = ex->g->nodes[i];
        qlm__cpu_ops[t->op](ex, t, ith, nth);
        qlm__barrier(ex->pool);
    }
}

static int qlm__cpu_supports(const qlm__backend *be, int op, qlm_type type) {
    (void)be;
    return op > QLM__OP_NONE && op < QLM__OP_COUNT && (type == QLM_TYPE_F32 || type == QLM__TYPE_I32 ||
                                                       qlm__type_traits[type].to_float != NULL);
}

/* Run the nodes of layers [first, last): the CPU backend's `run`. */
static int qlm__cpu_run(qlm__backend *be, qlm__graph *g, int first, int last) {
    qlm__exec *ex = (qlm__exec *)be->state;
    int i = 0;
    while (i < g->n_nodes && g->nodes[i]->layer < first) i++;
    ex->first_node = i;
    while (i < g->n_nodes && g->nodes[i]->layer < last) i++;
    ex->last_node = i;
    qlm__pool_run(ex->pool, qlm__exec_job, ex);
    return 0;
}
static int qlm__cpu_sync(qlm__backend *be) {
    (void)be;
    return 0;
}

/* >>sampler ---------------------------------------------------------------------------------*/
typedef struct {
    float logit, p;
    int32_t id;
} qlm__cand;

typedef struct {
    qlm_sampler_params par;
    uint64_t rng;
    qlm__cand *cand;
} qlm__sampler;

static uint64_t qlm__rng_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int qlm__cand_cmp(const void *a, const void *b) {
    float x = ((const qlm__cand *)a)->logit, y = ((const qlm__cand *)b)->logit;
    if (x != y) return x > y ? -1 : 1;
    return ((const qlm__cand *)a)->id - ((const qlm__cand *)b)->id;
}

/* Put the k first candidates of the order qlm__cand_cmp defines (a total order: logit, then
   id) in c[0..k), unsorted: quickselect, O(n) on average, so top-k does not sort the vocabulary. */
static void qlm__cand_select(qlm__cand *c, int32_t n, int32_t k) {
    int32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        qlm__cand piv = c[lo + (hi - lo) / 2], t;
        int32_t i = lo, j = hi;
        while (i <= j) {
            while (qlm__cand_cmp(&c[i], &piv) < 0) i++;
            while (qlm__cand_cmp(&c[j], &piv) > 0) j--;
            if (i <= j) {
                t = c[i], c[i] = c[j], c[j] = t;
                i++, j--;
            }
        }
        if (k - 1 <= j) hi = j;
        else if (k - 1 >= i) lo = i;
        else break;
    }
}

/* Penalties, then greedy, or top-k, top-p, min-p, temperature and a draw (llama.cpp's order). */
static int32_t qlm__sample(qlm__sampler *s, const float *logits, int32_t n_vocab,
                           const int32_t *hist, int32_t n_hist) {
    const qlm_sampler_params *p = &s->par;
    int32_t i, n = n_vocab, best = 0;
    qlm__cand *c = s->cand;
    for (i = 0; i < n_vocab; i++) {
        c[i].id = i;
        c[i].logit = logits[i];
    }
    if (p->repeat_penalty != 1.0f && p->repeat_last_n != 0 && n_hist > 0) {
        int32_t from = p->repeat_last_n < 0 ? 0 : QLM__MAX(0, n_hist - p->repeat_last_n), j;
        for (j = from; j < n_hist; j++) {
            int32_t k, seen = 0, id = hist[j];
            if (id < 0 || id >= n_vocab) continue;
            for (k = from; k < j; k++)
                if (hist[k] == id) seen = 1;
            if (seen) continue;
            c[id].logit = c[id].logit <= 0 ? c[id].logit * p->repeat_penalty
                                           : c[id].logit / p->repeat_penalty;
        }
    }
    if (p->temp <= 0) {
        for (i = 1; i < n_vocab; i++)
            if (c[i].logit > c[best].logit) best = i;
        return best;
    }
    if (p->top_k > 0 && p->top_k < n) { /* the top k, unsorted, in c[0..k) */
        qlm__cand_select(c, n, p->top_k);
        n = p->top_k;
    }
    {
        /* probabilities over what is left, for top-p and min-p; only the candidates min-p can
           keep (logit >= max + log min_p, a prefix of the sorted order) are sorted */
        double sum = 0, cum = 0;
        float mx = c[0].logit;
        int32_t m = n;
        for (i = 1; i < n; i++) mx = c[i].logit > mx ? c[i].logit : mx;
        for (i = 0; i < n; i++) sum += expf(c[i].logit - mx);
        if (p->min_p > 0) {
            float lim = mx + logf(p->min_p) - 1e-3f; /* a margin: the exact test is below */
            m = 0;
            for (i = 0; i < n; i++)
                if (c[i].logit >= lim) {
                    qlm__cand t = c[m];
                    c[m++] = c[i];
                    c[i] = t;
                }
        }
        qsort(c, (size_t)m, sizeof *c, qlm__cand_cmp);
        n = m;
        for (i = 0; i < n; i++) c[i].p = (float)(expf(c[i].logit - mx) / sum);
        if (p->top_p < 1.0f) {
            for (i = 0; i < n; i++) {
                cum += c[i].p;
                if (cum >= p->top_p) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (p->min_p > 0) {
            float lim = c[0].p * p->min_p;
            int32_t k = 1;
            while (k < n && c[k].p >= lim) k++;
            n = k;
        }
    }
    {
        double sum = 0, r;
        float mx = c[0].logit / p->temp;
        for (i = 0; i < n; i++) sum += (c[i].p = expf(c[i].logit / p->temp - mx));
        r = (double)(qlm__rng_next(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
        for (i = 0; i < n - 1; i++) {
            r -= c[i].p;
            if (r < 0) break;
        }
        return c[i].id;
    }
}

/* >>chat ------------------------------------------------------------------------------------
   Templates recognised from tokenizer.chat_template by their markers (no Jinja engine). */
enum { QLM__CHAT_CHATML, QLM__CHAT_LLAMA3, QLM__CHAT_GEMMA, QLM__CHAT_LLAMA2 };

static int qlm__chat_kind(const char *tmpl) {
    if (!tmpl) return QLM__CHAT_CHATML;
    if (strstr(tmpl, "<|start_header_id|>")) return QLM__CHAT_LLAMA3;
    if (strstr(tmpl, "<start_of_turn>")) return QLM__CHAT_GEMMA;
    if (strstr(tmpl, "[INST]")) return QLM__CHAT_LLAMA2;
    return QLM__CHAT_CHATML;
}

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} qlm__sb;

static void qlm__sb_add(qlm__sb *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1) cap *= 2;
        p = (char *)QLM_REALLOC(b->buf, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->buf = p;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}
static void qlm__sb_cat(qlm__sb *b, const char *s) { qlm__sb_add(b, s, strlen(s)); }

/* A ChatML template may carry a default system message as a literal; find it. The first
   "<|im_start|>system" + newline (a real one, or Jinja's escaped "\\n") whose text up to
   <|im_end|> is a plain literal (no '{', quote or backslash) counts: Qwen2.5's template writes
   the marker twice before its literal (a tools branch, then one joined with the user's system
   message), and escapes its newlines. */
static int qlm__chatml_default_system(const char *tmpl, const char **s, size_t *n) {
    const char *mark = "<|im_start|>system", *p, *q;
    size_t k;
    for (p = tmpl; p && (p = strstr(p, mark)) != NULL;) {
        p += strlen(mark);
        if (*p == '\n') p++;
        else if (p[0] == '\\' && p[1] == 'n') p += 2;
        else continue;
        if (!(q = strstr(p, "<|im_end|>"))) return 0;
        for (k = 0; p + k < q && !strchr("{'\"\\", p[k]); k++) {}
        if (p + k == q) {
            *s = p;
            *n = k;
            return 1;
        }
    }
    return 0;
}

static qlm_status qlm__chat_format(const char *tmpl, const char *bos, const char *const *roles,
                                   const char *const *contents, int32_t n_msg, int add_ass,
                                   qlm__sb *out) {
    int kind = qlm__chat_kind(tmpl), i;
    for (i = 0; i < n_msg; i++)
        if (!roles[i] || !contents[i]) {
            qlm__errorf("chat message %d has no role or content", i);
            return QLM_ERR_INVALID_ARG;
        }
    switch (kind) {
    case QLM__CHAT_CHATML: {
        const char *ds;
        size_t dn;
        if ((n_msg == 0 || strcmp(roles[0], "system") != 0) &&
            qlm__chatml_default_system(tmpl, &ds, &dn)) {
            qlm__sb_cat(out, "<|im_start|>system\n");
            qlm__sb_add(out, ds, dn);
            qlm__sb_cat(out, "<|im_end|>\n");
        }
        for (i = 0; i < n_msg; i++) {
            qlm__sb_cat(out, "<|im_start|>");
            qlm__sb_cat(out, roles[i]);
            qlm__sb_cat(out, "\n");
            qlm__sb_cat(out, contents[i]);
            qlm__sb_cat(out, "<|im_end|>\n");
        }
        if (add_ass) qlm__sb_cat(out, "<|im_start|>assistant\n");
        break;
    }
    case QLM__CHAT_LLAMA3:
        for (i = 0; i < n_msg; i++) {
            qlm__sb_cat(out, "<|start_header_id|>");
            qlm__sb_cat(out, roles[i]);
            qlm__sb_cat(out, "<|end_header_id|>\n\n");
            qlm__sb_cat(out, contents[i]);
            qlm__sb_cat(out, "<|eot_id|>");
        }
        if (add_ass) qlm__sb_cat(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case QLM__CHAT_GEMMA: {
        /* Gemma has no system role: the system text opens the first user turn */
        const char *sys = NULL;
        for (i = 0; i < n_msg; i++) {
            if (strcmp(roles[i], "system") == 0) {
                sys = contents[i];
                continue;
            }
            qlm__sb_cat(out, "<start_of_turn>");
            qlm__sb_cat(out, strcmp(roles[i], "assistant") == 0 ? "model" : roles[i]);
            qlm__sb_cat(out, "\n");
            if (sys && strcmp(roles[i], "user") == 0) {
                qlm__sb_cat(out, sys);
                qlm__sb_cat(out, "\n\n");
                sys = NULL;
            }
            qlm__sb_cat(out, contents[i]);
            qlm__sb_cat(out, "<end_of_turn>\n");
        }
        if (add_ass) qlm__sb_cat(out, "<start_of_turn>model\n");
        break;
    }
    case QLM__CHAT_LLAMA2:
        for (i = 0; i < n_msg; i++) {
            if (strcmp(roles[i], "user") == 0) {
                qlm__sb_cat(out, "[INST] ");
                qlm__sb_cat(out, contents[i]);
                qlm__sb_cat(out, " [/INST]");
            } else if (strcmp(roles[i], "assistant") == 0) {
                qlm__sb_cat(out, contents[i]);
                if (bos) qlm__sb_cat(out, "</s>");
            } else {
                qlm__sb_cat(out, "<<SYS>>\n");
                qlm__sb_cat(out, contents[i]);
                qlm__sb_cat(out, "\n<</SYS>>\n\n");
            }
        }
        break;
    }
    if (out->oom) {
        qlm__errorf("out of memory formatting the chat");
        return QLM_ERR_NOMEM;
    }
    return QLM_OK;
}

/* >>model (loading) -------------------------------------------------------------------------*/

static const struct {
    const char *name;
    int arch;
} qlm__supported_archs[] = {
    {"llama", QLM__ARCH_LLAMA}, {"qwen2", QLM__ARCH_QWEN2}, {"qwen3", QLM__ARCH_QWEN3},
    {"gemma3", QLM__ARCH_GEMMA3}};

/* Read "<arch>.<suffix>" as an integer; `req` makes a missing key an error. */
static int qlm__hp_int(const qlm__gguf *g, const char *arch, const char *suffix, int64_t *out,
                       int req, const char *path) {
    char key[128];
    int64_t kv;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    kv = qlm__gguf_find(g, key);
    if (kv >= 0 && qlm__gguf_kv_type(g, kv) == QLM__GGUF_ARR) {
        qlm__errorf("%s: %s is a per-layer array, which qlm does not support yet", path, key);
        return -1;
    }
    if (!qlm__gguf_get_i64(g, key, out)) {
        if (!req) return 0;
        qlm__errorf("%s: missing or non-integer metadata %s", path, key);
        return -1;
    }
    return 1;
}
static void qlm__hp_float(const qlm__gguf *g, const char *arch, const char *suffix, float *out) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    qlm__gguf_get_f32(g, key, out);
}

static qlm_status qlm__load_hparams(qlm_model *m, const char *path) {
    const qlm__gguf *g = m->gguf;
    qlm__hparams *hp = &m->hp;
    const char *a = m->arch_name;
    int64_t v, il;
    if (qlm__hp_int(g, a, "block_count", &hp->n_layer, 1, path) < 0 ||
        qlm__hp_int(g, a, "embedding_length", &hp->n_embd, 1, path) < 0 ||
        qlm__hp_int(g, a, "feed_forward_length", &hp->n_ff, 1, path) < 0 ||
        qlm__hp_int(g, a, "attention.head_count", &hp->n_head, 1, path) < 0)
        return QLM_ERR_FORMAT;
    hp->n_head_kv = hp->n_head;
    hp->n_ctx_train = 2048;
    if (qlm__hp_int(g, a, "attention.head_count_kv", &hp->n_head_kv, 0, path) < 0 ||
        qlm__hp_int(g, a, "context_length", &hp->n_ctx_train, 0, path) < 0)
        return QLM_ERR_FORMAT;
    if (hp->n_layer < 1 || hp->n_layer > QLM__MAX_LAYERS || hp->n_embd < 1 || hp->n_embd > 65536 ||
        hp->n_head < 1 || hp->n_head > 1024 || hp->n_head_kv < 1 || hp->n_head % hp->n_head_kv ||
        hp->n_ff < 1 || hp->n_ff > (1 << 20) || hp->n_ctx_train < 1) {
        qlm__errorf("%s: implausible hyper-parameters (layers %lld, embd %lld, heads %lld/%lld, "
                    "ff %lld)",
                    path, (long long)hp->n_layer, (long long)hp->n_embd, (long long)hp->n_head,
                    (long long)hp->n_head_kv, (long long)hp->n_ff);
        return QLM_ERR_FORMAT;
    }
    hp->head_dim = hp->n_embd / hp->n_head;
    if (qlm__hp_int(g, a, "attention.key_length", &v, 0, path) > 0) hp->head_dim = v;
    if (hp->head_dim < 2 || hp->head_dim > 512 || hp->head_dim % 2) {
        qlm__errorf("%s: head dimension %lld is not supported", path, (long long)hp->head_dim);
        return QLM_ERR_UNSUPPORTED;
    }
    hp->n_rot = hp->head_dim;
    if (qlm__hp_int(g, a, "rope.dimension_count", &v, 0, path) > 0) hp->n_rot = v;
    if (hp->n_rot < 2 || hp->n_rot > hp->head_dim || hp->n_rot % 2) {
        qlm__errorf("%s: rope dimension %lld does not fit head dimension %lld", path,
                    (long long)hp->n_rot, (long long)hp->head_dim);
        return QLM_ERR_FORMAT;
    }
    hp->eps = hp->arch == QLM__ARCH_GEMMA3 ? 1e-6f : 1e-5f;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    qlm__hp_float(g, a, "attention.layer_norm_rms_epsilon", &hp->eps);
    qlm__hp_float(g, a, "rope.freq_base", &hp->rope_base);
    {
        char key[128];
        int64_t kv;
        float f = 0;
        snprintf(key, sizeof key, "%s.rope.scaling.type", a);
        kv = qlm__gguf_find(g, key);
        if (kv >= 0 && qlm__gguf_kv_type(g, kv) == QLM__GGUF_STR) {
            qlm__str s = qlm__gguf_get_str(g, kv);
            if (!qlm__str_eq(s, "none") && !qlm__str_eq(s, "linear")) {
                qlm__errorf("%s: rope scaling '%.*s' is not supported", path, (int)s.len, s.ptr);
                return QLM_ERR_UNSUPPORTED;
            }
        }
        snprintf(key, sizeof key, "%s.rope.scaling.factor", a);
        if (qlm__gguf_get_f32(g, key, &f) && f > 0) hp->rope_freq_scale = 1.0f / f;
        snprintf(key, sizeof key, "%s.rope.scale_linear", a);
        if (qlm__gguf_get_f32(g, key, &f) && f > 0) hp->rope_freq_scale = 1.0f / f;
    }
    /* llama: adjacent pairs (the converter permutes q/k for this); the others rotate halves */
    hp->rope_neox = hp->arch != QLM__ARCH_LLAMA;
    hp->qkv_bias = hp->arch == QLM__ARCH_QWEN2;
    hp->qk_norm = hp->arch == QLM__ARCH_QWEN3 || hp->arch == QLM__ARCH_GEMMA3;
    if (hp->arch == QLM__ARCH_GEMMA3) {
        /* Gemma 3: embeddings scaled by sqrt(n_embd), Q scaled by 1/sqrt(head_dim) instead
           of the scores, norms after attention and FFN too, GELU FFN, and local layers
           (five of every six) with a sliding window and their own RoPE base */
        hp->embd_scale = sqrtf((float)hp->n_embd);
        hp->q_scale = 1.0f / sqrtf((float)hp->head_dim);
        hp->post_norms = 1;
        hp->gelu = 1;
        hp->rope_base_swa = 10000.0f;
        qlm__hp_float(g, a, "rope.freq_base_swa", &hp->rope_base_swa);
        if (qlm__hp_int(g, a, "attention.sliding_window", &v, 1, path) < 0) return QLM_ERR_FORMAT;
        if (v < 1 || v > (1 << 24)) {
            qlm__errorf("%s: sliding window %lld out of range", path, (long long)v);
            return QLM_ERR_FORMAT;
        }
        hp->swa_window = (int32_t)v;
        for (il = 0; il < hp->n_layer; il++) hp->is_swa[il] = il % 6 < 5;
    }
    hp->n_vocab = qlm__vocab_n_tokens(m->vocab);
    return QLM_OK;
}

/* Find a weight and check its shape; NULL (with the error set) if absent or wrong. */
static qlm__tensor *qlm__weight(qlm_model *m, const char *name, int64_t ne0, int64_t ne1,
                                int required, const char *path) {
    int64_t i = qlm__gguf_find_tensor(m->gguf, name);
    qlm__tensor *t;
    if (i < 0) {
        if (required) qlm__errorf("%s: tensor '%s' is missing", path, name);
        return NULL;
    }
    t = &m->w[i];
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        qlm__errorf("%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                    path, name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                    (long long)t->ne[3], (long long)ne0, (long long)ne1);
        return NULL;
    }
    t->layer = -2; /* marks it as used */
    return t;
}

static qlm__tensor *qlm__matrix(qlm_model *m, const char *name, int64_t ne0, int64_t ne1,
                                const char *path) {
    qlm__tensor *t = qlm__weight(m, name, ne0, ne1, 1, path);
    if (t && !qlm__type_traits[t->type].vec_dot) {
        qlm__errorf("%s: tensor '%s' has type %s, which qlm cannot multiply", path, name,
                    qlm__type_traits[t->type].name);
        return NULL;
    }
    return t;
}

static qlm_status qlm__load_weights(qlm_model *m, const char *path) {
    const qlm__hparams *hp = &m->hp;
    int64_t il, hd = hp->head_dim, E = hp->n_embd;
    char nm[64];
    m->layers = (qlm__layer *)qlm__calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return QLM_ERR_NOMEM;
    if (!(m->tok_embd = qlm__weight(m, "token_embd.weight", E, hp->n_vocab, 1, path)) ||
        !(m->out_norm = qlm__weight(m, "output_norm.weight", E, 1, 1, path)))
        return QLM_ERR_FORMAT;
    if (!qlm__type_traits[m->tok_embd->type].to_float) {
        qlm__errorf("%s: token_embd.weight type cannot be read", path);
        return QLM_ERR_UNSUPPORTED;
    }
    m->output = qlm__weight(m, "output.weight", E, hp->n_vocab, 0, path);
    if (!m->output) {
        if (qlm__gguf_find_tensor(m->gguf, "output.weight") >= 0) return QLM_ERR_FORMAT;
        m->output = m->tok_embd; /* tied embeddings */
    }
    for (il = 0; il < hp->n_layer; il++) {
        qlm__layer *L = &m->layers[il];
#define QLM__W(field, nm_, a, b, mat)                                                          \
    snprintf(nm, sizeof nm, "blk.%lld." nm_ ".weight", (long long)il);                         \
    if (!(L->field = (mat) ? qlm__matrix(m, nm, a, b, path) : qlm__weight(m, nm, a, b, 1, path))) \
        return QLM_ERR_FORMAT;
        QLM__W(attn_norm, "attn_norm", E, 1, 0)
        QLM__W(wq, "attn_q", E, hd * hp->n_head, 1)
        QLM__W(wk, "attn_k", E, hd * hp->n_head_kv, 1)
        QLM__W(wv, "attn_v", E, hd * hp->n_head_kv, 1)
        QLM__W(wo, "attn_output", hd * hp->n_head, E, 1)
        QLM__W(ffn_norm, "ffn_norm", E, 1, 0)
        QLM__W(gate, "ffn_gate", E, hp->n_ff, 1)
        QLM__W(up, "ffn_up", E, hp->n_ff, 1)
        QLM__W(down, "ffn_down", hp->n_ff, E, 1)
        if (hp->qk_norm) {
            QLM__W(q_norm, "attn_q_norm", hd, 1, 0)
            QLM__W(k_norm, "attn_k_norm", hd, 1, 0)
        }
        if (hp->post_norms) {
            QLM__W(post_attn_norm, "post_attention_norm", E, 1, 0)
            QLM__W(post_ffn_norm, "post_ffw_norm", E, 1, 0)
        }
#undef QLM__W
#define QLM__B(field, nm_, a)                                                     \
    snprintf(nm, sizeof nm, "blk.%lld." nm_ ".bias", (long long)il);              \
    if (!(L->field = qlm__weight(m, nm, a, 1, 1, path))) return QLM_ERR_FORMAT;   \
    if (L->field->type != QLM_TYPE_F32) {                                         \
        qlm__errorf("%s: %s must be f32", path, nm);                              \
        return QLM_ERR_UNSUPPORTED;                                               \
    }
        if (hp->qkv_bias) {
            QLM__B(bq, "attn_q", hd * hp->n_head)
            QLM__B(bk, "attn_k", hd * hp->n_head_kv)
            QLM__B(bv, "attn_v", hd * hp->n_head_kv)
        }
#undef QLM__B
    }
    if (m->output != m->tok_embd && !qlm__type_traits[m->output->type].vec_dot) {
        qlm__errorf("%s: output.weight type cannot be multiplied", path);
        return QLM_ERR_UNSUPPORTED;
    }
    if (!qlm__type_traits[m->out_norm->type].to_float ||
        m->out_norm->type != QLM_TYPE_F32) {
        qlm__errorf("%s: norm weights must be f32", path);
        return QLM_ERR_UNSUPPORTED;
    }
    for (il = 0; il < hp->n_layer; il++)
        if (m->layers[il].attn_norm->type != QLM_TYPE_F32 ||
            m->layers[il].ffn_norm->type != QLM_TYPE_F32 ||
            (hp->qk_norm && (m->layers[il].q_norm->type != QLM_TYPE_F32 ||
                             m->layers[il].k_norm->type != QLM_TYPE_F32)) ||
            (hp->post_norms && (m->layers[il].post_attn_norm->type != QLM_TYPE_F32 ||
                                m->layers[il].post_ffn_norm->type != QLM_TYPE_F32))) {
            qlm__errorf("%s: norm weights of layer %lld must be f32", path, (long long)il);
            return QLM_ERR_UNSUPPORTED;
        }
    return QLM_OK;
}

/* Touch every page of the tensor data (so loading shows real progress and the first token
   does not pay for page faults), reporting progress per tensor. */
static qlm_status qlm__prefault(qlm_model *m, qlm_progress_fn fn, void *user) {
    uint64_t total = 0, done = 0;
    int64_t i;
    volatile uint8_t sink = 0;
    for (i = 0; i < m->gguf->n_tensors; i++) total += m->gguf->tensors[i].size;
    for (i = 0; i < m->gguf->n_tensors; i++) {
        const qlm__gguf_tensor *t = &m->gguf->tensors[i];
        uint64_t o;
        for (o = 0; o < t->size; o += 4096) sink ^= t->data[o];
        done += t->size;
        if (fn && fn(total ? (float)((double)done / (double)total) : 1.0f, user)) {
            qlm__errorf("loading cancelled");
            return QLM_ERR_CANCELLED;
        }
    }
    (void)sink;
    return QLM_OK;
}

/* >>public ----------------------------------------------------------------------------------*/

QLM_API const char *qlm_status_str(qlm_status s) { return qlm__status_msg(s); }
QLM_API const char *qlm_last_error(void) { return qlm__err_buf; }

QLM_API qlm_model_params qlm_model_default_params(void) {
    qlm_model_params p;
    memset(&p, 0, sizeof p);
    return p;
}
QLM_API qlm_ctx_params qlm_ctx_default_params(void) {
    qlm_ctx_params p;
    memset(&p, 0, sizeof p);
    return p;
}
QLM_API qlm_sampler_params qlm_sampler_default_params(void) {
    qlm_sampler_params p;
    memset(&p, 0, sizeof p);
    p.temp = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0x5eed;
    return p;
}

QLM_API void qlm_model_free(qlm_model *m) {
    if (!m) return;
    qlm__vocab_free(m->vocab);
    qlm__gguf_close(m->gguf);
    QLM_FREE(m->w);
    QLM_FREE(m->layers);
    QLM_FREE(m->name);
    QLM_FREE(m->chat_template);
    QLM_FREE(m);
}

static char *qlm__meta_strdup(const qlm__gguf *g, const char *key) {
    int64_t kv = qlm__gguf_find(g, key);
    qlm__str s;
    if (kv < 0 || qlm__gguf_kv_type(g, kv) != QLM__GGUF_STR) return NULL;
    s = qlm__gguf_get_str(g, kv);
    return qlm__strndup(s.ptr, (size_t)s.len);
}

QLM_API qlm_status qlm_model_load(const char *path, qlm_model_params params, qlm_model **out) {
    qlm_model *m;
    qlm_status st;
    int64_t kv, i;
    size_t k;
    if (!out) {
        qlm__errorf("qlm_model_load: out is NULL");
        return QLM_ERR_INVALID_ARG;
    }
    *out = NULL;
    if (!path) {
        qlm__errorf("qlm_model_load: no path");
        return QLM_ERR_INVALID_ARG;
    }
    m = (qlm_model *)qlm__calloc(1, sizeof *m);
    if (!m) {
        qlm__errorf("%s: out of memory", path);
        return QLM_ERR_NOMEM;
    }
    m->log.fn = params.log_fn;
    m->log.user = params.log_user;
    m->vocab_only = params.vocab_only;
    st = qlm__gguf_open_ex(path, params.no_mmap, &m->gguf);
    if (st != QLM_OK) goto fail;
    qlm__log(&m->log, QLM_LOG_INFO, "%s: GGUF v%u, %lld tensors, %lld metadata entries", path,
             m->gguf->version, (long long)m->gguf->n_tensors, (long long)m->gguf->n_kv);
    kv = qlm__gguf_find(m->gguf, "general.architecture");
    if (kv < 0 || qlm__gguf_kv_type(m->gguf, kv) != QLM__GGUF_STR) {
        qlm__errorf("%s: general.architecture is missing", path);
        st = QLM_ERR_FORMAT;
        goto fail;
    } else {
        qlm__str s = qlm__gguf_get_str(m->gguf, kv);
        snprintf(m->arch_name, sizeof m->arch_name, "%.*s", (int)QLM__MIN(s.len, 31), s.ptr);
    }
    m->name = qlm__meta_strdup(m->gguf, "general.name");
    m->chat_template = qlm__meta_strdup(m->gguf, "tokenizer.chat_template");
    st = qlm__vocab_load(&m->vocab, m->gguf);
    if (st != QLM_OK) {
        char tmp[512];
        snprintf(tmp, sizeof tmp, "%s", qlm__err_buf);
        qlm__errorf("%s: %s", path, tmp);
        goto fail;
    }
    /* tensor descriptors over the mapped data */
    m->n_w = m->gguf->n_tensors;
    m->w = (qlm__tensor *)qlm__calloc((size_t)(m->n_w ? m->n_w : 1), sizeof *m->w);
    if (!m->w) {
        st = QLM_ERR_NOMEM;
        goto fail;
    }
    for (i = 0; i < m->n_w; i++) {
        const qlm__gguf_tensor *gt = &m->gguf->tensors[i];
        qlm__tensor *t = &m->w[i];
        int d;
        uint64_t nel = 1;
        t->type = gt->type;
        for (d = 0; d < 4; d++) {
            t->ne[d] = gt->ne[d];
            nel *= (uint64_t)gt->ne[d];
        }
        t->nb[0] = qlm__type_traits[t->type].type_size;
        t->nb[1] = qlm__row_size(t->type, t->ne[0]);
        for (d = 2; d < 4; d++) t->nb[d] = t->nb[d - 1] * (size_t)t->ne[d - 1];
        t->data = (void *)gt->data;
        t->offs = -1;
        t->layer = -1;
        snprintf(t->name, sizeof t->name, "%.*s", (int)gt->name.len, gt->name.ptr);
        m->n_params += nel;
        m->size += gt->size;
    }
    if (params.vocab_only) {
        *out = m;
        return QLM_OK;
    }
    for (k = 0; k < sizeof qlm__supported_archs / sizeof *qlm__supported_archs; k++)
        if (strcmp(m->arch_name, qlm__supported_archs[k].name) == 0) break;
    if (k == sizeof qlm__supported_archs / sizeof *qlm__supported_archs) {
        qlm__errorf("%s: architecture '%s' is not supported (supported: llama, qwen2, qwen3, "
                    "gemma3)", path, m->arch_name);
        st = QLM_ERR_UNSUPPORTED;
        goto fail;
    }
    m->hp.arch = qlm__supported_archs[k].arch;
    if ((st = qlm__load_hparams(m, path)) != QLM_OK) goto fail;
    if ((st = qlm__load_weights(m, path)) != QLM_OK) goto fail;
    for (i = 0; i < m->n_w; i++)
        if (m->w[i].layer != -2)
            qlm__log(&m->log, QLM_LOG_WARN, "%s: tensor '%s' is not used", path, m->w[i].name);
    if ((st = qlm__prefault(m, params.progress_fn, params.progress_user)) != QLM_OK) goto fail;
    qlm__log(&m->log, QLM_LOG_INFO,
             "%s: %s, %lld layers, embd %lld, heads %lld/%lld, head_dim %lld, ff %lld, vocab %lld",
             path, m->arch_name, (long long)m->hp.n_layer, (long long)m->hp.n_embd,
             (long long)m->hp.n_head, (long long)m->hp.n_head_kv, (long long)m->hp.head_dim,
             (long long)m->hp.n_ff, (long long)m->hp.n_vocab);
    *out = m;
    return QLM_OK;
fail:
    if (st == QLM_ERR_NOMEM && !qlm__err_buf[0]) qlm__errorf("%s: out of memory", path);
    qlm_model_free(m);
    return st;
}

QLM_API const char *qlm_model_arch(const qlm_model *m) { return m->arch_name; }
QLM_API const char *qlm_model_name(const qlm_model *m) { return m->name ? m->name : ""; }
QLM_API int32_t qlm_model_n_vocab(const qlm_model *m) { return qlm__vocab_n_tokens(m->vocab); }
QLM_API int32_t qlm_model_n_ctx_train(const qlm_model *m) { return (int32_t)m->hp.n_ctx_train; }
QLM_API int32_t qlm_model_n_embd(const qlm_model *m) { return (int32_t)m->hp.n_embd; }
QLM_API int32_t qlm_model_n_layer(const qlm_model *m) { return (int32_t)m->hp.n_layer; }
QLM_API uint64_t qlm_model_n_params(const qlm_model *m) { return m->n_params; }
QLM_API uint64_t qlm_model_size(const qlm_model *m) { return m->size; }
QLM_API const char *qlm_model_chat_template(const qlm_model *m) { return m->chat_template; }
QLM_API int32_t qlm_model_meta_count(const qlm_model *m) { return (int32_t)m->gguf->n_kv; }
QLM_API qlm_status qlm_model_meta(const qlm_model *m, int32_t i, const char **key, char *val,
                                  size_t cap) {
    static QLM__TLS char kbuf[256];
    if (!m || i < 0 || i >= m->gguf->n_kv) {
        qlm__errorf("qlm_model_meta: index %d out of range", i);
        return QLM_ERR_INVALID_ARG;
    }
    snprintf(kbuf, sizeof kbuf, "%.*s", (int)QLM__MIN(m->gguf->kv[i].key.len, 255),
             m->gguf->kv[i].key.ptr);
    if (key) *key = kbuf;
    if (val && cap) qlm__gguf_kv_text(m->gguf, i, val, cap);
    return QLM_OK;
}
QLM_API int32_t qlm_model_tensor_count(const qlm_model *m) { return (int32_t)m->n_w; }
QLM_API qlm_status qlm_model_tensor(const qlm_model *m, int32_t i, const char **name,
                                    qlm_type *type, int64_t ne[4], uint64_t *bytes) {
    int d;
    if (!m || i < 0 || i >= m->n_w) {
        qlm__errorf("qlm_model_tensor: index %d out of range", i);
        return QLM_ERR_INVALID_ARG;
    }
    if (name) *name = m->w[i].name;
    if (type) *type = m->w[i].type;
    if (ne)
        for (d = 0; d < 4; d++) ne[d] = m->w[i].ne[d];
    if (bytes) *bytes = m->gguf->tensors[i].size;
    return QLM_OK;
}
QLM_API const char *qlm_type_name(qlm_type t) {
    if ((int)t < 0 || (int)t >= QLM_TYPE_COUNT || !qlm__type_traits[t].name) return "unknown";
    return qlm__type_traits[t].name;
}

QLM_API int32_t qlm_token_bos(const qlm_model *m) { return qlm__vocab_bos(m->vocab); }
QLM_API int32_t qlm_token_eos(const qlm_model *m) { return qlm__vocab_eos(m->vocab); }
QLM_API int qlm_token_is_eog(const qlm_model *m, int32_t t) { return qlm__vocab_is_eog(m->vocab, t); }

QLM_API qlm_status qlm_tokenize(const qlm_model *m, const char *text, int32_t text_len,
                                int32_t *tokens, int32_t cap, int add_special, int parse_special,
                                int32_t *n_tokens) {
    int32_t n;
    if (!m || !text || text_len < 0 || cap < 0 || (cap > 0 && !tokens)) {
        qlm__errorf("qlm_tokenize: bad arguments");
        return QLM_ERR_INVALID_ARG;
    }
    n = qlm__tokenize(m->vocab, text, text_len, tokens, cap, add_special, parse_special);
    if (n == INT32_MIN) return QLM_ERR_NOMEM;
    if (n_tokens) *n_tokens = n < 0 ? -n : n;
    if (n < 0) {
        qlm__errorf("qlm_tokenize: %d tokens do not fit in %d", -n, cap);
        return QLM_ERR_BUFFER_TOO_SMALL;
    }
    return QLM_OK;
}

QLM_API qlm_status qlm_token_to_piece(const qlm_model *m, int32_t tok, char *buf, int32_t cap,
                                      int special, int32_t *n_bytes) {
    int32_t n;
    if (!m || tok < 0 || tok >= qlm__vocab_n_tokens(m->vocab) || cap < 0 || (cap && !buf)) {
        qlm__errorf("qlm_token_to_piece: bad token %d or buffer", tok);
        return QLM_ERR_INVALID_ARG;
    }
    n = qlm__token_to_piece(m->vocab, tok, buf, cap, special);
    if (n_bytes) *n_bytes = n < 0 ? -n : n;
    return n < 0 ? QLM_ERR_BUFFER_TOO_SMALL : QLM_OK;
}

QLM_API qlm_status qlm_detokenize(const qlm_model *m, const int32_t *toks, int32_t n, char *buf,
                                  int32_t cap, int32_t *n_bytes) {
    int32_t r;
    if (!m || n < 0 || (n && !toks) || cap < 0 || (cap && !buf)) {
        qlm__errorf("qlm_detokenize: bad arguments");
        return QLM_ERR_INVALID_ARG;
    }
    r = qlm__detokenize(m->vocab, toks, n, buf, cap, 0, 0);
    if (n_bytes) *n_bytes = r < 0 ? -r : r;
    if (r < 0 || r >= cap) return QLM_ERR_BUFFER_TOO_SMALL;
    buf[r] = 0;
    return QLM_OK;
}

QLM_API qlm_status qlm_chat_format(const qlm_model *m, const char *const *roles,
                                   const char *const *contents, int32_t n_msg, int add_ass,
                                   char *buf, int32_t cap, int32_t *n_bytes) {
    qlm__sb sb;
    qlm_status st;
    if (!m || n_msg < 0 || (n_msg && (!roles || !contents)) || cap < 0 || (cap && !buf)) {
        qlm__errorf("qlm_chat_format: bad arguments");
        return QLM_ERR_INVALID_ARG;
    }
    memset(&sb, 0, sizeof sb);
    st = qlm__chat_format(m->chat_template, NULL, roles, contents, n_msg, add_ass, &sb);
    if (st == QLM_OK) {
        if (n_bytes) *n_bytes = (int32_t)sb.len;
        if ((int64_t)sb.len + 1 > cap) st = QLM_ERR_BUFFER_TOO_SMALL;
        else memcpy(buf, sb.buf ? sb.buf : "", sb.len + 1);
    }
    QLM_FREE(sb.buf);
    return st;
}

/* >>public: contexts ------------------------------------------------------------------------*/
struct qlm_ctx {
    qlm_model *model;
    qlm_ctx_params par;
    qlm__kv kv;
    qlm__graph g;
    qlm__tensor *inp_tokens, *inp_pos, *inp_out, *logits_t;
    qlm__pool *pool;
    qlm__exec ex;
    qlm__backend cpu;
    int32_t n_past;
    int32_t *hist; /* tokens by position, from hist_base on (a sliding view when bounded) */
    int32_t hist_base;
    float *logits;
    int32_t n_logits_rows, logits_cap_rows, last_all;
    qlm__sampler smp;
    volatile int interrupt;
    char err[512];
};

/* Lay out the cache for these parameters (defaults filled in par): per-layer cells and the
   segment geometry; kv->L must hold n_layer entries. Shared by qlm_plan and qlm_ctx_new. */
static qlm_status qlm__kv_layout(qlm__kv *kv, const qlm__hparams *hp, qlm_ctx_params *par) {
    int32_t il, B, S = par->n_sinks, all_bounded = 1;
    int h2o = par->kv_evict == QLM_KV_EVICT_H2O;
    if (par->n_ctx < 0 || par->n_batch < 0 || par->n_threads < 0 || par->swa < 0 || S < 0 ||
        par->kv_budget < 0) {
        qlm__errorf("negative n_ctx, n_batch, n_threads, swa, n_sinks or kv_budget");
        return QLM_ERR_INVALID_ARG;
    }
    if ((unsigned)par->type_k >= QLM_KV_COUNT || (unsigned)par->type_v >= QLM_KV_COUNT) {
        qlm__errorf("unknown KV cache type %d/%d", (int)par->type_k, (int)par->type_v);
        return QLM_ERR_INVALID_ARG;
    }
    if (par->kv_evict != QLM_KV_EVICT_NONE && !h2o) {
        qlm__errorf("unknown KV eviction policy %d", par->kv_evict);
        return QLM_ERR_INVALID_ARG;
    }
    if (h2o && S > 0) {
        qlm__errorf("attention sinks and H2O eviction are alternatives: choose one");
        return QLM_ERR_INVALID_ARG;
    }
    if (hp->n_head / hp->n_head_kv > QLM__ATT_MAX_GROUP) {
        qlm__errorf("%lld query heads per KV head: at most %d are supported",
                    (long long)(hp->n_head / hp->n_head_kv), QLM__ATT_MAX_GROUP);
        return QLM_ERR_UNSUPPORTED;
    }
    if (par->n_ctx == 0) par->n_ctx = (int32_t)QLM__MIN(hp->n_ctx_train, 4096);
    if (par->n_batch == 0) /* bounded: small batches keep the ring's slack small */
        par->n_batch = S > 0 || h2o || par->swa > 0 ? (int32_t)QLM__MAX(1, QLM__MIN(64, (par->n_ctx - S) / 4)) : 512;
    if (par->n_batch > par->n_ctx) par->n_batch = par->n_ctx;
    if (par->n_threads == 0) par->n_threads = qlm__n_cpus();
    if (par->n_threads > 256) par->n_threads = 256;
    B = par->n_batch;
    kv->type_k = par->type_k;
    kv->type_v = par->type_v;
    kv->rot_k = par->type_k != QLM_KV_F16 && !par->no_kv_rot;
    kv->center_k = par->type_k != QLM_KV_F16;
    if (par->kv_recent > QLM__KV_RECENT_MAX) {
        qlm__errorf("kv_recent %d: at most %d recent keys are kept exact", par->kv_recent, QLM__KV_RECENT_MAX);
        return QLM_ERR_INVALID_ARG;
    }
    kv->recent = !kv->center_k || par->kv_recent < 0 ? 0 : par->kv_recent ? par->kv_recent : QLM__KV_RECENT;
    kv->rot_v = par->type_v != QLM_KV_F16 && !par->no_kv_rot;
    kv->hd = (int32_t)hp->head_dim;
    kv->n_head_kv = (int32_t)hp->n_head_kv;
    kv->n_layer = (int32_t)hp->n_layer;
    kv->seg_k = qlm__kv_seg_bytes(par->type_k, hp->head_dim);
    kv->seg_v = qlm__kv_seg_bytes(par->type_v, hp->head_dim);
    if (!kv->seg_k || !kv->seg_v) {
        qlm__errorf("a %s KV cache needs head_dim to be a multiple of 32 (it is %lld)",
                    qlm__kv_traits[kv->seg_k ? par->type_v : par->type_k].name,
                    (long long)hp->head_dim);
        return QLM_ERR_UNSUPPORTED;
    }
    kv->row_k = kv->seg_k * (size_t)hp->n_head_kv;
    kv->row_v = kv->seg_v * (size_t)hp->n_head_kv;
    kv->n_cells_max = 0;
    kv->bytes = 0;
    for (il = 0; il < hp->n_layer; il++) {
        qlm__kv_layer *L = &kv->L[il];
        int local = hp->swa_window > 0 && hp->is_swa[il];
        int32_t W = local ? hp->swa_window : 0;
        memset(L, 0, sizeof *L);
        if (par->swa > 0 && (W == 0 || par->swa < W)) W = par->swa;
        if (!local && h2o) {
            L->h2o = 1;
            L->budget = par->kv_budget ? par->kv_budget : par->n_ctx / 2;
            if (L->budget < 2) {
                qlm__errorf("an H2O budget of %d cells is too small", L->budget);
                return QLM_ERR_INVALID_ARG;
            }
            L->n_cells = L->budget + B;
        } else {
            if (!local && S > 0) { /* StreamingLLM on the global layers: -c is their memory */
                L->sinks = S;
                if (W == 0) W = par->n_ctx - S - B;
                if (W < 1) {
                    qlm__errorf("-c %d cannot hold %d sinks, batches of %d and a window", par->n_ctx,
                                S, B);
                    return QLM_ERR_INVALID_ARG;
                }
            }
            L->window = W;
            L->n_cells = W > 0 ? L->sinks + W + B : par->n_ctx;
        }
        if (!L->h2o && L->window == 0) all_bounded = 0;
    }
    kv->bounded = all_bounded;
    for (il = 0; il < hp->n_layer; il++) {
        qlm__kv_layer *L = &kv->L[il];
        /* positions stay below n_ctx unless every layer is bounded: then no ring need be longer */
        if (!all_bounded && L->n_cells > par->n_ctx) L->n_cells = par->n_ctx;
        if (L->n_cells > kv->n_cells_max) kv->n_cells_max = L->n_cells;
        kv->bytes += qlm__kv_bytes_layer(kv, L);
    }
    return QLM_OK;
}

QLM_API qlm_status qlm_plan(const qlm_model *m, qlm_ctx_params par, qlm_plan_info *out) {
    qlm__kv kv;
    qlm_status st;
    int32_t il;
    if (!m || !out || m->vocab_only) {
        qlm__errorf("qlm_plan: %s", !m || !out ? "bad arguments" : "the model was loaded vocab-only");
        return QLM_ERR_INVALID_ARG;
    }
    memset(&kv, 0, sizeof kv);
    memset(out, 0, sizeof *out);
    kv.L = (qlm__kv_layer *)qlm__calloc((size_t)m->hp.n_layer, sizeof(qlm__kv_layer));
    if (!kv.L) return QLM_ERR_NOMEM;
    st = qlm__kv_layout(&kv, &m->hp, &par);
    if (st == QLM_OK) {
        out->weights_bytes = m->size;
        out->kv_bytes = kv.bytes;
        out->kv_bytes_per_token = (uint64_t)(kv.row_k + kv.row_v) * (uint64_t)m->hp.n_layer;
        for (il = 0; il < m->hp.n_layer; il++) {
            if (kv.L[il].window == 0 && !kv.L[il].h2o) out->n_layer_full++;
            else out->kv_bytes_fixed += qlm__kv_bytes_layer(&kv, &kv.L[il]);
        }
        out->n_ctx = par.n_ctx;
        out->n_batch = par.n_batch;
        out->bounded = kv.bounded;
        out->n_layer = (int32_t)m->hp.n_layer;
        out->n_head_kv = (int32_t)m->hp.n_head_kv;
        out->head_dim = (int32_t)m->hp.head_dim;
        out->kv_recent = kv.recent;
        out->seg_k_bytes = kv.seg_k;
        out->seg_v_bytes = kv.seg_v;
    }
    QLM_FREE(kv.L);
    return st;
}

QLM_API const char *qlm_kv_type_name(qlm_kv_type t) {
    return (unsigned)t < QLM_KV_COUNT ? qlm__kv_traits[t].name : "?";
}
QLM_API qlm_status qlm_kv_type_parse(const char *name, qlm_kv_type *out) {
    int t;
    for (t = 0; name && t < QLM_KV_COUNT; t++)
        if (strcmp(name, qlm__kv_traits[t].name) == 0) {
            *out = (qlm_kv_type)t;
            return QLM_OK;
        }
    qlm__errorf("unknown KV cache type '%s' (f16, q8_0, fp8, q4, q4_0)", name ? name : "");
    return QLM_ERR_INVALID_ARG;
}

/* H2O, after a forward pass: every head of every H2O layer keeps its budget of slots, the
   most recent budget/2 positions and the older ones with the largest attention mass; kept
   slots are compacted to the front (their segments moved), so slots in use stay 0..n_used. */
static void qlm__kv_evict(qlm__kv *kv, int32_t n_new) {
    int32_t il, h, i;
    for (il = 0; il < kv->n_layer; il++) {
        qlm__kv_layer *L = &kv->L[il];
        int32_t n = kv->n_used ? kv->n_used[il] + n_new : 0;
        if (!L->h2o) continue;
        if (n <= L->budget) {
            kv->n_used[il] = n;
            continue;
        }
        for (h = 0; h < kv->n_head_kv; h++) {
            int32_t *pos = kv->slot_pos[il] + (size_t)h * L->n_cells, newest = -1, recent, heavy, w;
            float *mass = kv->slot_mass[il] + (size_t)h * L->n_cells;
            for (i = 0; i < n; i++) newest = QLM__MAX(newest, pos[i]);
            recent = L->budget / 2;
            heavy = L->budget - recent;
            /* keep flag in the sign of pos: mark recent, then the `heavy` largest of the rest */
            for (i = 0; i < n; i++)
                if (pos[i] > newest - recent) pos[i] = -2 - pos[i];
            while (heavy-- > 0) {
                int32_t best = -1;
                for (i = 0; i < n; i++)
                    if (pos[i] >= 0 && (best < 0 || mass[i] > mass[best])) best = i;
                if (best < 0) break;
                pos[best] = -2 - pos[best];
            }
            for (i = 0, w = 0; i < n; i++) {
                if (pos[i] >= 0) continue; /* evicted */
                if (w != i) {
                    memcpy(qlm__kv_kseg(kv, il, h, w), qlm__kv_kseg(kv, il, h, i), kv->seg_k);
                    memcpy(qlm__kv_vseg(kv, il, h, w), qlm__kv_vseg(kv, il, h, i), kv->seg_v);
                    mass[w] = mass[i];
                }
                pos[w++] = -2 - pos[i];
            }
            for (i = w; i < L->n_cells; i++) pos[i] = -1;
        }
        kv->n_used[il] = L->budget;
    }
}

static qlm_status qlm__ctx_fail(qlm_ctx *c, qlm_status st) {
    snprintf(c->err, sizeof c->err, "%s", qlm__err_buf);
    return st;
}

/* The forward graph of the llama family for up to n_batch tokens. One builder for every
   architecture: differences are flags in hparams. */
static qlm_status qlm__build_graph(qlm_ctx *c) {
    qlm_model *m = c->model;
    const qlm__hparams *hp = &m->hp;
    qlm__graph *g = &c->g;
    int64_t B = c->par.n_batch, E = hp->n_embd, hd = hp->head_dim, il;
    qlm__tensor *x, *cur, *q, *k, *v, *st, *att;
    float kq_scale = 1.0f / sqrtf((float)hd);
#define QLM__NODE(var, op_, type_, ne0, rows_, s0, s1, s2)                  \
    do {                                                                    \
        qlm__tensor *a0_ = (s0), *a1_ = (s1), *a2_ = (s2);                  \
        qlm__tensor *n_ = qlm__g_new(g, op_, type_, ne0, B, rows_);         \
        if (!n_) return QLM_ERR_INTERNAL;                                   \
        n_->src[0] = a0_;                                                   \
        n_->src[1] = a1_;                                                   \
        n_->src[2] = a2_;                                                   \
        n_->layer = (int)il;                                                \
        var = n_;                                                           \
    } while (0)
    g->cap_pool = (int)(48 * hp->n_layer + 64);
    g->pool = (qlm__tensor *)qlm__calloc((size_t)g->cap_pool, sizeof(qlm__tensor));
    g->nodes = (qlm__tensor **)qlm__calloc((size_t)g->cap_pool, sizeof(qlm__tensor *));
    if (!g->pool || !g->nodes) return QLM_ERR_NOMEM;
    g->n_layer = (int)hp->n_layer;
    il = -1;
    c->inp_tokens = qlm__g_new(g, QLM__OP_NONE, QLM__TYPE_I32, B, 1, 0);
    c->inp_pos = qlm__g_new(g, QLM__OP_NONE, QLM__TYPE_I32, B, 1, 0);
    c->inp_out = qlm__g_new(g, QLM__OP_NONE, QLM__TYPE_I32, B, 1, 0);
    QLM__NODE(x, QLM__OP_GET_ROWS, QLM_TYPE_F32, E, 1, m->tok_embd, c->inp_tokens, NULL);
    if (hp->embd_scale > 0) {
        QLM__NODE(x, QLM__OP_SCALE, QLM_TYPE_F32, E, 1, x, NULL, NULL);
        memcpy(&x->p[0], &hp->embd_scale, 4);
    }
    for (il = 0; il < hp->n_layer; il++) {
        const qlm__layer *L = &m->layers[il];
        int swa = hp->swa_window > 0 && hp->is_swa[il];
        float base = swa ? hp->rope_base_swa : hp->rope_base, one = 1.0f;
#define QLM__NORM(out, in, w, group)                                           \
    QLM__NODE(out, QLM__OP_RMS_NORM, QLM_TYPE_F32, (in)->ne[0], 1, in, NULL, NULL); \
    memcpy(&out->p[0], &hp->eps, 4);                                           \
    out->p[1] = (int32_t)(group);                                              \
    QLM__NODE(out, QLM__OP_MUL, QLM_TYPE_F32, (in)->ne[0], 1, out, w, NULL)
        QLM__NORM(cur, x, L->attn_norm, 0);
        QLM__NODE(q, QLM__OP_MUL_MAT, QLM_TYPE_F32, hd * hp->n_head, 1, L->wq, cur, NULL);
        QLM__NODE(k, QLM__OP_MUL_MAT, QLM_TYPE_F32, hd * hp->n_head_kv, 1, L->wk, cur, NULL);
        QLM__NODE(v, QLM__OP_MUL_MAT, QLM_TYPE_F32, hd * hp->n_head_kv, 1, L->wv, cur, NULL);
        if (hp->qkv_bias) {
            QLM__NODE(q, QLM__OP_ADD, QLM_TYPE_F32, q->ne[0], 1, q, L->bq, NULL);
            QLM__NODE(k, QLM__OP_ADD, QLM_TYPE_F32, k->ne[0], 1, k, L->bk, NULL);
            QLM__NODE(v, QLM__OP_ADD, QLM_TYPE_F32, v->ne[0], 1, v, L->bv, NULL);
        }
        if (hp->qk_norm) {
            QLM__NORM(q, q, L->q_norm, hd);
            QLM__NORM(k, k, L->k_norm, hd);
        }
        QLM__NODE(q, QLM__OP_ROPE, QLM_TYPE_F32, hd * hp->n_head, 1, q, c->inp_pos, NULL);
        q->p[0] = (int32_t)hp->n_rot;
        q->p[1] = hp->rope_neox;
        q->p[2] = (int32_t)hd;
        memcpy(&q->p[3], &base, 4);
        memcpy(&q->p[4], &hp->rope_freq_scale, 4);
        QLM__NODE(k, QLM__OP_ROPE, QLM_TYPE_F32, hd * hp->n_head_kv, 1, k, c->inp_pos, NULL);
        memcpy(k->p, q->p, sizeof k->p);
        if (hp->q_scale > 0) {
            QLM__NODE(q, QLM__OP_SCALE, QLM_TYPE_F32, q->ne[0], 1, q, NULL, NULL);
            memcpy(&q->p[0], &hp->q_scale, 4);
        }
        QLM__NODE(st, QLM__OP_KV_STORE, QLM_TYPE_F32, 1, 1, k, v, q); /* q: for K's smoothing */
        st->p[0] = (int32_t)il;
        QLM__NODE(att, QLM__OP_ATTN, QLM_TYPE_F32, hd * hp->n_head, 1, q, st, NULL);
        att->p[0] = (int32_t)il;
        att->p[1] = (int32_t)hp->n_head;
        att->p[2] = (int32_t)hp->n_head_kv;
        att->p[3] = (int32_t)hd;
        memcpy(&att->p[4], hp->q_scale > 0 ? &one : &kq_scale, 4);
        QLM__NODE(cur, QLM__OP_MUL_MAT, QLM_TYPE_F32, E, 1, L->wo, att, NULL);
        if (hp->post_norms) {
            QLM__NORM(cur, cur, L->post_attn_norm, 0);
        }
        QLM__NODE(x, QLM__OP_ADD, QLM_TYPE_F32, E, 1, cur, x, NULL);
        QLM__NORM(cur, x, L->ffn_norm, 0);
        QLM__NODE(q, QLM__OP_MUL_MAT, QLM_TYPE_F32, hp->n_ff, 1, L->gate, cur, NULL);
        QLM__NODE(k, QLM__OP_MUL_MAT, QLM_TYPE_F32, hp->n_ff, 1, L->up, cur, NULL);
        QLM__NODE(cur, hp->gelu ? QLM__OP_GEGLU : QLM__OP_SWIGLU, QLM_TYPE_F32, hp->n_ff, 1, q, k,
                  NULL);
        QLM__NODE(cur, QLM__OP_MUL_MAT, QLM_TYPE_F32, E, 1, L->down, cur, NULL);
        if (hp->post_norms) {
            QLM__NORM(cur, cur, L->post_ffn_norm, 0);
        }
        QLM__NODE(x, QLM__OP_ADD, QLM_TYPE_F32, E, 1, cur, x, NULL);
#undef QLM__NORM
    }
    /* only the rows whose logits are wanted go through the output layer */
    QLM__NODE(x, QLM__OP_GET_ROWS, QLM_TYPE_F32, E, 2, x, c->inp_out, NULL);
    QLM__NODE(x, QLM__OP_RMS_NORM, QLM_TYPE_F32, E, 2, x, NULL, NULL);
    memcpy(&x->p[0], &hp->eps, 4);
    QLM__NODE(x, QLM__OP_MUL, QLM_TYPE_F32, E, 2, x, m->out_norm, NULL);
    QLM__NODE(c->logits_t, QLM__OP_MUL_MAT, QLM_TYPE_F32, hp->n_vocab, 2, m->output, x, NULL);
#undef QLM__NODE
    return QLM_OK;
}

QLM_API void qlm_ctx_free(qlm_ctx *c) {
    if (!c) return;
    qlm__pool_free(c->pool);
    QLM_FREE(c->kv.buf);
    QLM_FREE(c->kv.k);
    QLM_FREE(c->kv.v);
    QLM_FREE(c->kv.L);
    QLM_FREE(c->kv.slot_pos);
    QLM_FREE(c->kv.slot_mass);
    QLM_FREE(c->kv.n_used);
    QLM_FREE(c->kv.k_mean);
    QLM_FREE(c->kv.k_smooth);
    QLM_FREE(c->kv.rk);
    QLM_FREE(c->kv.rpos);
    QLM_FREE(c->ex.kbatch);
    QLM_FREE(c->ex.att_part);
    QLM_FREE(c->g.pool);
    QLM_FREE(c->g.nodes);
    QLM_FREE(c->g.arena);
    QLM_FREE(c->ex.wdata);
    QLM_FREE(c->ex.att);
    QLM_FREE(c->ex.f16_table);
    QLM_FREE(c->hist);
    QLM_FREE(c->logits);
    QLM_FREE(c->smp.cand);
    QLM_FREE(c);
}

QLM_API qlm_status qlm_ctx_new(qlm_model *m, qlm_ctx_params par, qlm_ctx **out) {
    qlm_ctx *c;
    qlm_status st;
    const qlm__hparams *hp;
    int64_t il, i;
    size_t wsize = 0;
    if (!out) return QLM_ERR_INVALID_ARG;
    *out = NULL;
    if (!m || m->vocab_only) {
        qlm__errorf("qlm_ctx_new: %s", m ? "the model was loaded vocab-only" : "no model");
        return QLM_ERR_INVALID_ARG;
    }
    hp = &m->hp;
    c = (qlm_ctx *)qlm__calloc(1, sizeof *c);
    if (!c) return QLM_ERR_NOMEM;
    c->model = m;
    /* KV cache: one buffer, each layer sized by the shared function */
    c->kv.L = (qlm__kv_layer *)qlm__calloc((size_t)hp->n_layer, sizeof(qlm__kv_layer));
    if (!c->kv.L) {
        QLM_FREE(c);
        return QLM_ERR_NOMEM;
    }
    st = qlm__kv_layout(&c->kv, hp, &par);
    if (st != QLM_OK) {
        qlm_ctx_free(c);
        return st;
    }
    c->par = par;
    c->kv.k = (uint8_t **)qlm__calloc((size_t)hp->n_layer, sizeof(uint8_t *));
    c->kv.v = (uint8_t **)qlm__calloc((size_t)hp->n_layer, sizeof(uint8_t *));
    c->kv.slot_pos = (int32_t **)qlm__calloc((size_t)hp->n_layer, sizeof(int32_t *));
    c->kv.slot_mass = (float **)qlm__calloc((size_t)hp->n_layer, sizeof(float *));
    c->kv.n_used = (int32_t *)qlm__calloc((size_t)hp->n_layer, sizeof(int32_t));
    c->kv.k_mean = (float **)qlm__calloc((size_t)hp->n_layer, sizeof(float *));
    c->kv.k_smooth = (float **)qlm__calloc((size_t)hp->n_layer, sizeof(float *));
    c->kv.rk = (qlm__f16 **)qlm__calloc((size_t)hp->n_layer, sizeof(qlm__f16 *));
    c->kv.rpos = (int32_t **)qlm__calloc((size_t)hp->n_layer, sizeof(int32_t *));
    c->kv.buf = (uint8_t *)QLM_MALLOC(c->kv.bytes ? c->kv.bytes : 1);
    if (!c->kv.buf || !c->kv.k || !c->kv.v || !c->kv.slot_pos || !c->kv.slot_mass || !c->kv.n_used ||
        !c->kv.k_mean || !c->kv.k_smooth || !c->kv.rk || !c->kv.rpos) {
        qlm__errorf("out of memory for a KV cache of %d tokens (%.1f MiB)", par.n_ctx,
                    (double)c->kv.bytes / (1 << 20));
        qlm_ctx_free(c);
        return QLM_ERR_NOMEM;
    }
    {
        uint8_t *p = c->kv.buf;
        for (il = 0; il < hp->n_layer; il++) {
            const qlm__kv_layer *L = &c->kv.L[il];
            size_t nc = (size_t)L->n_cells, nh = (size_t)c->kv.n_head_kv;
            uint8_t *q = p; /* as qlm__kv_bytes_layer lays it out */
            c->kv.k[il] = q;
            q += QLM__KV_PAD(c->kv.row_k * nc);
            c->kv.v[il] = q;
            q += QLM__KV_PAD(c->kv.row_v * nc);
            if (L->h2o) {
                c->kv.slot_pos[il] = (int32_t *)(void *)q;
                c->kv.slot_mass[il] = (float *)(void *)(c->kv.slot_pos[il] + nh * nc);
                for (i = 0; i < (int64_t)(nh * nc); i++) c->kv.slot_pos[il][i] = -1;
                q += (sizeof(int32_t) + sizeof(float)) * nh * nc;
            }
            if (c->kv.center_k) {
                c->kv.k_mean[il] = (float *)(void *)q;
                c->kv.k_smooth[il] = c->kv.k_mean[il] + nh * (size_t)c->kv.hd;
                memset(q, 0, sizeof(float) * nh * (size_t)c->kv.hd);
                for (i = 0; i < (int64_t)(nh * (size_t)c->kv.hd); i++) c->kv.k_smooth[il][i] = 1.0f;
                q += 2 * sizeof(float) * nh * (size_t)c->kv.hd;
            }
            if (c->kv.recent > 0 && !L->h2o) {
                size_t nr = qlm__kv_exact_slots(&c->kv);
                c->kv.rk[il] = (qlm__f16 *)(void *)q;
                q += QLM__KV_PAD(sizeof(qlm__f16) * nr * nh * (size_t)c->kv.hd);
                c->kv.rpos[il] = (int32_t *)(void *)q;
                for (i = 0; i < (int64_t)nr; i++) c->kv.rpos[il][i] = -1;
            }
            p += qlm__kv_bytes_layer(&c->kv, L);
        }
    }
    /* graph, arena, scratch */
    st = qlm__build_graph(c);
    if (st != QLM_OK) {
        qlm__errorf("cannot build the graph");
        qlm_ctx_free(c);
        return st;
    }
    c->g.arena_size = qlm__plan(&c->g, c->logits_t);
    c->g.arena = (uint8_t *)QLM_MALLOC(c->g.arena_size + 3 * (size_t)par.n_batch * 4 + 64);
    c->hist = (int32_t *)qlm__calloc((size_t)par.n_ctx, sizeof(int32_t));
    c->smp.cand = (qlm__cand *)qlm__calloc((size_t)hp->n_vocab, sizeof(qlm__cand));
    if (!c->g.arena || !c->hist || !c->smp.cand || !c->g.arena_size) {
        qlm__errorf("out of memory for the compute buffers");
        qlm_ctx_free(c);
        return QLM_ERR_NOMEM;
    }
    for (i = 0; i < c->g.n_pool; i++) {
        qlm__tensor *t = &c->g.pool[i];
        if (t->offs >= 0) t->data = c->g.arena + t->offs;
    }
    c->inp_tokens->data = c->g.arena + c->g.arena_size;
    c->inp_pos->data = (int32_t *)c->inp_tokens->data + par.n_batch;
    c->inp_out->data = (int32_t *)c->inp_pos->data + par.n_batch;
    for (i = 0; i < c->g.n_nodes; i++) {
        qlm__tensor *t = c->g.nodes[i];
        if (t->op == QLM__OP_MUL_MAT) {
            size_t need = qlm__mul_mat_wsize(t->src[0]->type, t->src[0]->ne[0], par.n_batch, par.n_threads);
            if (need > wsize) wsize = need;
        }
    }
    c->ex.wdata_size = wsize;
    c->ex.wdata = (uint8_t *)QLM_MALLOC(wsize ? wsize : 1);
    {   /* attention scratch (see qlm__op_attn): scores, accumulators, three prepared q */
        size_t g = (size_t)(hp->n_head / hp->n_head_kv), ld = QLM__ATT_BLOCK;
        for (il = 0; il < hp->n_layer; il++)
            if (c->kv.L[il].h2o && (size_t)c->kv.L[il].n_cells > ld) ld = (size_t)c->kv.L[il].n_cells;
        size_t G = g * (size_t)qlm__att_tq((int)g); /* heads of one tile */
        c->ex.att_stride = QLM__MAX(g * ld, G * QLM__ATT_BLOCK) + 4 * G * (size_t)hp->head_dim + 16;
        c->ex.att = (float *)qlm__calloc((size_t)par.n_threads * c->ex.att_stride, sizeof(float));
        c->ex.att_part = (float *)qlm__calloc(4 * (size_t)par.n_threads * g * (size_t)(hp->head_dim + 2),
                                              sizeof(float));
    }
    if (c->kv.recent > 0)
        c->ex.kbatch = (qlm__f16 *)QLM_MALLOC((size_t)par.n_batch * (size_t)c->kv.n_head_kv * (size_t)c->kv.hd *
                                              sizeof(qlm__f16));
    c->ex.f16_table = (float *)QLM_MALLOC(65536 * sizeof(float));
    if (c->ex.f16_table)
        for (i = 0; i < 65536; i++) c->ex.f16_table[i] = qlm__fp16_to_fp32((qlm__f16)i);
    if (!c->ex.wdata || !c->ex.att || !c->ex.att_part || !c->ex.f16_table || (c->kv.recent > 0 && !c->ex.kbatch)) {
        qlm__errorf("out of memory for the scratch buffers");
        qlm_ctx_free(c);
        return QLM_ERR_NOMEM;
    }
    st = qlm__kernels_select(&c->ex.kern, NULL);
    if (st == QLM_OK) st = qlm__pool_new(par.n_threads, &c->pool);
    if (st != QLM_OK) {
        qlm_ctx_free(c);
        return st;
    }
    c->ex.g = &c->g;
    c->ex.pool = c->pool;
    c->ex.hp = hp;
    c->ex.kv = &c->kv;
    c->ex.interrupt = &c->interrupt;
    c->cpu.version = 1;
    c->cpu.name = "cpu";
    c->cpu.supports = qlm__cpu_supports;
    c->cpu.run = qlm__cpu_run;
    c->cpu.sync = qlm__cpu_sync;
    c->cpu.state = &c->ex;
    c->smp.par = qlm_sampler_default_params();
    c->smp.rng = c->smp.par.seed;
    qlm__log(&m->log, QLM_LOG_INFO,
             "context: %d tokens, KV cache %.2f MiB (K %s, V %s%s%s), compute arena %.2f MiB, "
             "%d threads",
             par.n_ctx, (double)c->kv.bytes / (1 << 20), qlm__kv_traits[c->kv.type_k].name,
             qlm__kv_traits[c->kv.type_v].name, c->kv.rot_k || c->kv.rot_v ? ", rotated" : "",
             c->kv.bounded ? ", bounded" : "", (double)c->g.arena_size / (1 << 20), par.n_threads);
    *out = c;
    return QLM_OK;
}

QLM_API const char *qlm_ctx_errmsg(const qlm_ctx *c) { return c ? c->err : "no context"; }
QLM_API int32_t qlm_ctx_n_ctx(const qlm_ctx *c) { return c->par.n_ctx; }
QLM_API int32_t qlm_ctx_n_past(const qlm_ctx *c) { return c->n_past; }
QLM_API uint64_t qlm_ctx_kv_bytes(const qlm_ctx *c) { return c->kv.bytes; }
QLM_API int qlm_ctx_bounded(const qlm_ctx *c) { return c ? c->kv.bounded : 0; }
QLM_API void qlm_ctx_interrupt(qlm_ctx *c) {
    if (c) c->interrupt = 1;
}
QLM_API qlm_status qlm_ctx_set_cpu(qlm_ctx *c, const char *variant) {
    qlm__kernels k;
    qlm_status st;
    if (!c || !variant) return QLM_ERR_INVALID_ARG;
    st = qlm__kernels_select(&k, variant);
    if (st != QLM_OK) return qlm__ctx_fail(c, st);
    c->ex.kern = k;
    return QLM_OK;
}
QLM_API const char *qlm_ctx_cpu(const qlm_ctx *c) { return c ? c->ex.kern.name : ""; }

QLM_API qlm_status qlm_ctx_truncate(qlm_ctx *c, int32_t n_keep) {
    int32_t il;
    if (!c || n_keep < 0) return QLM_ERR_INVALID_ARG;
    if (n_keep < c->n_past) {
        /* a ring holds positions max(sinks, n_past - ring) .. n_past - 1; rewinding to n_keep
           needs max(sinks, n_keep - window) .. n_keep - 1, else start over. H2O can rewind
           only while it has evicted nothing. */
        for (il = 0; il < c->kv.n_layer; il++) {
            const qlm__kv_layer *L = &c->kv.L[il];
            if (L->h2o && c->n_past > L->budget) n_keep = 0;
            if (!L->h2o && L->window > 0 && n_keep > 0 &&
                QLM__MAX(L->sinks, n_keep - L->window) < c->n_past - (L->n_cells - L->sinks))
                n_keep = 0;
        }
        for (il = 0; il < c->kv.n_layer; il++) {
            const qlm__kv_layer *L = &c->kv.L[il];
            int64_t i;
            if (!L->h2o) continue;
            c->kv.n_used[il] = n_keep;
            for (i = 0; i < (int64_t)c->kv.n_head_kv * L->n_cells; i++)
                if (i % L->n_cells >= n_keep) c->kv.slot_pos[il][i] = -1;
        }
        c->n_past = n_keep;
        if (c->hist_base > n_keep) c->hist_base = n_keep;
    }
    c->n_logits_rows = 0;
    return QLM_OK;
}

QLM_API qlm_status qlm_decode(qlm_ctx *c, const int32_t *toks, int32_t n, int all_logits) {
    const qlm__hparams *hp;
    int32_t done = 0, i, n_vocab;
    if (!c || n < 0 || (n && !toks)) {
        qlm__errorf("qlm_decode: bad arguments");
        return QLM_ERR_INVALID_ARG;
    }
    hp = &c->model->hp;
    n_vocab = (int32_t)hp->n_vocab;
    if (n == 0) return QLM_OK;
    if (!c->kv.bounded && (int64_t)c->n_past + n > c->par.n_ctx) {
        qlm__errorf("%d tokens after %d cached do not fit in the context of %d", n, c->n_past,
                    c->par.n_ctx);
        return qlm__ctx_fail(c, QLM_ERR_CONTEXT_FULL);
    }
    for (i = 0; i < n; i++)
        if (toks[i] < 0 || toks[i] >= n_vocab) {
            qlm__errorf("token %d at %d is outside the vocabulary (%d)", toks[i], i, n_vocab);
            return qlm__ctx_fail(c, QLM_ERR_INVALID_ARG);
        }
    {
        int32_t rows = all_logits ? n : 1;
        if (rows > c->logits_cap_rows) {
            float *p = (float *)QLM_REALLOC(c->logits, (size_t)rows * (size_t)n_vocab * 4);
            if (!p) {
                qlm__errorf("out of memory for %d rows of logits", rows);
                return qlm__ctx_fail(c, QLM_ERR_NOMEM);
            }
            c->logits = p;
            c->logits_cap_rows = rows;
        }
    }
    c->interrupt = 0;
    while (done < n) {
        int32_t nb = QLM__MIN(n - done, c->par.n_batch), nout;
        int32_t *it = (int32_t *)c->inp_tokens->data, *ip = (int32_t *)c->inp_pos->data,
                *io = (int32_t *)c->inp_out->data;
        int last = done + nb == n;
        for (i = 0; i < nb; i++) {
            it[i] = toks[done + i];
            ip[i] = c->n_past + i;
        }
        nout = 0;
        if (all_logits)
            for (i = 0; i < nb; i++) io[nout++] = i;
        else if (last)
            io[nout++] = nb - 1;
        c->ex.n_tokens = nb;
        c->ex.n_outputs = nout;
        c->ex.pos = ip;
        if (nout == 0) {
            /* no logits wanted from this chunk: skip the output layer */
            int k = c->g.n_nodes;
            while (k > 0 && c->g.nodes[k - 1]->rows == 2) k--;
            c->ex.first_node = 0;
            c->ex.last_node = k;
            qlm__pool_run(c->pool, qlm__exec_job, &c->ex);
        } else {
            c->cpu.run(&c->cpu, &c->g, -1, c->g.n_layer + 1);
            memcpy(c->logits + (size_t)(all_logits ? done : 0) * (size_t)n_vocab,
                   c->logits_t->data, (size_t)nout * (size_t)n_vocab * 4);
        }
        qlm__kv_evict(&c->kv, nb);
        {   /* bounded: the history is a sliding view of the last n_ctx tokens at most */
            int32_t have = c->n_past - c->hist_base;
            if (have + nb > c->par.n_ctx) {
                int32_t keep = QLM__MIN(have, QLM__MIN(c->par.n_ctx / 2, c->par.n_ctx - nb));
                memmove(c->hist, c->hist + (have - keep), (size_t)keep * sizeof(int32_t));
                c->hist_base = c->n_past - keep;
            }
            for (i = 0; i < nb; i++) c->hist[c->n_past - c->hist_base + i] = toks[done + i];
        }
        c->n_past += nb;
        done += nb;
        if (c->interrupt && done < n) {
            c->interrupt = 0;
            qlm__errorf("decode interrupted");
            return qlm__ctx_fail(c, QLM_ERR_CANCELLED);
        }
    }
    c->n_logits_rows = all_logits ? n : 1;
    c->last_all = all_logits;
    return QLM_OK;
}

QLM_API const float *qlm_logits(qlm_ctx *c, int32_t i) {
    if (!c || c->n_logits_rows == 0) return NULL;
    if (i < 0) i = c->n_logits_rows - 1;
    if (i >= c->n_logits_rows) return NULL;
    return c->logits + (size_t)i * (size_t)c->model->hp.n_vocab;
}

QLM_API void qlm_sampler_set(qlm_ctx *c, qlm_sampler_params p) {
    if (!c) return;
    c->smp.par = p;
    c->smp.rng = p.seed;
}

QLM_API qlm_status qlm_sample(qlm_ctx *c, int32_t *tok) {
    const float *lg;
    if (!c || !tok) return QLM_ERR_INVALID_ARG;
    lg = qlm_logits(c, -1);
    if (!lg) {
        qlm__errorf("qlm_sample: no logits (decode first)");
        return qlm__ctx_fail(c, QLM_ERR_INVALID_ARG);
    }
    if (c->smp.par.ignore_eog) { /* the logits row is ours: mask the end-of-generation tokens */
        int32_t v, nv = (int32_t)c->model->hp.n_vocab;
        float *row = (float *)(void *)(uintptr_t)lg;
        for (v = 0; v < nv; v++)
            if (qlm__vocab_is_eog(c->model->vocab, v)) row[v] = -INFINITY;
    }
    *tok = qlm__sample(&c->smp, lg, (int32_t)c->model->hp.n_vocab, c->hist, c->n_past - c->hist_base);
    return QLM_OK;
}

QLM_API qlm_status qlm_generate(qlm_ctx *c, const char *prompt, int32_t n_predict,
                                qlm_piece_fn on_piece, void *user) {
    int32_t n = 0, i, *toks;
    qlm_status st;
    char piece[256];
    if (!c || !prompt) return QLM_ERR_INVALID_ARG;
    st = qlm_tokenize(c->model, prompt, (int32_t)strlen(prompt), NULL, 0, c->n_past == 0, 1, &n);
    if (st != QLM_OK && st != QLM_ERR_BUFFER_TOO_SMALL) return qlm__ctx_fail(c, st);
    toks = (int32_t *)QLM_MALLOC((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!toks) return QLM_ERR_NOMEM;
    st = qlm_tokenize(c->model, prompt, (int32_t)strlen(prompt), toks, n, c->n_past == 0, 1, &n);
    if (st == QLM_OK && !c->kv.bounded && (int64_t)c->n_past + n > c->par.n_ctx) {
        qlm__errorf("the prompt has %d tokens and the context holds %d (%d already used)", n,
                    c->par.n_ctx, c->n_past);
        st = QLM_ERR_CONTEXT_FULL;
    }
    if (st == QLM_OK) st = qlm_decode(c, toks, n, 0);
    QLM_FREE(toks);
    if (st != QLM_OK) return qlm__ctx_fail(c, st);
    for (i = 0; n_predict < 0 || i < n_predict; i++) {
        int32_t tok, len = 0;
        if ((st = qlm_sample(c, &tok)) != QLM_OK) return st;
        if (qlm__vocab_is_eog(c->model->vocab, tok)) break;
        len = qlm__token_to_piece(c->model->vocab, tok, piece, (int32_t)sizeof piece - 1, 0);
        if (len < 0) len = 0;
        piece[len] = 0;
        if (on_piece && on_piece(piece, tok, user)) break;
        if (c->interrupt) {
            c->interrupt = 0;
            break;
        }
        if (!c->kv.bounded && c->n_past >= c->par.n_ctx) {
            qlm__errorf("the context of %d tokens is full", c->par.n_ctx);
            return qlm__ctx_fail(c, QLM_ERR_CONTEXT_FULL);
        }
        if ((st = qlm_decode(c, &tok, 1, 0)) != QLM_OK) return st;
    }
    return QLM_OK;
}

/* >>public: synthetic models ----------------------------------------------------------------*/
static float qlm__randn(uint64_t *s) { /* Box-Muller */
    double u1 = ((double)(qlm__rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
    double u2 = (double)(qlm__rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

/* llama.cpp's fallback when a row length is not a multiple of a k-quant's 256 */
static qlm_type qlm__fallback_type(qlm_type t, int64_t ne0) {
    if (ne0 % qlm__type_traits[t].blck_size == 0) return t;
    switch (t) {
    case QLM_TYPE_Q4_K: return QLM_TYPE_Q5_0;
    case QLM_TYPE_Q5_K: return QLM_TYPE_Q5_1;
    case QLM_TYPE_Q6_K: return QLM_TYPE_Q8_0;
    case QLM_TYPE_Q2_K: case QLM_TYPE_Q3_K: return QLM_TYPE_Q4_0;
    default: return t;
    }
}

QLM_API qlm_status qlm_write_synthetic(const char *path, const char *vocab_src,
                                       qlm_synth_params p, qlm_progress_fn progress, void *user) {
    qlm__gguf *src = NULL;
    qlm__gguf_writer w;
    qlm_status st;
    uint8_t **bufs = NULL;
    int n_bufs = 0, cap_bufs, il, nv_src;
    uint64_t rng;
    float *row = NULL;
    const char *skip[] = {"general.", "llama.", "tokenizer.ggml.tokens", "tokenizer.ggml.scores",
                          "tokenizer.ggml.token_type"};
    const char *arch = p.arch ? p.arch : "llama";
    char key[96];
    if (!path || !vocab_src) return QLM_ERR_INVALID_ARG;
    if (!p.n_embd) p.n_embd = 576;
    if (!p.n_layer) p.n_layer = 30;
    if (!p.n_head) p.n_head = 9;
    if (!p.n_head_kv) p.n_head_kv = 3;
    if (!p.n_ff) p.n_ff = 1536;
    if (!p.n_ctx_train) p.n_ctx_train = 8192;
    if (p.rope_base <= 0) p.rope_base = 10000.0f;
    if (p.type == QLM_TYPE_F32) p.type = QLM_TYPE_Q4_0;
    if (!qlm__type_valid(p.type) || !qlm__type_traits[p.type].vec_dot ||
        p.n_embd % qlm__type_traits[qlm__fallback_type(p.type, p.n_embd)].blck_size ||
        p.n_ff % qlm__type_traits[qlm__fallback_type(p.type, p.n_ff)].blck_size ||
        p.n_embd % p.n_head || p.n_head % p.n_head_kv || p.n_layer < 1 || p.n_layer > 512) {
        qlm__errorf("synthetic model: type %s or shape (embd %d, ff %d, heads %d/%d) is not usable",
                    qlm_type_name(p.type), p.n_embd, p.n_ff, p.n_head, p.n_head_kv);
        return QLM_ERR_INVALID_ARG;
    }
    if (strcmp(arch, "llama") != 0 && strcmp(arch, "qwen2") != 0 && strcmp(arch, "qwen3") != 0) {
        qlm__errorf("synthetic model: architecture '%s' (llama, qwen2, qwen3)", arch);
        return QLM_ERR_INVALID_ARG;
    }
    if ((st = qlm__gguf_open(vocab_src, &src)) != QLM_OK) return st;
    {
        int64_t kv = qlm__gguf_find(src, "tokenizer.ggml.tokens");
        nv_src = kv >= 0 ? (int)qlm__gguf_arr_n(src, kv) : 0;
        if (nv_src == 0) {
            qlm__errorf("%s: no vocabulary to copy", vocab_src);
            qlm__gguf_close(src);
            return QLM_ERR_FORMAT;
        }
        if (p.n_vocab < nv_src) p.n_vocab = nv_src;
    }
    memset(&w, 0, sizeof w);
    qlm__gw_string(&w, "general.architecture", arch);
    qlm__gw_string(&w, "general.name", "qlm synthetic (random weights)");
#define QLM__KEY(suffix) (snprintf(key, sizeof key, "%s." suffix, arch), key)
    qlm__gw_u32(&w, QLM__KEY("block_count"), (uint32_t)p.n_layer);
    qlm__gw_u32(&w, QLM__KEY("context_length"), (uint32_t)p.n_ctx_train);
    qlm__gw_u32(&w, QLM__KEY("embedding_length"), (uint32_t)p.n_embd);
    qlm__gw_u32(&w, QLM__KEY("feed_forward_length"), (uint32_t)p.n_ff);
    qlm__gw_u32(&w, QLM__KEY("attention.head_count"), (uint32_t)p.n_head);
    qlm__gw_u32(&w, QLM__KEY("attention.head_count_kv"), (uint32_t)p.n_head_kv);
    qlm__gw_f32(&w, QLM__KEY("rope.freq_base"), p.rope_base);
    qlm__gw_f32(&w, QLM__KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
#undef QLM__KEY
    qlm__gw_u32(&w, "general.file_type", (uint32_t)p.type);
    /* the vocabulary: tokens, scores and types copied, then padded with unused tokens */
    {
        int64_t kt = qlm__gguf_find(src, "tokenizer.ggml.tokens"),
                ks = qlm__gguf_find(src, "tokenizer.ggml.scores"),
                ky = qlm__gguf_find(src, "tokenizer.ggml.token_type"), i;
        char **toks = (char **)qlm__calloc((size_t)p.n_vocab, sizeof(char *));
        float *scores = (float *)qlm__calloc((size_t)p.n_vocab, sizeof(float));
        int32_t *types = (int32_t *)qlm__calloc((size_t)p.n_vocab, sizeof(int32_t));
        if (!toks || !scores || !types) st = QLM_ERR_NOMEM;
        for (i = 0; st == QLM_OK && i < p.n_vocab; i++) {
            double d = 0;
            if (i < nv_src) {
                qlm__str s = qlm__gguf_arr_str(src, kt, (uint64_t)i);
                toks[i] = qlm__strndup(s.ptr, (size_t)s.len);
                if (ks >= 0 && qlm__gguf_arr_get_f64(src, ks, (uint64_t)i, &d)) scores[i] = (float)d;
                types[i] = (ky >= 0 && qlm__gguf_arr_get_f64(src, ky, (uint64_t)i, &d)) ? (int32_t)d : 1;
            } else {
                char b[32];
                snprintf(b, sizeof b, "<|qlm_pad_%lld|>", (long long)i);
                toks[i] = qlm__strndup(b, strlen(b));
                types[i] = 5; /* unused */
            }
            if (!toks[i]) st = QLM_ERR_NOMEM;
        }
        if (st == QLM_OK) {
            qlm__gw_arr_str(&w, "tokenizer.ggml.tokens", (const char *const *)toks, (uint64_t)p.n_vocab);
            if (ks >= 0) qlm__gw_arr_num(&w, "tokenizer.ggml.scores", QLM__GGUF_F32, scores, (uint64_t)p.n_vocab);
            qlm__gw_arr_num(&w, "tokenizer.ggml.token_type", QLM__GGUF_I32, types, (uint64_t)p.n_vocab);
        }
        for (i = 0; toks && i < p.n_vocab; i++) QLM_FREE(toks[i]);
        QLM_FREE(toks);
        QLM_FREE(scores);
        QLM_FREE(types);
    }
    {
        int64_t i;
        size_t k;
        for (i = 0; i < src->n_kv; i++) {
            int keep = 1;
            for (k = 0; k < sizeof skip / sizeof *skip; k++)
                if (src->kv[i].key.len >= strlen(skip[k]) &&
                    memcmp(src->kv[i].key.ptr, skip[k], strlen(skip[k])) == 0)
                    keep = 0;
            if (keep) qlm__gw_copy_kv(&w, src, i);
        }
    }
    cap_bufs = 16 * p.n_layer + 8; /* up to 12 tensors a layer */
    bufs = (uint8_t **)qlm__calloc((size_t)cap_bufs, sizeof(uint8_t *));
    row = (float *)QLM_MALLOC((size_t)QLM__MAX(p.n_embd, p.n_ff) * sizeof(float));
    rng = p.seed ? p.seed : 1;
    if (!bufs || !row) st = QLM_ERR_NOMEM;
#define QLM__SYN(name_, type_, ne0_, ne1_, std_)                                                 \
    do {                                                                                       \
        int64_t ne_[2] = {ne0_, ne1_}, r_, j_;                                                 \
        qlm_type ty_ = qlm__fallback_type(type_, ne_[0]);                                      \
        size_t rs_ = qlm__row_size(ty_, ne_[0]);                                               \
        uint8_t *b_ = st == QLM_OK ? (uint8_t *)QLM_MALLOC(rs_ * (size_t)ne_[1]) : NULL;      \
        if (!b_) { st = QLM_ERR_NOMEM; break; }                                                \
        bufs[n_bufs++] = b_;                                                                   \
        for (r_ = 0; r_ < ne_[1]; r_++) {                                                      \
            for (j_ = 0; j_ < ne_[0]; j_++) row[j_] = (std_) > 0 ? (std_) * qlm__randn(&rng) : 1.0f; \
            qlm__type_traits[ty_].from_float(row, b_ + rs_ * (size_t)r_, ne_[0]);              \
        }                                                                                      \
        st = qlm__gw_tensor_add(&w, name_, ty_, ne_[1] > 1 ? 2 : 1, ne_, b_);                 \
    } while (0)
    {
        int hd = p.n_embd / p.n_head, more;
        qlm_type hi = p.mix_k_m ? QLM_TYPE_Q6_K : p.type;
        char nm[64];
        /* as llama.cpp's mixes: the embedding table of a *_K_M model is q4_K-class too */
        QLM__SYN("token_embd.weight", p.type, p.n_embd, p.n_vocab, 0.02f);
        QLM__SYN("output_norm.weight", QLM_TYPE_F32, p.n_embd, 1, 0.0f);
        if (p.untied) QLM__SYN("output.weight", hi, p.n_embd, p.n_vocab, 0.02f);
        for (il = 0; il < p.n_layer && st == QLM_OK; il++) {
            more = il < p.n_layer / 8 || il >= 7 * p.n_layer / 8 || (il - p.n_layer / 8) % 3 == 2;
#define QLM__SYNL(suffix, type_, a, b, sd)                                  \
    snprintf(nm, sizeof nm, "blk.%d." suffix ".weight", il);                \
    QLM__SYN(nm, type_, a, b, sd)
            QLM__SYNL("attn_norm", QLM_TYPE_F32, p.n_embd, 1, 0.0f);
            QLM__SYNL("attn_q", p.type, p.n_embd, p.n_embd, 0.02f);
            QLM__SYNL("attn_k", p.type, p.n_embd, hd * p.n_head_kv, 0.02f);
            QLM__SYNL("attn_v", more ? hi : p.type, p.n_embd, hd * p.n_head_kv, 0.02f);
            QLM__SYNL("attn_output", p.type, p.n_embd, p.n_embd, 0.02f);
            QLM__SYNL("ffn_norm", QLM_TYPE_F32, p.n_embd, 1, 0.0f);
            QLM__SYNL("ffn_gate", p.type, p.n_embd, p.n_ff, 0.02f);
            QLM__SYNL("ffn_up", p.type, p.n_embd, p.n_ff, 0.02f);
            QLM__SYNL("ffn_down", more ? hi : p.type, p.n_ff, p.n_embd, 0.02f);
            if (strcmp(arch, "qwen3") == 0) { /* per-head norms, weights around 1 */
                QLM__SYNL("attn_q_norm", QLM_TYPE_F32, hd, 1, 0.0f);
                QLM__SYNL("attn_k_norm", QLM_TYPE_F32, hd, 1, 0.0f);
            }
            if (strcmp(arch, "qwen2") == 0) {
#define QLM__SYNB(suffix, n_)                                               \
    snprintf(nm, sizeof nm, "blk.%d." suffix ".bias", il);                  \
    QLM__SYN(nm, QLM_TYPE_F32, n_, 1, 0.5f)
                QLM__SYNB("attn_q", p.n_embd);
                QLM__SYNB("attn_k", hd * p.n_head_kv);
                QLM__SYNB("attn_v", hd * p.n_head_kv);
#undef QLM__SYNB
            }
#undef QLM__SYNL
            if (progress && progress((float)(il + 1) / (float)p.n_layer, user)) st = QLM_ERR_CANCELLED;
        }
    }
#undef QLM__SYN
    if (st == QLM_OK) st = qlm__gw_write(&w, path);
    else if (st == QLM_ERR_NOMEM) qlm__errorf("%s: out of memory building the model", path);
    while (n_bufs > 0) QLM_FREE(bufs[--n_bufs]);
    QLM_FREE(bufs);
    QLM_FREE(row);
    qlm__gw_free(&w);
    qlm__gguf_close(src);
    return st;
}

/* >>quantize --------------------------------------------------------------------------------
   qlm_quantize and qlm_imatrix: GGUF in, GGUF out. In order:
     packing     codes of each block type in and out of their bytes (GPTQ sets codes itself)
     imatrix-q   weighted least-squares block quantisers (llama.cpp's importance-matrix
                 algorithms, re-derived: weights w = imatrix * sqrt(sigma^2 + x^2) per element)
     rules       file types (Q4_K_M ...) and llama.cpp's per-tensor type choice
     imatrix     collection through the executor's activation hook, GGUF write and read
     calib       calibration runs that stop after one layer, Hessian accumulation
     linalg      Cholesky of the damped Hessian, inverse factor for GPTQ
     gptq, awq   the two activation-aware methods
     driver      qlm_quantize: tensor order, streaming writer, OUT.tmp + rename
   Everything here is deterministic whatever the thread count: work is split so that every
   number is computed by one thread in one fixed order. */

/* The hot loops below (Hessian tiles, Cholesky, triangular inverse, GPTQ rows, AWQ error) are
   element-wise multiply-adds, never reductions, so a vectorised build rounds exactly as a
   scalar one (no fused multiply-add: the clones enable no FMA). On GCC/x86-64/glibc each is
   built three times and the loader picks the best the CPU runs. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__gnu_linux__) && \
    !defined(__cplusplus) && !(defined(QLM_NO_SIMD) && QLM_NO_SIMD)
#define QLM__CLONES __attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3")))
#else
#define QLM__CLONES
#endif
#if defined(__GNUC__) || defined(__clang__) || defined(_MSC_VER)
#define QLM__RESTRICT __restrict
#else
#define QLM__RESTRICT
#endif

/* ---- packing: codes L (0..qmax) of one block into its bytes, scales untouched ------------ */

static void qlm__pack_nib32(uint8_t *qs, const uint8_t *L) { /* q4_0, q4_1 */
    int j;
    for (j = 0; j < 16; j++) qs[j] = (uint8_t)((L[j] & 15) | ((L[j + 16] & 15) << 4));
}
static void qlm__pack_q5_32(uint8_t *qs, uint8_t qh[4], const uint8_t *L) { /* q5_0, q5_1 */
    uint32_t h = 0;
    int j;
    qlm__pack_nib32(qs, L);
    for (j = 0; j < 32; j++) h |= (uint32_t)((L[j] >> 4) & 1) << j;
    qlm__store_qh(qh, h);
}
static void qlm__pack_q3K(qlm__block_q3_K *b, const uint8_t *L) {
    uint8_t L2[QLM__QK_K];
    int e;
    memset(b->hmask, 0, sizeof b->hmask);
    for (e = 0; e < QLM__QK_K; e++) {
        if (L[e] > 3) b->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
        L2[e] = (uint8_t)(L[e] & 3);
    }
    qlm__k2pack(b->qs, L2);
}
static void qlm__pack_q4K(uint8_t *qs, const uint8_t *L) {
    int g, l;
    for (g = 0; g < QLM__QK_K / 64; g++)
        for (l = 0; l < 32; l++)
            qs[32 * g + l] = (uint8_t)((L[64 * g + l] & 15) | ((L[64 * g + l + 32] & 15) << 4));
}
static void qlm__pack_q5K(uint8_t *qs, uint8_t *qh, const uint8_t *L) {
    int g, l;
    qlm__pack_q4K(qs, L);
    memset(qh, 0, QLM__QK_K / 8);
    for (g = 0; g < QLM__QK_K / 64; g++)
        for (l = 0; l < 32; l++) {
            if (L[64 * g + l] > 15) qh[l] |= (uint8_t)(1u << (2 * g));
            if (L[64 * g + l + 32] > 15) qh[l] |= (uint8_t)(2u << (2 * g));
        }
}
static void qlm__pack_q6K(qlm__block_q6_K *b, const uint8_t *L) {
    int h, l;
    for (h = 0; h < 2; h++) {
        const uint8_t *c = L + 128 * h;
        uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        for (l = 0; l < 32; l++) {
            ql[l] = (uint8_t)((c[l] & 15) | ((c[l + 64] & 15) << 4));
            ql[l + 32] = (uint8_t)((c[l + 32] & 15) | ((c[l + 96] & 15) << 4));
            qh[l] = (uint8_t)((c[l] >> 4) | ((c[l + 32] >> 4) << 2) | ((c[l + 64] >> 4) << 4) |
                              ((c[l + 96] >> 4) << 6));
        }
    }
}

/* Block types whose values are an affine grid per element: value = a[e] * L + b[e] with L in
   0..qmax. These are the types GPTQ can drive (and the types with an importance-matrix
   quantiser, q8_0 aside). */
static int qlm__has_grid(qlm_type t) {
    switch (t) {
    case QLM_TYPE_Q4_0: case QLM_TYPE_Q4_1: case QLM_TYPE_Q5_0: case QLM_TYPE_Q5_1:
    case QLM_TYPE_Q8_0: case QLM_TYPE_Q2_K: case QLM_TYPE_Q3_K: case QLM_TYPE_Q4_K:
    case QLM_TYPE_Q5_K: case QLM_TYPE_Q6_K: return 1;
    default: return 0;
    }
}

/* The grid of one block (its blck_size elements) from the scales in its bytes; returns qmax. */
static int qlm__block_grid(qlm_type t, const void *blk, float *a, float *b) {
    int e, j;
    switch (t) {
    case QLM_TYPE_Q4_0: case QLM_TYPE_Q5_0: case QLM_TYPE_Q8_0: {
        float d = qlm__fp16_to_fp32(*(const qlm__f16 *)blk);
        int off = t == QLM_TYPE_Q4_0 ? 8 : t == QLM_TYPE_Q5_0 ? 16 : 127;
        for (e = 0; e < 32; e++) a[e] = d, b[e] = -(float)off * d;
        return t == QLM_TYPE_Q4_0 ? 15 : t == QLM_TYPE_Q5_0 ? 31 : 254;
    }
    case QLM_TYPE_Q4_1: case QLM_TYPE_Q5_1: {
        const qlm__f16 *h = (const qlm__f16 *)blk;
        float d = qlm__fp16_to_fp32(h[0]), m = qlm__fp16_to_fp32(h[1]);
        for (e = 0; e < 32; e++) a[e] = d, b[e] = m;
        return t == QLM_TYPE_Q4_1 ? 15 : 31;
    }
    case QLM_TYPE_Q2_K: {
        const qlm__block_q2_K *q = (const qlm__block_q2_K *)blk;
        float d = qlm__fp16_to_fp32(q->d), dm = qlm__fp16_to_fp32(q->dmin);
        for (e = 0; e < QLM__QK_K; e++)
            a[e] = d * (q->scales[e / 16] & 15), b[e] = -(dm * (q->scales[e / 16] >> 4));
        return 3;
    }
    case QLM_TYPE_Q3_K: {
        const qlm__block_q3_K *q = (const qlm__block_q3_K *)blk;
        float d = qlm__fp16_to_fp32(q->d);
        for (e = 0; e < QLM__QK_K; e++) {
            a[e] = d * (float)(qlm__q3k_scale(q->scales, e / 16) - 32);
            b[e] = -4.0f * a[e];
        }
        return 7;
    }
    case QLM_TYPE_Q4_K: case QLM_TYPE_Q5_K: {
        const qlm__f16 *h = (const qlm__f16 *)blk;
        const uint8_t *sc12 = (const uint8_t *)blk + 4;
        float d = qlm__fp16_to_fp32(h[0]), dm = qlm__fp16_to_fp32(h[1]);
        for (j = 0; j < 8; j++) {
            uint8_t sc, m;
            qlm__get_scale_min_k4(j, sc12, &sc, &m);
            for (e = 32 * j; e < 32 * j + 32; e++) a[e] = d * sc, b[e] = -(dm * m);
        }
        return t == QLM_TYPE_Q4_K ? 15 : 31;
    }
    case QLM_TYPE_Q6_K: {
        const qlm__block_q6_K *q = (const qlm__block_q6_K *)blk;
        float d = qlm__fp16_to_fp32(q->d);
        for (e = 0; e < QLM__QK_K; e++) a[e] = d * q->scales[e / 16], b[e] = -32.0f * a[e];
        return 63;
    }
    default: return 0;
    }
}

/* Replace the codes of one block, keeping its scales. */
static void qlm__block_put_codes(qlm_type t, void *blk, const uint8_t *L) {
    int j;
    switch (t) {
    case QLM_TYPE_Q4_0: qlm__pack_nib32(((qlm__block_q4_0 *)blk)->qs, L); break;
    case QLM_TYPE_Q4_1: qlm__pack_nib32(((qlm__block_q4_1 *)blk)->qs, L); break;
    case QLM_TYPE_Q5_0: qlm__pack_q5_32(((qlm__block_q5_0 *)blk)->qs, ((qlm__block_q5_0 *)blk)->qh, L); break;
    case QLM_TYPE_Q5_1: qlm__pack_q5_32(((qlm__block_q5_1 *)blk)->qs, ((qlm__block_q5_1 *)blk)->qh, L); break;
    case QLM_TYPE_Q8_0:
        for (j = 0; j < 32; j++) ((qlm__block_q8_0 *)blk)->qs[j] = (int8_t)(L[j] - 127);
        break;
    case QLM_TYPE_Q2_K: qlm__k2pack(((qlm__block_q2_K *)blk)->qs, L); break;
    case QLM_TYPE_Q3_K: qlm__pack_q3K((qlm__block_q3_K *)blk, L); break;
    case QLM_TYPE_Q4_K: qlm__pack_q4K(((qlm__block_q4_K *)blk)->qs, L); break;
    case QLM_TYPE_Q5_K: qlm__pack_q5K(((qlm__block_q5_K *)blk)->qs, ((qlm__block_q5_K *)blk)->qh, L); break;
    case QLM_TYPE_Q6_K: qlm__pack_q6K((qlm__block_q6_K *)blk, L); break;
    default: break;
    }
}

/* ---- imatrix-q: weighted block quantisers ------------------------------------------------
   qw[i] is the importance of element i (mean x^2 of its input column); sigma2 the mean square
   of the weights around it. Same floating-point contract as >>types (no fused multiply-add),
   so a file quantised with an importance matrix has the same bytes on every compiler. */
#if defined(__clang__)
#  pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#  pragma GCC push_options
#  pragma GCC optimize("fp-contract=off")
#endif

/* Symmetric codes in [-nmax, nmax-1] (L = code + nmax) minimising sum w (x - d*code)^2: the
   largest magnitude maps to -nmax, then 18 nearby inverse scales are tried, each with its
   least-squares d; returns the best d. */
static float qlm__wq_sym(int n, int nmax, const float *x, const float *w, int8_t *L) {
    float max = qlm__signed_absmax(x, n), iscale, d, best, sx, s2;
    int i, k;
    if (fabsf(max) < QLM__GROUP_MAX_EPS) {
        for (i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    iscale = -nmax / max;
    sx = s2 = 0;
    for (i = 0; i < n; i++) {
        int l = qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        sx += w[i] * x[i] * l;
        s2 += w[i] * l * l;
    }
    d = s2 != 0.0f ? sx / s2 : 0.0f;
    best = d * sx;
    for (k = -9; k <= 9; k++) {
        if (k == 0) continue;
        iscale = -(nmax + 0.1f * k) / max;
        sx = s2 = 0;
        for (i = 0; i < n; i++) {
            int l = qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1);
            sx += w[i] * x[i] * l;
            s2 += w[i] * l * l;
        }
        if (s2 > 0 && sx * sx > best * s2) {
            for (i = 0; i < n; i++)
                L[i] = (int8_t)(nmax + qlm__clampi(qlm__nearest_int(iscale * x[i]), -nmax, nmax - 1));
            d = sx / s2;
            best = d * sx;
        }
    }
    return d;
}

/* Asymmetric codes in [0, nmax]: x ~ d*L - m with m >= 0 (*pmin = m). Starts from the min/max
   grid, then tries nstep+1 grids of nmax + rmin + rdelta*k levels over the range, each with a
   weighted least-squares (d, m), keeping the lowest weighted squared error. */
static float qlm__wq_asym(int n, int nmax, const float *x, const float *w, uint8_t *L,
                          float *pmin, float rmin, float rdelta, int nstep) {
    float mn = x[0], mx = x[0], sw = w[0], sx = w[0] * x[0], iscale, d, best = 0;
    uint8_t La[QLM__QK_K];
    int i, k;
    for (i = 1; i < n; i++) {
        if (x[i] < mn) mn = x[i];
        if (x[i] > mx) mx = x[i];
        sw += w[i];
        sx += w[i] * x[i];
    }
    if (mn > 0) mn = 0;
    if (mx <= mn) {
        for (i = 0; i < n; i++) L[i] = 0;
        *pmin = -mn;
        return 0.0f;
    }
    iscale = nmax / (mx - mn);
    d = 1 / iscale;
    for (i = 0; i < n; i++) {
        float diff;
        L[i] = (uint8_t)qlm__clampi(qlm__nearest_int(iscale * (x[i] - mn)), 0, nmax);
        diff = d * L[i] + mn - x[i];
        best += w[i] * diff * diff;
    }
    for (k = 0; k <= nstep; k++) {
        float sl = 0, sl2 = 0, sxl = 0, D;
        iscale = (rmin + rdelta * k + nmax) / (mx - mn);
        for (i = 0; i < n; i++) {
            float v = iscale * (x[i] - mn);
            int l = v > 0 ? qlm__nearest_int(v < (float)nmax ? v : (float)nmax) : 0;
            La[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        D = sw * sl2 - sl * sl;
        if (D > 0) {
            float td = (sw * sxl - sx * sl) / D, tm = (sl2 * sx - sl * sxl) / D, err = 0;
            if (tm > 0) {
                tm = 0;
                td = sxl / sl2;
            }
            for (i = 0; i < n; i++) {
                float diff = td * La[i] + tm - x[i];
                err += w[i] * diff * diff;
            }
            if (err < best) {
                memcpy(L, La, (size_t)n);
                best = err;
                d = td;
                mn = tm;
            }
        }
    }
    *pmin = -mn;
    return d;
}

/* Non-negative values (sub-block scales or mins) as codes 0..nmax times one scale, weighted:
   8 inverse scales around the maximum, then up to 5 passes moving one code at a time. */
static float qlm__wq_pos(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0, iscale, d, best = 0, sx = 0, s2 = 0;
    int i, k, pass;
    for (i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max < QLM__GROUP_MAX_EPS) {
        for (i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    iscale = nmax / max;
    d = 1 / iscale;
    for (i = 0; i < n; i++) {
        float diff = x[i] - d * qlm__nearest_int(iscale * x[i]);
        best += w[i] * diff * diff;
    }
    for (k = -4; k <= 4; k++) {
        float is2, d2, err = 0;
        if (k == 0) continue;
        is2 = (0.1f * k + nmax) / max;
        d2 = 1 / is2;
        for (i = 0; i < n; i++) {
            int l = qlm__nearest_int(is2 * x[i]);
            float diff;
            l = l < nmax ? l : nmax;
            diff = x[i] - d2 * l;
            err += w[i] * diff * diff;
        }
        if (err < best) {
            best = err;
            iscale = is2;
        }
    }
    for (i = 0; i < n; i++) {
        int l = qlm__nearest_int(iscale * x[i]);
        l = l < nmax ? l : nmax;
        L[i] = (uint8_t)l;
        sx += w[i] * x[i] * l;
        s2 += w[i] * l * l;
    }
    for (pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (i = 0; i < n; i++) {
            float slx = sx - w[i] * x[i] * L[i], sl2 = s2 - w[i] * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int nl = qlm__nearest_int(x[i] * sl2 / slx);
                nl = nl < nmax ? nl : nmax;
                if (nl != L[i]) {
                    slx += w[i] * x[i] * nl;
                    sl2 += w[i] * nl * nl;
                    if (slx * slx * s2 > sx * sx * sl2) {
                        L[i] = (uint8_t)nl;
                        sx = slx;
                        s2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return s2 > 0.0f ? sx / s2 : 0.0f;
}

static float qlm__mean_sq(const float *x, int64_t n) {
    float s = 0;
    int64_t i;
    for (i = 0; i < n; i++) s += x[i] * x[i];
    return s / (float)n;
}

/* One 32-element block of q4_0/q4_1/q5_0/q5_1 with weights qw*sqrt(sigma2 + x^2). */
static void qlm__wq_block32(qlm_type t, const float *x, const float *qw, float sigma2, void *dst) {
    float w[32];
    uint8_t L[32];
    int j;
    for (j = 0; j < 32; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
    if (t == QLM_TYPE_Q4_0 || t == QLM_TYPE_Q5_0) {
        int8_t Ls[32];
        float d = qlm__wq_sym(32, t == QLM_TYPE_Q4_0 ? 8 : 16, x, w, Ls);
        for (j = 0; j < 32; j++) L[j] = (uint8_t)Ls[j];
        *(qlm__f16 *)dst = qlm__fp32_to_fp16(d);
    } else {
        float mn, d = qlm__wq_asym(32, t == QLM_TYPE_Q4_1 ? 15 : 31, x, w, L, &mn, -0.9f, 0.05f, 36);
        ((qlm__f16 *)dst)[0] = qlm__fp32_to_fp16(d);
        ((qlm__f16 *)dst)[1] = qlm__fp32_to_fp16(-mn);
    }
    qlm__block_put_codes(t, dst, L);
}

/* One 256-element super-block of a k-quant with importance qw (sigma2 only for q2..q5). */
static void qlm__wq_blockK(qlm_type t, const float *x, const float *qw, void *dst) {
    float w[QLM__QK_K], sw[16], sc[16], mins[16], sigma2 = 0;
    uint8_t L[QLM__QK_K], Ls[16], Lm[16];
    int j, l;
    for (l = 0; l < QLM__QK_K; l++) sigma2 += x[l] * x[l];
    sigma2 = (t == QLM_TYPE_Q2_K ? 1.0f : 2.0f) * sigma2 / QLM__QK_K;
    for (l = 0; l < QLM__QK_K; l++)
        w[l] = t == QLM_TYPE_Q6_K ? qw[l] : qw[l] * sqrtf(sigma2 + x[l] * x[l]);
    if (t == QLM_TYPE_Q2_K) {
        qlm__block_q2_K *b = (qlm__block_q2_K *)dst;
        float dm, mm;
        for (j = 0; j < 16; j++) {
            sw[j] = 0;
            for (l = 0; l < 16; l++) sw[j] += w[16 * j + l];
            sc[j] = qlm__wq_asym(16, 3, x + 16 * j, w + 16 * j, L + 16 * j, &mins[j], -0.9f,
                                 0.05f, 36);
        }
        dm = qlm__wq_pos(16, 15, sc, Ls, sw);
        mm = qlm__wq_pos(16, 15, mins, Lm, sw);
        b->d = qlm__fp32_to_fp16(dm);
        b->dmin = qlm__fp32_to_fp16(mm);
        dm = qlm__fp16_to_fp32(b->d);
        mm = qlm__fp16_to_fp32(b->dmin);
        for (j = 0; j < 16; j++) b->scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        for (j = 0; j < 16; j++) {
            float d = dm * (b->scales[j] & 15), m = mm * (b->scales[j] >> 4);
            if (d == 0.0f) continue;
            for (l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)qlm__clampi(qlm__nearest_int((x[16 * j + l] + m) / d), 0, 3);
        }
    } else if (t == QLM_TYPE_Q3_K) {
        qlm__block_q3_K *b = (qlm__block_q3_K *)dst;
        int8_t Lc[QLM__QK_K], Lsc[16];
        float dblk;
        for (j = 0; j < 16; j++) {
            sw[j] = 0;
            for (l = 0; l < 16; l++) sw[j] += w[16 * j + l];
            sc[j] = qlm__wq_sym(16, 4, x + 16 * j, w + 16 * j, Lc + 16 * j);
        }
        memset(b->scales, 0, sizeof b->scales);
        dblk = qlm__wq_sym(16, 32, sc, sw, Lsc);
        for (j = 0; j < 16; j++) {
            int s = Lsc[j];
            if (j < 8) b->scales[j] = (uint8_t)(s & 15);
            else b->scales[j - 8] |= (uint8_t)((s & 15) << 4);
            b->scales[8 + j % 4] |= (uint8_t)((s >> 4) << (2 * (j / 4)));
        }
        b->d = qlm__fp32_to_fp16(dblk);
        for (j = 0; j < 16; j++) {
            float d = qlm__fp16_to_fp32(b->d) * (float)(qlm__q3k_scale(b->scales, j) - 32);
            for (l = 0; l < 16; l++)
                L[16 * j + l] = d == 0.0f ? (uint8_t)Lc[16 * j + l] /* codes stay 0..7 */
                    : (uint8_t)(qlm__clampi(qlm__nearest_int(x[16 * j + l] / d), -4, 3) + 4);
        }
    } else if (t == QLM_TYPE_Q4_K || t == QLM_TYPE_Q5_K) {
        int nmax = t == QLM_TYPE_Q4_K ? 15 : 31;
        qlm__f16 *h = (qlm__f16 *)dst;
        uint8_t *sc12 = (uint8_t *)dst + 4;
        float dblk, mblk;
        for (j = 0; j < 8; j++) {
            sw[j] = 0;
            for (l = 0; l < 32; l++) sw[j] += w[32 * j + l];
            sc[j] = qlm__wq_asym(32, nmax, x + 32 * j, w + 32 * j, L + 32 * j, &mins[j], -0.9f,
                                 0.05f, 36);
        }
        dblk = qlm__wq_pos(8, 63, sc, Ls, sw);
        mblk = qlm__wq_pos(8, 63, mins, Lm, sw);
        memset(sc12, 0, QLM__K_SCALE_SIZE);
        for (j = 0; j < 8; j++)
            qlm__set_scale_min_k4(j, sc12, (uint8_t)(Ls[j] > 63 ? 63 : Ls[j]),
                                  (uint8_t)(Lm[j] > 63 ? 63 : Lm[j]));
        h[0] = qlm__fp32_to_fp16(dblk);
        h[1] = qlm__fp32_to_fp16(mblk);
        for (j = 0; j < 8; j++) {
            uint8_t s, m;
            float d, dm;
            qlm__get_scale_min_k4(j, sc12, &s, &m);
            d = qlm__fp16_to_fp32(h[0]) * s;
            if (d == 0.0f) continue;
            dm = qlm__fp16_to_fp32(h[1]) * m;
            for (l = 0; l < 32; l++)
                L[32 * j + l] = (uint8_t)qlm__clampi(qlm__nearest_int((x[32 * j + l] + dm) / d), 0, nmax);
        }
    } else { /* Q6_K */
        qlm__block_q6_K *b = (qlm__block_q6_K *)dst;
        int8_t Lc[QLM__QK_K];
        float max_scale = 0, amax = 0, iscale;
        for (j = 0; j < 16; j++) {
            sc[j] = qlm__wq_sym(16, 32, x + 16 * j, w + 16 * j, Lc + 16 * j);
            if (fabsf(sc[j]) > amax) amax = fabsf(sc[j]), max_scale = sc[j];
        }
        if (amax < QLM__GROUP_MAX_EPS) {
            memset(b, 0, sizeof *b);
            return;
        }
        iscale = -128.0f / max_scale;
        b->d = qlm__fp32_to_fp16(1 / iscale);
        for (j = 0; j < 16; j++) {
            int s = qlm__nearest_int(iscale * sc[j]);
            b->scales[j] = (int8_t)(s > 127 ? 127 : s);
        }
        for (j = 0; j < 16; j++) {
            float d = qlm__fp16_to_fp32(b->d) * b->scales[j];
            for (l = 0; l < 16; l++)
                L[16 * j + l] = d == 0.0f ? (uint8_t)Lc[16 * j + l]
                    : (uint8_t)(qlm__clampi(qlm__nearest_int(x[16 * j + l] / d), -32, 31) + 32);
        }
    }
    qlm__block_put_codes(t, dst, L);
}

#if defined(__clang__)
#  pragma STDC FP_CONTRACT DEFAULT
#elif defined(__GNUC__)
#  pragma GCC pop_options
#endif

/* Quantise one row of n elements to t; with importance qw (n values) where t has a weighted
   quantiser, else the reference one (q8_0, f16, bf16, fp8 ignore qw, as llama.cpp). */
static void qlm__quantize_row(qlm_type t, const float *x, void *dst, int64_t n, const float *qw) {
    const qlm__type_traits_t *tt = &qlm__type_traits[t];
    int64_t i, bs = tt->blck_size;
    if (!qw || !qlm__has_grid(t) || t == QLM_TYPE_Q8_0) {
        tt->from_float(x, dst, n);
        return;
    }
    if (bs == 32) {
        float sigma2 = qlm__mean_sq(x, n);
        for (i = 0; i < n; i += 32)
            qlm__wq_block32(t, x + i, qw + i, sigma2, (uint8_t *)dst + (i / 32) * tt->type_size);
    } else {
        for (i = 0; i < n; i += QLM__QK_K)
            qlm__wq_blockK(t, x + i, qw + i, (uint8_t *)dst + (i / QLM__QK_K) * tt->type_size);
    }
}

/* ---- rules: file types and llama.cpp's per-tensor choice --------------------------------- */

/* llama.cpp's file types (llama_ftype numbers; -1: qlm's FP8, which llama.cpp lacks). */
typedef struct {
    const char *name;
    int ftype;
    qlm_type type; /* the default tensor type */
} qlm__ftype_info;

enum {
    QLM__FT_F32 = 0, QLM__FT_F16 = 1, QLM__FT_Q4_0 = 2, QLM__FT_Q4_1 = 3, QLM__FT_Q8_0 = 7,
    QLM__FT_Q5_0 = 8, QLM__FT_Q5_1 = 9, QLM__FT_Q2_K = 10, QLM__FT_Q3_K_S = 11,
    QLM__FT_Q3_K_M = 12, QLM__FT_Q3_K_L = 13, QLM__FT_Q4_K_S = 14, QLM__FT_Q4_K_M = 15,
    QLM__FT_Q5_K_S = 16, QLM__FT_Q5_K_M = 17, QLM__FT_Q6_K = 18, QLM__FT_BF16 = 32,
    QLM__FT_FP8 = -1
};

static const qlm__ftype_info qlm__ftypes[] = {
    {"F32", QLM__FT_F32, QLM_TYPE_F32},       {"F16", QLM__FT_F16, QLM_TYPE_F16},
    {"BF16", QLM__FT_BF16, QLM_TYPE_BF16},    {"Q8_0", QLM__FT_Q8_0, QLM_TYPE_Q8_0},
    {"Q5_0", QLM__FT_Q5_0, QLM_TYPE_Q5_0},    {"Q5_1", QLM__FT_Q5_1, QLM_TYPE_Q5_1},
    {"Q4_0", QLM__FT_Q4_0, QLM_TYPE_Q4_0},    {"Q4_1", QLM__FT_Q4_1, QLM_TYPE_Q4_1},
    {"Q2_K", QLM__FT_Q2_K, QLM_TYPE_Q2_K},    {"Q3_K_S", QLM__FT_Q3_K_S, QLM_TYPE_Q3_K},
    {"Q3_K_M", QLM__FT_Q3_K_M, QLM_TYPE_Q3_K}, {"Q3_K", QLM__FT_Q3_K_M, QLM_TYPE_Q3_K},
    {"Q3_K_L", QLM__FT_Q3_K_L, QLM_TYPE_Q3_K}, {"Q4_K_S", QLM__FT_Q4_K_S, QLM_TYPE_Q4_K},
    {"Q4_K_M", QLM__FT_Q4_K_M, QLM_TYPE_Q4_K}, {"Q4_K", QLM__FT_Q4_K_M, QLM_TYPE_Q4_K},
    {"Q5_K_S", QLM__FT_Q5_K_S, QLM_TYPE_Q5_K}, {"Q5_K_M", QLM__FT_Q5_K_M, QLM_TYPE_Q5_K},
    {"Q5_K", QLM__FT_Q5_K_M, QLM_TYPE_Q5_K},  {"Q6_K", QLM__FT_Q6_K, QLM_TYPE_Q6_K},
    {"FP8", QLM__FT_FP8, QLM_TYPE_FP8_E4M3},  {"FP8_E4M3", QLM__FT_FP8, QLM_TYPE_FP8_E4M3},
};

static int qlm__strieq(const char *a, const char *b) {
    for (; *a && *b; a++, b++) {
        int ca = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a, cb = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (ca != cb) return 0;
    }
    return *a == *b;
}

static const qlm__ftype_info *qlm__ftype_find(const char *name) {
    size_t i;
    for (i = 0; i < sizeof qlm__ftypes / sizeof qlm__ftypes[0]; i++)
        if (qlm__strieq(name, qlm__ftypes[i].name)) return &qlm__ftypes[i];
    return NULL;
}

/* A tensor type by ggml's name (q4_K, Q8_0, f16, ..., fp8_e4m3), case-insensitive; -1 if none. */
static int qlm__type_by_name(const char *name) {
    int t;
    if (qlm__strieq(name, "fp8")) return QLM_TYPE_FP8_E4M3;
    for (t = 0; t < QLM_TYPE_COUNT; t++)
        if (qlm__type_traits[t].name && qlm__type_traits[t].from_float && qlm__type_traits[t].to_float &&
            t != QLM_TYPE_Q8_K && qlm__strieq(name, qlm__type_traits[t].name))
            return t;
    return -1;
}

enum {
    QLM__CAT_OTHER = 0, QLM__CAT_TOKEN_EMBD, QLM__CAT_OUTPUT, QLM__CAT_ATTN_Q, QLM__CAT_ATTN_K,
    QLM__CAT_ATTN_V, QLM__CAT_ATTN_QKV, QLM__CAT_ATTN_KV_B, QLM__CAT_ATTN_OUT, QLM__CAT_FFN_UP,
    QLM__CAT_FFN_GATE, QLM__CAT_FFN_DOWN
};

static int qlm__category(const char *n) {
    if (strcmp(n, "output.weight") == 0) return QLM__CAT_OUTPUT;
    if (strcmp(n, "token_embd.weight") == 0 || strcmp(n, "per_layer_token_embd.weight") == 0)
        return QLM__CAT_TOKEN_EMBD;
    if (strstr(n, "attn_qkv.weight")) return QLM__CAT_ATTN_QKV;
    if (strstr(n, "attn_kv_b.weight")) return QLM__CAT_ATTN_KV_B;
    if (strstr(n, "attn_v.weight")) return QLM__CAT_ATTN_V;
    if (strstr(n, "attn_k.weight")) return QLM__CAT_ATTN_K;
    if (strstr(n, "attn_q.weight")) return QLM__CAT_ATTN_Q;
    if (strstr(n, "attn_output.weight")) return QLM__CAT_ATTN_OUT;
    if (strstr(n, "ffn_up")) return QLM__CAT_FFN_UP;
    if (strstr(n, "ffn_gate")) return QLM__CAT_FFN_GATE;
    if (strstr(n, "ffn_down")) return QLM__CAT_FFN_DOWN;
    return QLM__CAT_OTHER;
}

/* llama.cpp quantises a tensor when it has 2+ dimensions, its name ends in "weight", and it
   is not a norm or one of a few small special tensors. */
static int qlm__allows_quant(const char *n, int n_dims) {
    static const char *const never[] = {"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel",
                                        "per_layer_model_proj", "ssm_conv1d", "attn_rel_b.weight",
                                        "time_mix_", "shortconv.conv.weight", ".position_embd",
                                        "pos_embd", "token_types"};
    size_t i, len = strlen(n);
    if (n_dims < 2 || len < 6 || strcmp(n + len - 6, "weight") != 0) return 0;
    for (i = 0; i < sizeof never / sizeof never[0]; i++)
        if (strstr(n, never[i])) return 0;
    return 1;
}

typedef struct {
    int ftype;
    qlm_type def;
    int pure, has_imatrix, tied, n_expert, n_gqa, is_70b, is_falcon;
    int n_attn_v, i_attn_v, n_layer, i_ffn_down;
    int n_fallback;
#if !defined(_WIN32)
    regex_t *re;
#endif
    const char *const *re_src;
    qlm_type *re_type;
    int n_re;
} qlm__rules;

static int qlm__more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

/* llama.cpp's mixture rules for the file types qlm writes (its IQ* branches left out). */
static qlm_type qlm__mix_rule(qlm__rules *r, qlm_type t, const char *name, int cat, int64_t ne0) {
    int ft = r->ftype;
    if (cat == QLM__CAT_OUTPUT || (r->tied && cat == QLM__CAT_TOKEN_EMBD)) {
        if (r->is_falcon || ne0 % qlm__type_traits[t].blck_size != 0) t = QLM_TYPE_Q8_0;
        else if (t != QLM_TYPE_Q8_0) t = QLM_TYPE_Q6_K;
    } else if (cat == QLM__CAT_TOKEN_EMBD) {
        /* the file type's default */
    } else if (cat == QLM__CAT_ATTN_V || cat == QLM__CAT_ATTN_QKV || cat == QLM__CAT_ATTN_KV_B) {
        if (ft == QLM__FT_Q2_K) t = r->n_gqa >= 4 ? QLM_TYPE_Q4_K : QLM_TYPE_Q3_K;
        else if (ft == QLM__FT_Q3_K_M) t = r->i_attn_v < 2 ? QLM_TYPE_Q5_K : QLM_TYPE_Q4_K;
        else if (ft == QLM__FT_Q3_K_L) t = QLM_TYPE_Q5_K;
        else if ((ft == QLM__FT_Q4_K_M || ft == QLM__FT_Q5_K_M) && qlm__more_bits(r->i_attn_v, r->n_attn_v))
            t = QLM_TYPE_Q6_K;
        else if (ft == QLM__FT_Q4_K_S && r->i_attn_v < 4) t = QLM_TYPE_Q5_K;
        if (r->is_70b && (t == QLM_TYPE_Q3_K || t == QLM_TYPE_Q4_K)) t = QLM_TYPE_Q5_K;
        if (r->n_expert == 8) t = QLM_TYPE_Q8_0;
        r->i_attn_v++;
    } else if (cat == QLM__CAT_ATTN_K) {
        if (r->n_expert == 8) t = QLM_TYPE_Q8_0;
    } else if (cat == QLM__CAT_FFN_DOWN) {
        int i = r->i_ffn_down, n = r->n_layer;
        if (r->n_expert > 1 && sscanf(name, "blk.%d.", &i) != 1) i = r->i_ffn_down;
        if (ft == QLM__FT_Q2_K) t = QLM_TYPE_Q3_K;
        else if (ft == QLM__FT_Q3_K_M)
            t = i < n / 16 ? QLM_TYPE_Q5_K
              : !r->is_falcon || qlm__more_bits(i, n) ? QLM_TYPE_Q4_K : QLM_TYPE_Q3_K;
        else if (ft == QLM__FT_Q3_K_L) t = r->is_falcon ? QLM_TYPE_Q4_K : QLM_TYPE_Q5_K;
        else if (ft == QLM__FT_Q4_K_M) {
            if (r->is_falcon)
                t = i < n / 16 ? QLM_TYPE_Q6_K : qlm__more_bits(i, n) ? QLM_TYPE_Q5_K : QLM_TYPE_Q4_K;
            else if (qlm__more_bits(i, n)) t = QLM_TYPE_Q6_K;
        } else if (ft == QLM__FT_Q5_K_M && qlm__more_bits(i, n)) t = QLM_TYPE_Q6_K;
        else if (ft == QLM__FT_Q4_K_S && !r->is_falcon && i < n / 8) t = QLM_TYPE_Q5_K;
        else if ((ft == QLM__FT_Q4_0 || ft == QLM__FT_Q5_0) && r->has_imatrix && i < n / 8)
            t = ft == QLM__FT_Q4_0 ? QLM_TYPE_Q4_1 : QLM_TYPE_Q5_1;
        r->i_ffn_down++;
    } else if (cat == QLM__CAT_ATTN_OUT) {
        if (!r->is_falcon) {
            if (r->n_expert == 8) {
                if (ft == QLM__FT_Q2_K || ft == QLM__FT_Q3_K_S || ft == QLM__FT_Q3_K_M ||
                    ft == QLM__FT_Q4_K_S || ft == QLM__FT_Q4_K_M)
                    t = QLM_TYPE_Q5_K;
            } else if (ft == QLM__FT_Q2_K) t = QLM_TYPE_Q3_K;
            else if (ft == QLM__FT_Q3_K_M) t = QLM_TYPE_Q4_K;
            else if (ft == QLM__FT_Q3_K_L) t = QLM_TYPE_Q5_K;
        } else if (ft == QLM__FT_Q3_K_L) {
            t = QLM_TYPE_Q4_K;
        }
    }
    return t;
}

/* A type whose block does not divide the row length falls back as llama.cpp's does (and,
   where llama.cpp would give up, to F16). */
static qlm_type qlm__fallback(qlm__rules *r, qlm_type t, int64_t ne0, const char *name,
                              const qlm__logger *lg) {
    qlm_type f;
    if (ne0 % qlm__type_traits[t].blck_size == 0) return t;
    f = qlm__fallback_type(t, ne0);
    if (ne0 % qlm__type_traits[f].blck_size != 0) f = QLM_TYPE_F16;
    r->n_fallback++;
    qlm__log(lg, QLM_LOG_INFO, "%s: row length %lld is not a multiple of %s's %lld: using %s",
             name, (long long)ne0, qlm__type_traits[t].name,
             (long long)qlm__type_traits[t].blck_size, qlm__type_traits[f].name);
    return f;
}

/* The output type of one tensor (called in llama.cpp's order: by layer, then by name). */
static qlm_type qlm__choose_type(qlm__rules *r, const char *name, int n_dims, int64_t ne0,
                                 qlm_type cur, const qlm__logger *lg) {
    qlm_type t = r->def;
    int cat = qlm__category(name), k, manual = 0;
    if (!qlm__allows_quant(name, n_dims)) return cur;
    if (!qlm__type_traits[t].is_quantized) return t; /* F32 / F16 / BF16: every matrix */
    for (k = 0; k < r->n_re && !manual; k++) {
#if !defined(_WIN32)
        manual = regexec(&r->re[k], name, 0, NULL, 0) == 0;
#else
        manual = strstr(name, r->re_src[k]) != NULL;
#endif
        if (manual) t = r->re_type[k];
    }
    /* as llama.cpp: the layer counters advance only where the rules run */
    if (!manual && !r->pure && r->ftype != QLM__FT_FP8) t = qlm__mix_rule(r, t, name, cat, ne0);
    return qlm__fallback(r, t, ne0, name, lg);
}

/* ---- imatrix: in-memory form, GGUF write, GGUF / legacy read ----------------------------- */

typedef struct {
    char name[64];  /* the weight, e.g. blk.3.ffn_down.weight */
    int64_t n;      /* input columns */
    double *sum2;   /* per column: sum of x^2 over the rows seen */
    double count;   /* rows (tokens) seen */
} qlm__imat_entry;

typedef struct {
    qlm__imat_entry *e;
    int32_t n_e;
    int32_t chunk_count, chunk_size;
    char dataset[256];
} qlm__imatrix;

static void qlm__imatrix_free(qlm__imatrix *im) {
    int32_t i;
    if (!im) return;
    for (i = 0; i < im->n_e; i++) QLM_FREE(im->e[i].sum2);
    QLM_FREE(im->e);
    memset(im, 0, sizeof *im);
}

static qlm__imat_entry *qlm__imatrix_add(qlm__imatrix *im, const char *name, int64_t n) {
    qlm__imat_entry *e, *ne;
    if (strlen(name) >= sizeof e->name || n < 1 || n > ((int64_t)1 << 24)) return NULL;
    ne = (qlm__imat_entry *)QLM_REALLOC(im->e, (size_t)(im->n_e + 1) * sizeof *ne);
    if (!ne) return NULL;
    im->e = ne;
    e = &im->e[im->n_e];
    memset(e, 0, sizeof *e);
    e->sum2 = (double *)qlm__calloc((size_t)n, sizeof(double));
    if (!e->sum2) return NULL;
    snprintf(e->name, sizeof e->name, "%s", name);
    e->n = n;
    im->n_e++;
    return e;
}

static const qlm__imat_entry *qlm__imatrix_find(const qlm__imatrix *im, const char *name) {
    int32_t i;
    for (i = 0; im && i < im->n_e; i++)
        if (strcmp(im->e[i].name, name) == 0) return &im->e[i];
    return NULL;
}

static int qlm__imat_cmp(const void *a, const void *b) {
    return strcmp(((const qlm__imat_entry *)a)->name, ((const qlm__imat_entry *)b)->name);
}

/* Write im to path in llama.cpp's imatrix GGUF layout (entries sorted by name). */
static qlm_status qlm__imatrix_write(qlm__imatrix *im, const char *path) {
    qlm__gguf_writer w;
    qlm_status st = QLM_OK;
    float **bufs = NULL;
    const char *ds = im->dataset;
    int32_t i;
    memset(&w, 0, sizeof w);
    qsort(im->e, (size_t)im->n_e, sizeof *im->e, qlm__imat_cmp);
    qlm__gw_string(&w, "general.type", "imatrix");
    qlm__gw_arr_str(&w, "imatrix.datasets", &ds, 1);
    qlm__gw_u32(&w, "imatrix.chunk_count", (uint32_t)im->chunk_count);
    qlm__gw_u32(&w, "imatrix.chunk_size", (uint32_t)im->chunk_size);
    bufs = (float **)qlm__calloc((size_t)(im->n_e ? 2 * im->n_e : 1), sizeof(float *));
    if (!bufs) st = QLM_ERR_NOMEM;
    for (i = 0; i < im->n_e && st == QLM_OK; i++) {
        char nm[96];
        int64_t j, one = 1;
        float *s2 = (float *)QLM_MALLOC((size_t)im->e[i].n * sizeof(float)),
              *cnt = (float *)QLM_MALLOC(sizeof(float));
        bufs[2 * i] = s2;
        bufs[2 * i + 1] = cnt;
        if (!s2 || !cnt) {
            st = QLM_ERR_NOMEM;
            break;
        }
        for (j = 0; j < im->e[i].n; j++) s2[j] = (float)im->e[i].sum2[j];
        cnt[0] = (float)im->e[i].count;
        snprintf(nm, sizeof nm, "%s.in_sum2", im->e[i].name);
        if ((st = qlm__gw_tensor_add(&w, nm, QLM_TYPE_F32, 1, &im->e[i].n, s2)) != QLM_OK) break;
        snprintf(nm, sizeof nm, "%s.counts", im->e[i].name);
        st = qlm__gw_tensor_add(&w, nm, QLM_TYPE_F32, 1, &one, cnt);
    }
    if (st == QLM_OK) st = qlm__gw_write(&w, path);
    else if (st == QLM_ERR_NOMEM) qlm__errorf("%s: out of memory", path);
    for (i = 0; bufs && i < 2 * im->n_e; i++) QLM_FREE(bufs[i]);
    QLM_FREE(bufs);
    qlm__gw_free(&w);
    return st;
}

/* llama.cpp's older binary imatrix (.dat): int32 count, then per entry int32 name length,
   name, int32 ncall, int32 nval, nval floats (mean square times ncall); then the chunk count
   and the dataset name. */
static qlm_status qlm__imatrix_read_legacy(const qlm__file *f, const char *path, qlm__imatrix *im) {
    const uint8_t *p = f->data;
    uint64_t pos = 0, size = f->size;
    int32_t n, i, v;
#define QLM__RD32(dst)                                                             \
    do {                                                                           \
        if (size - pos < 4) goto bad;                                              \
        memcpy(&(dst), p + pos, 4);                                                \
        pos += 4;                                                                  \
    } while (0)
    QLM__RD32(n);
    if (n < 1 || n > (1 << 20)) goto bad;
    for (i = 0; i < n; i++) {
        int32_t len, ncall, nval, j;
        char name[64];
        qlm__imat_entry *e;
        QLM__RD32(len);
        if (len < 1 || len >= (int32_t)sizeof name || size - pos < (uint64_t)len) goto bad;
        memcpy(name, p + pos, (size_t)len);
        name[len] = 0;
        pos += (uint64_t)len;
        QLM__RD32(ncall);
        QLM__RD32(nval);
        if (nval < 1 || (uint64_t)nval > (size - pos) / 4) goto bad;
        if (!(e = qlm__imatrix_add(im, name, nval))) {
            qlm__errorf("%s: out of memory or bad entry '%s'", path, name);
            return QLM_ERR_NOMEM;
        }
        for (j = 0; j < nval; j++) {
            float x;
            memcpy(&x, p + pos + 4 * (uint64_t)j, 4);
            e->sum2[j] = x;
        }
        pos += 4 * (uint64_t)nval;
        e->count = ncall > 0 ? ncall : 1;
    }
    if (size - pos >= 4) {
        QLM__RD32(v);
        im->chunk_count = v;
    }
#undef QLM__RD32
    return QLM_OK;
bad:
    qlm__errorf("%s: not an imatrix file (neither GGUF nor llama.cpp's .dat layout)", path);
    return QLM_ERR_FORMAT;
}

/* Read an importance matrix: llama.cpp's GGUF (<name>.in_sum2 + <name>.counts; other tensors
   such as <name>.in_sum are ignored) or its legacy .dat. */
static qlm_status qlm__imatrix_read(const char *path, qlm__imatrix *im, const qlm__logger *lg) {
    qlm__file f;
    qlm__gguf *g = NULL;
    qlm_status st;
    int64_t i, kv;
    memset(im, 0, sizeof *im);
    if ((st = qlm__file_open(&f, path, 1)) != QLM_OK) return st;
    if (f.size < 4 || memcmp(f.data, "GGUF", 4) != 0) {
        st = qlm__imatrix_read_legacy(&f, path, im);
        qlm__file_close(&f);
        if (st != QLM_OK) qlm__imatrix_free(im);
        return st;
    }
    qlm__file_close(&f);
    if ((st = qlm__gguf_open(path, &g)) != QLM_OK) return st;
    kv = qlm__gguf_find(g, "general.type");
    if (kv >= 0 && (qlm__gguf_kv_type(g, kv) != QLM__GGUF_STR ||
                    !qlm__str_eq(qlm__gguf_get_str(g, kv), "imatrix"))) {
        qlm__errorf("%s: general.type is not \"imatrix\"", path);
        qlm__gguf_close(g);
        return QLM_ERR_FORMAT;
    }
    {
        int64_t v;
        if (qlm__gguf_get_i64(g, "imatrix.chunk_count", &v)) im->chunk_count = (int32_t)v;
        if (qlm__gguf_get_i64(g, "imatrix.chunk_size", &v)) im->chunk_size = (int32_t)v;
        kv = qlm__gguf_find(g, "imatrix.datasets");
        if (kv >= 0 && qlm__gguf_kv_type(g, kv) == QLM__GGUF_ARR &&
            qlm__gguf_arr_type(g, kv) == QLM__GGUF_STR && qlm__gguf_arr_n(g, kv) > 0) {
            qlm__str s = qlm__gguf_arr_str(g, kv, 0);
            snprintf(im->dataset, sizeof im->dataset, "%.*s", (int)QLM__MIN(s.len, 255), s.ptr);
        }
    }
    for (i = 0; i < g->n_tensors && st == QLM_OK; i++) {
        const qlm__gguf_tensor *t = &g->tensors[i];
        char base[64], cn[80];
        int64_t ci, j, n, nmat;
        qlm__imat_entry *e;
        if (t->name.len <= 8 || memcmp(t->name.ptr + t->name.len - 8, ".in_sum2", 8) != 0) continue;
        if (t->name.len - 8 >= sizeof base) continue;
        snprintf(base, sizeof base, "%.*s", (int)(t->name.len - 8), t->name.ptr);
        snprintf(cn, sizeof cn, "%s.counts", base);
        ci = qlm__gguf_find_tensor(g, cn);
        if (ci < 0 || t->type != QLM_TYPE_F32 || g->tensors[ci].type != QLM_TYPE_F32) {
            qlm__errorf("%s: entry '%s' lacks an F32 counts tensor or is not F32", path, base);
            st = QLM_ERR_FORMAT;
            break;
        }
        n = t->ne[0];
        nmat = t->ne[1] * t->ne[2] * t->ne[3];
        if (nmat != 1 || g->tensors[ci].ne[0] * g->tensors[ci].ne[1] != 1) {
            qlm__log(lg, QLM_LOG_WARN, "%s: skipping %s (per-expert data)", path, base);
            continue;
        }
        if (!(e = qlm__imatrix_add(im, base, n))) {
            qlm__errorf("%s: out of memory", path);
            st = QLM_ERR_NOMEM;
            break;
        }
        for (j = 0; j < n; j++) {
            float x;
            memcpy(&x, t->data + 4 * j, 4);
            e->sum2[j] = x;
        }
        {
            float c;
            memcpy(&c, g->tensors[ci].data, 4);
            e->count = c;
        }
    }
    if (st == QLM_OK && im->n_e == 0) {
        qlm__errorf("%s: no <name>.in_sum2 tensors: not an imatrix file", path);
        st = QLM_ERR_FORMAT;
    }
    qlm__gguf_close(g);
    if (st != QLM_OK) qlm__imatrix_free(im);
    return st;
}

/* Importance per column (mean x^2; 1 where nothing was seen, as llama.cpp), floored at a
   tiny fraction of the mean so that a dead column still gets a finite weight. */
static void qlm__importance(const double *sum2, double count, int64_t n, float *qw) {
    double mean = 0;
    int64_t j;
    for (j = 0; j < n; j++) {
        qw[j] = count > 0 ? (float)(sum2[j] / count) : 1.0f;
        mean += qw[j];
    }
    mean /= (double)n;
    for (j = 0; j < n; j++)
        if (qw[j] < 1e-8 * mean || !(qw[j] == qw[j])) qw[j] = (float)(1e-8 * mean);
}

/* ---- calib: run text through the model, stop after one layer, collect activations -------- */

enum { QLM__G_ATTN = 0, QLM__G_O, QLM__G_FFN, QLM__G_DOWN, QLM__G_COUNT };

typedef struct {
    int64_t K;       /* inputs of the group's matrices */
    float *H;        /* K*K: sum of x x^T (upper triangle while collecting, then mirrored) */
    double *sum2;    /* K: sum x^2 */
    double *sum_abs; /* K: sum |x| */
    double count;    /* rows seen */
} qlm__stats;

typedef struct {
    qlm_model *m;
    int32_t n_ctx, n_chunks, n_threads;
    const int32_t *toks;   /* n_chunks * n_ctx */
    /* imatrix collection: entry per model tensor (-1: not collected) */
    int32_t *entry_of;
    qlm__imatrix *im;
    /* per-layer collection for AWQ / GPTQ */
    int layer;
    qlm__stats g[QLM__G_COUNT];
} qlm__calib;

#define QLM__HT_I 16  /* Hessian tile: rows */
#define QLM__HT_J 256 /* and columns */

/* H += X^T X over this call's rows, the upper triangle in tiles dealt round-robin to threads;
   per column sums split by column ranges. Every element has one owner and one order. */
QLM__CLONES static void qlm__h_tile(float *QLM__RESTRICT H, int64_t K, const qlm__tensor *x,
                                    int64_t T, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
    int64_t t, ii, j;
    for (t = 0; t + 4 <= T; t += 4) { /* four rows per pass over the tile */
        const float *QLM__RESTRICT x0 = (const float *)QLM__ROW(x, t);
        const float *QLM__RESTRICT x1 = (const float *)QLM__ROW(x, t + 1);
        const float *QLM__RESTRICT x2 = (const float *)QLM__ROW(x, t + 2);
        const float *QLM__RESTRICT x3 = (const float *)QLM__ROW(x, t + 3);
        for (ii = i0; ii < i1; ii++) {
            float a0 = x0[ii], a1 = x1[ii], a2 = x2[ii], a3 = x3[ii], *QLM__RESTRICT h = H + ii * K;
            for (j = j0; j < j1; j++) h[j] += (a0 * x0[j] + a1 * x1[j]) + (a2 * x2[j] + a3 * x3[j]);
        }
    }
    for (; t < T; t++) {
        const float *QLM__RESTRICT xr = (const float *)QLM__ROW(x, t);
        for (ii = i0; ii < i1; ii++) {
            float a = xr[ii], *QLM__RESTRICT h = H + ii * K;
            for (j = j0; j < j1; j++) h[j] += a * xr[j];
        }
    }
}

static void qlm__stats_add(qlm__stats *s, const qlm__tensor *x, int64_t T, int ith, int nth) {
    int64_t K = s->K, nti = (K + QLM__HT_I - 1) / QLM__HT_I, ntj = (K + QLM__HT_J - 1) / QLM__HT_J;
    int64_t ti, tj, k = 0, t, j, b, e;
    if (s->H)
        for (ti = 0; ti < nti; ti++)
            for (tj = 0; tj < ntj; tj++) {
                int64_t i0 = ti * QLM__HT_I, i1 = QLM__MIN(K, i0 + QLM__HT_I);
                int64_t j0 = tj * QLM__HT_J, j1 = QLM__MIN(K, j0 + QLM__HT_J);
                if (j1 <= i0) continue; /* wholly below the diagonal */
                if (k++ % nth != ith) continue;
                qlm__h_tile(s->H, K, x, T, i0, i1, j0, j1);
            }
    qlm__split(K, ith, nth, &b, &e);
    for (t = 0; t < T; t++) {
        const float *xr = (const float *)QLM__ROW(x, t);
        for (j = b; j < e; j++) {
            s->sum2[j] += (double)xr[j] * xr[j];
            if (s->sum_abs) s->sum_abs[j] += fabs((double)xr[j]);
        }
    }
    if (ith == 0) s->count += (double)T;
}

static void qlm__calib_hook(void *user, const qlm__tensor *w, const qlm__tensor *x, int64_t T,
                            int ith, int nth) {
    qlm__calib *cb = (qlm__calib *)user;
    qlm_model *m = cb->m;
    if (cb->entry_of) {
        uintptr_t p = (uintptr_t)w, lo = (uintptr_t)m->w, hi = (uintptr_t)(m->w + m->n_w);
        int32_t ei;
        qlm__imat_entry *e;
        int64_t j, t, b, en;
        if (p < lo || p >= hi || T < 16) return; /* llama.cpp skips batches under 16 rows */
        ei = cb->entry_of[(p - lo) / sizeof *m->w];
        if (ei < 0) return;
        e = &cb->im->e[ei];
        qlm__split(e->n, ith, nth, &b, &en);
        for (t = 0; t < T; t++) {
            const float *xr = (const float *)QLM__ROW(x, t);
            for (j = b; j < en; j++) e->sum2[j] += (double)xr[j] * xr[j];
        }
        if (ith == 0) e->count += (double)T;
    } else if (cb->layer >= 0) {
        const qlm__layer *L = &m->layers[cb->layer];
        int g = w == L->wq ? QLM__G_ATTN : w == L->wo ? QLM__G_O : w == L->gate ? QLM__G_FFN
              : w == L->down ? QLM__G_DOWN : -1;
        if (g >= 0 && cb->g[g].sum2) qlm__stats_add(&cb->g[g], x, T, ith, nth);
    }
}

/* Tokenise the text (with BOS where the model wants one) into n_chunks chunks of n_ctx
   tokens, each starting with BOS as in llama.cpp's imatrix and perplexity. */
static qlm_status qlm__calib_tokens(qlm_model *m, const char *text, size_t len, int32_t n_ctx,
                                    int32_t max_chunks, int32_t **toks, int32_t *n_chunks) {
    int32_t n = 0, k, bos = qlm_token_bos(m), add_bos;
    qlm_status st;
    *toks = NULL;
    *n_chunks = 0;
    if (!text || len == 0 || len > (size_t)INT32_MAX) {
        qlm__errorf("no calibration text");
        return QLM_ERR_INVALID_ARG;
    }
    st = qlm_tokenize(m, text, (int32_t)len, NULL, 0, 1, 0, &n);
    if (st != QLM_OK && st != QLM_ERR_BUFFER_TOO_SMALL) return st;
    *toks = (int32_t *)QLM_MALLOC((size_t)(n ? n : 1) * sizeof(int32_t));
    if (!*toks) return QLM_ERR_NOMEM;
    if ((st = qlm_tokenize(m, text, (int32_t)len, *toks, n, 1, 0, &n)) != QLM_OK) {
        QLM_FREE(*toks);
        *toks = NULL;
        return st;
    }
    if (n < n_ctx) {
        qlm__errorf("the calibration text has %d tokens, fewer than one chunk of %d "
                    "(use more text or a smaller context)", n, n_ctx);
        QLM_FREE(*toks);
        *toks = NULL;
        return QLM_ERR_INVALID_ARG;
    }
    add_bos = bos >= 0 && (*toks)[0] == bos;
    *n_chunks = n / n_ctx;
    if (max_chunks > 0 && *n_chunks > max_chunks) *n_chunks = max_chunks;
    for (k = 0; k < *n_chunks && add_bos; k++) (*toks)[(size_t)k * (size_t)n_ctx] = bos;
    return QLM_OK;
}

/* Run every chunk through the model with the hook on (imatrix). progress gets chunks done. */
static qlm_status qlm__calib_run(qlm__calib *cb, int (*progress)(void *u, int32_t done),
                                 void *pu) {
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *c = NULL;
    qlm_status st;
    int32_t k;
    cp.n_ctx = cb->n_ctx;
    cp.n_batch = cb->n_ctx;
    cp.n_threads = cb->n_threads;
    if ((st = qlm_ctx_new(cb->m, cp, &c)) != QLM_OK) return st;
    c->ex.mm_hook = qlm__calib_hook;
    c->ex.mm_user = cb;
    for (k = 0; k < cb->n_chunks && st == QLM_OK; k++) {
        qlm_ctx_truncate(c, 0);
        st = qlm_decode(c, cb->toks + (size_t)k * (size_t)cb->n_ctx, cb->n_ctx, 0);
        if (st == QLM_OK && progress && progress(pu, k + 1)) {
            qlm__errorf("cancelled");
            st = QLM_ERR_CANCELLED;
        }
    }
    qlm_ctx_free(c);
    return st;
}

/* AWQ and GPTQ walk the layers keeping the residual stream of every calibration chunk between
   them (n_chunks x n_ctx x n_embd floats), so that each layer runs twice in all: once to
   collect its inputs, once quantised to carry the stream on. This drives a context's graph
   directly, one layer at a time: it sets the positions and the batch size as qlm_decode does,
   writes the layer's input into the tensor its first node reads (the residual stream; the
   token ids for layer -1, the embeddings) and reads the output of its last node. */
static void qlm__calib_step(qlm_ctx *c, const int32_t *toks, int32_t n, int layer, float *state,
                            int write_back) {
    qlm__graph *g = &c->g;
    int32_t *ip = (int32_t *)c->inp_pos->data, i;
    int first = -1, last = -1;
    for (i = 0; i < g->n_nodes; i++)
        if (g->nodes[i]->layer == layer) {
            if (first < 0) first = i;
            last = i;
        }
    if (first < 0) return;
    for (i = 0; i < n; i++) ip[i] = i;
    c->ex.n_tokens = n;
    c->ex.n_outputs = 0;
    c->ex.pos = ip;
    if (layer < 0) memcpy(c->inp_tokens->data, toks, (size_t)n * sizeof(int32_t));
    else memcpy(g->nodes[first]->src[0]->data, state, (size_t)n * g->nodes[first]->src[0]->nb[1]);
    c->ex.first_node = first;
    c->ex.last_node = last + 1;
    qlm__pool_run(c->pool, qlm__exec_job, &c->ex);
    if (write_back) memcpy(state, g->nodes[last]->data, (size_t)n * g->nodes[last]->nb[1]);
}

/* ---- linalg: the GPTQ factor ---------------------------------------------------------------
   GPTQ needs U, upper triangular with U^T U = H^-1. With J the order reversal, chol(J H J) =
   L gives H = R R^T for R = J L J (upper), so U = R^-1 = J L^-1 J: one Cholesky and one
   triangular inverse, no full inverse. Both in double, split over threads so that each
   element has one owner (rows for the Cholesky update, column blocks for the inverse). */

#define QLM__CHOL_NB 32
typedef struct {
    float *A;        /* K*K, lower triangle used */
    int64_t K, j0, j1;
    const float *P;  /* panel columns j0..j1-1 as rows: P[(p - j0) * K + k] = L[k][p] */
} qlm__chol_job;

/* Rows i >= j1: A[i][k] -= L[i][p] * L[k][p] for k in [j1, i], p = j0 .. j1-1 in order, which
   is exactly the sequence of updates the unblocked algorithm applies to each element. */
QLM__CLONES static void qlm__chol_update(void *arg, int ith, int nth) {
    qlm__chol_job *cj = (qlm__chol_job *)arg;
    int64_t K = cj->K, i, k, p;
    for (i = cj->j1 + ith; i < K; i += nth) {
        float *QLM__RESTRICT row = cj->A + i * K;
        for (p = cj->j0; p < cj->j1; p++) {
            const float *QLM__RESTRICT lp = cj->P + (p - cj->j0) * K;
            float l = row[p];
            for (k = cj->j1; k <= i; k++) row[k] -= l * lp[k];
        }
    }
}

typedef struct {
    const float *L;
    float *X; /* K*K, zero-initialised; gets L^-1 */
    int64_t K;
} qlm__trinv_job;

#define QLM__INV_NB 16
QLM__CLONES static void qlm__trinv_cols(void *arg, int ith, int nth) {
    qlm__trinv_job *tj = (qlm__trinv_job *)arg;
    int64_t K = tj->K, c0, i, k, c;
    for (c0 = (int64_t)ith * QLM__INV_NB; c0 < K; c0 += (int64_t)nth * QLM__INV_NB) {
        int64_t nb = QLM__MIN(QLM__INV_NB, K - c0);
        for (i = c0; i < K; i++) {
            float acc[QLM__INV_NB];
            const float *Li = tj->L + i * K;
            for (c = 0; c < QLM__INV_NB; c++) acc[c] = (i == c0 + c) ? 1.0f : 0.0f;
            for (k = c0; k < i; k++) {
                const float *QLM__RESTRICT Xk = tj->X + k * K + c0;
                float l = Li[k];
                if (nb == QLM__INV_NB)
                    for (c = 0; c < QLM__INV_NB; c++) acc[c] -= l * Xk[c];
                else
                    for (c = 0; c < nb; c++) acc[c] -= l * Xk[c];
            }
            for (c = 0; c < nb; c++) tj->X[i * K + c0 + c] = acc[c] / Li[i];
        }
    }
}

/* U (K*K floats, upper) from H (K*K floats, symmetric), damped by frac * mean(diag); a column
   never seen (H_jj = 0) gets H_jj = 1. In float, as GPTQ's reference; the damping keeps the
   condition number far from float's limit. QLM_ERR_INTERNAL if H is not positive definite. */
static qlm_status qlm__gptq_factor(qlm__pool *pool, const float *H, int64_t K, double frac,
                                   float *U) {
    float *A = (float *)qlm__calloc((size_t)(K * K), sizeof(float));
    float *X = (float *)qlm__calloc((size_t)(K * K), sizeof(float));
    float *col = (float *)qlm__calloc((size_t)K * QLM__CHOL_NB, sizeof(float));
    double mean = 0;
    int64_t i, j;
    qlm_status st = QLM_OK;
    if (!A || !X || !col) {
        st = QLM_ERR_NOMEM;
        goto done;
    }
    for (i = 0; i < K; i++) mean += H[i * K + i] > 0 ? H[i * K + i] : 0.0;
    mean = mean > 0 ? mean / (double)K : 1.0;
    for (i = 0; i < K; i++) /* A = J H J, lower triangle */
        for (j = 0; j <= i; j++) A[i * K + j] = H[(K - 1 - i) * K + (K - 1 - j)];
    for (i = 0; i < K; i++) {
        if (A[i * K + i] <= 0) A[i * K + i] = 1.0f;
        A[i * K + i] += (float)(frac * mean);
    }
    for (j = 0; j < K; j += QLM__CHOL_NB) { /* panels of QLM__CHOL_NB columns */
        qlm__chol_job cj;
        int64_t j1 = QLM__MIN(K, j + QLM__CHOL_NB), p, k;
        for (p = j; p < j1; p++) {
            float d = A[p * K + p];
            if (!(d > 0)) {
                qlm__errorf("the damped Hessian is not positive definite (column %lld)", (long long)p);
                st = QLM_ERR_INTERNAL;
                goto done;
            }
            d = sqrtf(d);
            A[p * K + p] = d;
            for (i = p + 1; i < K; i++) A[i * K + p] /= d;
            for (i = p + 1; i < K; i++) { /* the update inside the panel */
                float l = A[i * K + p];
                for (k = p + 1; k < j1 && k <= i; k++) A[i * K + k] -= l * A[k * K + p];
            }
        }
        for (p = j; p < j1; p++)
            for (k = j1; k < K; k++) col[(p - j) * K + k] = A[k * K + p];
        cj.A = A;
        cj.K = K;
        cj.j0 = j;
        cj.j1 = j1;
        cj.P = col;
        if (K - j1 > 64) qlm__pool_run(pool, qlm__chol_update, &cj);
        else qlm__chol_update(&cj, 0, 1);
    }
    {
        qlm__trinv_job tj;
        tj.L = A;
        tj.X = X;
        tj.K = K;
        qlm__pool_run(pool, qlm__trinv_cols, &tj);
    }
    for (i = 0; i < K; i++) /* U = J X J */
        for (j = 0; j < K; j++) U[i * K + j] = j >= i ? X[(K - 1 - i) * K + (K - 1 - j)] : 0.0f;
done:
    QLM_FREE(A);
    QLM_FREE(X);
    QLM_FREE(col);
    return st;
}

/* ---- gptq: one matrix, rows split over threads ---------------------------------------------
   Per row, columns in lazy blocks of 128: at the start of each quantisation block (32 or 256
   columns) its scales are chosen from the current, error-corrected weights with the weighted
   quantiser; then every column is rounded on that grid and its error, divided by U_jj, is
   subtracted along row j of U from the columns still to come (at once inside the lazy block,
   in one pass per block for the rest). */
#define QLM__GPTQ_B 128

typedef struct {
    qlm_type type;
    int64_t K, R;
    const float *W;  /* R*K */
    const float *U;  /* K*K upper */
    const float *qw; /* K importance */
    uint8_t *out;    /* R rows */
    int oom;
} qlm__gptq_job;

/* w[k] -= e * u[k] over [k0, k1) */
QLM__CLONES static void qlm__axpy_neg(float *QLM__RESTRICT w, const float *QLM__RESTRICT u, float e,
                                      int64_t k0, int64_t k1) {
    int64_t k;
    for (k = k0; k < k1; k++) w[k] -= e * u[k];
}

#define QLM__GPTQ_RB 8 /* rows handled together, so each row of U is read once for all */

static void qlm__gptq_rows(void *arg, int ith, int nth) {
    qlm__gptq_job *gj = (qlm__gptq_job *)arg;
    const qlm__type_traits_t *tt = &qlm__type_traits[gj->type];
    int64_t K = gj->K, G = tt->blck_size, r0, rb, re, j0, j;
    size_t rs = qlm__row_size(gj->type, K);
    float *w = (float *)QLM_MALLOC((size_t)K * QLM__GPTQ_RB * sizeof(float));
    float *a = (float *)QLM_MALLOC(sizeof(float) * 2 * QLM__QK_K * QLM__GPTQ_RB), *b;
    float E[QLM__GPTQ_RB][QLM__GPTQ_B], sigma2[QLM__GPTQ_RB];
    uint8_t Lc[QLM__GPTQ_RB][QLM__QK_K];
    int qmax[QLM__GPTQ_RB], nr, r;
    if (!w || !a) {
        gj->oom = 1;
        QLM_FREE(w);
        QLM_FREE(a);
        return;
    }
    b = a + QLM__QK_K * QLM__GPTQ_RB;
    qlm__split(gj->R, ith, nth, &rb, &re);
    for (r0 = rb; r0 < re; r0 += QLM__GPTQ_RB) {
        nr = (int)QLM__MIN(QLM__GPTQ_RB, re - r0);
        for (r = 0; r < nr; r++) {
            memcpy(w + r * K, gj->W + (r0 + r) * K, (size_t)K * sizeof(float));
            sigma2[r] = qlm__mean_sq(w + r * K, K);
        }
        for (j0 = 0; j0 < K; j0 += QLM__GPTQ_B) {
            int64_t j1 = QLM__MIN(K, j0 + QLM__GPTQ_B);
            for (j = j0; j < j1; j++) {
                int64_t e = j % G;
                const float *Uj = gj->U + j * K;
                for (r = 0; r < nr; r++) {
                    float *wr = w + r * K, *ar = a + r * QLM__QK_K, *br = b + r * QLM__QK_K, q, v;
                    uint8_t *blk = gj->out + (size_t)(r0 + r) * rs + (size_t)(j / G) * tt->type_size;
                    int code = 0;
                    if (e == 0) {
                        if (G == 32) qlm__wq_block32(gj->type, wr + j, gj->qw + j, sigma2[r], blk);
                        else qlm__wq_blockK(gj->type, wr + j, gj->qw + j, blk);
                        qmax[r] = qlm__block_grid(gj->type, blk, ar, br);
                    }
                    if (ar[e] != 0.0f) {
                        v = (wr[j] - br[e]) / ar[e];
                        code = !(v > 0) ? 0 : v >= (float)qmax[r] ? qmax[r] : qlm__nearest_int(v);
                    }
                    Lc[r][e] = (uint8_t)code;
                    q = ar[e] * (float)code + br[e];
                    E[r][j - j0] = (wr[j] - q) / Uj[j];
                    qlm__axpy_neg(wr, Uj, E[r][j - j0], j + 1, j1);
                    if (e == G - 1) qlm__block_put_codes(gj->type, blk, Lc[r]);
                }
            }
            for (j = j0; j < j1; j++)
                for (r = 0; r < nr; r++) qlm__axpy_neg(w + r * K, gj->U + j * K, E[r][j - j0], j1, K);
        }
    }
    QLM_FREE(w);
    QLM_FREE(a);
}

/* ---- awq: per-input-channel scales ---------------------------------------------------------
   For alpha in 0, 1/20, .., 19/20: s = mean|x|^alpha (normalised so that max*min = 1), every
   matrix of the group quantised as W diag(s) (importance H_jj / s_j^2), divided back by s,
   and the output error tr(dW H dW^T) summed over up to QLM__AWQ_ROWS evenly spaced rows of
   each matrix. alpha = 0 (s = 1) is plain rounding, so the chosen s is never worse on that
   measure. The alphas are dealt to threads; the minimum is taken in alpha order. */
#define QLM__AWQ_GRID 20
#define QLM__AWQ_ROWS 32

typedef struct {
    int n_mat;
    const float *W[3];
    int64_t R[3];
    qlm_type type[3];
    int64_t K;
    const float *H;       /* K*K symmetric */
    const double *mabs;   /* K: mean |x| */
    const float *qw;      /* K: mean x^2 */
    double err[QLM__AWQ_GRID];
    int oom;
} qlm__awq_job;

static void qlm__awq_scales(const double *mabs, int64_t K, double alpha, float *s) {
    double mx = 0, mn = 1e300, norm;
    int64_t j;
    for (j = 0; j < K; j++) {
        double v = pow(mabs[j] > 1e-4 ? mabs[j] : 1e-4, alpha);
        s[j] = (float)v;
        mx = v > mx ? v : mx;
        mn = v < mn ? v : mn;
    }
    norm = sqrt(mx * mn);
    for (j = 0; j < K; j++) s[j] = (float)(s[j] / norm);
}

static void qlm__awq_eval(void *arg, int ith, int nth) {
    qlm__awq_job *aj = (qlm__awq_job *)arg;
    int64_t K = aj->K, j, k;
    int ia, im;
    float *s = (float *)QLM_MALLOC((size_t)K * 6 * sizeof(float));
    uint8_t *q = (uint8_t *)QLM_MALLOC((size_t)K * 4 + 64);
    float *x, *qws, *dq, *y, *dw;
    if (!s || !q) {
        aj->oom = 1;
        QLM_FREE(s);
        QLM_FREE(q);
        return;
    }
    x = s + K, qws = s + 2 * K, dq = s + 3 * K, y = s + 4 * K, dw = s + 5 * K;
    for (ia = ith; ia < QLM__AWQ_GRID; ia += nth) {
        double err = 0;
        qlm__awq_scales(aj->mabs, K, (double)ia / QLM__AWQ_GRID, s);
        for (j = 0; j < K; j++) qws[j] = aj->qw[j] / (s[j] * s[j]);
        for (im = 0; im < aj->n_mat; im++) {
            int64_t R = aj->R[im], ns = QLM__MIN(R, QLM__AWQ_ROWS), is;
            for (is = 0; is < ns; is++) {
                const float *wr = aj->W[im] + (is * R / ns) * K;
                double e = 0;
                for (j = 0; j < K; j++) x[j] = wr[j] * s[j];
                qlm__quantize_row(aj->type[im], x, q, K, qws);
                qlm__type_traits[aj->type[im]].to_float(q, dq, K);
                for (j = 0; j < K; j++) dw[j] = wr[j] - dq[j] / s[j], y[j] = 0;
                for (k = 0; k < K; k++) qlm__axpy_neg(y, aj->H + k * K, -dw[k], 0, K);
                for (j = 0; j < K; j++) e += (double)dw[j] * y[j];
                err += e;
            }
        }
        aj->err[ia] = err;
    }
    QLM_FREE(s);
    QLM_FREE(q);
}

/* ---- driver -------------------------------------------------------------------------------- */

typedef struct {
    int64_t src;    /* index in the input file */
    int layer;      /* blk.N -> N, else -1 */
    qlm_type from, to;
    const char *name;
} qlm__qt;

typedef struct {
    qlm_quantize_params p;
    qlm__logger lg;
    const char *out_path;
    FILE *f;
    uint64_t pos, align;
    qlm__gguf *g;   /* the input (the model's own when m is set) */
    qlm_model *m;   /* loaded for AWQ / GPTQ */
    qlm__pool *pool;
    qlm__imatrix im;
    int has_im;
    qlm__qt *t;
    int64_t n_t;
    double work_total, work_done;
    uint8_t **keep; /* buffers the model's descriptors point at after a layer is done */
    int n_keep, cap_keep;
    int32_t *toks, n_chunks;
    float *state;   /* AWQ / GPTQ: residual stream of every chunk between layers */
} qlm__qstate;

static qlm_status qlm__q_progress(qlm__qstate *s, int64_t i, const char *what, int calibrating) {
    qlm_quantize_progress pr;
    if (!s->p.progress_fn) return QLM_OK;
    memset(&pr, 0, sizeof pr);
    pr.index = (int32_t)i;
    pr.count = (int32_t)s->n_t;
    pr.name = what ? what : s->t[i].name;
    pr.from = s->t[i].from;
    pr.to = s->t[i].to;
    pr.fraction = s->work_total > 0 ? (float)QLM__MIN(1.0, s->work_done / s->work_total) : 1.0f;
    pr.calibrating = calibrating;
    if (s->p.progress_fn(&pr, s->p.progress_user)) {
        qlm__errorf("quantisation cancelled");
        return QLM_ERR_CANCELLED;
    }
    return QLM_OK;
}

static qlm_status qlm__q_write(qlm__qstate *s, const void *data, size_t n) {
    if (n && fwrite(data, 1, n, s->f) != n) {
        qlm__errorf("%s.tmp: write failed: %s", s->out_path, strerror(errno));
        return QLM_ERR_IO;
    }
    s->pos += n;
    return QLM_OK;
}

static int64_t qlm__nel(const qlm__gguf_tensor *t) { return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]; }

/* "<arch>.<suffix>" as an integer (the first element of a per-layer array). */
static int qlm__q_meta_int(const qlm__gguf *g, const char *arch, const char *suffix, int64_t *out) {
    char key[128];
    int64_t kv;
    double d;
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    kv = qlm__gguf_find(g, key);
    if (kv < 0) return 0;
    if (qlm__gguf_kv_type(g, kv) == QLM__GGUF_ARR) {
        if (qlm__gguf_arr_n(g, kv) == 0 || !qlm__gguf_arr_get_f64(g, kv, 0, &d)) return 0;
        *out = (int64_t)d;
        return 1;
    }
    return qlm__gguf_get_i64(g, key, out);
}

/* The importance of a tensor's input columns from the imatrix file, or NULL. */
static qlm_status qlm__q_imat(qlm__qstate *s, int64_t i, float *qw, int *have) {
    const qlm__gguf_tensor *gt = &s->g->tensors[s->t[i].src];
    const qlm__imat_entry *e = s->has_im ? qlm__imatrix_find(&s->im, s->t[i].name) : NULL;
    *have = 0;
    if (!e) return QLM_OK;
    if (e->n != gt->ne[0]) {
        if (qlm__category(s->t[i].name) == QLM__CAT_TOKEN_EMBD) return QLM_OK;
        qlm__errorf("imatrix entry %s has %lld columns, the tensor %lld", e->name,
                    (long long)e->n, (long long)gt->ne[0]);
        return QLM_ERR_INVALID_ARG;
    }
    qlm__importance(e->sum2, e->count, e->n, qw);
    *have = 1;
    return QLM_OK;
}

typedef struct {
    const uint8_t *src; /* input rows */
    qlm_type from, to;
    int64_t K, r0, nr;
    size_t rs_in, rs_out;
    const float *qw;
    float *xbuf;        /* K per thread */
    uint8_t *out;
} qlm__rtn_job;

static void qlm__rtn_rows(void *arg, int ith, int nth) {
    qlm__rtn_job *j = (qlm__rtn_job *)arg;
    float *x = j->xbuf + (size_t)ith * (size_t)j->K;
    int64_t r, b, e;
    qlm__split(j->nr, ith, nth, &b, &e);
    for (r = b; r < e; r++) {
        qlm__type_traits[j->from].to_float(j->src + (size_t)(j->r0 + r) * j->rs_in, x, j->K);
        qlm__quantize_row(j->to, x, j->out + (size_t)r * j->rs_out, j->K, j->qw);
    }
}

/* Quantise (or copy) tensor i straight from the input to the file, in slabs of rows. */
static qlm_status qlm__q_tensor_rtn(qlm__qstate *s, int64_t i) {
    const qlm__gguf_tensor *gt = &s->g->tensors[s->t[i].src];
    qlm__rtn_job j;
    int64_t K = gt->ne[0], R = qlm__nel(gt) / K, slab, r;
    float *qw = NULL;
    int have = 0;
    qlm_status st = QLM_OK;
    memset(&j, 0, sizeof j);
    if ((st = qlm__q_progress(s, i, NULL, 0)) != QLM_OK) return st;
    if (s->t[i].to == s->t[i].from) { /* nothing to do, as llama.cpp: copy */
        st = qlm__q_write(s, gt->data, (size_t)gt->size);
        s->work_done += (double)qlm__nel(gt);
        return st;
    }
    j.src = gt->data;
    j.from = s->t[i].from;
    j.to = s->t[i].to;
    j.K = K;
    j.rs_in = qlm__row_size(j.from, K);
    j.rs_out = qlm__row_size(j.to, K);
    slab = QLM__MAX(1, ((int64_t)1 << 22) / K);
    qw = (float *)QLM_MALLOC((size_t)K * sizeof(float));
    j.xbuf = (float *)QLM_MALLOC((size_t)K * (size_t)s->pool->n * sizeof(float));
    j.out = (uint8_t *)QLM_MALLOC(j.rs_out * (size_t)QLM__MIN(slab, R));
    if (!qw || !j.xbuf || !j.out) st = QLM_ERR_NOMEM;
    if (st == QLM_OK) st = qlm__q_imat(s, i, qw, &have);
    j.qw = have ? qw : NULL;
    for (r = 0; r < R && st == QLM_OK; r += slab) {
        j.r0 = r;
        j.nr = QLM__MIN(slab, R - r);
        qlm__pool_run(s->pool, qlm__rtn_rows, &j);
        st = qlm__q_write(s, j.out, j.rs_out * (size_t)j.nr);
        s->work_done += (double)(j.nr * K);
        if (st == QLM_OK && R > slab) st = qlm__q_progress(s, i, NULL, 0);
    }
    if (st == QLM_ERR_NOMEM) qlm__errorf("out of memory quantising %s", s->t[i].name);
    QLM_FREE(qw);
    QLM_FREE(j.xbuf);
    QLM_FREE(j.out);
    return st;
}

static qlm_status qlm__q_keep(qlm__qstate *s, uint8_t *buf) {
    if (s->n_keep == s->cap_keep) {
        int cap = s->cap_keep ? 2 * s->cap_keep : 64;
        uint8_t **k = (uint8_t **)QLM_REALLOC(s->keep, (size_t)cap * sizeof *k);
        if (!k) return QLM_ERR_NOMEM;
        s->keep = k;
        s->cap_keep = cap;
    }
    s->keep[s->n_keep++] = buf;
    return QLM_OK;
}

/* Point a model tensor at new data of type t (the calibration of later layers reads it). */
static void qlm__retarget(qlm__tensor *w, qlm_type t, void *data) {
    w->type = t;
    w->data = data;
    w->nb[0] = qlm__type_traits[t].type_size;
    w->nb[1] = qlm__row_size(t, w->ne[0]);
    w->nb[2] = w->nb[1] * (size_t)w->ne[1];
    w->nb[3] = w->nb[2] * (size_t)w->ne[2];
}

static float *qlm__dequant_tensor(const qlm__tensor *w) {
    int64_t K = w->ne[0], R = w->ne[1] * w->ne[2] * w->ne[3], r;
    float *f = (float *)QLM_MALLOC((size_t)(K * R) * sizeof(float));
    if (!f) return NULL;
    for (r = 0; r < R; r++)
        qlm__type_traits[w->type].to_float((const uint8_t *)w->data + (size_t)r * w->nb[1], f + r * K, K);
    return f;
}

typedef struct {
    qlm__qstate *s;
    int layer;
    int64_t item;
    double base, work; /* work done before, and the calibration's share */
} qlm__calib_pu;

static int qlm__q_calib_progress(void *u, int32_t done) {
    qlm__calib_pu *pu = (qlm__calib_pu *)u;
    char what[96];
    snprintf(what, sizeof what, "calibrating layer %d (chunk %d/%d)", pu->layer, done,
             pu->s->n_chunks);
    pu->s->work_done = pu->base + pu->work * done / (pu->s->n_chunks ? pu->s->n_chunks : 1);
    return qlm__q_progress(pu->s, pu->item, what, 1) != QLM_OK;
}

/* Output error tr(dW H dW^T) on QLM__AWQ_ROWS evenly spaced rows of W (R x K floats): of
   plain rounding, of importance-weighted rounding, and of the rows already in out (type t). */
static void qlm__sampled_errors(const float *W, const uint8_t *out, qlm_type t, int64_t K,
                                int64_t R, const float *H, const float *qw, double e[3]) {
    float *dq = (float *)QLM_MALLOC((size_t)K * 2 * sizeof(float)), *y;
    uint8_t *q = (uint8_t *)QLM_MALLOC(qlm__row_size(t, K) + 64);
    int64_t ns = QLM__MIN(R, QLM__AWQ_ROWS), is, j, k;
    int v;
    e[0] = e[1] = e[2] = 0;
    if (!dq || !q) {
        QLM_FREE(dq);
        QLM_FREE(q);
        return;
    }
    y = dq + K;
    for (is = 0; is < ns; is++) {
        const float *wr = W + (is * R / ns) * K;
        for (v = 0; v < 3; v++) {
            if (v < 2) {
                qlm__quantize_row(t, wr, q, K, v ? qw : NULL);
                qlm__type_traits[t].to_float(q, dq, K);
            } else {
                qlm__type_traits[t].to_float(out + (size_t)(is * R / ns) * qlm__row_size(t, K), dq, K);
            }
            for (j = 0; j < K; j++) dq[j] = wr[j] - dq[j], y[j] = 0;
            for (k = 0; k < K; k++) qlm__axpy_neg(y, H + k * K, -dq[k], 0, K);
            for (j = 0; j < K; j++) e[v] += (double)dq[j] * y[j];
        }
    }
    QLM_FREE(dq);
    QLM_FREE(q);
}

#define QLM__N_MATS 7

/* Run layer il (-1: the embeddings) on every chunk's residual stream: collecting its inputs
   through the hook when cb is set, else carrying the stream on to the layer's output. */
static qlm_status qlm__q_walk(qlm__qstate *s, int il, qlm__calib *cb, qlm__calib_pu *pu) {
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_ctx *c = NULL;
    qlm_status st;
    int32_t k, n = s->p.calib_ctx;
    int64_t E = s->m->hp.n_embd;
    cp.n_ctx = n;
    cp.n_batch = n;
    cp.n_threads = s->p.n_threads;
    if ((st = qlm_ctx_new(s->m, cp, &c)) != QLM_OK) return st;
    c->ex.mm_hook = cb ? qlm__calib_hook : NULL;
    c->ex.mm_user = cb;
    for (k = 0; k < s->n_chunks && st == QLM_OK; k++) {
        qlm__calib_step(c, s->toks + (size_t)k * (size_t)n, n, il, s->state + (size_t)k * (size_t)n * (size_t)E, !cb);
        if (pu && qlm__q_calib_progress(pu, k + 1)) st = QLM_ERR_CANCELLED;
    }
    qlm_ctx_free(c);
    return st;
}

/* One layer with AWQ or GPTQ: calibrate (earlier layers already quantised), then quantise its
   seven matrices into out[] (type to[]); AWQ also returns the folded norms / bias. */
static qlm_status qlm__q_layer(qlm__qstate *s, int il, int64_t item, const qlm_type *to,
                               uint8_t **out, float **norm_attn, float **norm_ffn, float **bias_v) {
    qlm_model *m = s->m;
    qlm__layer *L = &m->layers[il];
    qlm__tensor *mat[QLM__N_MATS];
    static const int grp[QLM__N_MATS] = {QLM__G_ATTN, QLM__G_ATTN, QLM__G_ATTN, QLM__G_O,
                                         QLM__G_FFN, QLM__G_FFN, QLM__G_DOWN};
    float *Wf[QLM__N_MATS] = {0}, *qw[QLM__G_COUNT] = {0}, *U = NULL, *sc[QLM__G_COUNT] = {0};
    qlm__calib cb;
    qlm__calib_pu pu;
    qlm_status st = QLM_OK;
    int k, g, awq = s->p.method == QLM_QUANT_AWQ;
    int64_t j, r;
    mat[0] = L->wq, mat[1] = L->wk, mat[2] = L->wv, mat[3] = L->wo;
    mat[4] = L->gate, mat[5] = L->up, mat[6] = L->down;
    memset(&cb, 0, sizeof cb);
    cb.m = m;
    cb.n_ctx = s->p.calib_ctx;
    cb.n_chunks = s->n_chunks;
    cb.n_threads = s->p.n_threads;
    cb.toks = s->toks;
    cb.layer = il;
    for (g = 0; g < QLM__G_COUNT && st == QLM_OK; g++) {
        int64_t K = mat[g == QLM__G_ATTN ? 0 : g == QLM__G_O ? 3 : g == QLM__G_FFN ? 4 : 6]->ne[0];
        cb.g[g].K = K;
        cb.g[g].H = (float *)qlm__calloc((size_t)(K * K), sizeof(float));
        cb.g[g].sum2 = (double *)qlm__calloc((size_t)K, sizeof(double));
        cb.g[g].sum_abs = (double *)qlm__calloc((size_t)K, sizeof(double));
        qw[g] = (float *)QLM_MALLOC((size_t)K * sizeof(float));
        if (!cb.g[g].H || !cb.g[g].sum2 || !cb.g[g].sum_abs || !qw[g]) st = QLM_ERR_NOMEM;
    }
    pu.s = s;
    pu.layer = il;
    pu.item = item;
    pu.base = s->work_done;
    pu.work = 0;
    for (k = 0; k < QLM__N_MATS; k++) pu.work += (double)(mat[k]->ne[0] * mat[k]->ne[1]);
    if (st == QLM_OK) st = qlm__q_walk(s, il, &cb, &pu);
    s->work_done = pu.base + pu.work;
    for (g = 0; g < QLM__G_COUNT && st == QLM_OK; g++) { /* mirror the upper triangle */
        int64_t K = cb.g[g].K, i;
        float *H = cb.g[g].H;
        for (i = 0; i < K; i++)
            for (j = 0; j < i; j++) H[i * K + j] = H[j * K + i];
        if (cb.g[g].count <= 0) {
            qlm__errorf("layer %d: no activations reached its matrices", il);
            st = QLM_ERR_INTERNAL;
        } else {
            qlm__importance(cb.g[g].sum2, cb.g[g].count, K, qw[g]);
        }
    }
    for (k = 0; k < QLM__N_MATS && st == QLM_OK; k++)
        if (!(Wf[k] = qlm__dequant_tensor(mat[k]))) st = QLM_ERR_NOMEM;

    if (st == QLM_OK && awq) {
        const qlm__hparams *hp = &m->hp;
        for (g = 0; g < QLM__G_COUNT && st == QLM_OK; g++) {
            qlm__awq_job aj;
            int64_t K = cb.g[g].K, best = 0;
            double *mabs = (double *)QLM_MALLOC((size_t)K * sizeof(double));
            sc[g] = (float *)QLM_MALLOC((size_t)K * sizeof(float));
            if (!mabs || !sc[g]) {
                QLM_FREE(mabs);
                st = QLM_ERR_NOMEM;
                break;
            }
            for (j = 0; j < K; j++) mabs[j] = cb.g[g].sum_abs[j] / cb.g[g].count;
            if (g == QLM__G_O) { /* heads sharing a V head must share scales: average them */
                int64_t hd = hp->head_dim, nh = hp->n_head, per = hp->n_head / hp->n_head_kv, h, d;
                for (h = 0; h < nh; h += per)
                    for (d = 0; d < hd; d++) {
                        double a = 0;
                        for (k = 0; k < per; k++) a += mabs[(h + k) * hd + d];
                        for (k = 0; k < per; k++) mabs[(h + k) * hd + d] = a / per;
                    }
            }
            memset(&aj, 0, sizeof aj);
            aj.K = K;
            aj.H = cb.g[g].H;
            aj.mabs = mabs;
            aj.qw = qw[g];
            for (k = 0; k < QLM__N_MATS; k++)
                if (grp[k] == g) {
                    aj.W[aj.n_mat] = Wf[k];
                    aj.R[aj.n_mat] = mat[k]->ne[1];
                    aj.type[aj.n_mat] = to[k];
                    aj.n_mat++;
                }
            qlm__pool_run(s->pool, qlm__awq_eval, &aj);
            if (aj.oom) st = QLM_ERR_NOMEM;
            for (k = 1; k < QLM__AWQ_GRID; k++)
                if (aj.err[k] < aj.err[best]) best = k;
            qlm__awq_scales(mabs, K, (double)best / QLM__AWQ_GRID, sc[g]);
            qlm__log(&s->lg, QLM_LOG_INFO,
                     "layer %d %s: alpha %.2f, output error %.4g (alpha 0: %.4g)", il,
                     g == QLM__G_ATTN ? "attn_qkv" : g == QLM__G_O ? "attn_output"
                     : g == QLM__G_FFN ? "ffn_gate_up" : "ffn_down",
                     (double)best / QLM__AWQ_GRID, aj.err[best], aj.err[0]);
            QLM_FREE(mabs);
        }
        if (st == QLM_OK) { /* fold: W[:, j] *= s_j and 1/s_j into what produces input j */
            int64_t E = hp->n_embd;
            *norm_attn = (float *)QLM_MALLOC((size_t)E * sizeof(float));
            *norm_ffn = (float *)QLM_MALLOC((size_t)E * sizeof(float));
            if (!*norm_attn || !*norm_ffn) st = QLM_ERR_NOMEM;
            if (st == QLM_OK && L->bv) {
                *bias_v = (float *)QLM_MALLOC((size_t)L->bv->ne[0] * sizeof(float));
                if (!*bias_v) st = QLM_ERR_NOMEM;
                else memcpy(*bias_v, L->bv->data, (size_t)L->bv->ne[0] * sizeof(float));
            }
            if (st == QLM_OK) {
                const float *na = (const float *)L->attn_norm->data, *nf = (const float *)L->ffn_norm->data;
                int64_t hd = hp->head_dim, per = hp->n_head / hp->n_head_kv;
                for (j = 0; j < E; j++) (*norm_attn)[j] = na[j] / sc[QLM__G_ATTN][j];
                for (j = 0; j < E; j++) (*norm_ffn)[j] = nf[j] / sc[QLM__G_FFN][j];
                for (k = 0; k < QLM__N_MATS; k++) {
                    int64_t K = mat[k]->ne[0];
                    const float *sg = sc[grp[k]];
                    for (r = 0; r < mat[k]->ne[1]; r++)
                        for (j = 0; j < K; j++) Wf[k][r * K + j] *= sg[j];
                }
                /* attn_output input (h, d) comes from V row (h / per, d); ffn_down input i
                   from ffn_up row i */
                for (r = 0; r < mat[2]->ne[1]; r++) {
                    float sv = sc[QLM__G_O][(r / hd) * per * hd + r % hd];
                    for (j = 0; j < mat[2]->ne[0]; j++) Wf[2][r * mat[2]->ne[0] + j] /= sv;
                    if (*bias_v) (*bias_v)[r] /= sv;
                }
                for (r = 0; r < mat[5]->ne[1]; r++)
                    for (j = 0; j < mat[5]->ne[0]; j++) Wf[5][r * mat[5]->ne[0] + j] /= sc[QLM__G_DOWN][r];
                for (g = 0; g < QLM__G_COUNT; g++)
                    for (j = 0; j < cb.g[g].K; j++) qw[g][j] /= sc[g][j] * sc[g][j];
            }
        }
    }

    for (k = 0; k < QLM__N_MATS && st == QLM_OK; k++) {
        int64_t K = mat[k]->ne[0], R = mat[k]->ne[1];
        size_t rs = qlm__row_size(to[k], K);
        int gptq = !awq && qlm__has_grid(to[k]) && to[k] != QLM_TYPE_Q8_0;
        out[k] = (uint8_t *)QLM_MALLOC(rs * (size_t)R);
        if (!out[k]) {
            st = QLM_ERR_NOMEM;
            break;
        }
        if (gptq) {
            qlm__gptq_job gj;
            if (k == 0 || grp[k] != grp[k - 1]) { /* one factor per input group */
                QLM_FREE(U);
                U = (float *)QLM_MALLOC((size_t)(K * K) * sizeof(float));
                if (!U) {
                    st = QLM_ERR_NOMEM;
                    break;
                }
                if ((st = qlm__gptq_factor(s->pool, cb.g[grp[k]].H, K, s->p.gptq_damp, U)) != QLM_OK) break;
            }
            memset(&gj, 0, sizeof gj);
            gj.type = to[k];
            gj.K = K;
            gj.R = R;
            gj.W = Wf[k];
            gj.U = U;
            gj.qw = qw[grp[k]];
            gj.out = out[k];
            qlm__pool_run(s->pool, qlm__gptq_rows, &gj);
            if (gj.oom) st = QLM_ERR_NOMEM;
            if (st == QLM_OK && s->lg.fn) {
                double e[3];
                qlm__sampled_errors(Wf[k], out[k], to[k], K, R, cb.g[grp[k]].H, qw[grp[k]], e);
                qlm__log(&s->lg, QLM_LOG_INFO,
                         "%s: output error on %d rows: RTN %.4g, imatrix RTN %.4g, GPTQ %.4g (%+.0f%%)",
                         mat[k]->name, (int)QLM__MIN(R, QLM__AWQ_ROWS), e[0], e[1], e[2],
                         e[0] > 0 ? 100.0 * (e[2] / e[0] - 1) : 0.0);
            }
        } else {
            for (r = 0; r < R; r++)
                qlm__quantize_row(to[k], Wf[k] + r * K, out[k] + (size_t)r * rs, K, qw[grp[k]]);
        }
    }
    QLM_FREE(U);
    for (k = 0; k < QLM__N_MATS; k++) QLM_FREE(Wf[k]);
    for (g = 0; g < QLM__G_COUNT; g++) {
        QLM_FREE(cb.g[g].H);
        QLM_FREE(cb.g[g].sum2);
        QLM_FREE(cb.g[g].sum_abs);
        QLM_FREE(qw[g]);
        QLM_FREE(sc[g]);
    }
    if (st == QLM_ERR_NOMEM) qlm__errorf("out of memory quantising layer %d", il);
    return st;
}

static int qlm__qt_cmp(const void *a, const void *b) {
    const qlm__qt *x = (const qlm__qt *)a, *y = (const qlm__qt *)b;
    if (x->layer != y->layer) return x->layer < y->layer ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Metadata of the input that the output must not carry over. */
static int qlm__q_skip_key(qlm__str k) {
    static const char *const drop[] = {"general.file_type", "general.quantization_version",
                                       "split.no", "split.count", "split.tensors.count"};
    size_t i;
    for (i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (qlm__str_eq(k, drop[i])) return 1;
    return (k.len >= 4 && memcmp(k.ptr, "qlm.", 4) == 0) ||
           (k.len >= 17 && memcmp(k.ptr, "quantize.imatrix.", 17) == 0);
}

/* Plan the output: the rules' facts from the metadata, the --tensor-type overrides, the
   tensors in llama.cpp's order (by layer, then name) and each one's output type. */
static qlm_status qlm__q_plan(qlm__qstate *s, qlm__rules *ru, const qlm__ftype_info *ft,
                              const qlm_quantize_params *p, int64_t *n_quantised_in, int *any_fp8) {
    qlm_status st = QLM_OK;
    char arch[64] = "";
    int64_t i;
    int k;
    /* the rules' facts about the model */
    {
        int64_t kv = qlm__gguf_find(s->g, "general.architecture");
        if (kv >= 0 && qlm__gguf_kv_type(s->g, kv) == QLM__GGUF_STR) {
            qlm__str a = qlm__gguf_get_str(s->g, kv);
            snprintf(arch, sizeof arch, "%.*s", (int)QLM__MIN(a.len, 63), a.ptr);
        }
    }
    ru->ftype = ft->ftype;
    ru->def = ft->type;
    ru->pure = p->pure;
    ru->has_imatrix = s->has_im;
    ru->tied = qlm__gguf_find_tensor(s->g, "output.weight") < 0;
    ru->is_falcon = strcmp(arch, "falcon") == 0;
    {
        int64_t v;
        if (qlm__q_meta_int(s->g, arch, "block_count", &v)) ru->n_layer = (int)v;
        if (qlm__q_meta_int(s->g, arch, "expert_count", &v)) ru->n_expert = (int)v;
        {
            int64_t nh = 0, nkv = 0;
            qlm__q_meta_int(s->g, arch, "attention.head_count", &nh);
            if (!qlm__q_meta_int(s->g, arch, "attention.head_count_kv", &nkv)) nkv = nh;
            ru->n_gqa = nkv > 0 ? (int)(nh / nkv) : 1;
            ru->is_70b = strcmp(arch, "llama") == 0 && ru->n_layer == 80 && nh != nkv;
        }
    }

    /* --tensor-type overrides */
    for (k = 0; p->tensor_types && p->tensor_types[k]; k++) {}
    if (k) {
        ru->re_type = (qlm_type *)qlm__calloc((size_t)k, sizeof(qlm_type));
        ru->re_src = p->tensor_types;
#if !defined(_WIN32)
        ru->re = (regex_t *)qlm__calloc((size_t)k, sizeof(regex_t));
        if (!ru->re) st = QLM_ERR_NOMEM;
#endif
        if (!ru->re_type) st = QLM_ERR_NOMEM;
        for (k = 0; st == QLM_OK && p->tensor_types[k]; k++) {
            const char *spec = p->tensor_types[k], *eq = strchr(spec, '=');
            char pat[256];
            int t;
            if (!eq || eq == spec || !eq[1] || (size_t)(eq - spec) >= sizeof pat) {
                qlm__errorf("--tensor-type '%s': expected PATTERN=TYPE", spec);
                st = QLM_ERR_INVALID_ARG;
                break;
            }
            memcpy(pat, spec, (size_t)(eq - spec));
            pat[eq - spec] = 0;
            {
                char *c;
                for (c = pat; *c; c++) *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
            }
            if ((t = qlm__type_by_name(eq + 1)) < 0) {
                qlm__errorf("--tensor-type '%s': unknown tensor type '%s'", spec, eq + 1);
                st = QLM_ERR_INVALID_ARG;
                break;
            }
            ru->re_type[k] = (qlm_type)t;
#if !defined(_WIN32)
            if (regcomp(&ru->re[k], pat, REG_EXTENDED | REG_NOSUB) != 0) {
                qlm__errorf("--tensor-type '%s': bad regular expression", spec);
                st = QLM_ERR_INVALID_ARG;
                break;
            }
#endif
            ru->n_re = k + 1;
        }
        if (st != QLM_OK) return st;
    }

    /* the tensors in llama.cpp's order (by layer, then name) and their types */
    s->n_t = s->g->n_tensors;
    s->t = (qlm__qt *)qlm__calloc((size_t)(s->n_t ? s->n_t : 1), sizeof(qlm__qt));
    if (!s->t) {
        return QLM_ERR_NOMEM;
    }
    for (i = 0; i < s->n_t; i++) {
        const qlm__gguf_tensor *gt = &s->g->tensors[i];
        int layer = -1;
        char nm[80];
        snprintf(nm, sizeof nm, "%.*s", (int)gt->name.len, gt->name.ptr);
        if (sscanf(nm, "blk.%d.", &layer) != 1) layer = -1;
        s->t[i].src = i;
        s->t[i].layer = layer;
        s->t[i].from = gt->type;
        {
            char *d = qlm__strndup(gt->name.ptr, (size_t)gt->name.len);
            if (!d || qlm__q_keep(s, (uint8_t *)d) != QLM_OK) {
                QLM_FREE(d);
                st = QLM_ERR_NOMEM;
                return st;
            }
            s->t[i].name = d;
        }
    }
    qsort(s->t, (size_t)s->n_t, sizeof *s->t, qlm__qt_cmp);
    for (i = 0; i < s->n_t; i++) {
        if (qlm__category(s->t[i].name) == QLM__CAT_ATTN_V || qlm__category(s->t[i].name) == QLM__CAT_ATTN_QKV ||
            qlm__category(s->t[i].name) == QLM__CAT_ATTN_KV_B)
            ru->n_attn_v++;
    }
    for (i = 0; i < s->n_t; i++) {
        const qlm__gguf_tensor *gt = &s->g->tensors[s->t[i].src];
        s->t[i].to = qlm__choose_type(ru, s->t[i].name, gt->n_dims, gt->ne[0], gt->type, &s->lg);
        if (s->t[i].to != s->t[i].from && qlm__type_traits[s->t[i].from].is_quantized) (*n_quantised_in)++;
        if (s->t[i].to == QLM_TYPE_FP8_E4M3) *any_fp8 = 1;
        s->work_total += (double)qlm__nel(gt);
        if (s->m && s->t[i].layer >= 0 && s->t[i].layer < ru->n_layer && gt->n_dims >= 2)
            s->work_total += (double)qlm__nel(gt); /* calibration counts as much again */
        if (s->m && (s->t[i].layer < 0 || s->t[i].layer >= ru->n_layer)) s->t[i].layer = -1;
    }
    return QLM_OK;
}

QLM_API qlm_quantize_params qlm_quantize_default_params(void) {
    qlm_quantize_params p;
    memset(&p, 0, sizeof p);
    return p;
}

QLM_API qlm_status qlm_quantize(const char *in_path, const char *out_path, qlm_quantize_params p) {
    qlm__qstate s;
    qlm__rules ru;
    qlm__gguf_writer w;
    const qlm__ftype_info *ft;
    qlm_status st = QLM_OK;
    char *tmp = NULL;
    int64_t i, n_quantised_in = 0;
    int k, any_fp8 = 0;
    static const char *const method_name[] = {"rtn", "awq", "gptq"};
    memset(&s, 0, sizeof s);
    memset(&ru, 0, sizeof ru);
    memset(&w, 0, sizeof w);
    s.lg.fn = p.log_fn;
    s.lg.user = p.log_user;
    if (!in_path || !out_path) {
        qlm__errorf("qlm_quantize: missing input or output path");
        return QLM_ERR_INVALID_ARG;
    }
    ft = qlm__ftype_find(p.type ? p.type : "Q8_0");
    if (!ft) {
        qlm__errorf("unknown quantisation type '%s' (F32 F16 BF16 Q8_0 Q5_0 Q5_1 Q4_0 Q4_1 Q2_K "
                    "Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K FP8)", p.type);
        return QLM_ERR_INVALID_ARG;
    }
    if ((int)p.method < QLM_QUANT_RTN || (int)p.method > QLM_QUANT_GPTQ) {
        qlm__errorf("unknown quantisation method %d", (int)p.method);
        return QLM_ERR_INVALID_ARG;
    }
    if (p.method != QLM_QUANT_RTN && (!p.calib_text || p.calib_len == 0)) {
        qlm__errorf("--method %s needs calibration text", method_name[p.method]);
        return QLM_ERR_INVALID_ARG;
    }
    if (p.calib_ctx < 0 || p.calib_chunks < 0 || p.n_threads < 0) {
        qlm__errorf("negative calibration context, chunk count or thread count");
        return QLM_ERR_INVALID_ARG;
    }
    if (!(p.gptq_damp >= 0) || p.gptq_damp > 100) {
        qlm__errorf("GPTQ damping %g out of range [0, 100]", (double)p.gptq_damp);
        return QLM_ERR_INVALID_ARG;
    }
    if (p.gptq_damp == 0) p.gptq_damp = 0.01f;
    if (!p.calib_ctx) p.calib_ctx = 512;
    if (!p.calib_chunks) p.calib_chunks = 8;
    if (!p.n_threads) p.n_threads = qlm__n_cpus();
    if (p.n_threads > 256) p.n_threads = 256;
    {
        struct stat a, b;
        if (strcmp(in_path, out_path) == 0 ||
            (stat(in_path, &a) == 0 && stat(out_path, &b) == 0 && a.st_dev == b.st_dev &&
             a.st_ino == b.st_ino)) {
            qlm__errorf("the output %s is the input file", out_path);
            return QLM_ERR_INVALID_ARG;
        }
    }
    s.p = p;
    s.out_path = out_path;

    /* input: the GGUF alone for RTN, the whole model (forward passes) for AWQ / GPTQ */
    if (p.method == QLM_QUANT_RTN) {
        st = qlm__gguf_open(in_path, &s.g);
    } else {
        qlm_model_params mp = qlm_model_default_params();
        mp.log_fn = p.log_fn;
        mp.log_user = p.log_user;
        st = qlm_model_load(in_path, mp, &s.m);
        if (st == QLM_OK) s.g = s.m->gguf;
    }
    if (st != QLM_OK) goto done;
    if (p.imatrix_path) {
        if ((st = qlm__imatrix_read(p.imatrix_path, &s.im, &s.lg)) != QLM_OK) goto done;
        s.has_im = 1;
        qlm__log(&s.lg, QLM_LOG_INFO, "%s: %d importance matrix entries from %d chunks",
                 p.imatrix_path, s.im.n_e, s.im.chunk_count);
    }
    if ((st = qlm__pool_new(p.n_threads, &s.pool)) != QLM_OK) goto done;

    if ((st = qlm__q_plan(&s, &ru, ft, &p, &n_quantised_in, &any_fp8)) != QLM_OK) goto done;
    if (n_quantised_in)
        qlm__log(&s.lg, QLM_LOG_INFO,
                 "%lld input tensors are already quantised: they are dequantised to F32 first, "
                 "so the result can be no better than the input", (long long)n_quantised_in);

    /* the header: metadata copied (but for the keys this run rewrites), then the tensors */
    for (i = 0; i < s.g->n_kv; i++)
        if (!qlm__q_skip_key(s.g->kv[i].key)) qlm__gw_copy_kv(&w, s.g, i);
    qlm__gw_u32(&w, "general.quantization_version", 2);
    if (ft->ftype >= 0) qlm__gw_u32(&w, "general.file_type", (uint32_t)ft->ftype);
    qlm__gw_string(&w, "qlm.quantize.method", method_name[p.method]);
    if (any_fp8) {
        qlm__gw_string(&w, "qlm.fp8.format", "e4m3fn");
        qlm__gw_u32(&w, "qlm.fp8.block_size", QLM__QK_FP8);
    }
    if (s.has_im) {
        qlm__gw_string(&w, "quantize.imatrix.file", p.imatrix_path);
        if (s.im.dataset[0]) qlm__gw_string(&w, "quantize.imatrix.dataset", s.im.dataset);
        qlm__gw_i32(&w, "quantize.imatrix.entries_count", s.im.n_e);
        qlm__gw_i32(&w, "quantize.imatrix.chunks_count", s.im.chunk_count);
    }
    for (i = 0; i < s.n_t && st == QLM_OK; i++) {
        const qlm__gguf_tensor *gt = &s.g->tensors[s.t[i].src];
        st = qlm__gw_tensor_add(&w, s.t[i].name, s.t[i].to, gt->n_dims, gt->ne, NULL);
    }
    if (st == QLM_OK && w.oom) st = QLM_ERR_NOMEM;
    if (st != QLM_OK) goto done;
    s.align = w.alignment ? w.alignment : QLM__GGUF_DEFAULT_ALIGN;

    /* calibration tokens */
    if (s.m) {
        if ((st = qlm__calib_tokens(s.m, p.calib_text, p.calib_len, p.calib_ctx, p.calib_chunks,
                                    &s.toks, &s.n_chunks)) != QLM_OK)
            goto done;
        qlm__log(&s.lg, QLM_LOG_INFO, "calibration: %d chunks of %d tokens", s.n_chunks, p.calib_ctx);
        s.state = (float *)QLM_MALLOC((size_t)s.n_chunks * (size_t)p.calib_ctx *
                                      (size_t)s.m->hp.n_embd * sizeof(float));
        if (!s.state) {
            qlm__errorf("out of memory for the calibration activations");
            st = QLM_ERR_NOMEM;
            goto done;
        }
        if ((st = qlm__q_walk(&s, -1, NULL, NULL)) != QLM_OK) goto done;
    }

    tmp = (char *)QLM_MALLOC(strlen(out_path) + 5);
    if (!tmp) {
        st = QLM_ERR_NOMEM;
        goto done;
    }
    sprintf(tmp, "%s.tmp", out_path);
    s.f = fopen(tmp, "wb");
    if (!s.f) {
        qlm__errorf("%s: cannot create: %s", tmp, strerror(errno));
        st = QLM_ERR_IO;
        goto done;
    }
    if (!qlm__gw_header(&w, s.f, &s.pos) || !qlm__gw_pad(s.f, &s.pos, s.align)) {
        qlm__errorf("%s: write failed: %s", tmp, strerror(errno));
        st = QLM_ERR_IO;
    }

    for (i = 0; i < s.n_t && st == QLM_OK;) {
        int il = s.t[i].layer;
        int64_t i1 = i;
        while (i1 < s.n_t && s.t[i1].layer == il) i1++;
        if (!s.m || il < 0 || il >= ru.n_layer) {
            for (; i < i1 && st == QLM_OK; i++) {
                st = qlm__q_tensor_rtn(&s, i);
                if (st == QLM_OK && !qlm__gw_pad(s.f, &s.pos, s.align)) st = QLM_ERR_IO;
            }
            continue;
        }
        {   /* a layer with AWQ / GPTQ */
            qlm__layer *L = &s.m->layers[il];
            qlm__tensor *mat[QLM__N_MATS];
            qlm_type to[QLM__N_MATS];
            uint8_t *out[QLM__N_MATS] = {0};
            float *na = NULL, *nf = NULL, *bv = NULL;
            int64_t q;
            mat[0] = L->wq, mat[1] = L->wk, mat[2] = L->wv, mat[3] = L->wo;
            mat[4] = L->gate, mat[5] = L->up, mat[6] = L->down;
            for (k = 0; k < QLM__N_MATS; k++) {
                to[k] = mat[k]->type;
                for (q = i; q < i1; q++)
                    if (&s.m->w[s.t[q].src] == mat[k]) to[k] = s.t[q].to;
            }
            st = qlm__q_layer(&s, il, i, to, out, &na, &nf, &bv);
            for (k = 0; k < QLM__N_MATS; k++)
                if (out[k] && qlm__q_keep(&s, out[k]) != QLM_OK) {
                    QLM_FREE(out[k]);
                    out[k] = NULL;
                    st = QLM_ERR_NOMEM;
                }
            if ((na && qlm__q_keep(&s, (uint8_t *)na) != QLM_OK) ||
                (nf && qlm__q_keep(&s, (uint8_t *)nf) != QLM_OK) ||
                (bv && qlm__q_keep(&s, (uint8_t *)bv) != QLM_OK))
                st = QLM_ERR_NOMEM;
            for (; i < i1 && st == QLM_OK; i++) {
                qlm__tensor *wt = &s.m->w[s.t[i].src];
                const void *data = NULL;
                size_t size = 0;
                for (k = 0; k < QLM__N_MATS; k++)
                    if (wt == mat[k]) {
                        data = out[k];
                        size = qlm__row_size(to[k], wt->ne[0]) * (size_t)(wt->ne[1] * wt->ne[2] * wt->ne[3]);
                    }
                if (na && wt == L->attn_norm) data = na, size = (size_t)wt->ne[0] * 4;
                if (nf && wt == L->ffn_norm) data = nf, size = (size_t)wt->ne[0] * 4;
                if (bv && wt == L->bv) data = bv, size = (size_t)wt->ne[0] * 4;
                if (data) {
                    if ((st = qlm__q_progress(&s, i, NULL, 0)) == QLM_OK)
                        st = qlm__q_write(&s, data, size);
                    s.work_done += (double)(wt->ne[0] * wt->ne[1] * wt->ne[2] * wt->ne[3]);
                } else {
                    st = qlm__q_tensor_rtn(&s, i);
                }
                if (st == QLM_OK && !qlm__gw_pad(s.f, &s.pos, s.align)) st = QLM_ERR_IO;
            }
            /* later layers' calibration sees this layer as it was written */
            if (st == QLM_OK) {
                for (k = 0; k < QLM__N_MATS; k++) qlm__retarget(mat[k], to[k], out[k]);
                if (na) L->attn_norm->data = na;
                if (nf) L->ffn_norm->data = nf;
                if (bv) L->bv->data = bv;
                if (il + 1 < ru.n_layer) st = qlm__q_walk(&s, il, NULL, NULL);
            }
            i = i1;
        }
    }
    if (st == QLM_OK) st = qlm__q_progress(&s, s.n_t ? s.n_t - 1 : 0, "done", 0);
    if (s.f) {
        if (fclose(s.f) != 0 && st == QLM_OK) {
            qlm__errorf("%s: write failed: %s", tmp, strerror(errno));
            st = QLM_ERR_IO;
        }
        s.f = NULL;
        if (st == QLM_OK && rename(tmp, out_path) != 0) {
            qlm__errorf("cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
            st = QLM_ERR_IO;
        }
        if (st != QLM_OK) remove(tmp);
    }
    if (st == QLM_OK)
        qlm__log(&s.lg, QLM_LOG_INFO, "%s: %lld tensors, %llu bytes, %s", out_path,
                 (long long)s.n_t, (unsigned long long)s.pos, method_name[p.method]);
    if (st == QLM_OK && ru.n_fallback)
        qlm__log(&s.lg, QLM_LOG_INFO, "%d tensors needed a fallback type", ru.n_fallback);
done:
    if (s.f) {
        fclose(s.f);
        remove(tmp);
    }
    if (st == QLM_ERR_NOMEM && !qlm__err_buf[0]) qlm__errorf("out of memory");
    QLM_FREE(tmp);
    QLM_FREE(s.t);
    QLM_FREE(s.toks);
    QLM_FREE(s.state);
#if !defined(_WIN32)
    for (k = 0; k < ru.n_re; k++) regfree(&ru.re[k]);
    QLM_FREE(ru.re);
#endif
    QLM_FREE(ru.re_type);
    qlm__gw_free(&w);
    qlm__imatrix_free(&s.im);
    qlm__pool_free(s.pool);
    if (s.m) qlm_model_free(s.m);
    else qlm__gguf_close(s.g);
    while (s.n_keep > 0) QLM_FREE(s.keep[--s.n_keep]);
    QLM_FREE(s.keep);
    return st;
}

/* ---- qlm_imatrix ------------------------------------------------------------------------- */

QLM_API qlm_imatrix_params qlm_imatrix_default_params(void) {
    qlm_imatrix_params p;
    memset(&p, 0, sizeof p);
    return p;
}

typedef struct {
    const qlm_imatrix_params *p;
    int32_t n;
} qlm__imat_pu;

static int qlm__imat_progress(void *u, int32_t done) {
    qlm__imat_pu *pu = (qlm__imat_pu *)u;
    return pu->p->progress_fn ? pu->p->progress_fn((float)done / (float)pu->n, pu->p->progress_user) : 0;
}

QLM_API qlm_status qlm_imatrix(const char *model_path, const char *text, size_t text_len,
                               const char *out_path, qlm_imatrix_params p) {
    qlm_model *m = NULL;
    qlm_model_params mp = qlm_model_default_params();
    qlm__imatrix im;
    qlm__calib cb;
    qlm__imat_pu pu;
    qlm_status st;
    int32_t *toks = NULL, n_chunks = 0;
    int64_t il, k;
    char *tmp = NULL;
    memset(&im, 0, sizeof im);
    memset(&cb, 0, sizeof cb);
    if (!model_path || !out_path || !text) {
        qlm__errorf("qlm_imatrix: missing model, text or output path");
        return QLM_ERR_INVALID_ARG;
    }
    if (p.n_ctx < 0 || p.n_chunks < 0 || p.n_threads < 0) {
        qlm__errorf("qlm_imatrix: negative context, chunk count or thread count");
        return QLM_ERR_INVALID_ARG;
    }
    if (!p.n_ctx) p.n_ctx = 512;
    if (!p.n_threads) p.n_threads = qlm__n_cpus();
    mp.log_fn = p.log_fn;
    mp.log_user = p.log_user;
    if ((st = qlm_model_load(model_path, mp, &m)) != QLM_OK) return st;
    st = qlm__calib_tokens(m, text, text_len, p.n_ctx, p.n_chunks, &toks, &n_chunks);
    cb.entry_of = (int32_t *)QLM_MALLOC((size_t)(m->n_w ? m->n_w : 1) * sizeof(int32_t));
    if (st == QLM_OK && !cb.entry_of) st = QLM_ERR_NOMEM;
    for (k = 0; st == QLM_OK && k < m->n_w; k++) cb.entry_of[k] = -1;
    for (il = 0; st == QLM_OK && il < m->hp.n_layer; il++) {
        qlm__layer *L = &m->layers[il];
        qlm__tensor *mats[QLM__N_MATS];
        mats[0] = L->wq, mats[1] = L->wk, mats[2] = L->wv, mats[3] = L->wo;
        mats[4] = L->gate, mats[5] = L->up, mats[6] = L->down;
        for (k = 0; k < QLM__N_MATS; k++) {
            if (!qlm__imatrix_add(&im, mats[k]->name, mats[k]->ne[0])) {
                st = QLM_ERR_NOMEM;
                break;
            }
            cb.entry_of[mats[k] - m->w] = im.n_e - 1;
        }
    }
    if (st == QLM_OK) {
        cb.m = m;
        cb.im = &im;
        cb.n_ctx = p.n_ctx;
        cb.n_chunks = n_chunks;
        cb.n_threads = p.n_threads;
        cb.toks = toks;
        cb.layer = -1;
        pu.p = &p;
        pu.n = n_chunks;
        qlm__log(&m->log, QLM_LOG_INFO, "imatrix: %d chunks of %d tokens", n_chunks, p.n_ctx);
        st = qlm__calib_run(&cb, qlm__imat_progress, &pu);
    }
    if (st == QLM_OK) {
        im.chunk_count = n_chunks;
        im.chunk_size = p.n_ctx;
        snprintf(im.dataset, sizeof im.dataset, "%s", p.dataset ? p.dataset : "");
        tmp = (char *)QLM_MALLOC(strlen(out_path) + 5);
        if (!tmp) st = QLM_ERR_NOMEM;
        else {
            sprintf(tmp, "%s.tmp", out_path);
            st = qlm__imatrix_write(&im, tmp);
            if (st == QLM_OK && rename(tmp, out_path) != 0) {
                qlm__errorf("cannot rename %s to %s: %s", tmp, out_path, strerror(errno));
                remove(tmp);
                st = QLM_ERR_IO;
            }
        }
    }
    if (st == QLM_ERR_NOMEM && !qlm__err_buf[0]) qlm__errorf("out of memory");
    QLM_FREE(tmp);
    QLM_FREE(toks);
    QLM_FREE(cb.entry_of);
    qlm__imatrix_free(&im);
    qlm_model_free(m);
    return st;
}

#endif /* QLM_IMPLEMENTATION */
