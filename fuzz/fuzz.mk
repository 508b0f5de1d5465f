# fuzz/fuzz.mk - fuzzers for what parses untrusted input (STYLE.md "Tests").
#
# Today one target: fuzz/fuzz_segment.c, a segment file through the reader
# library (probes/src/reader*.c).  Everything lives in its own directory,
# build-fuzz/, with its own flags (clang, libFuzzer):
#
#   build-fuzz/fuzz_segment   libFuzzer + ASan + UBSan (clang)       `make fuzz'
#   build-fuzz/fuzz_replay    plain driver fuzz/fuzz_main.c, $(CC) with
#                             ASan + UBSan: replays files, mutates them
#   build-fuzz/mkcorpus       writes the seeds with the test writer
#   build-fuzz/seeds/         the seed corpus (regenerated when mkcorpus changes)
#   build-fuzz/corpus/        what libFuzzer found interesting (grows)
#   build-fuzz/artifacts/     crashing inputs; copy one to fuzz/regress/ and fix the reader
#
# fuzz/regress/ (checked in) keeps inputs that once crashed: every run
# replays them.
#
#   make fuzz [FUZZ_SECONDS=60]   libFuzzer for FUZZ_SECONDS (needs clang's
#                                 libFuzzer runtime: libclang-rt-14-dev)
#   make fuzz-check               what `make test' runs (fuzz/run-check.sh):
#                                 seeds and regressions replayed, seeded
#                                 mutations, and a short libFuzzer run when
#                                 libFuzzer is available

FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD   := build-fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_FLAGS   := -std=gnu11 -g -O1 -D_GNU_SOURCE -Iprobes/include -Itests \
	-Wall -Wextra -Wshadow -Wmissing-prototypes $(if $(filter 1,$(WERROR)),-Werror)
FUZZ_READER  := $(wildcard probes/src/reader*.c)
FUZZ_DEPS    := $(FUZZ_READER) $(wildcard probes/src/reader_int.h) probes/include/tsk_reader.h \
	probes/include/tsk_segment.h fuzz/fuzz.mk
FUZZ_REGRESS := $(wildcard fuzz/regress)
FUZZ_EXTRA   ?=

.PHONY: fuzz fuzz-build fuzz-replay-build fuzz-check fuzz-seeds fuzz-clean

$(FUZZ_BUILD)/fuzz_segment: fuzz/fuzz_segment.c $(FUZZ_DEPS)
	$(call msg,FUZZCC,$@)
	@mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(FUZZ_FLAGS) -fsanitize=fuzzer $(FUZZ_SAN) -o $@ fuzz/fuzz_segment.c \
		$(FUZZ_READER) -pthread

$(FUZZ_BUILD)/fuzz_replay: fuzz/fuzz_main.c fuzz/fuzz_segment.c $(FUZZ_DEPS)
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FUZZ_FLAGS) $(FUZZ_SAN) -o $@ fuzz/fuzz_main.c fuzz/fuzz_segment.c \
		$(FUZZ_READER) -pthread

$(FUZZ_BUILD)/mkcorpus: fuzz/mkcorpus.c tests/probes/seg_writer.c tests/probes/seg_writer.h \
		probes/include/tsk_segment.h
	$(call msg,CC,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(FUZZ_FLAGS) -o $@ fuzz/mkcorpus.c tests/probes/seg_writer.c

$(FUZZ_BUILD)/seeds/.stamp: $(FUZZ_BUILD)/mkcorpus
	$(call msg,SEEDS,$(@D))
	$(Q)rm -rf $(@D) && mkdir -p $(@D)
	$(Q)$(FUZZ_BUILD)/mkcorpus $(@D) >/dev/null
	@touch $@

fuzz-seeds: $(FUZZ_BUILD)/seeds/.stamp
fuzz-build: $(FUZZ_BUILD)/fuzz_segment fuzz-seeds
fuzz-replay-build: $(FUZZ_BUILD)/fuzz_replay fuzz-seeds

# -max_len: the seeds are ~25 KiB; let inputs grow past them.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/artifacts
	$(Q)$(FUZZ_BUILD)/fuzz_segment -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 $(FUZZ_EXTRA) \
		-artifact_prefix=$(FUZZ_BUILD)/artifacts/ \
		$(FUZZ_BUILD)/corpus $(FUZZ_BUILD)/seeds $(FUZZ_REGRESS)

fuzz-check:
	+$(Q)MAKE='$(MAKE)' CC='$(CC)' FUZZ_CC='$(FUZZ_CC)' fuzz/run-check.sh

fuzz-clean:
	$(call msg,CLEAN,$(FUZZ_BUILD))
	$(Q)rm -rf $(FUZZ_BUILD)

clean: fuzz-clean
