# runtime/runtime.mk - the runtime's part of libtaskscope.
#
# Every runtime/src/*.c goes into the library.  Assembly is per machine:
# runtime/src/*_$(TSK_ARCH).S (ctx_x86_64.S on x86-64) is assembled only
# when compiling for that machine; elsewhere the C fallback (#ifdef'd in a
# .c file) is used.  A .S that is itself wrapped in #ifdef __x86_64__ is
# fine too.

RUNTIME_SRCS := $(wildcard runtime/src/*.c) $(wildcard runtime/src/*_$(TSK_ARCH).S)
RUNTIME_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(RUNTIME_SRCS)))

TSK_LIB_OBJS += $(RUNTIME_OBJS)
