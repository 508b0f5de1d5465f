/*
 * ctx_int.h - machine context switching for stackful tasks.
 *
 * A context is one saved stack pointer: everything else a suspended task
 * needs (callee-saved registers, the resume address) sits on its own stack,
 * pushed by rt__ctx_switch.  On x86-64 the switch is hand-written assembly
 * (ctx_x86_64.S) that saves only the callee-saved general registers (the
 * floating-point control state is per thread) and resumes with `ret`,
 * which keeps the return stack buffer in step (see ctx_x86_64.S).  Other architectures use
 * ucontext (ctx.c) until they get their own assembly.
 *
 * Workload: two switches per scheduling step (task -> scheduler -> task),
 * tens of millions per second.
 */
#ifndef CTX_INT_H
#define CTX_INT_H

#include <stddef.h>

#if defined(__x86_64__)
typedef struct rt_ctx {
	void *sp; /* saved stack pointer; the rest of the context is on that stack */
} rt_ctx;
#else
#include <ucontext.h>
typedef struct rt_ctx {
	ucontext_t uc; /* portable fallback */
} rt_ctx;
#endif

/* Prepares ctx so that the first switch to it calls entry(arg) on the stack
 * whose highest address is `top` (16-byte aligned, exclusive) and lowest
 * usable address is `bottom`.  entry must never return. */
void rt__ctx_init(rt_ctx *ctx, void *bottom, void *top, void (*entry)(void *), void *arg);

/* Saves the current context in *from and resumes `to`.  Returns when some
 * other context switches back to *from. */
void rt__ctx_switch(rt_ctx *from, rt_ctx *to);

#endif
