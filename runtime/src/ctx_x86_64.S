/*
 * ctx_x86_64.S - the x86-64 (System V) context switch.
 *
 * Saved frame, from high to low addresses, at the stack pointer stored in
 * rt_ctx.sp:
 *
 *     resume address   <- popped into %rcx, then jumped to
 *     %rbp
 *     %rbx
 *     %r12
 *     %r13
 *     %r14
 *     %r15
 *     x87 control word (bytes 4..5) | MXCSR (bytes 0..3)   16 bytes
 *     ^ rt_ctx.sp
 *
 * Only callee-saved state is kept: the caller of rt__ctx_switch has already
 * spilled everything else (%rax is a scratch register, free to clobber).  A new context's frame is built by rt__ctx_init
 * (ctx.c) with the trampoline below as resume address, the argument in %r12
 * and the entry function in %r13.
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
	subq $16, %rsp
	stmxcsr (%rsp)
	fnstcw 4(%rsp)
	movq %rsp, (%rdi)
	movq (%rsi), %rsp
	/* Loading MXCSR and the x87 control word is slow (they serialise parts
	 * of the FP pipeline); they almost never differ between tasks, so only
	 * load them when they do.  -8(%rsp) is free: below the frame. */
	stmxcsr -8(%rsp)
	movl -8(%rsp), %eax
	cmpl (%rsp), %eax
	jne 1f
2:	fnstcw -8(%rsp)
	movw -8(%rsp), %ax
	cmpw 4(%rsp), %ax
	jne 3f
4:	addq $16, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbx
	popq %rbp
	popq %rcx
	jmpq *%rcx
1:	ldmxcsr (%rsp)
	jmp 2b
3:	fldcw 4(%rsp)
	jmp 4b
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
