# examples/examples.mk - example programs.
#
# Every examples/*.c is one program, $(BUILD)/examples/<name>, linked
# statically against libtaskscope so it runs from the build tree as is.
# `make demo' runs $(BUILD)/examples/demo.

EXAMPLE_SRCS := $(wildcard examples/*.c)
EXAMPLE_BINS := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRCS))

$(EXAMPLE_BINS): $(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB_A) $(TSK_LIB_LDLIBS)

TSK_EXAMPLE_BINS += $(EXAMPLE_BINS)
