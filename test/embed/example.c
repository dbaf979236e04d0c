/* How another project embeds qlm: a copy of qlm.h, one file with QLM_IMPLEMENTATION.
   test/embed/run.sh builds this as C99 and as C++ with -Wall -Wextra -Werror. */
#define QLM_IMPLEMENTATION
#include "qlm.h"
static int on_piece(const char *piece, int32_t tok, void *user) {
    (void)tok; (void)user; fputs(piece, stdout); fflush(stdout); return 0;
}
int main(int argc, char **argv) {
    qlm_model *m; qlm_ctx *c;
    if (argc < 2 || qlm_model_load(argv[1], qlm_model_default_params(), &m) != QLM_OK) return 1;
    if (qlm_ctx_new(m, qlm_ctx_default_params(), &c) != QLM_OK) return 1;
    qlm_generate(c, "The capital of France is", 32, on_piece, NULL);
    qlm_ctx_free(c); qlm_model_free(m);
    return 0;
}
