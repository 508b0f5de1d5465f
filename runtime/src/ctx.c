/*
 * ctx.c - building new contexts, and the portable ucontext fallback.
 *
 * On x86-64 the switch itself is assembly (ctx_x86_64.S); this file only
 * lays out the first frame of a new stack so that the first switch "returns"
 * into rt__ctx_trampoline, which calls entry(arg).  Elsewhere the whole
 * context is a ucontext_t: slow (a sigprocmask system call per switch) but
 * correct, until the architecture gets its own assembly.
 */
#include "ctx_int.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)

void rt__ctx_trampoline(void);

void rt__ctx_init(rt_ctx *ctx, void *bottom, void *top, void (*entry)(void *), void *arg)
{
	(void)bottom;
	uint64_t *sp = (uint64_t *)((uintptr_t)top & ~(uintptr_t)15);

	/* Two zero words end the stack for unwinders and keep %rsp 16-byte
	 * aligned before the trampoline's call (see ctx_x86_64.S). */
	*--sp = 0;
	*--sp = 0;
	*--sp = (uint64_t)(uintptr_t)rt__ctx_trampoline; /* resume address */
	*--sp = 0;                                       /* rbp */
	*--sp = 0;                                       /* rbx */
	*--sp = (uint64_t)(uintptr_t)arg;                /* r12: argument */
	*--sp = (uint64_t)(uintptr_t)entry;              /* r13: entry */
	*--sp = 0;                                       /* r14 */
	*--sp = 0;                                       /* r15 */
	ctx->sp = sp;
}

#else /* portable fallback */

static void (*volatile rt_ctx_entry)(void *);

static void ctx_start(unsigned hi, unsigned lo)
{
	void *arg = (void *)(uintptr_t)(((uint64_t)hi << 32) | (uint64_t)lo);
	rt_ctx_entry(arg);
}

void rt__ctx_init(rt_ctx *ctx, void *bottom, void *top, void (*entry)(void *), void *arg)
{
	uint64_t a = (uint64_t)(uintptr_t)arg;

	memset(ctx, 0, sizeof(*ctx));
	getcontext(&ctx->uc);
	ctx->uc.uc_stack.ss_sp = bottom;
	ctx->uc.uc_stack.ss_size = (size_t)((char *)top - (char *)bottom);
	ctx->uc.uc_link = NULL;
	rt_ctx_entry = entry;
	makecontext(&ctx->uc, (void (*)(void))ctx_start, 2, (unsigned)(a >> 32),
	            (unsigned)(a & 0xffffffffu));
}

void rt__ctx_switch(rt_ctx *from, rt_ctx *to)
{
	swapcontext(&from->uc, &to->uc);
}

#endif
