# inspector/inspector.mk - the `taskscope' program (inspector/src/*.c).
#
# Linked against the static libtaskscope (for the segment reader library in
# probes/) and SQLite.  Its unit tests, tests/inspector/test_*.c, link the
# inspector's objects except main.o; tests/inspector/*.sh are end-to-end
# tests: each is copied to $(BUILD)/tests/inspector/<name> (executable) and
# run by tests/run-unit.sh like a test binary, with the real
# $(BUILD)/bin/taskscope and examples of the same build directory.

INSPECTOR_SRCS := $(wildcard inspector/src/*.c)
INSPECTOR_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(INSPECTOR_SRCS)))
INSPECTOR_MAIN := $(BUILD)/obj/inspector/src/main.o
INSPECTOR_BIN  := $(BUILD)/bin/taskscope
INSPECTOR_LDLIBS := -lsqlite3 -lm

$(BUILD)/obj/inspector/%.o: private MODULE_CFLAGS += -Iinspector/include -Iinspector/src

$(INSPECTOR_BIN): $(INSPECTOR_OBJS) $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(INSPECTOR_OBJS) $(LIB_A) $(INSPECTOR_LDLIBS) $(TSK_LIB_LDLIBS)

TSK_BIN_TARGETS += $(INSPECTOR_BIN)

# unit tests: one cmocka binary per tests/inspector/test_*.c
INSPECTOR_TEST_SRCS := $(wildcard tests/inspector/test_*.c)
INSPECTOR_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(INSPECTOR_TEST_SRCS))

$(BUILD)/obj/tests/inspector/%.o: private MODULE_CFLAGS += -Itests -Iinspector/include -Iinspector/src

$(INSPECTOR_TEST_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o \
		$(filter-out $(INSPECTOR_MAIN),$(INSPECTOR_OBJS)) $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) -lcmocka $(INSPECTOR_LDLIBS) \
		$(TSK_LIB_LDLIBS)

# end-to-end tests: tests/inspector/*.sh (tests/inspector/lib.sh is their
# shared helper, copied as is)
INSPECTOR_E2E_SRCS := $(filter-out tests/inspector/lib.sh,$(wildcard tests/inspector/*.sh))
INSPECTOR_E2E_BINS := $(patsubst tests/inspector/%.sh,$(BUILD)/tests/inspector/%,$(INSPECTOR_E2E_SRCS))

$(BUILD)/tests/inspector/lib.sh: tests/inspector/lib.sh
	@mkdir -p $(@D)
	$(Q)cp $< $@

$(INSPECTOR_E2E_BINS): $(BUILD)/tests/inspector/%: tests/inspector/%.sh \
		$(BUILD)/tests/inspector/lib.sh | $(INSPECTOR_BIN) $(EXAMPLE_BINS)
	$(call msg,GEN,$@)
	@mkdir -p $(@D)
	$(Q)cp $< $@ && chmod +x $@

TSK_TEST_BINS += $(INSPECTOR_TEST_BINS) $(INSPECTOR_E2E_BINS)
