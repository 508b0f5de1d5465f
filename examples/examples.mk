# examples/examples.mk - example programs.
#
# Every examples/*.c is one program, $(BUILD)/examples/<name>, linked
# statically against libtaskscope so it runs from the build tree as is.
# So is every examples/deadlocks/*.c, the deadlock zoo (see
# examples/deadlocks/zoo.h), as $(BUILD)/examples/deadlocks/<name>.
# `make demo' runs $(BUILD)/examples/demo.

EXAMPLE_SRCS := $(wildcard examples/*.c examples/deadlocks/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

$(EXAMPLE_BINS): $(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(TSK_LIB_LDLIBS)

TSK_EXAMPLE_BINS += $(EXAMPLE_BINS)

# The end-to-end tests in tests/examples/ run these programs (found next to
# the test binary, in the same build directory): building the tests builds
# the examples.  Order-only: a rebuilt example needs no relinked test.
# (Here and not in tests/tests.mk, which is read before EXAMPLE_BINS is set.)
$(filter $(BUILD)/tests/examples/%,$(TSK_TEST_BINS)): | $(EXAMPLE_BINS)
