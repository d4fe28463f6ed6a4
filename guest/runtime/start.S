/*
 * Guest entry. The monitor starts us at CPL3 with RSP at the top of RAM and
 * RDI = the boot-info page. Align the stack (gcc emits movaps) and enter C.
 */
	.section .text.entry, "ax"
	.globl _start
_start:
	andq	$-64, %rsp
	xorl	%ebp, %ebp
	call	guest_start
1:	ud2
	jmp	1b
	.section .note.GNU-stack, "", @progbits
