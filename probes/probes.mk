# probes/probes.mk - the probes' part of libtaskscope: the segment writer
# (probe.c) that the runtime calls, and the reader library that the
# inspector and the tests use.  probes/include/ is on every module's include
# path (set in the Makefile): tsk_segment.h is the one header both sides of
# the segment share.

PROBES_SRCS := $(wildcard probes/src/*.c)
PROBES_OBJS := $(patsubst %,$(BUILD)/obj/%.o,$(basename $(PROBES_SRCS)))

TSK_LIB_OBJS += $(PROBES_OBJS)

# stacks at suspension points (pstack.c)
TSK_LIB_LDLIBS += -lunwind
