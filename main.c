/* main.c — qlm, the command-line program: generate, chat, tokenize, info.

   A client of qlm.h's public API only (STYLE.md §1): it includes "qlm.h" without
   QLM_IMPLEMENTATION and is linked against qlm.c.

       qlm -m FILE -p TEXT [options]      generate text after a prompt
       qlm chat -m FILE [options]         interactive chat (REPL)
       qlm tokenize -m FILE -p TEXT       print the tokens of a text
       qlm info -m FILE                   print metadata and the tensor table
       qlm bench -m FILE [-p N] [-n N]    prompt and decode speed, llama-bench style
       qlm synth -o FILE --shape S --type T   write a random-weight model (speed tests only)
       qlm quantize IN OUT TYPE [options] quantise a GGUF model (RTN, AWQ, GPTQ)
       qlm imatrix -m FILE -f TEXT -o OUT   importance matrix in llama.cpp's format

   Exit status: 0 ok, 1 runtime or model error, 2 usage error, 130 interrupted by Ctrl-C. */
#define _POSIX_C_SOURCE 200809L

#include "qlm.h"

#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, EXIT_INTERRUPTED = 130 };

/* >>util ------------------------------------------------------------------------------------ */

static void die_nomem(void) {
    fputs("error: out of memory\n", stderr);
    exit(EXIT_RUNTIME);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) die_nomem();
    return q;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    return (char *)memcpy(xrealloc(NULL, n), s, n);
}

/* The library's detail of the last error on this thread, or the status's generic text. */
static const char *error_detail(qlm_status st) {
    const char *m = qlm_last_error();
    return m && *m ? m : qlm_status_str(st);
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Reads a whole file into a NUL-terminated buffer; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f) return NULL;
    for (;;) {
        size_t got;
        if (cap - n < 4096) {
            cap = cap ? cap * 2 : 65536;
            buf = (char *)xrealloc(buf, cap);
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        fclose(f);
        free(buf);
        errno = e;
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Replaces \n \r \t \\ \' \" \a \b \f \v \xHH in place (llama.cpp's -e). Unknown escapes stay. */
static void process_escapes(char *s) {
    char *out = s;
    const char *in = s;
    while (*in) {
        if (in[0] != '\\' || in[1] == '\0') {
            *out++ = *in++;
            continue;
        }
        switch (in[1]) {
        case 'n': *out++ = '\n'; in += 2; break;
        case 'r': *out++ = '\r'; in += 2; break;
        case 't': *out++ = '\t'; in += 2; break;
        case 'a': *out++ = '\a'; in += 2; break;
        case 'b': *out++ = '\b'; in += 2; break;
        case 'f': *out++ = '\f'; in += 2; break;
        case 'v': *out++ = '\v'; in += 2; break;
        case '\\': *out++ = '\\'; in += 2; break;
        case '\'': *out++ = '\''; in += 2; break;
        case '"': *out++ = '"'; in += 2; break;
        case 'x': {
            int v = 0, k = 0;
            while (k < 2) {
                char c = in[2 + k];
                int d = (c >= '0' && c <= '9')   ? c - '0'
                        : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                        : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                                 : -1;
                if (d < 0) break;
                v = v * 16 + d;
                k++;
            }
            if (k == 0) {
                *out++ = *in++; /* "\x" without digits: keep as is */
            } else {
                *out++ = (char)v;
                in += 2 + k;
            }
            break;
        }
        default: *out++ = *in++; break;
        }
    }
    *out = '\0';
}

/* >>utf8 ------------------------------------------------------------------------------------
   Tokens can split a UTF-8 character; hold back the bytes of an incomplete sequence until the
   rest arrives, so a terminal never sees half a character. Broken sequences pass through. */

typedef struct {
    FILE *out;
    unsigned char pending[4];
    int n_pending;
    int n_needed;
} utf8_stream;

static int utf8_seq_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1; /* a stray continuation byte or an invalid lead byte: pass it through */
}

static void utf8_write(utf8_stream *s, const char *text, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if (s->n_pending > 0) {
            if ((c & 0xC0) == 0x80) {
                s->pending[s->n_pending++] = c;
                if (s->n_pending == s->n_needed) {
                    fwrite(s->pending, 1, (size_t)s->n_pending, s->out);
                    s->n_pending = 0;
                }
                continue;
            }
            fwrite(s->pending, 1, (size_t)s->n_pending, s->out); /* cut short: emit as is */
            s->n_pending = 0;
        }
        if (utf8_seq_len(c) == 1) {
            fputc(c, s->out);
        } else {
            s->pending[0] = c;
            s->n_pending = 1;
            s->n_needed = utf8_seq_len(c);
        }
    }
    fflush(s->out);
}

static void utf8_flush(utf8_stream *s) {
    if (s->n_pending > 0) fwrite(s->pending, 1, (size_t)s->n_pending, s->out);
    s->n_pending = 0;
    fflush(s->out);
}

/* >>signals ---------------------------------------------------------------------------------
   Ctrl-C while the model works stops that work (the flag is checked by our loops, and
   qlm_ctx_interrupt stops a qlm_decode in flight); Ctrl-C while idle makes the blocking read
   fail with EINTR (no SA_RESTART) and the program leaves. */

static volatile sig_atomic_t g_sigint;   /* set by the handler, cleared by whoever acts on it */
static volatile sig_atomic_t g_busy;     /* the model is working on g_ctx */
static qlm_ctx *volatile g_ctx;

static void on_sigint(int sig) {
    (void)sig;
    g_sigint = 1;
    if (g_busy && g_ctx) qlm_ctx_interrupt(g_ctx);
}

static void install_sigint(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: a read at the prompt returns EINTR */
    sigaction(SIGINT, &sa, NULL);
}

/* >>options --------------------------------------------------------------------------------- */

enum {
    MODE_GENERATE = 1, MODE_CHAT = 2, MODE_TOKENIZE = 4, MODE_INFO = 8, MODE_BENCH = 16,
    MODE_SYNTH = 32, MODE_PLAN = 64, MODE_PPL = 128,
    MODE_ALL = MODE_GENERATE | MODE_CHAT | MODE_TOKENIZE | MODE_INFO | MODE_BENCH | MODE_PLAN | MODE_PPL
};
#define MODE_SAMPLING (MODE_GENERATE | MODE_CHAT)
#define MODE_RUN (MODE_SAMPLING | MODE_BENCH)
#define MODE_KV (MODE_RUN | MODE_PLAN | MODE_PPL) /* options that shape the KV cache */

typedef struct {
    int mode;
    const char *model_path;
    char *prompt; /* owned: from -p (copied) or -f (read) */
    const char *prompt_file;
    char *system_prompt;
    const char *cpu;
    int32_t n_predict;
    int n_predict_set;
    int32_t n_ctx, n_batch, n_threads;
    int64_t seed; /* -1: random */
    float temp, top_p, min_p, repeat_penalty;
    int32_t top_k, repeat_last_n;
    int no_display_prompt, escape, verbose;
    int no_bos, parse_special, ids_only;
    int32_t reps, depth;                 /* bench */
    const char *out_path, *shape, *type, *arch; /* synth */
    int32_t n_prompt; /* bench: -p N */
    const char *ctk, *ctv, *kv_evict;   /* KV cache */
    int no_kv_rot;
    int32_t swa, sinks, kv_budget;
    int32_t kv_recent;                   /* -1: not given (the library's default) */
    const char *mem;                     /* plan: memory budget */
    const char *kld_base;                /* perplexity */
    int kld, n_chunks;
    int ignore_eos;
} options;

typedef enum { ARG_FLAG, ARG_INT, ARG_FLOAT, ARG_STRING, ARG_SEED } arg_kind;

typedef struct {
    const char *name;
    const char *alias; /* NULL if none */
    arg_kind kind;
    size_t offset; /* into options */
    int modes;     /* MODE_* bits where the option means something */
    long long lo, hi; /* ARG_INT range */
} option_spec;

#define OPT(field) offsetof(options, field)
static const option_spec option_table[] = {
    {"-m", "--model", ARG_STRING, OPT(model_path), MODE_ALL, 0, 0},
    {"-p", "--prompt", ARG_STRING, OPT(prompt), MODE_GENERATE | MODE_TOKENIZE | MODE_BENCH, 0, 0},
    {"-f", "--file", ARG_STRING, OPT(prompt_file), MODE_GENERATE | MODE_TOKENIZE | MODE_PPL, 0, 0},
    {"-sys", "--system-prompt", ARG_STRING, OPT(system_prompt), MODE_CHAT, 0, 0},
    {"-n", "--n-predict", ARG_INT, OPT(n_predict), MODE_RUN, -1, INT32_MAX},
    {"-c", "--ctx-size", ARG_INT, OPT(n_ctx), MODE_SAMPLING | MODE_PLAN | MODE_PPL, 0, INT32_MAX},
    {"-b", "--batch-size", ARG_INT, OPT(n_batch), MODE_KV, 0, INT32_MAX},
    {"-t", "--threads", ARG_INT, OPT(n_threads), MODE_RUN | MODE_PPL, 0, 4096},
    {"-ctk", "--cache-type-k", ARG_STRING, OPT(ctk), MODE_KV, 0, 0},
    {"-ctv", "--cache-type-v", ARG_STRING, OPT(ctv), MODE_KV, 0, 0},
    {"--no-kv-rot", NULL, ARG_FLAG, OPT(no_kv_rot), MODE_KV, 0, 0},
    {"--swa", NULL, ARG_INT, OPT(swa), MODE_KV, 0, INT32_MAX},
    {"--sinks", NULL, ARG_INT, OPT(sinks), MODE_KV, 0, INT32_MAX},
    {"--kv-evict", NULL, ARG_STRING, OPT(kv_evict), MODE_KV, 0, 0},
    {"--kv-budget", NULL, ARG_INT, OPT(kv_budget), MODE_KV, 0, INT32_MAX},
    {"--kv-recent", NULL, ARG_INT, OPT(kv_recent), MODE_KV, 0, 4096},
    {"--mem", NULL, ARG_STRING, OPT(mem), MODE_PLAN, 0, 0},
    {"--kl-divergence-base", NULL, ARG_STRING, OPT(kld_base), MODE_PPL, 0, 0},
    {"--kl-divergence", NULL, ARG_FLAG, OPT(kld), MODE_PPL, 0, 0},
    {"--chunks", NULL, ARG_INT, OPT(n_chunks), MODE_PPL, 0, INT32_MAX},
    {"-r", "--repetitions", ARG_INT, OPT(reps), MODE_BENCH, 1, 1000},
    {"-d", "--n-depth", ARG_INT, OPT(depth), MODE_BENCH, 0, INT32_MAX},
    {"-o", "--output", ARG_STRING, OPT(out_path), MODE_SYNTH, 0, 0},
    {"--shape", NULL, ARG_STRING, OPT(shape), MODE_SYNTH, 0, 0},
    {"--type", NULL, ARG_STRING, OPT(type), MODE_SYNTH, 0, 0},
    {"--arch", NULL, ARG_STRING, OPT(arch), MODE_SYNTH, 0, 0},
    {"--vocab-from", NULL, ARG_STRING, OPT(model_path), MODE_SYNTH, 0, 0},
    {"-s", "--seed", ARG_SEED, OPT(seed), MODE_SAMPLING, 0, 0},
    {"--temp", NULL, ARG_FLOAT, OPT(temp), MODE_SAMPLING, 0, 0},
    {"--top-k", NULL, ARG_INT, OPT(top_k), MODE_SAMPLING, 0, INT32_MAX},
    {"--top-p", NULL, ARG_FLOAT, OPT(top_p), MODE_SAMPLING, 0, 0},
    {"--min-p", NULL, ARG_FLOAT, OPT(min_p), MODE_SAMPLING, 0, 0},
    {"--repeat-penalty", NULL, ARG_FLOAT, OPT(repeat_penalty), MODE_SAMPLING, 0, 0},
    {"--repeat-last-n", NULL, ARG_INT, OPT(repeat_last_n), MODE_SAMPLING, -1, INT32_MAX},
    {"--no-display-prompt", NULL, ARG_FLAG, OPT(no_display_prompt), MODE_GENERATE, 0, 0},
    {"--ignore-eos", NULL, ARG_FLAG, OPT(ignore_eos), MODE_GENERATE, 0, 0},
    {"-e", "--escape", ARG_FLAG, OPT(escape), MODE_GENERATE | MODE_CHAT | MODE_TOKENIZE, 0, 0},
    {"--verbose", "-v", ARG_FLAG, OPT(verbose), MODE_ALL, 0, 0},
    {"--cpu", NULL, ARG_STRING, OPT(cpu), MODE_RUN | MODE_PPL, 0, 0},
    {"--no-bos", NULL, ARG_FLAG, OPT(no_bos), MODE_TOKENIZE, 0, 0},
    {"--parse-special", NULL, ARG_FLAG, OPT(parse_special), MODE_TOKENIZE, 0, 0},
    {"--ids", NULL, ARG_FLAG, OPT(ids_only), MODE_TOKENIZE, 0, 0},
};
#undef OPT

static const char usage_text[] =
    "usage:\n"
    "  qlm -m FILE -p TEXT [options]     generate text after a prompt\n"
    "  qlm chat -m FILE [options]        chat (reads lines from stdin)\n"
    "  qlm tokenize -m FILE -p TEXT      print the tokens of TEXT\n"
    "  qlm info -m FILE                  print metadata and tensors of a GGUF model\n"
    "  qlm bench -m FILE [-p N] [-n N] [-t N] [-r N] [-d N]\n"
    "                                    prompt (pp) and decode (tg) speed, markdown table\n"
    "  qlm plan -m FILE [-c N] [-ctk T] [-ctv T] [--swa W] [--sinks N] [--mem SIZE]\n"
    "                                    KV-cache memory: bytes per token, total, largest\n"
    "                                    context that fits SIZE (e.g. 512M, 4G)\n"
    "  qlm perplexity -m FILE -f TEXT [-c N] [--chunks N] [KV options]\n"
    "            [--kl-divergence-base FILE [--kl-divergence]]\n"
    "                                    perplexity over TEXT in chunks of N tokens (second\n"
    "                                    halves scored); the base FILE is written, or with\n"
    "                                    --kl-divergence read: KL divergence, same-top rate\n"
    "  qlm synth -o FILE --shape smollm2|llama1b --type T [--arch llama|qwen2|qwen3]\n"
    "            [--vocab-from GGUF]\n"
    "                                    random-weight model for speed tests (T: q4_0, q8_0,\n"
    "                                    q4_k_m, ...; vocabulary from the default model)\n"
    "  qlm quantize IN.gguf OUT.gguf TYPE [--imatrix FILE] [--method rtn|awq|gptq]\n"
    "            [--calib TEXT] [-c N] [--chunks N] [--tensor-type REGEX=TYPE ...] [--pure]\n"
    "            [-t N]               quantise a model (see 'qlm quantize --help')\n"
    "  qlm imatrix -m FILE -f TEXT -o OUT [-c N] [--chunks N] [-t N]\n"
    "                                    importance matrix (llama.cpp's imatrix GGUF)\n"
    "  qlm --help | --version\n"
    "\n"
    "options:\n"
    "  -m, --model FILE          GGUF model to load (required)\n"
    "  -p, --prompt TEXT         prompt\n"
    "  -f, --file FILE           read the prompt from FILE\n"
    "  -e, --escape              process escapes (\\n, \\t, \\xHH, ...) in the prompt\n"
    "  --no-display-prompt       do not print the prompt before the generated text\n"
    "  --ignore-eos              never sample an end-of-generation token\n"
    "  -n, --n-predict N         tokens to generate (default 128; -1: until end or context\n"
    "                            full; in chat: per answer, default -1)\n"
    "  -c, --ctx-size N          context size in tokens (default 0: from the model, <= 4096)\n"
    "  -b, --batch-size N        tokens per forward pass (default 512)\n"
    "  -t, --threads N           threads (default: physical cores)\n"
    "  -s, --seed N              sampling seed (default: random; -1: random)\n"
    "  --temp F                  temperature (default 0.8; 0: greedy)\n"
    "  --top-k N                 top-k (default 40; 0: off)\n"
    "  --top-p F                 top-p (default 0.95; 1: off)\n"
    "  --min-p F                 min-p (default 0.05; 0: off)\n"
    "  --repeat-penalty F        repetition penalty (default 1.0: off)\n"
    "  --repeat-last-n N         tokens the penalty looks back (default 64; -1: context)\n"
    "  --cpu NAME                CPU kernels: auto (best available), ref (scalar), avx2,\n"
    "                            avx512, neon\n"
    ;
/* the rest of the help (C99 guarantees string literals of 4095 bytes only) */
static const char usage_text2[] =
    "KV cache (generate, chat, bench, plan, perplexity):\n"
    "  -ctk, -ctv TYPE           K / V cache type: f16 (default), q8_0, fp8, q4, q4_0\n"
    "  --no-kv-rot               no Hadamard rotation of quantised K/V\n"
    "  --swa W                   every layer attends to the last W tokens (ring buffer):\n"
    "                            memory is fixed and generation has no context limit\n"
    "  --sinks N                 StreamingLLM: keep the first N tokens, slide the rest\n"
    "                            within -c; generation has no context limit\n"
    "  --kv-evict h2o            keep heavy hitters (attention mass) + recent tokens per\n"
    "  --kv-budget N             KV head, N cells (default -c / 2)\n"
    "  --kv-recent N             quantised K: score the last N keys (and the first 4)\n"
    "                            from an F16 copy (default 32, 0: none)\n"
    "bench:\n"
    "  -p N, -n N                prompt tokens (default 512) and generated tokens (128)\n"
    "  -r N                      repetitions (default 5); -d N: KV depth before the test\n"
    "  -v, --verbose             print informational log messages\n"
    "chat:\n"
    "  -sys, --system-prompt T   system message; in the chat /reset clears the conversation\n"
    "                            (the system message stays), /exit or end of input leaves,\n"
    "                            Ctrl-C stops an answer\n"
    "tokenize:\n"
    "  --no-bos                  do not add BOS/EOS\n"
    "  --parse-special           turn texts of special tokens into those tokens\n"
    "  --ids                     print only the list of ids\n";

static const char *mode_name(int mode) {
    switch (mode) {
    case MODE_CHAT: return "chat";
    case MODE_TOKENIZE: return "tokenize";
    case MODE_INFO: return "info";
    case MODE_BENCH: return "bench";
    case MODE_PLAN: return "plan";
    case MODE_PPL: return "perplexity";
    case MODE_SYNTH: return "synth";
    default: return "generate";
    }
}

static int usage_error(const char *fmt, ...) {
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\nrun 'qlm --help' for usage\n", stderr);
    return EXIT_USAGE;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
    char *end;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || *end != '\0' || errno == ERANGE || v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

static int parse_float(const char *s, float *out) {
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v) || fabs(v) > 1e30) return 0;
    *out = (float)v;
    return 1;
}

static const option_spec *find_option(const char *arg) {
    size_t i;
    for (i = 0; i < sizeof option_table / sizeof option_table[0]; i++) {
        const option_spec *o = &option_table[i];
        if (strcmp(arg, o->name) == 0 || (o->alias && strcmp(arg, o->alias) == 0)) return o;
    }
    return NULL;
}

static void options_init(options *o) {
    memset(o, 0, sizeof *o);
    o->kv_recent = -1;
    o->mode = MODE_GENERATE;
    o->n_predict = 128;
    o->seed = -1;
    /* llama.cpp's defaults, stated here so --help is true whatever the library picks */
    o->temp = 0.8f;
    o->top_k = 40;
    o->top_p = 0.95f;
    o->min_p = 0.05f;
    o->repeat_penalty = 1.0f;
    o->repeat_last_n = 64;
}

/* Parses argv into *o. Returns -1 to go on, or an exit status (0 after --help/--version). */
static int parse_args(int argc, char **argv, options *o) {
    int i = 1;
    options_init(o);
    if (argc < 2) {
        fputs(usage_text, stderr);
        fputs(usage_text2, stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "chat") == 0) o->mode = MODE_CHAT, i = 2;
    else if (strcmp(argv[1], "tokenize") == 0) o->mode = MODE_TOKENIZE, i = 2;
    else if (strcmp(argv[1], "info") == 0) o->mode = MODE_INFO, i = 2;
    else if (strcmp(argv[1], "bench") == 0) o->mode = MODE_BENCH, i = 2;
    else if (strcmp(argv[1], "synth") == 0) o->mode = MODE_SYNTH, i = 2;
    else if (strcmp(argv[1], "plan") == 0) o->mode = MODE_PLAN, i = 2;
    else if (strcmp(argv[1], "perplexity") == 0) o->mode = MODE_PPL, i = 2;

    for (; i < argc; i++) {
        const char *arg = argv[i];
        const option_spec *spec;
        const char *val;
        char *field;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            fputs(usage_text, stdout);
            fputs(usage_text2, stdout);
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("qlm %s\n", QLM_VERSION);
            return 0;
        }
        spec = find_option(arg);
        if (!spec) {
            if (arg[0] == '-' && arg[1] != '\0') return usage_error("unknown option '%s'", arg);
            return usage_error("unexpected argument '%s'", arg);
        }
        if (!(spec->modes & o->mode))
            return usage_error("option '%s' does not apply to '%s'", arg, mode_name(o->mode));
        field = (char *)o + spec->offset;
        if (spec->kind == ARG_FLAG) {
            *(int *)(void *)field = 1;
            continue;
        }
        if (i + 1 >= argc) return usage_error("option '%s' needs a value", arg);
        val = argv[++i];
        switch (spec->kind) {
        case ARG_INT: {
            long long v;
            if (!parse_int(val, spec->lo, spec->hi, &v))
                return usage_error("option '%s' needs an integer in [%lld, %lld], got '%s'", arg,
                                   spec->lo, spec->hi, val);
            *(int32_t *)(void *)field = (int32_t)v;
            if (spec->offset == offsetof(options, n_predict)) o->n_predict_set = 1;
            break;
        }
        case ARG_SEED: {
            long long v;
            if (!parse_int(val, -1, UINT32_MAX, &v))
                return usage_error("option '%s' needs an integer in [-1, 4294967295], got '%s'",
                                   arg, val);
            *(int64_t *)(void *)field = v;
            break;
        }
        case ARG_FLOAT:
            if (!parse_float(val, (float *)(void *)field))
                return usage_error("option '%s' needs a number, got '%s'", arg, val);
            break;
        case ARG_STRING:
            if (spec->offset == offsetof(options, prompt) ||
                spec->offset == offsetof(options, system_prompt)) {
                char **dst = (char **)(void *)field;
                free(*dst);
                *dst = xstrdup(val);
            } else {
                *(const char **)(void *)field = val;
            }
            break;
        case ARG_FLAG: break;
        }
    }

    if (o->mode == MODE_SYNTH) {
        if (!o->out_path) return usage_error("synth: missing -o FILE");
        if (!o->model_path) o->model_path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
        return -1;
    }
    if (!o->model_path) return usage_error("missing -m FILE (the GGUF model to load)");
    if (o->mode == MODE_BENCH) {
        long long v = 512;
        if (o->prompt && !parse_int(o->prompt, 0, 1 << 20, &v))
            return usage_error("bench: -p takes a token count, got '%s'", o->prompt);
        free(o->prompt);
        o->prompt = NULL;
        o->n_batch = o->n_batch ? o->n_batch : 512;
        o->depth = o->depth < 0 ? 0 : o->depth;
        o->reps = o->reps ? o->reps : 5;
        if (!o->n_predict_set) o->n_predict = 128;
        o->n_ctx = (int32_t)v;
        if (o->n_ctx < o->n_predict) o->n_ctx = o->n_predict;
        o->n_ctx += o->depth + 1;
        o->n_prompt = (int32_t)v;
        return -1;
    }
    if (o->mode == MODE_PPL && !o->prompt_file) return usage_error("perplexity: missing -f TEXT");
    if (o->kld && !o->kld_base) return usage_error("--kl-divergence needs --kl-divergence-base FILE");
    if (o->mode & (MODE_GENERATE | MODE_TOKENIZE)) {
        if (o->prompt && o->prompt_file) return usage_error("give either -p or -f, not both");
        if (!o->prompt && !o->prompt_file) return usage_error("missing -p TEXT or -f FILE");
    }
    if (o->mode == MODE_CHAT && !o->n_predict_set) o->n_predict = -1;
    return -1;
}

/* Reads -f and applies -e. Returns 0, or an exit status. */
static int load_prompt(options *o) {
    if (o->prompt_file) {
        size_t n = 0;
        o->prompt = read_file(o->prompt_file, &n);
        if (!o->prompt) {
            fprintf(stderr, "error: cannot read prompt file '%s': %s\n", o->prompt_file,
                    strerror(errno));
            return EXIT_RUNTIME;
        }
        if (strlen(o->prompt) != n) {
            fprintf(stderr, "error: prompt file '%s' contains a NUL byte\n", o->prompt_file);
            return EXIT_RUNTIME;
        }
        if (n > 0 && o->prompt[n - 1] == '\n') o->prompt[n - 1] = '\0'; /* as llama.cpp */
    }
    if (o->escape) {
        if (o->prompt) process_escapes(o->prompt);
        if (o->system_prompt) process_escapes(o->system_prompt);
    }
    return 0;
}

/* >>loading --------------------------------------------------------------------------------- */

typedef struct {
    int verbose;
    int tty;       /* stderr is a terminal: draw the progress bar */
    int bar_shown; /* the bar is on screen */
    int last_pct;
} ui_state;

static void clear_bar(ui_state *ui) {
    if (ui->bar_shown) {
        fputs("\r\033[K", stderr);
        ui->bar_shown = 0;
    }
}

static void on_log(int level, const char *msg, void *user) {
    ui_state *ui = (ui_state *)user;
    const char *tag;
    size_t n = strlen(msg);
    if (level > QLM_LOG_WARN && !ui->verbose) return;
    tag = level == QLM_LOG_ERROR ? "error" : level == QLM_LOG_WARN ? "warning"
                                         : level == QLM_LOG_INFO   ? "info"
                                                                   : "debug";
    while (n > 0 && msg[n - 1] == '\n') n--;
    clear_bar(ui);
    fprintf(stderr, "%s: %.*s\n", tag, (int)n, msg);
}

static int on_progress(float fraction, void *user) {
    ui_state *ui = (ui_state *)user;
    enum { WIDTH = 30 };
    int pct, fill, k;
    char bar[WIDTH + 1];
    if (g_sigint) return 1; /* Ctrl-C while loading cancels the load */
    if (!ui->tty) return 0;
    if (!(fraction >= 0.0f)) fraction = 0.0f;
    if (fraction > 1.0f) fraction = 1.0f;
    pct = (int)(fraction * 100.0f + 0.5f);
    if (ui->bar_shown && pct == ui->last_pct) return 0;
    fill = (int)(fraction * WIDTH + 0.5f);
    for (k = 0; k < WIDTH; k++) bar[k] = k < fill ? '#' : ' ';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\rloading model [%s] %3d%%", bar, pct);
    fflush(stderr);
    ui->bar_shown = 1;
    ui->last_pct = pct;
    return 0;
}

static int load_model(const options *o, int vocab_only, ui_state *ui, qlm_model **out) {
    qlm_model_params mp = qlm_model_default_params();
    qlm_status st;
    const char *detail;
    mp.vocab_only = vocab_only;
    mp.log_fn = on_log;
    mp.log_user = ui;
    mp.progress_fn = on_progress;
    mp.progress_user = ui;
    st = qlm_model_load(o->model_path, mp, out);
    clear_bar(ui);
    if (st == QLM_OK) return 0;
    *out = NULL;
    if (st == QLM_ERR_CANCELLED && g_sigint) {
        fputs("interrupted while loading\n", stderr);
        return EXIT_INTERRUPTED;
    }
    detail = error_detail(st);
    if (strstr(detail, o->model_path))
        fprintf(stderr, "error: %s\n", detail);
    else
        fprintf(stderr, "error: cannot load model '%s': %s\n", o->model_path, detail);
    return EXIT_RUNTIME;
}

/* The KV-cache options into cp. Returns nonzero (after a message) on a bad value. */
static int kv_params(const options *o, qlm_ctx_params *cp) {
    if (o->ctk && qlm_kv_type_parse(o->ctk, &cp->type_k) != QLM_OK) {
        fprintf(stderr, "error: -ctk: %s\n", qlm_last_error());
        return 1;
    }
    if (o->ctv && qlm_kv_type_parse(o->ctv, &cp->type_v) != QLM_OK) {
        fprintf(stderr, "error: -ctv: %s\n", qlm_last_error());
        return 1;
    }
    if (o->kv_evict) {
        if (strcmp(o->kv_evict, "h2o") == 0) cp->kv_evict = QLM_KV_EVICT_H2O;
        else if (strcmp(o->kv_evict, "none") != 0) {
            fprintf(stderr, "error: --kv-evict: unknown policy '%s' (h2o, none)\n", o->kv_evict);
            return 1;
        }
    }
    if (o->kv_budget && cp->kv_evict != QLM_KV_EVICT_H2O) {
        fprintf(stderr, "error: --kv-budget needs --kv-evict h2o\n");
        return 1;
    }
    cp->no_kv_rot = o->no_kv_rot;
    cp->swa = o->swa;
    cp->n_sinks = o->sinks;
    cp->kv_budget = o->kv_budget;
    if (o->kv_recent >= 0) cp->kv_recent = o->kv_recent ? o->kv_recent : -1;
    return 0;
}

static int new_context(const options *o, qlm_model *model, qlm_ctx **out) {
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_sampler_params sp = qlm_sampler_default_params();
    qlm_status st;
    uint32_t seed;
    cp.n_ctx = o->n_ctx;
    cp.n_batch = o->n_batch;
    cp.n_threads = o->n_threads;
    if (kv_params(o, &cp)) return EXIT_USAGE;
    st = qlm_ctx_new(model, cp, out);
    if (st != QLM_OK) {
        *out = NULL;
        fprintf(stderr, "error: cannot create a context (-c %d): %s\n", (int)o->n_ctx,
                error_detail(st));
        return EXIT_RUNTIME;
    }
    if (o->cpu && (st = qlm_ctx_set_cpu(*out, o->cpu)) != QLM_OK) {
        fprintf(stderr, "error: --cpu %s: %s\n", o->cpu, error_detail(st));
        /* a name no build has is a usage error; a path this CPU lacks is the machine's */
        return st == QLM_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    if (o->verbose) fprintf(stderr, "info: CPU kernels: %s\n", qlm_ctx_cpu(*out));
    if (o->seed >= 0) {
        seed = (uint32_t)o->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = (uint32_t)ts.tv_sec ^ (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16);
    }
    fprintf(stderr, "seed = %lu\n", (unsigned long)seed);
    sp.temp = o->temp;
    sp.top_k = o->top_k;
    sp.top_p = o->top_p;
    sp.min_p = o->min_p;
    sp.repeat_penalty = o->repeat_penalty;
    sp.repeat_last_n = o->repeat_last_n < 0 ? qlm_ctx_n_ctx(*out) : o->repeat_last_n;
    sp.seed = seed;
    sp.ignore_eog = o->ignore_eos;
    qlm_sampler_set(*out, sp);
    return 0;
}

/* >>tokens ---------------------------------------------------------------------------------- */

typedef struct {
    int32_t *ids;
    int32_t n, cap;
} token_vec;

static void tokens_push(token_vec *v, int32_t id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 256;
        v->ids = (int32_t *)xrealloc(v->ids, (size_t)v->cap * sizeof *v->ids);
    }
    v->ids[v->n++] = id;
}

/* Tokenises text into *v (replacing its contents). */
static qlm_status tokenize_text(const qlm_model *model, const char *text, int add_special,
                                int parse_special, token_vec *v) {
    size_t len = strlen(text);
    int32_t need = 0;
    qlm_status st;
    if (len > (size_t)INT32_MAX - 64) return QLM_ERR_INVALID_ARG;
    if (v->cap < (int32_t)len + 16) {
        v->cap = (int32_t)len + 16;
        v->ids = (int32_t *)xrealloc(v->ids, (size_t)v->cap * sizeof *v->ids);
    }
    st = qlm_tokenize(model, text, (int32_t)len, v->ids, v->cap, add_special, parse_special,
                      &need);
    if (st == QLM_ERR_BUFFER_TOO_SMALL && need > v->cap) {
        v->cap = need;
        v->ids = (int32_t *)xrealloc(v->ids, (size_t)v->cap * sizeof *v->ids);
        st = qlm_tokenize(model, text, (int32_t)len, v->ids, v->cap, add_special, parse_special,
                          &need);
    }
    v->n = st == QLM_OK ? need : 0;
    return st;
}

typedef struct {
    char *buf;
    int32_t cap;
} text_buf;

/* The text of one token in tb->buf (not NUL-terminated); returns its length, or -1. */
static int32_t token_piece(const qlm_model *model, int32_t tok, int special, text_buf *tb) {
    int32_t n = 0;
    qlm_status st;
    if (tb->cap < 64) {
        tb->cap = 64;
        tb->buf = (char *)xrealloc(tb->buf, (size_t)tb->cap);
    }
    st = qlm_token_to_piece(model, tok, tb->buf, tb->cap, special, &n);
    if (st == QLM_ERR_BUFFER_TOO_SMALL && n > tb->cap) {
        tb->cap = n;
        tb->buf = (char *)xrealloc(tb->buf, (size_t)tb->cap);
        st = qlm_token_to_piece(model, tok, tb->buf, tb->cap, special, &n);
    }
    return st == QLM_OK ? n : -1;
}

/* Decodes tokens[0..n) after what is cached, n_batch at a time, appending what was decoded to
   *cache (the caller's copy of the KV cache's tokens). */
static qlm_status decode_tokens(qlm_ctx *ctx, const int32_t *tokens, int32_t n, int32_t n_batch,
                                token_vec *cache) {
    int32_t done = 0;
    if (n_batch <= 0) n_batch = 512;
    while (done < n) {
        int32_t chunk = n - done < n_batch ? n - done : n_batch;
        int32_t k;
        qlm_status st;
        if (g_sigint) return QLM_ERR_CANCELLED;
        st = qlm_decode(ctx, tokens + done, chunk, 0);
        if (st != QLM_OK) return st;
        for (k = 0; cache && k < chunk; k++) tokens_push(cache, tokens[done + k]);
        done += chunk;
    }
    return QLM_OK;
}

/* After a failed decode: make the KV cache and our copy agree again. */
static void resync_cache(qlm_ctx *ctx, token_vec *cache) {
    int32_t n_past = qlm_ctx_n_past(ctx);
    if (cache->n > n_past) cache->n = n_past;
    qlm_ctx_truncate(ctx, cache->n);
    if (cache->n > qlm_ctx_n_past(ctx)) cache->n = qlm_ctx_n_past(ctx);
}

static const char *ctx_error(const qlm_ctx *ctx, qlm_status st) {
    const char *m = qlm_ctx_errmsg(ctx);
    if (!m || !*m) m = error_detail(st);
    return m;
}

/* >>generate -------------------------------------------------------------------------------- */

static void print_rate(const char *what, double ms, int32_t n, const char *unit) {
    fprintf(stderr, "qlm: %-16s = %10.2f ms / %5d %-6s", what, ms, (int)n, unit);
    if (n > 0 && ms > 0.0)
        fprintf(stderr, " (%8.2f ms per token, %8.2f tokens per second)", ms / n, 1e3 * n / ms);
    fputc('\n', stderr);
}

static void report_prompt_too_long(int32_t n_prompt, int32_t n_ctx) {
    fprintf(stderr,
            "error: the prompt has %d tokens and the context is %d; raise -c (context size) or "
            "shorten the prompt\n",
            (int)n_prompt, (int)n_ctx);
}

static int run_generate(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    qlm_ctx *ctx = NULL;
    token_vec prompt = {0}, cache = {0};
    text_buf piece = {0};
    utf8_stream out = {0};
    qlm_status st;
    int rc = 0, n_gen = 0, n_eval = 0;
    int32_t n_ctx, tok;
    double t_start = now_ms(), t_load, t_prompt = 0.0, t_eval = 0.0, t_sample = 0.0, t0;
    const char *stop_note = NULL;

    rc = load_model(o, 0, ui, &model);
    if (rc) goto done;
    rc = new_context(o, model, &ctx);
    if (rc) goto done;
    t_load = now_ms() - t_start;
    n_ctx = qlm_ctx_n_ctx(ctx);

    st = tokenize_text(model, o->prompt, 1, 1, &prompt);
    if (st != QLM_OK) {
        fprintf(stderr, "error: cannot tokenize the prompt: %s\n", ctx_error(ctx, st));
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (prompt.n == 0) {
        fputs("error: the prompt is empty (and the model adds no BOS token)\n", stderr);
        rc = EXIT_RUNTIME;
        goto done;
    }
    if (prompt.n >= n_ctx && !qlm_ctx_bounded(ctx)) {
        report_prompt_too_long(prompt.n, n_ctx);
        rc = EXIT_RUNTIME;
        goto done;
    }

    out.out = stdout;
    if (!o->no_display_prompt) {
        fputs(o->prompt, stdout);
        fflush(stdout);
    }

    g_ctx = ctx;
    g_busy = 1;
    t0 = now_ms();
    st = decode_tokens(ctx, prompt.ids, prompt.n, o->n_batch, &cache);
    t_prompt = now_ms() - t0;

    while (st == QLM_OK && (o->n_predict < 0 || n_gen < o->n_predict)) {
        int32_t len;
        if (g_sigint) {
            st = QLM_ERR_CANCELLED;
            break;
        }
        t0 = now_ms();
        st = qlm_sample(ctx, &tok);
        t_sample += now_ms() - t0;
        if (st != QLM_OK) break;
        if (qlm_token_is_eog(model, tok)) break;
        n_gen++;
        len = token_piece(model, tok, 0, &piece);
        if (len > 0) utf8_write(&out, piece.buf, (size_t)len);
        if (o->n_predict >= 0 && n_gen >= o->n_predict) break; /* no need to decode it */
        if (qlm_ctx_n_past(ctx) >= n_ctx && !qlm_ctx_bounded(ctx)) {
            stop_note = "context full";
            break;
        }
        t0 = now_ms();
        st = decode_tokens(ctx, &tok, 1, 1, &cache);
        t_eval += now_ms() - t0;
        if (st == QLM_OK) n_eval++;
    }
    g_busy = 0;
    utf8_flush(&out);
    fputc('\n', stdout);
    fflush(stdout);

    if (st == QLM_ERR_CONTEXT_FULL) {
        if (cache.n < prompt.n) report_prompt_too_long(prompt.n, n_ctx);
        else stop_note = "context full";
        rc = cache.n < prompt.n ? EXIT_RUNTIME : 0;
    } else if (st == QLM_ERR_CANCELLED) {
        fputs("interrupted\n", stderr);
        rc = EXIT_INTERRUPTED;
    } else if (st != QLM_OK) {
        fprintf(stderr, "error: generation failed: %s\n", ctx_error(ctx, st));
        rc = EXIT_RUNTIME;
    }
    if (stop_note)
        fprintf(stderr, "(stopped: %s after %d tokens; raise -c for more)\n", stop_note,
                (int)qlm_ctx_n_past(ctx));

    fputc('\n', stderr);
    fprintf(stderr, "qlm: %-16s = %10.2f ms\n", "load time", t_load);
    print_rate("prompt eval time", t_prompt, cache.n < prompt.n ? cache.n : prompt.n, "tokens");
    print_rate("eval time", t_eval, n_eval, "runs");
    print_rate("sampling time", t_sample, n_gen, "tokens");
    fprintf(stderr, "qlm: %-16s = %10.2f ms / %5d tokens\n", "total time", now_ms() - t_start,
            (int)(prompt.n + n_gen));

done:
    g_busy = 0;
    g_ctx = NULL;
    free(prompt.ids);
    free(cache.ids);
    free(piece.buf);
    qlm_ctx_free(ctx);
    qlm_model_free(model);
    return rc;
}

/* >>chat ------------------------------------------------------------------------------------ */

typedef struct {
    const char **roles;
    char **contents;
    int32_t n, cap;
} chat_history;

static void history_push(chat_history *h, const char *role, const char *content) {
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 16;
        h->roles = (const char **)xrealloc((void *)h->roles, (size_t)h->cap * sizeof *h->roles);
        h->contents = (char **)xrealloc(h->contents, (size_t)h->cap * sizeof *h->contents);
    }
    h->roles[h->n] = role;
    h->contents[h->n] = xstrdup(content);
    h->n++;
}

static void history_pop_to(chat_history *h, int32_t n) {
    while (h->n > n) free(h->contents[--h->n]);
}

/* Formats the whole history plus the start of an assistant turn into tb (NUL-terminated). */
static qlm_status format_chat(const qlm_model *model, const chat_history *h, text_buf *tb) {
    int32_t need = 0;
    qlm_status st;
    if (tb->cap < 4096) {
        tb->cap = 4096;
        tb->buf = (char *)xrealloc(tb->buf, (size_t)tb->cap);
    }
    st = qlm_chat_format(model, h->roles, (const char *const *)h->contents, h->n, 1, tb->buf,
                         tb->cap, &need);
    if (st == QLM_ERR_BUFFER_TOO_SMALL && need >= tb->cap) {
        tb->cap = need + 1;
        tb->buf = (char *)xrealloc(tb->buf, (size_t)tb->cap);
        st = qlm_chat_format(model, h->roles, (const char *const *)h->contents, h->n, 1,
                             tb->buf, tb->cap, &need);
    }
    if (st == QLM_OK) tb->buf[need < tb->cap ? need : tb->cap - 1] = '\0';
    return st;
}

typedef struct {
    char *data;
    size_t n, cap;
} str_buf;

static void str_append(str_buf *s, const char *p, size_t n) {
    if (s->n + n + 1 > s->cap) {
        s->cap = (s->n + n + 1) * 2;
        s->data = (char *)xrealloc(s->data, s->cap);
    }
    memcpy(s->data + s->n, p, n);
    s->n += n;
    s->data[s->n] = '\0';
}

typedef enum { TURN_OK, TURN_INTERRUPTED, TURN_FULL, TURN_FAILED } turn_result;

/* One answer: bring the KV cache up to the formatted conversation, then sample and stream
   until end of generation. The reply text goes to *reply. */
static turn_result chat_turn(const options *o, qlm_model *model, qlm_ctx *ctx,
                             const char *formatted, token_vec *cache, token_vec *tokens,
                             text_buf *piece, str_buf *reply, int *n_reply_tokens) {
    int32_t n_ctx = qlm_ctx_n_ctx(ctx), keep = 0, bos = qlm_token_bos(model), tok;
    int32_t limit;
    utf8_stream out = {0};
    qlm_status st;
    turn_result res = TURN_OK;

    out.out = stdout;
    reply->n = 0;
    *n_reply_tokens = 0;
    st = tokenize_text(model, formatted, 1, 1, tokens);
    if (st != QLM_OK) {
        fprintf(stderr, "error: cannot tokenize the conversation: %s\n", ctx_error(ctx, st));
        return TURN_FAILED;
    }
    if (tokens->n == 0) {
        fputs("error: the formatted conversation has no tokens\n", stderr);
        return TURN_FAILED;
    }
    /* A template that writes BOS itself plus the tokenizer's BOS would give two. */
    if (bos >= 0 && tokens->n >= 2 && tokens->ids[0] == bos && tokens->ids[1] == bos) {
        memmove(tokens->ids, tokens->ids + 1, (size_t)(tokens->n - 1) * sizeof *tokens->ids);
        tokens->n--;
    }
    if (tokens->n >= n_ctx && !qlm_ctx_bounded(ctx)) {
        fprintf(stderr,
                "context full: the conversation has %d tokens and the context is %d; type /reset"
                " to start over (or restart with a larger -c)\n",
                (int)tokens->n, (int)n_ctx);
        return TURN_FULL;
    }

    /* Reuse the longest common prefix of what is cached; decode at least one token so there
       are logits to sample from. */
    if (cache->n > qlm_ctx_n_past(ctx)) cache->n = qlm_ctx_n_past(ctx);
    while (keep < cache->n && keep < tokens->n - 1 && cache->ids[keep] == tokens->ids[keep])
        keep++;
    if (keep != qlm_ctx_n_past(ctx) && qlm_ctx_truncate(ctx, keep) != QLM_OK) {
        keep = 0;
        qlm_ctx_truncate(ctx, 0);
    }
    /* sliding-window caches may not rewind that far: the cache says where to resume */
    if (keep > qlm_ctx_n_past(ctx)) keep = qlm_ctx_n_past(ctx);
    cache->n = keep;
    if (o->verbose)
        fprintf(stderr, "[conversation: %d tokens, %d reused from the cache]\n", (int)tokens->n,
                (int)keep);

    g_busy = 1;
    st = decode_tokens(ctx, tokens->ids + keep, tokens->n - keep, o->n_batch, cache);
    limit = o->n_predict;
    while (st == QLM_OK && (limit < 0 || *n_reply_tokens < limit)) {
        int32_t len;
        if (g_sigint) {
            st = QLM_ERR_CANCELLED;
            break;
        }
        st = qlm_sample(ctx, &tok);
        if (st != QLM_OK || qlm_token_is_eog(model, tok)) break;
        (*n_reply_tokens)++;
        len = token_piece(model, tok, 0, piece);
        if (len > 0) {
            utf8_write(&out, piece->buf, (size_t)len);
            str_append(reply, piece->buf, (size_t)len);
        }
        if (qlm_ctx_n_past(ctx) >= n_ctx && !qlm_ctx_bounded(ctx)) {
            st = QLM_ERR_CONTEXT_FULL;
            break;
        }
        st = decode_tokens(ctx, &tok, 1, 1, cache);
    }
    g_busy = 0;
    utf8_flush(&out);
    if (reply->n > 0 || st == QLM_OK) fputc('\n', stdout);
    fflush(stdout);

    if (st == QLM_ERR_CANCELLED) {
        fputs("[answer stopped]\n", stderr);
        res = TURN_INTERRUPTED;
    } else if (st == QLM_ERR_CONTEXT_FULL) {
        fprintf(stderr, "context full (%d tokens); type /reset to start over\n", (int)n_ctx);
        res = TURN_FULL;
    } else if (st != QLM_OK) {
        fprintf(stderr, "error: %s\n", ctx_error(ctx, st));
        res = TURN_FAILED;
    }
    if (st != QLM_OK) resync_cache(ctx, cache);
    g_sigint = 0;
    return res;
}

/* A line from stdin without its newline; NULL at end of input or on Ctrl-C. */
static char *read_line(char **line, size_t *cap) {
    ssize_t n;
    errno = 0;
    n = getline(line, cap, stdin);
    if (n < 0) return NULL;
    while (n > 0 && ((*line)[n - 1] == '\n' || (*line)[n - 1] == '\r')) (*line)[--n] = '\0';
    return *line;
}

static int run_chat(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    qlm_ctx *ctx = NULL;
    chat_history hist = {0};
    token_vec cache = {0}, tokens = {0};
    text_buf formatted = {0}, piece = {0};
    str_buf reply = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int rc, interactive = isatty(STDIN_FILENO), n_system = 0;

    rc = load_model(o, 0, ui, &model);
    if (rc) goto done;
    rc = new_context(o, model, &ctx);
    if (rc) goto done;
    g_ctx = ctx;
    if (o->system_prompt && *o->system_prompt) {
        history_push(&hist, "system", o->system_prompt);
        n_system = 1;
    }
    if (interactive)
        fprintf(stderr, "chat with %s (context %d tokens). /reset clears the conversation, "
                        "/exit quits, Ctrl-C stops an answer.\n",
                qlm_model_name(model) ? qlm_model_name(model) : o->model_path,
                (int)qlm_ctx_n_ctx(ctx));

    for (;;) {
        int32_t n_before;
        int n_tok;
        turn_result res;
        double t0;
        qlm_status st;
        if (interactive) {
            fputs("> ", stdout);
            fflush(stdout);
        }
        g_sigint = 0;
        if (!read_line(&line, &line_cap)) {
            if (g_sigint || errno == EINTR) {
                fputc('\n', stdout);
                rc = EXIT_INTERRUPTED;
            } else if (ferror(stdin)) {
                fprintf(stderr, "error: reading stdin: %s\n", strerror(errno));
                rc = EXIT_RUNTIME;
            } else if (interactive) {
                fputc('\n', stdout);
            }
            break;
        }
        if (line[0] == '\0') continue;
        if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) break;
        if (strcmp(line, "/reset") == 0) {
            history_pop_to(&hist, n_system);
            qlm_ctx_truncate(ctx, 0);
            cache.n = 0;
            fputs("[conversation cleared]\n", stderr);
            continue;
        }
        if (o->escape) process_escapes(line);

        n_before = hist.n;
        history_push(&hist, "user", line);
        st = format_chat(model, &hist, &formatted);
        if (st != QLM_OK) {
            fprintf(stderr, "error: cannot format the conversation: %s\n",
                    error_detail(st));
            rc = EXIT_RUNTIME;
            break;
        }
        t0 = now_ms();
        res = chat_turn(o, model, ctx, formatted.buf, &cache, &tokens, &piece, &reply, &n_tok);
        if (o->verbose)
            fprintf(stderr, "[%d tokens in %.0f ms, %d of %d context tokens used]\n", n_tok,
                    now_ms() - t0, (int)qlm_ctx_n_past(ctx), (int)qlm_ctx_n_ctx(ctx));
        if (res == TURN_FAILED) {
            rc = EXIT_RUNTIME;
            break;
        }
        if (reply.n == 0 && res != TURN_OK) {
            history_pop_to(&hist, n_before); /* nothing was said: forget the question */
            continue;
        }
        history_push(&hist, "assistant", reply.data ? reply.data : "");
    }

done:
    g_busy = 0;
    g_ctx = NULL;
    history_pop_to(&hist, 0);
    free((void *)hist.roles);
    free(hist.contents);
    free(cache.ids);
    free(tokens.ids);
    free(formatted.buf);
    free(piece.buf);
    free(reply.data);
    free(line);
    qlm_ctx_free(ctx);
    qlm_model_free(model);
    return rc;
}

/* >>tokenize -------------------------------------------------------------------------------- */

static int run_tokenize(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    token_vec toks = {0};
    text_buf piece = {0};
    qlm_status st;
    int rc, i;

    rc = load_model(o, 1, ui, &model);
    if (rc) return rc;
    st = tokenize_text(model, o->prompt, !o->no_bos, o->parse_special, &toks);
    if (st != QLM_OK) {
        fprintf(stderr, "error: cannot tokenize: %s\n",
                error_detail(st));
        rc = EXIT_RUNTIME;
    } else if (o->ids_only) {
        fputc('[', stdout);
        for (i = 0; i < toks.n; i++) printf(i ? ", %d" : "%d", (int)toks.ids[i]);
        fputs("]\n", stdout);
    } else {
        for (i = 0; i < toks.n; i++) {
            int32_t len = token_piece(model, toks.ids[i], 1, &piece);
            printf("%6d -> '", (int)toks.ids[i]);
            if (len > 0) fwrite(piece.buf, 1, (size_t)len, stdout);
            fputs("'\n", stdout);
        }
    }
    free(toks.ids);
    free(piece.buf);
    qlm_model_free(model);
    return rc;
}

/* >>info ------------------------------------------------------------------------------------ */

/* Prints a metadata value on one line: control characters escaped, long values shortened
   (unless verbose). */
static void print_meta_value(const char *v, int verbose) {
    size_t i, n = strlen(v), shown = 0, max = verbose ? (size_t)-1 : 120;
    for (i = 0; i < n && shown < max; i++, shown++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c < 0x20) printf("\\x%02x", c);
        else fputc(c, stdout);
    }
    if (i < n) printf("... (%lu bytes)", (unsigned long)n);
    fputc('\n', stdout);
}

static void format_bytes(uint64_t b, char *buf, size_t cap) {
    if (b >= (uint64_t)1 << 30) snprintf(buf, cap, "%.2f GiB", (double)b / (1u << 30));
    else if (b >= (uint64_t)1 << 20) snprintf(buf, cap, "%.2f MiB", (double)b / (1u << 20));
    else if (b >= 1024) snprintf(buf, cap, "%.2f KiB", (double)b / 1024);
    else snprintf(buf, cap, "%lu B", (unsigned long)b);
}

static int run_info(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    int32_t i, n_meta, n_tensors, name_w = 4;
    uint64_t total_bytes = 0, total_elems = 0;
    uint64_t type_count[QLM_TYPE_COUNT] = {0}, type_bytes[QLM_TYPE_COUNT] = {0};
    enum { VAL_CAP = 65536 };
    char *val = (char *)xrealloc(NULL, VAL_CAP);
    char size_str[32];
    const char *name;
    int rc;

    rc = load_model(o, 0, ui, &model);
    if (rc) {
        free(val);
        return rc;
    }
    name = qlm_model_name(model);
    printf("file          = %s\n", o->model_path);
    printf("architecture  = %s\n", qlm_model_arch(model) ? qlm_model_arch(model) : "?");
    printf("name          = %s\n", name ? name : "");
    printf("n_vocab       = %d\n", (int)qlm_model_n_vocab(model));
    printf("n_ctx_train   = %d\n", (int)qlm_model_n_ctx_train(model));
    printf("n_embd        = %d\n", (int)qlm_model_n_embd(model));
    printf("n_layer       = %d\n", (int)qlm_model_n_layer(model));
    printf("n_params      = %.2f M\n", (double)qlm_model_n_params(model) / 1e6);
    format_bytes(qlm_model_size(model), size_str, sizeof size_str);
    printf("size          = %s", size_str);
    if (qlm_model_n_params(model) > 0)
        printf(" (%.2f bits per weight)",
               8.0 * (double)qlm_model_size(model) / (double)qlm_model_n_params(model));
    printf("\nchat template = %s\n", qlm_model_chat_template(model) ? "yes" : "none");
    printf("bos / eos     = %d / %d\n", (int)qlm_token_bos(model), (int)qlm_token_eos(model));
    {   /* the KV cache a default context would allocate (qlm plan has the details) */
        qlm_plan_info pi;
        if (qlm_plan(model, qlm_ctx_default_params(), &pi) == QLM_OK) {
            char kv_s[32];
            format_bytes(pi.kv_bytes, kv_s, sizeof kv_s);
            printf("KV cache      = %s at n_ctx %d (f16; %llu bytes per token per full layer set;"
                   " %d of %d layers are windows)\n",
                   kv_s, (int)pi.n_ctx, (unsigned long long)pi.kv_bytes_per_token,
                   (int)(pi.n_layer - pi.n_layer_full), (int)pi.n_layer);
        }
    }

    n_meta = qlm_model_meta_count(model);
    printf("\nmetadata (%d entries):\n", (int)n_meta);
    for (i = 0; i < n_meta; i++) {
        const char *key = NULL;
        val[0] = '\0';
        qlm_status st = qlm_model_meta(model, i, &key, val, VAL_CAP);
        if (st != QLM_OK) {
            printf("  [%d] <unreadable: %s>\n", (int)i, error_detail(st));
            continue;
        }
        printf("  %s = ", key ? key : "?");
        print_meta_value(val, o->verbose);
    }

    n_tensors = qlm_model_tensor_count(model);
    for (i = 0; i < n_tensors; i++) {
        const char *tname = NULL;
        qlm_type type;
        int64_t ne[4];
        uint64_t bytes;
        if (qlm_model_tensor(model, i, &tname, &type, ne, &bytes) == QLM_OK && tname &&
            (int)strlen(tname) > name_w)
            name_w = (int)strlen(tname);
    }
    printf("\ntensors (%d):\n", (int)n_tensors);
    printf("  %-*s  %-6s  %-24s  %12s\n", name_w, "name", "type", "shape", "bytes");
    for (i = 0; i < n_tensors; i++) {
        const char *tname = NULL;
        qlm_type type = QLM_TYPE_F32;
        int64_t ne[4] = {1, 1, 1, 1};
        uint64_t bytes = 0, elems = 1;
        char shape[96];
        int d, n_dims = 4, len;
        qlm_status st = qlm_model_tensor(model, i, &tname, &type, ne, &bytes);
        if (st != QLM_OK) {
            printf("  [%d] <unreadable: %s>\n", (int)i, error_detail(st));
            continue;
        }
        while (n_dims > 1 && ne[n_dims - 1] == 1) n_dims--;
        len = snprintf(shape, sizeof shape, "[");
        for (d = 0; d < n_dims; d++) {
            elems *= (uint64_t)(ne[d] > 0 ? ne[d] : 0);
            len += snprintf(shape + len, sizeof shape - (size_t)len, d ? ", %lld" : "%lld",
                            (long long)ne[d]);
        }
        snprintf(shape + len, sizeof shape - (size_t)len, "]");
        printf("  %-*s  %-6s  %-24s  %12llu\n", name_w, tname ? tname : "?", qlm_type_name(type),
               shape, (unsigned long long)bytes);
        total_bytes += bytes;
        total_elems += elems;
        if ((int)type >= 0 && (int)type < QLM_TYPE_COUNT) {
            type_count[type]++;
            type_bytes[type] += bytes;
        }
    }
    format_bytes(total_bytes, size_str, sizeof size_str);
    printf("\ntotal: %d tensors, %llu elements, %llu bytes (%s)\n", (int)n_tensors,
           (unsigned long long)total_elems, (unsigned long long)total_bytes, size_str);
    for (i = 0; i < QLM_TYPE_COUNT; i++) {
        if (!type_count[i]) continue;
        format_bytes(type_bytes[i], size_str, sizeof size_str);
        printf("  %-6s %5llu tensors, %s\n", qlm_type_name((qlm_type)i),
               (unsigned long long)type_count[i], size_str);
    }
    free(val);
    qlm_model_free(model);
    return 0;
}

/* >>main ------------------------------------------------------------------------------------ */

/* >>bench ----------------------------------------------------------------------------------
   llama-bench's tests: pp N (prompt of N tokens in batches of -b, from an empty cache) and
   tg N (N single-token decodes), each after -d tokens already in the cache, -r times; mean
   and standard deviation of tokens/s. For tg, the bytes one decode step must stream (every
   matrix the token multiplies, plus the KV cache it reads) over the step's time give the
   effective bandwidth, shown beside this machine's read bandwidth measured here with the same
   thread count (each thread sums its share of a buffer of 4x the last-level cache, see
   bw_bytes, with software prefetch as the decode kernels stream their rows; best of 8). */

typedef struct {
    const uint64_t *p;
    size_t n;
    uint64_t sum;
} bw_job;

static void *bw_worker(void *arg) {
    bw_job *j = (bw_job *)arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i;
    for (i = 0; i + 4 <= j->n; i += 4) {
        if (i % 8 == 0) __builtin_prefetch(j->p + i + 512); /* 4 KiB ahead, one per line */
        a += j->p[i];
        b += j->p[i + 1];
        c += j->p[i + 2];
        d += j->p[i + 3];
    }
    j->sum = a + b + c + d;
    return NULL;
}

/* The probe's buffer: 4x the last-level cache (Linux sysfs; taken as 64 MiB where unknown), so
   that it measures memory rather than a cache, within [256 MiB, 2 GiB] and at most 1/8 of RAM.
   (On the dev VM, with its 260 MiB L3, a 256 MiB buffer measured the L3: ~46 GB/s, while the
   1B models streamed from memory at ~31 GB/s.) */
static size_t bw_bytes(void) {
    size_t llc = (size_t)64 << 20, bytes, cap = (size_t)2 << 30;
    FILE *f = fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
    unsigned long kib;
    long pages = -1, psz = sysconf(_SC_PAGESIZE);
    if (f) {
        if (fscanf(f, "%luK", &kib) == 1 && kib > 0) llc = (size_t)kib << 10;
        fclose(f);
    }
#ifdef _SC_PHYS_PAGES
    pages = sysconf(_SC_PHYS_PAGES);
#endif
    if (pages > 0 && psz > 0 && (size_t)pages / 8 * (size_t)psz < cap) cap = (size_t)pages / 8 * (size_t)psz;
    bytes = 4 * llc;
    if (bytes < ((size_t)256 << 20)) bytes = (size_t)256 << 20;
    return bytes < cap ? bytes : cap;
}

static double measure_bandwidth(int threads) {
    size_t bytes = bw_bytes(), n = bytes / 8, i;
    uint64_t *buf = (uint64_t *)malloc(bytes);
    double best = 0;
    int rep, t;
    if (!buf) return 0;
    for (i = 0; i < n; i++) buf[i] = i * 2654435761u;
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    for (rep = 0; rep < 8; rep++) {
        pthread_t th[64];
        bw_job jobs[64];
        double t0 = now_ms(), dt;
        for (t = 0; t < threads; t++) {
            jobs[t].p = buf + n / (size_t)threads * (size_t)t;
            jobs[t].n = n / (size_t)threads;
            pthread_create(&th[t], NULL, bw_worker, &jobs[t]);
        }
        for (t = 0; t < threads; t++) pthread_join(th[t], NULL);
        dt = now_ms() - t0;
        if (jobs[0].sum == 42) fputs("", stderr); /* keep the reads */
        if (bytes / dt / 1e6 > best) best = (double)bytes / dt / 1e6;
    }
    free(buf);
    return best; /* GB/s */
}

static void stats(const double *v, int n, double *mean, double *sd) {
    double s = 0, q = 0;
    int i;
    for (i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (i = 0; i < n; i++) q += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

/* Fill the cache with `depth` tokens (not timed). */
/* Bring the cache to `depth` tokens (not timed): the first time by decoding them, later by
   dropping what the previous repetition added (a window layer that cannot rewind refills). */
static qlm_status bench_fill(qlm_ctx *ctx, const int32_t *toks, int32_t depth, int32_t n_batch) {
    if (depth > 0 && qlm_ctx_n_past(ctx) >= depth) {
        qlm_ctx_truncate(ctx, depth);
        if (qlm_ctx_n_past(ctx) == depth) return QLM_OK;
    }
    qlm_ctx_truncate(ctx, 0);
    return depth > 0 ? decode_tokens(ctx, toks, depth, n_batch, 0) : QLM_OK;
}

static int run_bench(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    qlm_ctx *ctx = NULL;
    int32_t n_pp = o->n_prompt, n_tg = o->n_predict, i, n_vocab, total, threads;
    int32_t *toks = NULL;
    double *tps = NULL, bw, size_gib, step_bytes, kv_per_tok;
    char size_s[32], params_s[32];
    int rc, r, t, tied = 1;
    uint64_t embd_bytes = 0;
    const char *tests[2] = {"pp", "tg"};
    rc = load_model(o, 0, ui, &model);
    if (rc) return rc;
    rc = new_context(o, model, &ctx);
    if (rc) goto done;
    n_vocab = qlm_model_n_vocab(model);
    total = o->depth + (n_pp > n_tg ? n_pp : n_tg) + 1;
    toks = (int32_t *)malloc((size_t)total * sizeof *toks);
    tps = (double *)malloc((size_t)o->reps * sizeof *tps);
    if (!toks || !tps) die_nomem();
    for (i = 0; i < total; i++) toks[i] = (int32_t)((i * 7919u + 13) % (uint32_t)n_vocab);
    for (i = 0; i < qlm_model_tensor_count(model); i++) {
        const char *name;
        uint64_t bytes;
        qlm_model_tensor(model, i, &name, NULL, NULL, &bytes);
        if (strcmp(name, "output.weight") == 0) tied = 0;
        if (strcmp(name, "token_embd.weight") == 0) embd_bytes = bytes;
    }
    /* per decode step: all weights, less the embedding table when only one row of it is read;
       plus K and V of every cached position (f16) */
    step_bytes = (double)qlm_model_size(model) - (tied ? 0.0 : (double)embd_bytes);
    {   /* K and V bytes read per cached position: the layers that attend to all of it */
        qlm_ctx_params cp = qlm_ctx_default_params();
        qlm_plan_info pi;
        cp.n_ctx = o->n_ctx;
        cp.n_batch = o->n_batch;
        kv_per_tok = 0;
        if (!kv_params(o, &cp) && qlm_plan(model, cp, &pi) == QLM_OK)
            kv_per_tok = (double)pi.kv_bytes_per_token / pi.n_layer * pi.n_layer_full;
    }
    threads = o->n_threads > 0 ? o->n_threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    bw = measure_bandwidth(threads);
    size_gib = (double)qlm_model_size(model) / (1024.0 * 1024.0 * 1024.0);
    snprintf(size_s, sizeof size_s, "%.2f GiB", size_gib);
    snprintf(params_s, sizeof params_s, "%.2f M", (double)qlm_model_n_params(model) / 1e6);
    printf("| model | size | params | cpu | kv | threads | test | t/s | GB/s | %% of %.1f GB/s |\n", bw);
    printf("| ----- | ---: | -----: | --- | -- | ------: | ---- | --: | ---: | ---: |\n");
    for (t = 0; t < 2; t++) {
        int32_t n = t == 0 ? n_pp : n_tg;
        double mean, sd, gbs = 0;
        char test[64];
        if (n <= 0) continue;
        for (r = 0; r < o->reps; r++) {
            double t0;
            qlm_status st = bench_fill(ctx, toks, o->depth, o->n_batch);
            if (st != QLM_OK) goto fail;
            t0 = now_ms();
            if (t == 0) {
                st = decode_tokens(ctx, toks + o->depth, n, o->n_batch, 0);
            } else {
                for (i = 0; i < n && st == QLM_OK; i++)
                    st = qlm_decode(ctx, &toks[o->depth + i], 1, 0);
            }
            if (st != QLM_OK) goto fail;
            tps[r] = n / ((now_ms() - t0) / 1000.0);
            if (g_sigint) goto done;
        }
        stats(tps, o->reps, &mean, &sd);
        if (t == 1) /* average cache length during the test: depth + n/2 */
            gbs = mean * (step_bytes + kv_per_tok * (o->depth + n / 2.0)) / 1e9;
        if (o->depth > 0) snprintf(test, sizeof test, "%s%d @ d%d", tests[t], n, o->depth);
        else snprintf(test, sizeof test, "%s%d", tests[t], n);
        printf("| %s | %s | %s | %s | %s/%s | %d | %s | %.2f ± %.2f |", qlm_model_name(model),
               size_s, params_s, qlm_ctx_cpu(ctx), o->ctk ? o->ctk : "f16", o->ctv ? o->ctv : "f16",
               threads, test, mean, sd);
        if (t == 1) printf(" %.2f | %.0f%% |\n", gbs, bw > 0 ? 100.0 * gbs / bw : 0.0);
        else printf(" | |\n");
        fflush(stdout);
    }
    goto done;
fail:
    fprintf(stderr, "error: bench: %s\n", qlm_ctx_errmsg(ctx));
    rc = EXIT_RUNTIME;
done:
    free(toks);
    free(tps);
    qlm_ctx_free(ctx);
    qlm_model_free(model);
    return rc;
}

/* >>plan ------------------------------------------------------------------------------------ */
/* "512M", "4G", "1.5GiB", "100000" (bytes) -> bytes; 0 if unreadable */
static uint64_t parse_size(const char *s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) return 0;
    switch (*end) {
    case 'k': case 'K': v *= 1024.0; break;
    case 'm': case 'M': v *= 1024.0 * 1024.0; break;
    case 'g': case 'G': v *= 1024.0 * 1024.0 * 1024.0; break;
    case 't': case 'T': v *= 1024.0 * 1024.0 * 1024.0 * 1024.0; break;
    case '\0': break;
    default: return 0;
    }
    return (uint64_t)v;
}

/* The largest n_ctx whose weights + KV cache fit in mem (0: none), by bisection over the
   library's own planner. */
static int32_t plan_max_ctx(const qlm_model *model, qlm_ctx_params cp, uint64_t mem) {
    int32_t lo = 0, hi = 1 << 24;
    while (lo < hi) {
        int32_t mid = lo + (hi - lo + 1) / 2;
        qlm_plan_info pi;
        cp.n_ctx = mid;
        if (qlm_plan(model, cp, &pi) == QLM_OK && pi.weights_bytes + pi.kv_bytes <= mem) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

static int run_plan(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    qlm_ctx_params cp = qlm_ctx_default_params();
    qlm_plan_info pi;
    qlm_status st;
    uint64_t mem = 0;
    char b1[32], b2[32], b3[32];
    int rc, t;
    if (o->mem && !(mem = parse_size(o->mem))) {
        fprintf(stderr, "error: --mem: cannot read '%s' (e.g. 512M, 4G)\n", o->mem);
        return EXIT_USAGE;
    }
    rc = load_model(o, 0, ui, &model);
    if (rc) return rc;
    cp.n_ctx = o->n_ctx;
    cp.n_batch = o->n_batch;
    if (kv_params(o, &cp)) {
        rc = EXIT_USAGE;
        goto done;
    }
    if ((st = qlm_plan(model, cp, &pi)) != QLM_OK) {
        fprintf(stderr, "error: %s\n", error_detail(st));
        rc = EXIT_RUNTIME;
        goto done;
    }
    format_bytes(pi.weights_bytes, b1, sizeof b1);
    printf("model         = %s (%s)\n", qlm_model_name(model) ? qlm_model_name(model) : "?",
           qlm_model_arch(model));
    printf("weights       = %s (%llu bytes)\n", b1, (unsigned long long)pi.weights_bytes);
    printf("cache         = K %s, V %s%s, n_ctx %d, n_batch %d",
           o->ctk ? o->ctk : "f16", o->ctv ? o->ctv : "f16", o->no_kv_rot ? " (no rotation)" : "",
           (int)pi.n_ctx, (int)pi.n_batch);
    if (pi.kv_recent > 0) /* a fixed extra per layer, in the KV total below */
        printf(", the last %d keys and the first 4 also in f16 (%llu bytes per layer)", (int)pi.kv_recent,
               (unsigned long long)(pi.kv_recent + 4) * ((uint64_t)pi.n_head_kv * (uint64_t)pi.head_dim * 2 + 4));
    printf("\n");
    printf("per token     = %d layers x %d kv heads x %d head_dim x (%.4f + %.4f) bytes = %llu bytes\n",
           (int)pi.n_layer, (int)pi.n_head_kv, (int)pi.head_dim,
           (double)pi.seg_k_bytes / pi.head_dim, (double)pi.seg_v_bytes / pi.head_dim,
           (unsigned long long)pi.kv_bytes_per_token);
    if (pi.n_layer_full < pi.n_layer)
        printf("growing       = %llu bytes per token of context (the %d layers that attend to all"
               " of it)\n",
               (unsigned long long)(pi.kv_bytes_per_token / (uint64_t)pi.n_layer *
                                    (uint64_t)pi.n_layer_full),
               (int)pi.n_layer_full);
    format_bytes(pi.kv_bytes, b2, sizeof b2);
    printf("KV cache      = %s (%llu bytes): %d layers grow with the context, %d are bounded",
           b2, (unsigned long long)pi.kv_bytes, (int)pi.n_layer_full,
           (int)(pi.n_layer - pi.n_layer_full));
    if (pi.n_layer_full < pi.n_layer) {
        format_bytes(pi.kv_bytes_fixed, b3, sizeof b3);
        printf(" (%s whatever the context)", b3);
    }
    printf("\n%s", pi.bounded ? "generation   = unbounded: every layer is a window or H2O\n" : "");
    format_bytes(pi.weights_bytes + pi.kv_bytes, b3, sizeof b3);
    printf("total         = %s (weights + KV; compute buffers not included)\n", b3);
    printf("\n| K / V | bytes/token | KV at n_ctx %d |%s\n", (int)pi.n_ctx,
           mem ? " largest n_ctx in --mem |" : "");
    printf("| ----- | ----------: | ----------: |%s\n", mem ? " ---------: |" : "");
    for (t = 0; t < QLM_KV_COUNT; t++) {
        qlm_ctx_params c2 = cp;
        qlm_plan_info p2;
        c2.type_k = c2.type_v = (qlm_kv_type)t;
        if (qlm_plan(model, c2, &p2) != QLM_OK) continue;
        format_bytes(p2.kv_bytes, b2, sizeof b2);
        printf("| %s | %llu | %s |", qlm_kv_type_name((qlm_kv_type)t),
               (unsigned long long)p2.kv_bytes_per_token, b2);
        if (mem) {
            if (p2.bounded) printf(" unbounded (fixed memory) |");
            else printf(" %d |", (int)plan_max_ctx(model, c2, mem));
        }
        printf("\n");
    }
done:
    qlm_model_free(model);
    return rc;
}

/* >>perplexity ------------------------------------------------------------------------------
   As llama-perplexity: the text in chunks of n_ctx tokens, each from an empty cache and
   starting with BOS (when the model adds one); the second half of each chunk is scored.
   --kl-divergence-base FILE writes every scored token's log-probabilities (16-bit, per-token
   range, llama.cpp's idea); with --kl-divergence it reads them and compares. */
#define LOGP_MAGIC "QLMLOGP1"

typedef struct {
    double sum, sum2;
    int64_t n;
} run_stat;
static void stat_add(run_stat *s, double v) {
    s->sum += v;
    s->sum2 += v * v;
    s->n++;
}
static double stat_mean(const run_stat *s) { return s->n ? s->sum / (double)s->n : 0.0; }
static double stat_err(const run_stat *s) { /* standard error of the mean */
    double m = stat_mean(s), var;
    if (s->n < 2) return 0.0;
    var = (s->sum2 / (double)s->n - m * m) * (double)s->n / (double)(s->n - 1);
    return var > 0 ? sqrt(var / (double)s->n) : 0.0;
}
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* log-softmax of logits into lp (double accumulation); returns the argmax */
static int32_t log_softmax(const float *logits, int32_t n, float *lp) {
    int32_t i, best = 0;
    double sum = 0.0, lse;
    float mx = logits[0];
    for (i = 1; i < n; i++)
        if (logits[i] > mx) mx = logits[i], best = i;
    for (i = 0; i < n; i++) sum += exp((double)(logits[i] - mx));
    lse = (double)mx + log(sum);
    for (i = 0; i < n; i++) lp[i] = (float)((double)logits[i] - lse);
    return best;
}

static int run_perplexity(const options *o, ui_state *ui) {
    qlm_model *model = NULL;
    qlm_ctx *ctx = NULL;
    options oc = *o;
    token_vec toks = {0};
    FILE *base = NULL;
    char *tmp_path = NULL;
    float *lp = NULL, *blp = NULL;
    uint16_t *q16 = NULL;
    double *klds = NULL;
    int32_t n_ctx, n_vocab, n_chunk, first, c, j, bos = -1, n_scored = 0;
    int32_t hdr[4];
    run_stat nll = {0, 0, 0}, bnll = {0, 0, 0}, kld = {0, 0, 0}, same = {0, 0, 0};
    int rc, writing = o->kld_base && !o->kld;
    qlm_status st;
    if (oc.n_ctx == 0) oc.n_ctx = 512; /* llama-perplexity's default */
    rc = load_model(&oc, 0, ui, &model);
    if (rc) return rc;
    rc = new_context(&oc, model, &ctx);
    if (rc) goto done;
    n_ctx = qlm_ctx_n_ctx(ctx);
    n_vocab = qlm_model_n_vocab(model);
    {   /* does the model add BOS? (then each chunk starts with it, as in llama.cpp) */
        int32_t n = 0, one[2];
        if (qlm_tokenize(model, "", 0, one, 2, 1, 0, &n) == QLM_OK && n == 1) bos = one[0];
    }
    st = tokenize_text(model, o->prompt, 1, 0, &toks);
    if (st != QLM_OK) {
        fprintf(stderr, "error: cannot tokenize %s: %s\n", o->prompt_file, error_detail(st));
        rc = EXIT_RUNTIME;
        goto done;
    }
    n_chunk = toks.n / n_ctx;
    if (o->n_chunks > 0 && o->n_chunks < n_chunk) n_chunk = o->n_chunks;
    if (n_chunk < 1 || n_ctx < 4) {
        fprintf(stderr, "error: %s has %d tokens: at least one chunk of -c %d is needed\n",
                o->prompt_file, (int)toks.n, (int)n_ctx);
        rc = EXIT_RUNTIME;
        goto done;
    }
    first = n_ctx / 2;
    lp = (float *)malloc((size_t)n_vocab * sizeof *lp);
    blp = (float *)malloc((size_t)n_vocab * sizeof *blp);
    q16 = (uint16_t *)malloc((size_t)n_vocab * sizeof *q16);
    klds = (double *)malloc((size_t)n_chunk * (size_t)n_ctx * sizeof *klds);
    if (!lp || !blp || !q16 || !klds) die_nomem();
    hdr[0] = n_ctx;
    hdr[1] = n_vocab;
    hdr[2] = n_chunk;
    hdr[3] = first;
    if (writing) {
        tmp_path = (char *)xrealloc(NULL, strlen(o->kld_base) + 8);
        sprintf(tmp_path, "%s.tmp", o->kld_base);
        base = fopen(tmp_path, "wb");
        if (!base || fwrite(LOGP_MAGIC, 8, 1, base) != 1 || fwrite(hdr, sizeof hdr, 1, base) != 1 ||
            fwrite(toks.ids, sizeof(int32_t), (size_t)n_chunk * (size_t)n_ctx, base) !=
                (size_t)n_chunk * (size_t)n_ctx) {
            fprintf(stderr, "error: cannot write %s: %s\n", tmp_path, strerror(errno));
            rc = EXIT_RUNTIME;
            goto done;
        }
    } else if (o->kld_base) {
        char magic[8];
        int32_t h[4];
        int32_t *bt = (int32_t *)malloc((size_t)n_chunk * (size_t)n_ctx * sizeof *bt);
        base = fopen(o->kld_base, "rb");
        if (!bt) die_nomem();
        if (!base) {
            fprintf(stderr, "error: cannot open %s: %s\n", o->kld_base, strerror(errno));
            free(bt);
            rc = EXIT_RUNTIME;
            goto done;
        }
        if (fread(magic, 8, 1, base) != 1 || memcmp(magic, LOGP_MAGIC, 8) != 0 ||
            fread(h, sizeof h, 1, base) != 1) {
            fprintf(stderr, "error: %s is not a log-probability file written by qlm perplexity\n",
                    o->kld_base);
            free(bt);
            rc = EXIT_RUNTIME;
            goto done;
        }
        if (h[0] != n_ctx || h[1] != n_vocab || h[2] < n_chunk || h[3] != first ||
            fread(bt, sizeof(int32_t), (size_t)n_chunk * (size_t)n_ctx, base) !=
                (size_t)n_chunk * (size_t)n_ctx ||
            memcmp(bt, toks.ids, (size_t)n_chunk * (size_t)n_ctx * sizeof(int32_t)) != 0) {
            fprintf(stderr,
                    "error: %s was made with other settings (n_ctx %d, n_vocab %d, %d chunks) "
                    "or another text; this run: n_ctx %d, n_vocab %d, %d chunks\n",
                    o->kld_base, (int)h[0], (int)h[1], (int)h[2], (int)n_ctx, (int)n_vocab,
                    (int)n_chunk);
            free(bt);
            rc = EXIT_RUNTIME;
            goto done;
        }
        if (h[2] > n_chunk) /* skip the token ids of chunks this run does not score */
            fseek(base, (long)((size_t)(h[2] - n_chunk) * (size_t)n_ctx * sizeof(int32_t)), SEEK_CUR);
        free(bt);
    }
    fprintf(stderr, "perplexity: %d tokens, %d chunks of %d, scoring the last %d of each\n",
            (int)toks.n, (int)n_chunk, (int)n_ctx, (int)(n_ctx - first - 1));
    g_ctx = ctx;
    g_busy = 1;
    for (c = 0; c < n_chunk && !g_sigint; c++) {
        int32_t *chunk = toks.ids + (size_t)c * (size_t)n_ctx, keep0 = chunk[0];
        double t0 = now_ms();
        if (bos >= 0) chunk[0] = bos;
        qlm_ctx_truncate(ctx, 0);
        st = decode_tokens(ctx, chunk, first, oc.n_batch, NULL);
        if (st == QLM_OK) st = qlm_decode(ctx, chunk + first, n_ctx - first, 1);
        chunk[0] = keep0;
        if (st != QLM_OK) {
            fprintf(stderr, "error: %s\n", ctx_error(ctx, st));
            rc = EXIT_RUNTIME;
            goto done;
        }
        for (j = first; j < n_ctx - 1; j++) {
            int32_t next = chunk[j + 1], top = log_softmax(qlm_logits(ctx, j - first), n_vocab, lp);
            stat_add(&nll, -(double)lp[next]);
            if (writing) { /* 16-bit codes over [max - 40, max]: e^-40 is below any use */
                float hi = lp[top], lo = hi - 40.0f, sc = (hi - lo) / 65535.0f;
                int32_t v;
                for (v = 0; v < n_vocab; v++) {
                    float x = lp[v] < lo ? lo : lp[v];
                    q16[v] = (uint16_t)lrintf((x - lo) / sc);
                }
                if (fwrite(&lo, 4, 1, base) != 1 || fwrite(&sc, 4, 1, base) != 1 ||
                    fwrite(q16, 2, (size_t)n_vocab, base) != (size_t)n_vocab) {
                    fprintf(stderr, "error: cannot write %s: %s\n", tmp_path, strerror(errno));
                    rc = EXIT_RUNTIME;
                    goto done;
                }
            } else if (base) {
                float lo, sc;
                double k = 0.0, bsum = 0.0;
                int32_t v, btop = 0;
                if (fread(&lo, 4, 1, base) != 1 || fread(&sc, 4, 1, base) != 1 ||
                    fread(q16, 2, (size_t)n_vocab, base) != (size_t)n_vocab) {
                    fprintf(stderr, "error: %s is truncated\n", o->kld_base);
                    rc = EXIT_RUNTIME;
                    goto done;
                }
                for (v = 0; v < n_vocab; v++) {
                    blp[v] = lo + sc * (float)q16[v];
                    if (q16[v] > q16[btop]) btop = v;
                    bsum += exp((double)blp[v]);
                }
                for (v = 0; v < n_vocab; v++) { /* renormalise what the codes rounded */
                    double b = (double)blp[v] - log(bsum), p = exp(b);
                    k += p * (b - (double)lp[v]);
                    if (v == next) stat_add(&bnll, -b);
                }
                if (k < 0) k = 0;
                klds[n_scored] = k;
                stat_add(&kld, k);
                stat_add(&same, btop == top ? 1.0 : 0.0);
            }
            n_scored++;
        }
        if (c == 0)
            fprintf(stderr, "perplexity: %.2f s per chunk, ~%.1f min in all\n", (now_ms() - t0) / 1e3,
                    (now_ms() - t0) * n_chunk / 60e3);
        printf("[%d]%.4f,", (int)c + 1, exp(stat_mean(&nll)));
        fflush(stdout);
    }
    g_busy = 0;
    printf("\n");
    if (g_sigint) {
        fputs("interrupted\n", stderr);
        rc = EXIT_INTERRUPTED;
        goto done;
    }
    printf("Final estimate: PPL = %.4f +/- %.5f (%d tokens)\n", exp(stat_mean(&nll)),
           exp(stat_mean(&nll)) * stat_err(&nll), (int)nll.n);
    if (writing) {
        if (fclose(base) != 0 || rename(tmp_path, o->kld_base) != 0) {
            base = NULL;
            fprintf(stderr, "error: cannot write %s: %s\n", o->kld_base, strerror(errno));
            rc = EXIT_RUNTIME;
            goto done;
        }
        base = NULL;
        printf("log-probabilities written to %s\n", o->kld_base);
    } else if (base) {
        qsort(klds, (size_t)n_scored, sizeof *klds, cmp_double);
        printf("Base PPL     : %.4f +/- %.5f\n", exp(stat_mean(&bnll)),
               exp(stat_mean(&bnll)) * stat_err(&bnll));
        printf("Mean KLD     : %.6f +/- %.6f\n", stat_mean(&kld), stat_err(&kld));
        printf("99.0%% KLD    : %.6f\n", klds[(size_t)((n_scored - 1) * 0.99)]);
        printf("Maximum KLD  : %.6f\n", klds[n_scored - 1]);
        printf("Same top p   : %.3f +/- %.3f %%\n", 100.0 * stat_mean(&same), 100.0 * stat_err(&same));
    }
done:
    g_busy = 0;
    if (base) fclose(base);
    if (tmp_path && rc) remove(tmp_path);
    free(tmp_path);
    free(lp);
    free(blp);
    free(q16);
    free(klds);
    free(toks.ids);
    qlm_ctx_free(ctx);
    qlm_model_free(model);
    return rc;
}

/* >>synth ----------------------------------------------------------------------------------- */
static int synth_progress(float f, void *user) {
    ui_state *ui = (ui_state *)user;
    if (ui->tty) fprintf(stderr, "\rwriting synthetic model %3d%%", (int)(f * 100));
    return g_sigint != 0;
}

static int run_synth(const options *o, ui_state *ui) {
    qlm_synth_params sp;
    const char *shape = o->shape ? o->shape : "smollm2", *type = o->type ? o->type : "q4_0";
    qlm_status st;
    static const struct {
        const char *name;
        qlm_type type;
        int mix;
    } types[] = {{"q4_0", QLM_TYPE_Q4_0, 0}, {"q4_1", QLM_TYPE_Q4_1, 0}, {"q5_0", QLM_TYPE_Q5_0, 0},
                 {"q5_1", QLM_TYPE_Q5_1, 0}, {"q8_0", QLM_TYPE_Q8_0, 0}, {"q2_k", QLM_TYPE_Q2_K, 0},
                 {"q3_k", QLM_TYPE_Q3_K, 0}, {"q4_k", QLM_TYPE_Q4_K, 0}, {"q5_k", QLM_TYPE_Q5_K, 0},
                 {"q6_k", QLM_TYPE_Q6_K, 0}, {"q4_k_m", QLM_TYPE_Q4_K, 1},
                 {"q5_k_m", QLM_TYPE_Q5_K, 1}, {"f16", QLM_TYPE_F16, 0}, {"bf16", QLM_TYPE_BF16, 0}};
    size_t i;
    memset(&sp, 0, sizeof sp);
    for (i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcmp(type, types[i].name) == 0) break;
    if (i == sizeof types / sizeof types[0])
        return usage_error("synth: unknown --type '%s' (q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k "
                           "q5_k q6_k q4_k_m q5_k_m f16 bf16)", type);
    sp.type = types[i].type;
    sp.mix_k_m = types[i].mix;
    sp.seed = 1;
    sp.arch = o->arch;
    if (strcmp(shape, "smollm2") == 0) {
        /* the defaults: SmolLM2-135M */
    } else if (strcmp(shape, "llama1b") == 0) { /* Llama-3.2-1B */
        sp.n_embd = 2048; sp.n_layer = 16; sp.n_head = 32; sp.n_head_kv = 8; sp.n_ff = 8192;
        sp.n_vocab = 128256; sp.rope_base = 500000.0f; sp.n_ctx_train = 131072;
    } else {
        return usage_error("synth: unknown --shape '%s' (smollm2, llama1b)", shape);
    }
    st = qlm_write_synthetic(o->out_path, o->model_path, sp, synth_progress, ui);
    if (ui->tty) fputs("\r\033[K", stderr);
    if (st != QLM_OK) {
        fprintf(stderr, "error: synth: %s\n", error_detail(st));
        return EXIT_RUNTIME;
    }
    fprintf(stderr, "wrote %s (%s, %s)\n", o->out_path, shape, type);
    return 0;
}

/* >>quantize -------------------------------------------------------------------------------- */
static const char quantize_usage[] =
    "usage: qlm quantize IN.gguf OUT.gguf TYPE [options]\n"
    "\n"
    "  TYPE  F32 F16 BF16 Q8_0 Q5_0 Q5_1 Q4_0 Q4_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
    "        Q5_K_S Q5_K_M Q6_K (Q3_K, Q4_K, Q5_K mean the _M mixes, as in llama.cpp) or FP8\n"
    "        (E4M3 with a scale per 32 weights; qlm only: llama.cpp cannot load it).\n"
    "        The mixes give some tensors more bits exactly as llama-quantize does; a block\n"
    "        that does not divide a row falls back as llama.cpp's does. Norms and other 1-D\n"
    "        tensors are copied. Already quantised input is dequantised first.\n"
    "\n"
    "options:\n"
    "  --imatrix FILE            importance matrix (llama.cpp's imatrix GGUF or .dat):\n"
    "                            weighted least squares per block, as llama-quantize\n"
    "  --method rtn|awq|gptq     rtn (default): round to each block's best scale;\n"
    "                            awq: per-channel scales searched on calibration\n"
    "                            activations, folded into the preceding norm;\n"
    "                            gptq: column-by-column rounding with error feedback\n"
    "                            through the inverse Hessian of the calibration inputs\n"
    "  --calib FILE              calibration text (needed by awq and gptq)\n"
    "  -c, --ctx-size N          tokens per calibration chunk (default 512)\n"
    "  --chunks N                calibration chunks (default 8)\n"
    "  --gptq-damp F             GPTQ: F times the mean of diag(H) added to the diagonal\n"
    "                            (default 0.01; larger trusts the calibration text less)\n"
    "  --tensor-type REGEX=TYPE  force TYPE on tensors whose name matches REGEX (POSIX\n"
    "                            extended, searched; first match wins; repeatable)\n"
    "  --pure                    every matrix gets TYPE (no per-tensor rules)\n"
    "  -t, --threads N           threads (default: physical cores)\n"
    "  -v, --verbose             print informational messages\n"
    "\n"
    "The output is written to OUT.tmp and renamed to OUT when complete.\n";

static const char imatrix_usage[] =
    "usage: qlm imatrix -m MODEL.gguf -f TEXT -o OUT.gguf [options]\n"
    "\n"
    "Runs TEXT through the model and stores, for every matrix of every layer, the sum of\n"
    "the squares of each input column and the number of tokens, in llama.cpp's imatrix\n"
    "GGUF format (<name>.in_sum2, <name>.counts; usable by llama-quantize --imatrix).\n"
    "\n"
    "options:\n"
    "  -c, --ctx-size N          tokens per chunk (default 512)\n"
    "  --chunks N                chunks to process (default: all of the text)\n"
    "  -t, --threads N           threads (default: physical cores)\n"
    "  -v, --verbose             print informational messages\n";

typedef struct {
    ui_state *ui;
    double t0;
    int last_index;
    int last_pct;
} quant_ui;

static void format_eta(double s, char *buf, size_t cap) {
    long v = (long)(s + 0.5);
    if (!(s >= 0) || s > 360000) snprintf(buf, cap, "--:--");
    else if (v >= 3600) snprintf(buf, cap, "%ld:%02ld:%02ld", v / 3600, v / 60 % 60, v % 60);
    else snprintf(buf, cap, "%ld:%02ld", v / 60, v % 60);
}

static int on_quant_progress(const qlm_quantize_progress *p, void *user) {
    quant_ui *q = (quant_ui *)user;
    double el = (now_ms() - q->t0) / 1e3;
    char eta[32], bar[21];
    int k, pct = (int)(p->fraction * 100.0f + 0.5f);
    if (g_sigint) return 1;
    format_eta(p->fraction > 0.001f ? el / p->fraction * (1.0 - p->fraction) : -1, eta, sizeof eta);
    for (k = 0; k < 20; k++) bar[k] = k < (int)(p->fraction * 20.0f + 0.5f) ? '#' : ' ';
    bar[20] = 0;
    if (q->ui->tty) {
        if (p->calibrating)
            fprintf(stderr, "\r\033[K[%4d/%4d] %-44.44s [%s] %3d%% ETA %s", p->index + 1, p->count,
                    p->name, bar, pct, eta);
        else
            fprintf(stderr, "\r\033[K[%4d/%4d] %-32.32s %6s -> %-8s [%s] %3d%% ETA %s",
                    p->index + 1, p->count, p->name, qlm_type_name(p->from),
                    qlm_type_name(p->to), bar, pct, eta);
        fflush(stderr);
        q->ui->bar_shown = 1;
    } else if (!p->calibrating && (p->index != q->last_index || pct - q->last_pct >= 10)) {
        fprintf(stderr, "[%4d/%4d] %-32s %6s -> %-8s %3d%% ETA %s\n", p->index + 1, p->count,
                p->name, qlm_type_name(p->from), qlm_type_name(p->to), pct, eta);
        q->last_index = p->index;
        q->last_pct = pct;
    }
    return 0;
}

static int quant_need_value(int argc, char **argv, int i) {
    if (i + 1 >= argc) {
        usage_error("option '%s' needs a value", argv[i]);
        return 0;
    }
    return 1;
}

static int run_quantize(int argc, char **argv) {
    qlm_quantize_params qp = qlm_quantize_default_params();
    const char *pos[3] = {NULL, NULL, NULL}, *calib_path = NULL;
    const char **tt = (const char **)xrealloc(NULL, (size_t)(argc + 1) * sizeof *tt);
    int n_pos = 0, n_tt = 0, i, rc = 0;
    ui_state ui;
    quant_ui q;
    char *calib = NULL;
    size_t calib_len = 0;
    qlm_status st;
    memset(&ui, 0, sizeof ui);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(quantize_usage, stdout);
            free(tt);
            return 0;
        } else if (strcmp(a, "--imatrix") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            qp.imatrix_path = argv[++i];
        } else if (strcmp(a, "--method") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            a = argv[++i];
            if (strcmp(a, "rtn") == 0) qp.method = QLM_QUANT_RTN;
            else if (strcmp(a, "awq") == 0) qp.method = QLM_QUANT_AWQ;
            else if (strcmp(a, "gptq") == 0) qp.method = QLM_QUANT_GPTQ;
            else {
                usage_error("quantize: unknown --method '%s' (rtn, awq, gptq)", a);
                goto usage;
            }
        } else if (strcmp(a, "--calib") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            calib_path = argv[++i];
        } else if (strcmp(a, "--tensor-type") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            tt[n_tt++] = argv[++i];
        } else if (strcmp(a, "--pure") == 0) {
            qp.pure = 1;
        } else if (strcmp(a, "--gptq-damp") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            if (!parse_float(argv[i + 1], &qp.gptq_damp) || !(qp.gptq_damp > 0)) {
                usage_error("option '%s' needs a positive number, got '%s'", a, argv[i + 1]);
                goto usage;
            }
            i++;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            ui.verbose = 1;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "-c") == 0 ||
                   strcmp(a, "--ctx-size") == 0 || strcmp(a, "--chunks") == 0) {
            if (!quant_need_value(argc, argv, i)) goto usage;
            if (!parse_int(argv[i + 1], 1, 1 << 20, &v)) {
                usage_error("option '%s' needs an integer in [1, %d], got '%s'", a, 1 << 20, argv[i + 1]);
                goto usage;
            }
            i++;
            if (a[1] == 't' || strcmp(a, "--threads") == 0) qp.n_threads = (int32_t)v;
            else if (a[1] == 'c' || strcmp(a, "--ctx-size") == 0) qp.calib_ctx = (int32_t)v;
            else qp.calib_chunks = (int32_t)v;
        } else if (a[0] == '-' && a[1] != '\0') {
            usage_error("quantize: unknown option '%s'", a);
            goto usage;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            usage_error("quantize: unexpected argument '%s'", a);
            goto usage;
        }
    }
    if (n_pos < 3) {
        usage_error("quantize: needs IN.gguf OUT.gguf TYPE");
        goto usage;
    }
    if (qp.method != QLM_QUANT_RTN && !calib_path) {
        usage_error("quantize: --method %s needs --calib TEXT", qp.method == QLM_QUANT_AWQ ? "awq" : "gptq");
        goto usage;
    }
    if (calib_path) {
        calib = read_file(calib_path, &calib_len);
        if (!calib) {
            fprintf(stderr, "error: cannot read calibration text '%s': %s\n", calib_path, strerror(errno));
            free(tt);
            return EXIT_RUNTIME;
        }
    }
    tt[n_tt] = NULL;
    ui.tty = isatty(STDERR_FILENO);
    memset(&q, 0, sizeof q);
    q.ui = &ui;
    q.t0 = now_ms();
    q.last_index = -1;
    qp.type = pos[2];
    qp.calib_text = calib;
    qp.calib_len = calib_len;
    qp.tensor_types = n_tt ? tt : NULL;
    qp.log_fn = on_log;
    qp.log_user = &ui;
    qp.progress_fn = on_quant_progress;
    qp.progress_user = &q;
    install_sigint();
    st = qlm_quantize(pos[0], pos[1], qp);
    clear_bar(&ui);
    if (st == QLM_OK) {
        fprintf(stderr, "wrote %s (%s) in %.1f s\n", pos[1], pos[2], (now_ms() - q.t0) / 1e3);
    } else if (st == QLM_ERR_CANCELLED && g_sigint) {
        fputs("interrupted: no output written\n", stderr);
        rc = EXIT_INTERRUPTED;
    } else {
        fprintf(stderr, "error: quantize: %s\n", error_detail(st));
        rc = st == QLM_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_RUNTIME;
    }
    free(calib);
    free(tt);
    return rc;
usage:
    free(tt);
    return EXIT_USAGE;
}

static int imatrix_progress(float f, void *user) {
    quant_ui *q = (quant_ui *)user;
    double el = (now_ms() - q->t0) / 1e3;
    char eta[32];
    if (g_sigint) return 1;
    format_eta(f > 0.001f ? el / f * (1.0 - f) : -1, eta, sizeof eta);
    if (q->ui->tty) {
        fprintf(stderr, "\r\033[Kimatrix: %3d%% ETA %s", (int)(f * 100.0f + 0.5f), eta);
        fflush(stderr);
        q->ui->bar_shown = 1;
    }
    return 0;
}

static int run_imatrix(int argc, char **argv) {
    qlm_imatrix_params ip = qlm_imatrix_default_params();
    const char *model = NULL, *text_path = NULL, *out = NULL;
    char *text;
    size_t len = 0;
    ui_state ui;
    quant_ui q;
    qlm_status st;
    int i;
    memset(&ui, 0, sizeof ui);
    for (i = 2; i < argc; i++) {
        const char *a = argv[i];
        long long v;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            fputs(imatrix_usage, stdout);
            return 0;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            ui.verbose = 1;
        } else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0 || strcmp(a, "-f") == 0 ||
                   strcmp(a, "--file") == 0 || strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (!quant_need_value(argc, argv, i)) return EXIT_USAGE;
            if (a[1] == 'm' || strcmp(a, "--model") == 0) model = argv[++i];
            else if (a[1] == 'f' || strcmp(a, "--file") == 0) text_path = argv[++i];
            else out = argv[++i];
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "-c") == 0 ||
                   strcmp(a, "--ctx-size") == 0 || strcmp(a, "--chunks") == 0) {
            if (!quant_need_value(argc, argv, i)) return EXIT_USAGE;
            if (!parse_int(argv[i + 1], 1, 1 << 20, &v))
                return usage_error("option '%s' needs an integer in [1, %d], got '%s'", a, 1 << 20,
                                   argv[i + 1]);
            i++;
            if (a[1] == 't' || strcmp(a, "--threads") == 0) ip.n_threads = (int32_t)v;
            else if (a[1] == 'c' || strcmp(a, "--ctx-size") == 0) ip.n_ctx = (int32_t)v;
            else ip.n_chunks = (int32_t)v;
        } else {
            return usage_error("imatrix: unknown %s '%s'", a[0] == '-' ? "option" : "argument", a);
        }
    }
    if (!model || !text_path || !out) return usage_error("imatrix: needs -m MODEL, -f TEXT and -o OUT");
    text = read_file(text_path, &len);
    if (!text) {
        fprintf(stderr, "error: cannot read text '%s': %s\n", text_path, strerror(errno));
        return EXIT_RUNTIME;
    }
    ui.tty = isatty(STDERR_FILENO);
    memset(&q, 0, sizeof q);
    q.ui = &ui;
    q.t0 = now_ms();
    ip.dataset = text_path;
    ip.log_fn = on_log;
    ip.log_user = &ui;
    ip.progress_fn = imatrix_progress;
    ip.progress_user = &q;
    install_sigint();
    st = qlm_imatrix(model, text, len, out, ip);
    clear_bar(&ui);
    free(text);
    if (st == QLM_OK) {
        fprintf(stderr, "wrote %s in %.1f s\n", out, (now_ms() - q.t0) / 1e3);
        return 0;
    }
    if (st == QLM_ERR_CANCELLED && g_sigint) {
        fputs("interrupted: no output written\n", stderr);
        return EXIT_INTERRUPTED;
    }
    fprintf(stderr, "error: imatrix: %s\n", error_detail(st));
    return st == QLM_ERR_INVALID_ARG ? EXIT_USAGE : EXIT_RUNTIME;
}

int main(int argc, char **argv) {
    options o;
    ui_state ui;
    int rc;
    if (argc >= 2 && strcmp(argv[1], "quantize") == 0) return run_quantize(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "imatrix") == 0) return run_imatrix(argc, argv);
    rc = parse_args(argc, argv, &o);
    if (rc >= 0) goto done;
    rc = load_prompt(&o);
    if (rc) goto done;

    memset(&ui, 0, sizeof ui);
    ui.verbose = o.verbose;
    ui.tty = isatty(STDERR_FILENO);
    install_sigint();

    switch (o.mode) {
    case MODE_CHAT: rc = run_chat(&o, &ui); break;
    case MODE_TOKENIZE: rc = run_tokenize(&o, &ui); break;
    case MODE_INFO: rc = run_info(&o, &ui); break;
    case MODE_BENCH: rc = run_bench(&o, &ui); break;
    case MODE_SYNTH: rc = run_synth(&o, &ui); break;
    case MODE_PLAN: rc = run_plan(&o, &ui); break;
    case MODE_PPL: rc = run_perplexity(&o, &ui); break;
    default: rc = run_generate(&o, &ui); break;
    }
done:
    free(o.prompt);
    free(o.system_prompt);
    return rc;
}
