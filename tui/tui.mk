# tui/tui.mk - the live views of `taskscope top', `replay' and `run'
# (tui/src/*.c), linked into the taskscope program (inspector/inspector.mk)
# with ncursesw.
# Read after inspector/inspector.mk: it adds its objects to the program's.
# Its unit tests, tests/tui/test_*.c, link the program's objects but
# main.o, as the inspector's do.

TUI_SRCS := $(wildcard tui/src/*.c)
TUI_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(TUI_SRCS)))

$(BUILD)/obj/tui/%.o: private MODULE_CFLAGS += -Itui/include -Iinspector/include \
	-Iinspector/src $(shell pkg-config --cflags ncursesw 2>/dev/null)

$(INSPECTOR_BIN): $(TUI_OBJS)
INSPECTOR_OBJS += $(TUI_OBJS)

# `run' (inspector/src/cmd_run.c) shows the views: it includes tui.h, and
# the inspector's unit tests, which link every inspector object but main.o,
# link the views too.
$(BUILD)/obj/inspector/src/cmd_run.o: private MODULE_CFLAGS += -Itui/include
$(INSPECTOR_TEST_BINS): $(TUI_OBJS)
INSPECTOR_LDLIBS += $(or $(shell pkg-config --libs ncursesw 2>/dev/null),-lncursesw)

# unit tests: one cmocka binary per tests/tui/test_*.c, linked like the
# inspector's (tests/inspector/test_*.c) with the TUI's objects too
TUI_TEST_SRCS := $(wildcard tests/tui/test_*.c)
TUI_TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TUI_TEST_SRCS))

$(BUILD)/obj/tests/tui/%.o: private MODULE_CFLAGS += -Itests -Itui/include -Itui/src \
	-Iinspector/include -Iinspector/src

$(TUI_TEST_BINS): $(BUILD)/tests/%: $(BUILD)/obj/tests/%.o \
		$(filter-out $(INSPECTOR_MAIN),$(INSPECTOR_OBJS)) $(LIB_A) $(FLAGS_STAMP)
	$(call msg,LD,$@)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $(filter %.o,$^) $(LIB_A) -lcmocka $(INSPECTOR_LDLIBS) \
		$(TSK_LIB_LDLIBS)

TSK_TEST_BINS += $(TUI_TEST_BINS)
