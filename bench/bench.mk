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
# and, for the HTTP table (bench/http.sh, wrk against three servers):
#   build/bench/http_hello  examples/http_hello.c + the library (our flags)
#   build/bench/go_http     bench/gohttp/*.go (net/http, stdlib only, offline)
#   build/bench/uv_http     bench/uv_http.c + libuv (pkg-config libuv; without
#                           it a warning, and the table says n/a)
# and, for the probe-overhead table (bench/probes.sh):
#   build/bench/probe_bench         bench/probe_bench.c: probe_emit vs rdtsc
#   build/bench/probe_stream        bench/probe_stream.c: a stream-mode reader
#                                   around a benchmark (the reader library)
#   build/bench/tsk_bench_noprobes  bench/tsk_bench.c + the PROBES=0 library
#                                   (build-noprobes/, made by a sub-make)
#   build/bench/lttng_bench         bench/lttng/*.c + liblttng-ust, when
#                                   pkg-config finds lttng-ust (else the
#                                   table says n/a)
# Every bench/*.c becomes build/bench/<name>; those named pthread_*.c are
# baselines and do not link the library, and uv_http.c links libuv instead.  The flags are our own (-O2, no
# sanitizers, not the user's CFLAGS), so the numbers mean the same thing on
# every machine; a SANITIZE or PROBES=0 build is refused (the bench builds
# both configurations itself).
#
# `make bench` runs bench/run.sh, which prints the Markdown table and saves
# it to build/bench/results.md, then bench/probes.sh, which appends the
# probe-overhead table, then bench/http.sh, which appends the HTTP table;
# `make bench-probes` and `make bench-http` run one of those alone (saved
# to build/bench/probes.md, build/bench/http.md).  BENCH_RUNS=N (default 5;
# 3 for HTTP) sets the rounds, BENCH_ONLY="yield pingpong http" picks rows
# (see bench/README.md).

BENCH_OUT        := build/bench
# The plain (-O2, unsanitized) static library; LIB_A when the top-level
# Makefile defines it.
BENCH_LIB        := $(if $(SANITIZE),build/lib/libtaskscope.a,$(or $(LIB_A),build/lib/libtaskscope.a))
BENCH_CFLAGS     := -std=gnu11 -O2 -g -Wall -Wextra -Wformat=2 -Wmissing-prototypes \
                    -Wshadow -Wwrite-strings
BENCH_CPPFLAGS   := -Iruntime/include -Iprobes/include -MMD -MP
# What the static library needs to link (the fragments append to
# TSK_LIB_LDLIBS, so this is expanded late).
BENCH_LIB_LDLIBS  = $(or $(TSK_LIB_LDLIBS),-pthread)
GO               ?= go
# Quiet by default, full commands with V=1, like the rest of the build.
BENCH_Q          := $(if $(filter 1,$(V)),,@)
bench_msg         = $(if $(BENCH_Q),@printf '  %-6s %s\n' '$(1)' '$(2)')

BENCH_C_SRCS     := $(wildcard bench/*.c)
BENCH_BASE_SRCS  := $(filter bench/pthread_%.c,$(BENCH_C_SRCS))
BENCH_UV_SRCS    := bench/uv_http.c examples/http_parse.h
BENCH_TSK_SRCS   := $(filter-out $(BENCH_BASE_SRCS) $(BENCH_UV_SRCS),$(BENCH_C_SRCS))
BENCH_BASE_BINS  := $(patsubst bench/%.c,$(BENCH_OUT)/%,$(BENCH_BASE_SRCS))
BENCH_TSK_BINS   := $(patsubst bench/%.c,$(BENCH_OUT)/%,$(BENCH_TSK_SRCS))
BENCH_GO_SRCS    := $(wildcard bench/go/*.go) bench/go/go.mod
BENCH_GO_BIN     := $(BENCH_OUT)/go_bench
# The HTTP servers: taskscope's example, Go net/http, libuv.
BENCH_HTTP_TSK_BIN := $(BENCH_OUT)/http_hello
BENCH_GOHTTP_SRCS  := $(wildcard bench/gohttp/*.go) bench/gohttp/go.mod
BENCH_GOHTTP_BIN   := $(BENCH_OUT)/go_http
BENCH_UV_BIN       := $(BENCH_OUT)/uv_http
BENCH_HTTP_BINS    := $(BENCH_HTTP_TSK_BIN) $(BENCH_GOHTTP_BIN) $(BENCH_UV_BIN)
# The same tsk_bench.c against the library with the probes compiled out.
BENCH_NOPROBES_LIB := build-noprobes/lib/libtaskscope.a
BENCH_NOPROBES_BIN := $(BENCH_OUT)/tsk_bench_noprobes
# LTTng-UST, the tracer the probes are compared with; optional.
BENCH_LTTNG_OK   := $(shell pkg-config --exists lttng-ust 2>/dev/null && echo 1)
BENCH_LTTNG_BIN  := $(if $(BENCH_LTTNG_OK),$(BENCH_OUT)/lttng_bench)
BENCH_PROBES_BINS := $(BENCH_OUT)/tsk_bench $(BENCH_OUT)/probe_bench $(BENCH_OUT)/probe_stream \
                     $(BENCH_NOPROBES_BIN) $(BENCH_LTTNG_BIN)
BENCH_BINS       := $(BENCH_TSK_BINS) $(BENCH_BASE_BINS) $(BENCH_GO_BIN) $(BENCH_NOPROBES_BIN) \
                    $(BENCH_LTTNG_BIN) $(BENCH_HTTP_BINS)

# Go builds offline: stdlib only, module mode with a dependency-free go.mod,
# caches under build/ so nothing is written to $HOME.
BENCH_GO_ENV := GOCACHE=$(abspath $(BENCH_OUT)/go-cache) GOPATH=$(abspath $(BENCH_OUT)/gopath) \
                GO111MODULE=on GOFLAGS= GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0

ifneq ($(filter bench bench-build bench-probes bench-http,$(MAKECMDGOALS)),)
ifneq ($(SANITIZE),)
$(error the benchmarks measure the plain build: run `make bench` without SANITIZE)
endif
ifeq ($(PROBES),0)
$(error the benchmarks build the PROBES=0 library themselves: run `make bench` without PROBES=0)
endif
endif

.PHONY: bench bench-build bench-probes bench-http bench-record bench-deadlock bench-tui bench-clean \
	deps-bench \
	bench-noprobes-lib

# The recorder's table runs the plain build's taskscope and evgen; the
# detector's, taskscope and the deadlock zoo (examples/deadlocks/).
BENCH_RECORD_BINS := build/bin/taskscope build/examples/evgen
BENCH_DEADLOCK_BINS := $(BENCH_RECORD_BINS) \
	$(patsubst examples/deadlocks/%.c,build/examples/deadlocks/%,$(wildcard examples/deadlocks/*.c))

bench: bench-build $(BENCH_RECORD_BINS) $(BENCH_DEADLOCK_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/run.sh
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/probes.sh --append
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/http.sh --append
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/record.sh --append
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/deadlock.sh --append
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/tui.sh --append

bench-build: $(BENCH_BINS)

# Only the probe-overhead table (build/bench/probes.md).
bench-probes: $(BENCH_PROBES_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/probes.sh

# Only the recorder's table (build/bench/record.md).
bench-record: $(BENCH_RECORD_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/record.sh

# Only the deadlock detector's table (build/bench/deadlock.md).
bench-deadlock: $(BENCH_DEADLOCK_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/deadlock.sh

# Only the TUI's frame time (build/bench/tui.md).
bench-tui: $(BENCH_DEADLOCK_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/tui.sh

# Only the HTTP table (build/bench/http.md).
bench-http: $(BENCH_HTTP_BINS)
	$(BENCH_Q)BENCH_OUT=$(BENCH_OUT) bench/http.sh

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

# The PROBES=0 library is another configuration of the top-level build, in
# build-noprobes/: a sub-make brings it up to date every time (it is
# incremental), and the program relinks only when the library changed.
# That sub-make reads this file too, with PROBES=0, where the library is its
# own $(LIB_A): these rules must not exist there (they would replace the
# library's recipe by another sub-make, without end).
ifneq ($(PROBES),0)
bench-noprobes-lib:
	+$(BENCH_Q)$(MAKE) PROBES=0 lib

$(BENCH_NOPROBES_LIB): bench-noprobes-lib ;
endif

$(BENCH_NOPROBES_BIN): bench/tsk_bench.c $(BENCH_NOPROBES_LIB) | $(BENCH_OUT) deps-bench
	$(call bench_msg,CC,$@)
	$(BENCH_Q)$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) $< -o $@ $(BENCH_NOPROBES_LIB) \
		$(BENCH_LIB_LDLIBS) -pthread

# The LTTng-UST tracepoint provider (tp.c) is linked in statically, as in
# the LTTng documentation's "statically linked tracepoint provider".
$(BENCH_OUT)/lttng_bench: bench/lttng/lttng_bench.c bench/lttng/tp.c bench/lttng/tp.h \
		bench/bench_util.h | $(BENCH_OUT)
	$(call bench_msg,CC,$@)
	$(BENCH_Q)$(CC) -Ibench -Ibench/lttng $$(pkg-config --cflags lttng-ust) $(BENCH_CFLAGS) \
		bench/lttng/lttng_bench.c bench/lttng/tp.c -o $@ $$(pkg-config --libs lttng-ust) -ldl

$(BENCH_GO_BIN): $(BENCH_GO_SRCS) | $(BENCH_OUT) deps-bench
	$(call bench_msg,GO,$@)
	$(BENCH_Q)cd bench/go && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

$(BENCH_GOHTTP_BIN): $(BENCH_GOHTTP_SRCS) | $(BENCH_OUT) deps-bench
	$(call bench_msg,GO,$@)
	$(BENCH_Q)cd bench/gohttp && $(BENCH_GO_ENV) $(GO) build -o $(abspath $@) .

# The example itself, built with the benchmarks' flags like every program
# here (build/examples/http_hello is the same source with the build's).
$(BENCH_HTTP_TSK_BIN): examples/http_hello.c examples/http_parse.h $(BENCH_LIB) | $(BENCH_OUT) deps-bench
	$(call bench_msg,CC,$@)
	$(BENCH_Q)$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) $< -o $@ $(BENCH_LIB) \
		$(BENCH_LIB_LDLIBS) -pthread

# libuv is found when the recipe runs, after deps-bench had its chance to
# install it: without it, a warning and no program (http.sh: n/a).
$(BENCH_UV_BIN): $(BENCH_UV_SRCS) | $(BENCH_OUT) deps-bench
	$(call bench_msg,CC,$@)
	$(BENCH_Q)if pkg-config --exists libuv 2>/dev/null; then \
		$(CC) $(BENCH_CPPFLAGS) -Iexamples $(BENCH_CFLAGS) $$(pkg-config --cflags libuv) $< -o $@ \
			$$(pkg-config --libs libuv); \
	else \
		echo "bench: libuv not found (pkg-config libuv; Debian: libuv1-dev):" \
			"no $@, the HTTP table says n/a" >&2; \
	fi

-include $(wildcard $(BENCH_OUT)/*.d)
