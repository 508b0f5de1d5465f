/*
 * ctx_x86_64.S - the x86-64 (System V) context switch.
 *
 * Saved frame, from high to low addresses, at the stack pointer stored in
 * rt_ctx.sp:
 *
 *     resume address   <- where `ret` continues
 *     %rbp
 *     %rbx
 *     %r12
 *     %r13
 *     %r14
 *     %r15             <- rt_ctx.sp
 *
 * Only the callee-saved general registers are kept: the caller of
 * rt__ctx_switch has already spilled everything else.  The floating-point
 * control state (MXCSR control bits, x87 control word) is deliberately
 * treated as per-thread, as Go does: saving and reloading it costs more
 * than the rest of the switch (7-12 ns against 6 ns measured here), and
 * tasks that change rounding modes across a suspension are vanishingly
 * rare.  taskscope.h documents the rule.
 *
 * Resuming with `ret` keeps the CPU's return stack buffer in step: every
 * task suspends through the same call site (rt__suspend's call of
 * rt__ctx_switch), so the return address the buffer predicts is the right
 * code address even though it was pushed by another task, and so are the
 * returns further up (rt__suspend, tsk_yield, ...) when tasks suspend the
 * same way.  pop+jmp looks cheaper in a two-coroutine microbenchmark (3 ns
 * against 11 ns on the reference machine) but leaves the buffer one entry
 * off, and every return after the switch mispredicts: a tsk_yield costs
 * 48 ns that way against 22 ns with `ret`.  A new context's frame is built by rt__ctx_init (ctx.c) with
 * the trampoline below as resume address, the argument in %r12 and the
 * entry function in %r13.
 */
#if defined(__x86_64__)
	.text
	.globl rt__ctx_switch
	.hidden rt__ctx_switch
	.type rt__ctx_switch, @function
	.p2align 4
/* void rt__ctx_switch(rt_ctx *from %rdi, rt_ctx *to %rsi) */
rt__ctx_switch:
	.cfi_startproc
	pushq %rbp
	pushq %rbx
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	movq (%rsi), %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	ret
	.cfi_endproc
	.size rt__ctx_switch, .-rt__ctx_switch

	.globl rt__ctx_trampoline
	.hidden rt__ctx_trampoline
	.type rt__ctx_trampoline, @function
	.p2align 4
/* First code run on a new stack: entry(arg), which never returns.  The
 * undefined return address tells unwinders that the stack ends here. */
rt__ctx_trampoline:
	.cfi_startproc
	.cfi_undefined %rip
	movq %r12, %rdi
	callq *%r13
	ud2
	.cfi_endproc
	.size rt__ctx_trampoline, .-rt__ctx_trampoline
#endif
	.section .note.GNU-stack,"",@progbits
