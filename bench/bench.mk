# bench/bench.mk - builds the runtime benchmarks and runs them (`make bench`).
#
# Included at the end of the top-level Makefile (`-include bench/bench.mk`),
# which gives `bench` its deps-bench prerequisite and builds the library;
# every path is relative to the repository root, where make runs.  Also
# usable alone (then nothing builds the library):
#     make -f bench/bench.mk bench-build
#
# Three programs, one per implementation of the same benchmark shapes:
#   build/bench/tsk_bench      bench/tsk_bench.c + build/lib/libtaskscope.a
#   build/bench/pthread_bench  bench/pthread_bench.c (plain pthreads, no library)
#   build/bench/go_bench       bench/go/*.go (stdlib only, built offline)
# Every bench/*.c becomes build/bench/<name>; those named pthread_*.c are
# baselines and do not link the library.  The flags are our own (-O2, no
# sanitizers, not the user's CFLAGS), so the numbers mean the same thing on
# every machine; a SANITIZE build is refused.
#
# `make bench` runs bench/run.sh, which prints the Markdown table and saves
# it to build/bench/results.md.  BENCH_RUNS=N (default 5) sets the rounds,
# BENCH_ONLY="yield pingpong" picks rows (see bench/README.md).

BENCH_OUT        := build/bench
# The plain (-O2, unsanitized) static library; LIB_A when the top-level
# Makefile defines it.
BENCH_LIB        := $(if $(SANITIZE),build/lib/libtaskscope.a,$(or $(LIB_A),build/lib/libtaskscope.a))
BENCH_CFLAGS     := -std=gnu11 -O2 -g -Wall -Wextra -Wformat=2 -Wmissing-prototypes \
                    -Wshadow -Wwrite-strings
BENCH_CPPFLAGS   := -Iruntime/include -MMD -MP
# What the static library needs to link (the fragments append to
# TSK_LIB_LDLIBS, so this is expanded late).
BENCH_LIB_LDLIBS  = $(or $(TSK_LIB_LDLIBS),-pthread)
GO               ?= go
# Quiet by default, full commands with V=1, like the rest of the build.
BENCH_Q          := $(if $(filter 1,$(V)),,@)
bench_msg         = $(if $(BENCH_Q),@printf '  %-6s %s\n' '$(1)' '$(2)')

BENCH_C_SRCS     := $(wildcard bench/*.c)
BENCH_BASE_SRCS  := $(filter bench/pthread_%.c,$(BENCH_C_SRCS))
BENCH_TSK_SRCS   := $(filter-out $(BENCH_BASE_SRCS),$(BENCH_C_SRCS))
BENCH_BASE_BINS  := $(patsubst bench/%.c,$(BENCH_OUT)/%,$(BENCH_BASE_SRCS))
BENCH_TSK_BINS   := $(patsubst bench/%.c,$(BENCH_OUT)/%,$(BENCH_TSK_SRCS))
BENCH_GO_SRCS    := $(wildcard bench/go/*.go) bench/go/go.mod
BENCH_GO_BIN     := $(BENCH_OUT)/go_bench
BENCH_BINS       := $(BENCH_TSK_BINS) $(BENCH_BASE_BINS) $(BENCH_GO_BIN)

# Go builds offline: stdlib only, module mode with a dependency-free go.mod,
# caches under build/ so nothing is written to $HOME.
BENCH_GO_ENV := GOCACHE=$(abspath $(BENCH_OUT)/go-cache) GOPATH=$(abspath $(BENCH_OUT)/gopath) \
                GO111MODULE=on GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0

ifneq ($(SANITIZE),)
ifneq ($(filter bench bench-build,$(MAKECMDGOALS)),)
$(error the benchmarks measure the plain build: run `make bench` without SANITIZE)
endif
endif

.PHONY: bench bench-build bench-clean deps-bench

bench: bench-build
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/run.sh

bench-build: $(BENCH_BINS)

bench-clean:
	rm -rf $(BENCH_OUT)

# The top-level Makefile gives deps-bench its recipe (apt packages: golang-go
# wrk libuv1-dev hyperfine); this recipe-less rule only makes the name
# known when this file is used alone.
deps-bench:

$(BENCH_OUT):
	@mkdir -p $@

$(BENCH_TSK_BINS): $(BENCH_OUT)/%: bench/%.c $(BENCH_LIB) | $(BENCH_OUT) deps-bench
	$(call bench_msg,CC,$@)
	$(BENCH_Q)$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) $< -o $@ $(BENCH_LIB) \
		$(BENCH_LIB_LDLIBS) -pthread

$(BENCH_BASE_BINS): $(BENCH_OUT)/%: bench/%.c | $(BENCH_OUT) deps-bench
	$(call bench_msg,CC,$@)
	$(BENCH_Q)$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) $< -o $@ -pthread

$(BENCH_GO_BIN): $(BENCH_GO_SRCS) | $(BENCH_OUT) deps-bench
	$(call bench_msg,GO,$@)
	$(BENCH_Q)cd bench/go && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

-include $(wildcard $(BENCH_OUT)/*.d)
