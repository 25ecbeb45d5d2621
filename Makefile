# boottrace: `make demo` renders the embedded example boot, `make test` runs
# every test (installing what they need first), `make bench` the benchmarks.
GO ?= go
BIN := bin/boottrace

.PHONY: all build demo docs test test-short fuzz bench deps examples generate check-generated clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/boottrace

# Renders the example boot shipped inside boottrace.
demo: build
	$(BIN) flame -o boot.svg
	$(BIN) flame --chart -o boot-chart.svg
	$(BIN) pprof -o boot.pb.gz
	$(BIN) summary
	@echo "wrote boot.svg (flamegraph), boot-chart.svg (flamechart), boot.pb.gz (go tool pprof -top boot.pb.gz)"

# Redraws the pictures in docs/ from the examples.
docs: build
	$(BIN) flame --title "Debian 6.1 under QEMU microvm (TCG), initcall_debug" -o docs/example-flamegraph.svg
	$(BIN) flame --chart --title "Debian 6.1 under QEMU microvm (TCG), initcall_debug: time order" -o docs/example-flamechart.svg
	$(BIN) flame --chart --system-map examples/boottrace-6.1/System.map-up.gz \
		--title "BOOT_TRACE: Linux 6.1 microVM, ip= set (QEMU TCG)" \
		-o docs/boottrace-flamechart.svg examples/boottrace-6.1/up-ip.log
	$(BIN) flame --chart --all --system-map examples/record/System.map.gz \
		--title "boottrace record: QEMU microvm (TCG) booting Linux 6.1 with BOOT_TRACE" \
		-o docs/record-flamechart.svg examples/record/qemu-tcg.trace.gz
	$(BIN) flame --chart --all --title "boottrace record: minivmm on /dev/kvm, two vCPUs (real KVM ioctls)" \
		-o docs/minivmm-flamechart.svg examples/record/minivmm-2vcpu.trace.gz
	$(BIN) diff --svg --system-map examples/boottrace-6.1/System.map-up.gz \
		-o docs/diff-flamegraph.svg examples/boottrace-6.1/up.log examples/boottrace-6.1/up-ip.log

deps:
	./scripts/install-deps.sh

# Runs all tests, fuzz seed corpora included (go test runs them as tests).
test: deps check-generated
	$(GO) vet ./...
	$(GO) test -p 1 -timeout 80m ./...

# Regenerates the BPF objects and fails if they differ from the committed
# ones, so they never drift from bpf/probes.c (needs clang; skipped without).
check-generated:
	@if ! command -v clang >/dev/null; then echo "check-generated: clang missing (scripts/install-deps.sh installs it as root); not checked"; \
	elif ! git rev-parse --git-dir >/dev/null 2>&1; then echo "check-generated: not a git checkout; not checked"; \
	else $(GO) generate ./ebpf >/dev/null && git diff --exit-code --stat -- ebpf/probes_x86_bpfel.go ebpf/probes_x86_bpfel.o ebpf/sample_x86_bpfel.go ebpf/sample_x86_bpfel.o ebpf/bpf/kinds.h || \
		{ echo "check-generated: the committed BPF objects differ from ebpf/bpf/probes.c and sample.c: run make generate and commit them"; exit 1; }; fi
	@if ! command -v protoc >/dev/null || ! command -v protoc-gen-go >/dev/null; then echo "check-generated: protoc or protoc-gen-go missing (apt-get install protobuf-compiler; go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12); Perfetto's Go code not checked"; \
	elif git rev-parse --git-dir >/dev/null 2>&1; then $(GO) generate ./flame/perfettopb && git diff --quiet -I'^// .tprotoc' -- flame/perfettopb || \
		{ echo "check-generated: the committed Go code differs from flame/perfettopb/perfetto_trace.proto: run make generate and commit it"; exit 1; }; fi

test-short:
	$(GO) test -short ./...

# Fuzzes each parser for FUZZTIME (default 30s); crashers land in testdata/fuzz.
# Minimizing a new input is capped at 5s: byte by byte, a seed of a few KB
# would otherwise take the fuzzer's whole time (and show as no progress).
FUZZTIME ?= 30s
FUZZFLAGS = -run '^$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
fuzz:
	$(GO) test ./trace/input $(FUZZFLAGS) -fuzz '^FuzzReadKernelLog$$'
	$(GO) test ./trace/input $(FUZZFLAGS) -fuzz '^FuzzReadFolded$$'
	$(GO) test ./trace/input $(FUZZFLAGS) -fuzz '^FuzzReadBootTrace$$'
	$(GO) test ./trace/input $(FUZZFLAGS) -fuzz '^FuzzReadRecording$$'
	$(GO) test ./trace/input $(FUZZFLAGS) -fuzz '^FuzzBootTraceRecords$$'

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# Re-captures the example boots (needs QEMU and Debian's kernel packages;
# the recordings need root).
examples:
	./examples/debian-6.1/capture.sh
	./examples/capture-microvm.sh 6.1
	./examples/capture-microvm.sh 6.12
	./examples/capture-boottrace.sh 6.1
	./examples/capture-boottrace.sh 6.12
	./examples/record/capture.sh

# Regenerates the committed BPF objects (needs clang) and the minivmm guest (GNU as).
generate:
	$(GO) generate ./ebpf ./ebpf/testdata/minivmm ./flame/perfettopb

clean:
	rm -rf bin boot.svg boot-chart.svg boot.pb.gz
