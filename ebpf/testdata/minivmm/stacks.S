# The minivmm -stacks guest: a call tree with frame pointers, run at
# kernel-like virtual addresses through 4-level page tables, for the guest
# sampler to walk. main calls a (which calls b, which spins 2*R10 times)
# then c (which spins R10 times), round after round until R11 TSC cycles
# have passed, then halts: two thirds of the time in main;a;b;spin, one
# third in main;c;spin, whether the guest runs natively or emulated.
# Every function keeps a frame pointer, as a kernel built with
# CONFIG_FRAME_POINTER does. A record ("T<16 hex digits>\n", the TSC, on
# port 0x3f8, as guest.S writes) is written before the first round and
# after the last: the minivmm's BOOT_TRACE flush makes them a guest span.
# Regenerate guest.go: go generate (needs GNU as, objcopy and nm).
.intel_syntax noprefix
.code64
main:
	push rbp
	mov rbp, rsp
	call record
	rdtsc
	shl rdx, 32
	or rax, rdx
	mov r13, rax
1:
	call a
	call c
	rdtsc
	shl rdx, 32
	or rax, rdx
	sub rax, r13
	cmp rax, r11
	jb 1b
	call record
	hlt
a:
	push rbp
	mov rbp, rsp
	call b
	pop rbp
	ret
b:
	push rbp
	mov rbp, rsp
	mov rcx, r10
	add rcx, r10
	call spin
	pop rbp
	ret
c:
	push rbp
	mov rbp, rsp
	mov rcx, r10
	call spin
	pop rbp
	ret
spin:
	push rbp
	mov rbp, rsp
2:
	dec rcx
	jnz 2b
	pop rbp
	ret
record:
	push rbp
	mov rbp, rsp
	rdtsc
	shl rdx, 32
	or rax, rdx
	mov rsi, rax
	mov dx, 0x3f8
	mov al, 'T'
	out dx, al
	mov rcx, 16
3:
	rol rsi, 4
	mov rax, rsi
	and al, 0xf
	cmp al, 10
	jb 4f
	add al, 'a' - 10 - '0'
4:
	add al, '0'
	out dx, al
	dec rcx
	jnz 3b
	mov al, '\n'
	out dx, al
	pop rbp
	ret
