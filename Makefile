# qlm — `make run` fetches the default model and answers a prompt; `make test` runs the tests.
CC      ?= cc
CFLAGS  ?= -O2 -g
WARN    := -std=c99 -Wall -Wextra -Wpedantic -Wundef
LDLIBS  := -lm -lpthread
MODEL   ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
GEMMA   ?= models/gemma-3-270m-Q4_K_M.gguf
QWEN    ?= models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
QWEN15  ?= models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
PROMPT  ?= The three most useful things to pack for a week of hiking are
BUILD   := build
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

HDRS := qlm.h
TESTS := test_types test_kernels test_kvcache test_tokenizer test_gguf test_model test_quant

QLM_BIN ?= qlm

.PHONY: all run model model-gemma3 model-qwen2 model-qwen2-1.5b test test-asan test-arm clean
all: $(QLM_BIN)

$(QLM_BIN): $(BUILD)/qlm.o $(BUILD)/main.o
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/qlm.o: qlm.c $(HDRS) | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -c qlm.c -o $@
$(BUILD)/main.o: main.c qlm.h | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -c main.c -o $@
$(BUILD):
	mkdir -p $(BUILD)

$(MODEL):
	bash models/fetch.sh smollm2
$(GEMMA):
	bash models/fetch.sh gemma3
$(QWEN):
	bash models/fetch.sh qwen2
$(QWEN15):
	bash models/fetch.sh qwen2-1.5b
model: $(MODEL)
model-gemma3: $(GEMMA)
model-qwen2: $(QWEN)
model-qwen2-1.5b: $(QWEN15) # benchmarks only; not used by the tests

run: qlm $(MODEL)
	./qlm -m $(MODEL) -p "$(PROMPT)" -n 64 --temp 0

# --- tests ----------------------------------------------------------------------------------
# test_model uses the public API only and links the runtime; the others include it.
$(BUILD)/test_model: test/test_model.c $(BUILD)/qlm.o qlm.h
	$(CC) $(WARN) $(CFLAGS) -I. test/test_model.c $(BUILD)/qlm.o -o $@ $(LDLIBS)
$(BUILD)/%: test/%.c $(HDRS) | $(BUILD)
	$(CC) $(WARN) $(CFLAGS) -I. $< -o $@ $(LDLIBS)

test: $(QLM_BIN) $(MODEL) $(GEMMA) $(QWEN) $(addprefix $(BUILD)/,$(TESTS))
	@QLM_TEST_GEMMA=$(GEMMA) QLM_TEST_QWEN=$(QWEN) bash test/run.sh $(BUILD) ./$(QLM_BIN) $(MODEL)

# the whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, in its own build dir
# (every golden prompt is evaluated; greedy decoding is cut to 8 steps to keep it under ~15 min)
test-asan: $(MODEL) $(GEMMA) $(QWEN)
	ASAN_OPTIONS=detect_leaks=1 QLM_GOLDEN_STEPS=8 $(MAKE) --no-print-directory test BUILD=build-asan \
	    CFLAGS="-O1 -g $(SAN)" QLM_BIN=qlm-asan

# aarch64: the NEON kernels and the CLI under qemu-user (needs gcc-aarch64-linux-gnu, qemu-user)
test-arm: $(QLM_BIN) $(MODEL)
	@bash test/run_arm.sh $(MODEL)

clean:
	rm -rf $(BUILD) build-arm build-asan qlm qlm-asan
