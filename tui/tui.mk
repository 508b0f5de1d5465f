# tui/tui.mk - the live views of `taskscope top' (tui/src/*.c), linked
# into the taskscope program (inspector/inspector.mk) with ncursesw.
# Read after inspector/inspector.mk: it adds its objects to the program's.

TUI_SRCS := $(wildcard tui/src/*.c)
TUI_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(TUI_SRCS)))

$(BUILD)/obj/tui/%.o: private MODULE_CFLAGS += -Itui/include -Iinspector/include \
	-Iinspector/src $(shell pkg-config --cflags ncursesw 2>/dev/null)

$(INSPECTOR_BIN): $(TUI_OBJS)
INSPECTOR_OBJS += $(TUI_OBJS)
INSPECTOR_LDLIBS += $(or $(shell pkg-config --libs ncursesw 2>/dev/null),-lncursesw)
