package ebpf

//go:generate go run ./internal/kindsh bpf/kinds.h
//go:generate go tool bpf2go -tags linux -target amd64 -type event -cc clang -cflags "-O2 -g -Wall -Werror" probes bpf/probes.c -- -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -tags linux -target amd64 -type guest_sample -cc clang -cflags "-O2 -g -Wall -Werror -D__TARGET_ARCH_x86" sample bpf/sample.c -- -I/usr/include/x86_64-linux-gnu
