# The minivmm guest: 64-bit code that first writes one byte to each of
# RBX pages of 4 KiB from guest-physical RDI on (memory the host has not
# populated yet: its faults are what the recorder must see), then reads
# the TSC and writes one line "T<16 hex digits>\n" per record to the
# serial port 0x3f8, R9 times, then halts. Every OUT is an exit to the VMM.
# Regenerate guest.go: go generate (needs GNU as and objcopy).
.intel_syntax noprefix
.code64
.globl _start
_start:
	test rbx, rbx
	jz records
touch:
	mov byte ptr [rdi], 1
	add rdi, 4096
	dec rbx
	jnz touch
records:
	mov r8, r9
next:
	rdtsc
	shl rdx, 32
	or rax, rdx
	mov rsi, rax
	mov dx, 0x3f8
	mov al, 'T'
	out dx, al
	mov rcx, 16
hex:
	rol rsi, 4
	mov rax, rsi
	and al, 0xf
	cmp al, 10
	jb digit
	add al, 'a' - 10 - '0'
digit:
	add al, '0'
	out dx, al
	dec rcx
	jnz hex
	mov al, '\n'
	out dx, al
	dec r8
	jnz next
	hlt
