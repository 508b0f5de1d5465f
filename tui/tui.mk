# tui/tui.mk - the live views of `taskscope top', `replay' and `run'
# (tui/src/*.c), linked into the taskscope program (inspector/inspector.mk)
# with ncursesw.
# Read after inspector/inspector.mk: it adds its objects to the program's.

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
