# tests/tests.mk - cmocka test binaries.
#
# tests/ mirrors the sources: tests/runtime/test_chan.c tests
# runtime/src/chan.c.  Each tests/<module>/test_*.c is one cmocka binary,
# $(BUILD)/tests/<module>/test_*, linked against the static library (which
# keeps internal symbols, so tests may call rt__* helpers).
# tests/run-unit.sh runs every executable $(BUILD)/tests/*/test_*.
# Any other tests/<module>/*.c is a helper (e.g. tests/probes/seg_writer.c)
# linked into every test binary of that module.
#
# tests/examples/test_<name> runs the real $(BUILD)/examples/<name> of the
# same build directory; examples/examples.mk makes those test binaries wait
# for the examples (order-only), so `make check' and `make tests' build them.
#
# A module whose tests link something else than libtaskscope (the inspector)
# adds its own TSK_TEST_BINS and link rule in its fragment.

TEST_MODULES := runtime probes examples
TEST_SRCS    := $(foreach m,$(TEST_MODULES),$(wildcard tests/$(m)/test_*.c))
TEST_BINS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TEST_LDLIBS  := -lcmocka

# test_helper_objs MODULE: the objects of tests/MODULE/*.c other than test_*.c
test_helper_objs = $(patsubst %.c,$(BUILD)/obj/%.o,\
	$(filter-out tests/$(1)/test_%.c,$(wildcard tests/$(1)/*.c)))
test_bins_of = $(filter $(BUILD)/tests/$(1)/%,$(TEST_BINS))
$(foreach m,$(TEST_MODULES),$(if $(and $(call test_bins_of,$(m)),$(call test_helper_objs,$(m))),\
	$(eval $(call test_bins_of,$(m)): $(call test_helper_objs,$(m)))))

$(BUILD)/obj/tests/%.o: private MODULE_CFLAGS += -Itests

$(TEST_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) $(TEST_LDLIBS) $(TSK_LIB_LDLIBS)

TSK_TEST_BINS += $(TEST_BINS)
