# Makefile - the one build of taskscope.
#
# GNU make only.  This file holds what every module shares: the build
# directory, the flags, the generic compile rules, the library, install,
# the test and CI entry points.  Each module brings a fragment that only
# lists its sources and outputs:
#
#   runtime/runtime.mk    runtime sources        -> TSK_LIB_OBJS
#   tests/tests.mk        cmocka test binaries   -> TSK_TEST_BINS
#   examples/examples.mk  example programs       -> TSK_EXAMPLE_BINS
#   bench/bench.mk        optional, owned by bench/ (provides the `bench' recipe)
#   probes/probes.mk      probes sources (segment writer, reader) -> TSK_LIB_OBJS
#   fuzz/fuzz.mk          fuzzers in build-fuzz/: `make fuzz', `make fuzz-check'
#
# Adding a module (probes/, inspector/, tui/) is adding its fragment to
# MODULE_FRAGMENTS below: a fragment appends to TSK_LIB_OBJS (code that goes
# into libtaskscope), TSK_LIB_LDLIBS (what the library needs to link),
# TSK_BIN_TARGETS (programs built by `all'), TSK_TEST_BINS and may add
# pattern-specific flags for its own objects, e.g.
#   $(BUILD)/obj/inspector/%.o: private MODULE_CFLAGS += -Iinspector/include
# (`private' keeps prerequisites such as the flags stamp from inheriting it).
#
# Objects never leave the build directory: build/ for a normal build,
# build-$(SANITIZE)/ for a sanitizer build, so the two never mix.  Each
# build directory records the flags it was built with ($(BUILD)/.flags);
# changing CFLAGS, WERROR or the compiler rebuilds everything in it.
#
# Knobs (command line or environment):
#   V=1                 print full commands instead of "  CC  file"
#   WERROR=1            add -Werror (CI does)
#   SANITIZE=address    ASan + UBSan       (build-address/)
#   SANITIZE=undefined  UBSan alone        (build-undefined/)
#   SANITIZE=thread     TSan               (build-thread/)
#   CC, CFLAGS, CPPFLAGS, LDFLAGS          appended to ours
#   PREFIX=/usr/local, DESTDIR=            for `make install'
#   PROBES=0            compile the probes out   (build-noprobes/)
#   T=filter            only run test binaries whose name contains filter
#                       (`make check')

.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:
MAKEFLAGS += --no-builtin-rules --no-print-directory

# ---- configuration ---------------------------------------------------------

V        ?= 0
WERROR   ?= 0
SANITIZE ?=
PREFIX   ?= /usr/local
DESTDIR  ?=
T        ?=

ifeq ($(SANITIZE),)
BUILD    := build
OPTFLAGS := -O2
SANFLAGS :=
else ifeq ($(SANITIZE),address)
# ASan and UBSan together.  No recovery, so that a UBSan report fails the
# test that caused it instead of scrolling past in its log.
BUILD    := build-address
OPTFLAGS := -O1
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else ifeq ($(SANITIZE),undefined)
BUILD    := build-undefined
OPTFLAGS := -O1
SANFLAGS := -fsanitize=undefined -fno-sanitize-recover=all
else ifeq ($(SANITIZE),thread)
BUILD    := build-thread
OPTFLAGS := -O1
SANFLAGS := -fsanitize=thread
else
$(error SANITIZE must be empty, address, undefined or thread (got '$(SANITIZE)'))
endif

# PROBES=0 compiles the probes out of the runtime (for the overhead
# benchmarks), in its own build directory.
PROBES ?= 1
ifeq ($(PROBES),0)
BUILD := $(BUILD)-noprobes
PROBES_CPPFLAGS := -DTSK_PROBES=0
else
PROBES_CPPFLAGS :=
endif

# The machine we compile for (not the one we run on), for the assembly glob.
TSK_ARCH := $(firstword $(subst -, ,$(shell $(CC) -dumpmachine 2>/dev/null)))

WARNFLAGS := -Wall -Wextra -Wformat=2 -Wmissing-prototypes -Wshadow -Wwrite-strings
ifeq ($(WERROR),1)
WARNFLAGS += -Werror
endif

# MODULE_CFLAGS is set per directory by the fragments (pattern-specific,
# `private').
TSK_CPPFLAGS := -D_GNU_SOURCE -Iruntime/include -Iruntime/src -Iprobes/include $(PROBES_CPPFLAGS)
TSK_CFLAGS   := -std=gnu11 $(OPTFLAGS) -g -fPIC -pthread $(WARNFLAGS) $(SANFLAGS)
TSK_ASFLAGS  := -g -fPIC -Wa,--noexecstack $(SANFLAGS)
TSK_LDFLAGS  := -pthread $(SANFLAGS)

ALL_CFLAGS   = $(strip $(TSK_CPPFLAGS) $(MODULE_CFLAGS) $(CPPFLAGS) $(TSK_CFLAGS) $(CFLAGS))
ALL_ASFLAGS  = $(strip $(TSK_CPPFLAGS) $(MODULE_CFLAGS) $(CPPFLAGS) $(TSK_ASFLAGS))
ALL_LDFLAGS  = $(strip $(TSK_LDFLAGS) $(LDFLAGS))

# Version, from the public header (one place to bump it).
TSK_VERSION_MAJOR := $(or $(shell sed -n 's/^.define TSK_VERSION_MAJOR[[:space:]]*\([0-9]*\).*/\1/p' runtime/include/taskscope.h),0)
TSK_VERSION_MINOR := $(or $(shell sed -n 's/^.define TSK_VERSION_MINOR[[:space:]]*\([0-9]*\).*/\1/p' runtime/include/taskscope.h),0)
TSK_VERSION       := $(TSK_VERSION_MAJOR).$(TSK_VERSION_MINOR)

# ---- quiet output ------------------------------------------------------------

ifeq ($(V),1)
Q   :=
msg  =
else
Q   := @
msg  = @printf '  %-7s %s\n' '$(1)' '$(2)';
endif

# ---- outputs the fragments may refer to ----------------------------------------

LIB_A       := $(BUILD)/lib/libtaskscope.a
LIB_SONAME  := libtaskscope.so.$(TSK_VERSION_MAJOR)
LIB_SO_0    := $(BUILD)/lib/$(LIB_SONAME)
LIB_SO      := $(BUILD)/lib/libtaskscope.so
LIB_MAP     := runtime/taskscope.map
FLAGS_STAMP := $(BUILD)/.flags

# ---- what the fragments fill in ----------------------------------------------

TSK_LIB_OBJS     :=
TSK_LIB_LDLIBS   := -pthread
TSK_BIN_TARGETS  :=
TSK_TEST_BINS    :=
TSK_EXAMPLE_BINS :=

MODULE_FRAGMENTS := runtime/runtime.mk probes/probes.mk tests/tests.mk examples/examples.mk \
                    inspector/inspector.mk tui/tui.mk fuzz/fuzz.mk
include $(MODULE_FRAGMENTS)

# ---- generic rules -------------------------------------------------------------

# Rebuild everything in $(BUILD) when the flags change.  The file is only
# rewritten (and so only newer than the objects) when its content differs.
# (Per-module MODULE_CFLAGS are not part of it: they are fixed by the fragments.)
FLAGS_NOW    = $(strip $(CC) | $(TSK_CPPFLAGS) $(CPPFLAGS) | $(TSK_CFLAGS) $(CFLAGS) | \
		$(TSK_ASFLAGS) | $(ALL_LDFLAGS))

$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(FLAGS_NOW)' | cmp -s - $@ || printf '%s\n' '$(FLAGS_NOW)' > $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	$(call msg,CC,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/obj/%.o: %.S $(FLAGS_STAMP)
	$(call msg,AS,$<)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_ASFLAGS) -MMD -MP -c $< -o $@

# ---- the library ---------------------------------------------------------------

# Relink when a source file is removed too: $(LIB_OBJS_STAMP) is rewritten
# when the object list changes.
LIB_OBJS_STAMP := $(BUILD)/.lib-objs

$(LIB_OBJS_STAMP): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' '$(TSK_LIB_OBJS)' | cmp -s - $@ || printf '%s\n' '$(TSK_LIB_OBJS)' > $@

$(LIB_A): $(TSK_LIB_OBJS) $(LIB_OBJS_STAMP)
	$(call msg,AR,$@)
	@mkdir -p $(@D)
	@rm -f $@
	$(Q)$(AR) rcs $@ $(TSK_LIB_OBJS)

# Only tsk_* leaves the shared library (see $(LIB_MAP)); the static library
# keeps everything so tests can reach internal functions.
$(LIB_SO_0): $(TSK_LIB_OBJS) $(LIB_MAP) $(FLAGS_STAMP) $(LIB_OBJS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) -shared $(ALL_LDFLAGS) -Wl,-soname,$(LIB_SONAME) \
		-Wl,--version-script=$(LIB_MAP) -Wl,--no-undefined \
		-o $@ $(TSK_LIB_OBJS) $(TSK_LIB_LDLIBS)

$(LIB_SO): $(LIB_SO_0)
	$(call msg,LN,$@)
	$(Q)ln -sf $(LIB_SONAME) $@

# ---- top-level targets -----------------------------------------------------------

.PHONY: all lib tests examples check test deps deps-bench bench demo \
	install uninstall format format-check clean distclean help FORCE

all: lib $(TSK_BIN_TARGETS) examples

lib: $(LIB_A) $(LIB_SO)

# Test binaries whose source is gone would still be found and run by
# tests/run-unit.sh: remove them.
STALE_TESTS = $(filter-out $(TSK_TEST_BINS),$(shell find $(BUILD)/tests -type f -name 'test_*' 2>/dev/null))

tests: $(TSK_TEST_BINS)
	$(if $(STALE_TESTS),$(call msg,RM,$(STALE_TESTS)))
	$(if $(STALE_TESTS),$(Q)rm -f $(STALE_TESTS))

examples: $(TSK_EXAMPLE_BINS)

# The unit tests of this configuration only (no deps, no other sanitizers):
# `make check', `make check SANITIZE=thread T=chan'.
check: tests
	$(Q)tests/run-unit.sh $(BUILD) $(T)

# The whole suite: plain, then ASan+UBSan, UBSan and TSan builds; see
# tests/run-all.sh.  WERROR, CC, CFLAGS... reach the stages via MAKEFLAGS.
test: deps
	+$(Q)MAKE='$(MAKE)' CC='$(CC)' T='$(T)' tests/run-all.sh

deps:
	$(Q)scripts/deps.sh

deps-bench:
	$(Q)scripts/deps.sh --bench

# bench/bench.mk (owned by bench/) provides the `bench' recipe and builds
# what it needs (its programs wait for deps-bench, order-only); here we only
# add the packages.  Without bench/bench.mk, `bench' says so (end of file).
bench: deps-bench
ifneq ($(filter bench,$(MAKECMDGOALS)),)
# Packages first, even when make reaches the library through bench-build.
$(TSK_LIB_OBJS): | deps-bench
endif

demo: deps
	+$(Q)$(MAKE) all
	@# on a terminal, the live view (q closes it once you have seen enough;
	@# the demo runs about ten seconds); elsewhere (CI, a pipe) headless
	$(Q)if [ -t 0 ] && [ -t 1 ]; then \
		echo '== taskscope run --record $(BUILD)/demo.db -- $(BUILD)/examples/demo 30000'; \
		$(BUILD)/bin/taskscope run --record $(BUILD)/demo.db --force \
			--prog-output $(BUILD)/demo.out -- $(BUILD)/examples/demo 30000; \
	else \
		echo '== taskscope run --no-tui --record $(BUILD)/demo.db -- $(BUILD)/examples/demo'; \
		$(BUILD)/bin/taskscope run --no-tui --record $(BUILD)/demo.db --force -- \
			$(BUILD)/examples/demo; \
	fi
	@echo '== taskscope report $(BUILD)/demo.db'
	$(Q)$(BUILD)/bin/taskscope report $(BUILD)/demo.db

# ---- install ---------------------------------------------------------------------

bindir     ?= $(PREFIX)/bin
includedir ?= $(PREFIX)/include
libdir     ?= $(PREFIX)/lib
pcdir      ?= $(libdir)/pkgconfig

PC_IN := runtime/taskscope.pc.in
PC    := $(BUILD)/taskscope.pc

# Written at install time so it always carries this PREFIX.
install: all
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|g' \
	     -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(libdir))|g' \
	     -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(includedir))|g' \
	     -e 's|@VERSION@|$(TSK_VERSION)|g' \
	     -e 's|@LIBS_PRIVATE@|$(strip $(TSK_LIB_LDLIBS))|g' \
	     $(PC_IN) > $(PC)
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(includedir) $(DESTDIR)$(libdir) $(DESTDIR)$(pcdir)
	$(Q)install -m 644 runtime/include/taskscope.h $(DESTDIR)$(includedir)/
	$(Q)install -m 644 $(LIB_A) $(DESTDIR)$(libdir)/
	$(Q)install -m 755 $(LIB_SO_0) $(DESTDIR)$(libdir)/
	$(Q)ln -sf $(LIB_SONAME) $(DESTDIR)$(libdir)/libtaskscope.so
	$(Q)install -m 644 $(PC) $(DESTDIR)$(pcdir)/taskscope.pc
# Not built yet: the inspector program (inspector/) and the LD_PRELOAD probe
# for pthread programs (probes/).  Installed as soon as their fragments
# build them; until then these lines do nothing.
	$(Q)if [ -f $(BUILD)/bin/taskscope ]; then \
		install -d $(DESTDIR)$(bindir) && \
		install -m 755 $(BUILD)/bin/taskscope $(DESTDIR)$(bindir)/; fi
	$(Q)if [ -f $(BUILD)/lib/libtaskscope-pthread.so ]; then \
		install -m 755 $(BUILD)/lib/libtaskscope-pthread.so $(DESTDIR)$(libdir)/; fi

uninstall:
	$(Q)rm -f $(DESTDIR)$(includedir)/taskscope.h \
		$(DESTDIR)$(libdir)/libtaskscope.a \
		$(DESTDIR)$(libdir)/$(LIB_SONAME) \
		$(DESTDIR)$(libdir)/libtaskscope.so \
		$(DESTDIR)$(libdir)/libtaskscope-pthread.so \
		$(DESTDIR)$(pcdir)/taskscope.pc \
		$(DESTDIR)$(bindir)/taskscope

# ---- formatting ------------------------------------------------------------------

CLANG_FORMAT ?= clang-format
FORMAT_DIRS  := runtime probes inspector tui tests examples bench
FORMAT_FILES ?= $(sort $(shell find $(FORMAT_DIRS) -name '*.[ch]' -type f 2>/dev/null))

format:
	$(Q)$(if $(FORMAT_FILES),$(CLANG_FORMAT) -i $(FORMAT_FILES),true)

# Changes nothing; fails and shows the diff-worthy lines if a file is off-style.
format-check:
	$(Q)$(if $(FORMAT_FILES),$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_FILES),true)

# ---- housekeeping ----------------------------------------------------------------

clean:
	$(call msg,CLEAN,build build-*)
	$(Q)rm -rf build build-address build-undefined build-thread

distclean: clean

help:
	@echo 'taskscope make targets:'
	@echo '  all (default)   libtaskscope.a/.so in $(BUILD)/lib, programs, examples'
	@echo '  tests           build the cmocka test binaries in $(BUILD)/tests'
	@echo '  check           build and run the unit tests of this configuration (T=filter)'
	@echo '  test            deps, then unit tests plain + ASan/UBSan + UBSan + TSan'
	@echo '  demo            deps, all, then record the demo example with taskscope and report on it'
	@echo '  bench           deps-bench, all, then the benchmarks (bench/bench.mk)'
	@echo '  bench-http      only the HTTP table: taskscope vs Go net/http vs libuv under wrk'
	@echo '  bench-record    only the recorder table: lossless events/s, DB bytes/event, report time'
	@echo '  bench-deadlock  only the detector table: detection latency of the zoo and of 100k tasks, its CPU share'
	@echo '  bench-tui       only the TUI table: time to draw a frame of top with 100k tasks, per view'
	@echo '  deps            install missing Debian packages (needs root)'
	@echo '  deps-bench      also the benchmark packages'
	@echo '  install         PREFIX=/usr/local DESTDIR= : header, libraries, taskscope.pc'
	@echo '  uninstall       remove what install put there'
	@echo '  format          clang-format -i every C file (rewrites files)'
	@echo '  format-check    fail if a C file is not clang-formatted (changes nothing)'
	@echo '  clean           remove build/ and build-*/'
	@echo 'knobs: V=1 WERROR=1 SANITIZE=address|undefined|thread CC= CFLAGS= LDFLAGS='

FORCE:

# ---- optional fragments and dependency files -----------------------------------

-include bench/bench.mk
ifeq ($(wildcard bench/bench.mk),)
bench:
	@echo "bench: the benchmarks are not built yet (no bench/bench.mk)" >&2
	@exit 1
endif

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
