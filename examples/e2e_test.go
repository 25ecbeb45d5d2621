package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/boottrace/boottrace/symbolize"
	"github.com/boottrace/boottrace/trace"
	"github.com/boottrace/boottrace/trace/analysis"
	"github.com/boottrace/boottrace/trace/input"
)

// The end-to-end tests build the BOOT_TRACE-patched kernel from Debian's
// linux-source package (cached by examples/kernel/build.sh), boot it under
// QEMU microvm (TCG here, KVM where it can run Linux) and check the profile
// boottrace makes of its console output.

// needTools skips the test with what to install when a tool is missing.
func needTools(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and boots a kernel")
	}
	for _, tool := range []string{"qemu-system-x86_64", "make", "cc", "flex", "bison", "bc", "cpio", "patch", "flock"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not found: run scripts/install-deps.sh as root (qemu-system-x86 build-essential flex bison bc cpio patch)", tool)
		}
	}
}

// needSource skips when Debian's source package for version is missing.
func needSource(t *testing.T, version string) {
	t.Helper()
	if _, err := os.Stat("/usr/src/linux-source-" + version + ".tar.xz"); err != nil {
		t.Skipf("/usr/src/linux-source-%s.tar.xz missing: apt-get install linux-source-%s", version, version)
	}
}

// testKernel is the configuration of every test kernel but the KASAN one:
// one kernel per version serves the one-vCPU and SMP boots, debugfs and
// the recordings, so CI builds three kernels from an empty cache.
var testKernel = []string{"microvm", "smp", "boottrace", "selftest"}

// buildKernel builds Linux version with the BOOT_TRACE patch and the
// given config fragments, returning the build directory.
func buildKernel(t *testing.T, version string, fragments ...string) string {
	t.Helper()
	needSource(t, version)
	args := []string{version, "--patch", "../guestpatch/patches/boot-trace-" + version + ".patch"}
	for _, f := range fragments {
		args = append(args, "../guestpatch/configs/"+f+".config")
	}
	t.Logf("building: kernel/build.sh %s (3-10 minutes unless cached)", strings.Join(args, " "))
	cmd := exec.Command("./kernel/build.sh", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kernel build: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// boot boots the kernel and returns the trace read from its console with
// the build's System.map.
func boot(t *testing.T, build string, env []string, cmdline ...string) (*trace.Trace, string) {
	t.Helper()
	console := bootConsole(t, build, env, cmdline...)
	return readConsole(t, build, console), string(console)
}

// bootConsole boots the kernel to init and returns its console.
func bootConsole(t *testing.T, build string, env []string, cmdline ...string) []byte {
	t.Helper()
	dir := t.TempDir()
	initramfs := filepath.Join(dir, "initramfs.cpio.gz")
	if out, err := exec.Command("./init/mkinitramfs.sh", initramfs).CombinedOutput(); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	log := filepath.Join(dir, "console.log")
	var console []byte
	// Under TCG on a busy host the guest may fail to calibrate its TSC
	// against the emulated PIT; such a boot has no usable clock: boot again.
	for try := 1; ; try++ {
		cmd := exec.Command("./boot.sh", append([]string{filepath.Join(build, "arch/x86/boot/bzImage"), initramfs, log}, cmdline...)...)
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("boot: %v\n%s", err, out)
		}
		var err error
		if console, err = os.ReadFile(log); err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(console, []byte("tsc: Marking TSC unstable due to could not calculate TSC khz")) || try == 3 {
			break
		}
		t.Logf("boot %d: the guest could not calibrate its TSC (host busy); booting again", try)
	}
	if !bytes.Contains(console, []byte("boottrace-init: reached userspace")) {
		t.Fatalf("the guest did not reach init; console:\n%s", tail(console))
	}
	return console
}

// readConsole reads a console's BOOT_TRACE flush with the build's System.map.
func readConsole(t *testing.T, build string, console []byte) *trace.Trace {
	t.Helper()
	syms, closeFn, err := symbolize.Open("", filepath.Join(build, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	tr, err := input.Read(bytes.NewReader(console), input.ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatalf("read console: %v\n%s", err, tail(console))
	}
	if tr.Format != input.FormatBootTrace {
		t.Fatalf("console read as %q, not BOOT_TRACE", tr.Format)
	}
	checkBudget(t, tr)
	return tr
}

// checkBudget checks that the wall-clock budget of a real boot adds up to
// its time, to the nanosecond, and that its critical path does too.
func checkBudget(t *testing.T, tr *trace.Trace) {
	t.Helper()
	b, ok := analysis.BudgetOf(tr)
	if !ok {
		t.Fatal("no wall-clock budget")
	}
	var parts, self int64
	for _, p := range b.Parts {
		parts += p.Duration
	}
	b.Path.Tracks[0].Walk(func(path []*trace.Span) bool {
		self += path[len(path)-1].Self()
		return true
	})
	if parts != b.Total || self != b.Total {
		t.Errorf("budget of %d ns: parts add up to %d, the critical path's spans to %d", b.Total, parts, self)
	}
}

func execOut(name string, args ...string) ([]byte, error) {
	return exec.Command(name, args...).CombinedOutput()
}

func tail(b []byte) []byte { return b[max(0, len(b)-3000):] }

// find returns the spans with a name, with their paths from the track.
func find(tr *trace.Trace, name string) [][]*trace.Span {
	var found [][]*trace.Span
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if path[len(path)-1].Name == name {
				found = append(found, append([]*trace.Span(nil), path...))
			}
			return true
		})
	}
	return found
}

func TestBootTraceUP(t *testing.T) {
	needTools(t)
	for _, version := range []string{"6.1", "6.12"} {
		t.Run(version, func(t *testing.T) { testBootTraceUP(t, version) })
	}
}

// selftestLine is what CONFIG_BOOT_TRACE_SELFTEST prints when the boot
// has ended.
var selftestLine = regexp.MustCompile(`boot_trace: self-test: 100000 records, (\d+) cycles per record \(fastest batch (\d+)\), tsc (\d+) kHz`)

// checkSelftest finds the self-test's line on the console, printed to it
// directly (whatever the log level), with a cost per record that is a
// cost: more than nothing, the fastest batch no slower than the average.
func checkSelftest(t *testing.T, console string) {
	t.Helper()
	m := selftestLine.FindStringSubmatch(console)
	if m == nil {
		t.Errorf("no self-test line on the console")
		return
	}
	avg, _ := strconv.Atoi(m[1])
	best, _ := strconv.Atoi(m[2])
	khz, _ := strconv.Atoi(m[3])
	t.Logf("record path: %d cycles per record, fastest batch %d, at %d kHz (%.0f ns)", avg, best, khz, float64(avg)/float64(khz)*1e6)
	if best <= 0 || best > avg || khz <= 0 {
		t.Errorf("self-test: %q", m[0])
	}
}

// handOff is the name of a wait ended by work kernel_init handed off,
// every waker named with the function that woke the next.
var handOff = regexp.MustCompile(`, woken by \S+ \([A-Za-z_][\w.]*\)( <- \S+ \([A-Za-z_][\w.]*\))* <- kernel_init \([A-Za-z_][\w.]*\)$`)

// wokenWithCaller is the name of a wait that says which task ended it and
// where in that task.
var wokenWithCaller = regexp.MustCompile(`, woken by \S+ \([A-Za-z_][\w.]*\)`)

func testBootTraceUP(t *testing.T, version string) {
	build := buildKernel(t, version, testKernel...)
	// A virtio NIC on QEMU's isolated user network, so ip= configures it
	// (restrict=on: nothing leaves the VM).
	env := []string{"MEM=128", "MACHINE=microvm,acpi=off", "QEMU_EXTRA=-netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0"}
	tr, console := boot(t, build, env, "ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off")
	checkSelftest(t, console)
	// Work kernel_init hands off and then waits for (a device node made by
	// kdevtmpfs, say) names kernel_init as the end of the chain of wakers,
	// each link with the function that called for the wake-up:
	// "woken by kdevtmpfs (devtmpfs_work_loop) <- kernel_init (devtmpfs_submit_req)".
	handedOff := 0
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Kind == trace.KindOffCPU && handOff.MatchString(s.Name) {
				handedOff++
			}
			return true
		})
	}
	if handedOff == 0 {
		t.Error("no wait of kernel_init ends a chain of wakers, each with its caller, at kernel_init itself (work it handed off)")
	}

	main := tr.Tracks[0]
	if main.Name != "kernel" || main.Start != 0 {
		t.Fatalf("first track %q starts at %d, want the kernel track at 0 (the first C code)", main.Name, main.Start)
	}
	var marks []string
	for _, m := range tr.Marks {
		marks = append(marks, m.Text)
	}
	if len(marks) < 2 || marks[0] != "x86_64_start_kernel" || marks[len(marks)-1] != "run_init_process" {
		t.Errorf("marks %v: want x86_64_start_kernel first and run_init_process last", marks)
	}
	if last := tr.Marks[len(tr.Marks)-1].Time; main.End < last {
		t.Errorf("kernel track ends at %d, before exec of init at %d", main.End, last)
	}
	for _, phase := range []string{"start_kernel", "setup_arch", "mm_init", "sched_init", "kernel_init_freeable", "do_basic_setup", "free_initmem", "mark_readonly"} {
		if len(find(tr, phase)) == 0 {
			t.Errorf("phase %s missing", phase)
		}
	}
	initcalls := map[string]bool{}
	for _, track := range tr.Tracks {
		track.Walk(func(path []*trace.Span) bool {
			if s := path[len(path)-1]; s.Kind == trace.KindInitcall && !strings.HasPrefix(s.Name, "0x") {
				initcalls[s.Name] = true
			}
			return true
		})
	}
	if len(initcalls) < 100 {
		t.Errorf("%d initcalls by name, want at least 100", len(initcalls))
	}
	// The 10 ms msleep(CONF_POST_OPEN) of ip_auto_config.
	var sleep *trace.Span
	for _, path := range find(tr, "msleep") {
		for _, p := range path {
			if p.Name == "ip_auto_config" {
				sleep = path[len(path)-1]
			}
		}
	}
	if sleep == nil {
		t.Fatal("no msleep under ip_auto_config")
	}
	if d := sleep.Duration(); d < 9e6 || d > 40e6 {
		t.Errorf("msleep in ip_auto_config took %d ns, want about 10 ms", d)
	}
	checkSamplesName(t, tr, true)
}

// checkSamplesName checks that there are timer-tick samples once the timer
// runs (in kernel_init_freeable) and, with strict, that samples and
// kernel_init's off-CPU records name the time no other record covers: no
// span keeps 20 ms in one stretch unnamed (five 4 ms ticks: a tick names
// the time since the record before it, up to two ticks). (Under TCG, for
// one, the local APIC timer's calibration takes most of smp_init.) Not a
// share of the span's time: a span whose own time is spread over hundreds
// of short gaps between records (pty_init creating devices) keeps much of
// it unnamed however the host's speed places the ticks.
// longestGap is the longest stretch of s's own time (no child in it), and
// where it begins.
func longestGap(s *trace.Span) (int64, int64) {
	kids := append([]*trace.Span(nil), s.Children...)
	sort.Slice(kids, func(i, j int) bool { return kids[i].Start < kids[j].Start })
	gap, at, from := int64(0), s.Start, s.Start
	for _, c := range append(kids, &trace.Span{Start: s.End, End: s.End}) {
		if c.Start-from > gap {
			gap, at = c.Start-from, from
		}
		from = max(from, c.End)
	}
	return gap, at
}

func checkSamplesName(t *testing.T, tr *trace.Trace, strict bool) {
	t.Helper()
	samples := 0
	for _, path := range find(tr, "kernel_init_freeable") {
		path[len(path)-1].Walk(func(p []*trace.Span) bool {
			s := p[len(p)-1]
			if s.Kind == trace.KindSample {
				samples++
			}
			if strict && s.Kind != trace.KindWait && s.Kind != trace.KindOffCPU && s.Kind != trace.KindSample {
				if gap, at := longestGap(s); gap >= 20e6 {
					t.Errorf("%s: %s unnamed from %s on", s.Name, trace.FormatDuration(gap), trace.FormatDuration(at))
				}
			}
			return true
		})
	}
	if samples == 0 {
		t.Error("no timer-tick sample in kernel_init_freeable")
	}
}

func TestBootTraceSMP(t *testing.T) {
	needTools(t)
	// 6.12 brings CPUs up in parallel: cpu_up() runs twice per CPU (kick,
	// then online), and each must still give one bringup_cpu span.
	t.Run("6.12", func(t *testing.T) {
		tr, _ := boot(t, buildKernel(t, "6.12", testKernel...), []string{"MEM=128", "SMP=2"})
		if n := len(find(tr, "bringup_cpu 1")); n != 1 {
			t.Errorf("%d bringup_cpu 1 spans, want 1", n)
		}
	})
	build := buildKernel(t, "6.1", testKernel...)
	tr, console := boot(t, build, []string{"MEM=128", "SMP=2"})
	if n := len(find(tr, "bringup_cpu 1")); n != 1 {
		t.Errorf("%d bringup_cpu 1 spans for the secondary CPU, want 1", n)
	}
	if len(find(tr, "smp_init")) == 0 {
		t.Error("no smp_init phase")
	}
	// kernel_init's waits say who ended them, and other tasks have names.
	woken, named := 0, 0
	tr.Tracks[0].Walk(func(path []*trace.Span) bool {
		if s := path[len(path)-1]; s.Kind == trace.KindOffCPU && strings.Contains(s.Name, ", woken by ") {
			woken++
		}
		return true
	})
	for _, track := range tr.Tracks[1:] {
		if strings.HasPrefix(track.Name, "pid ") && strings.HasSuffix(track.Name, ")") {
			named++
		}
	}
	if woken == 0 || named == 0 {
		t.Errorf("%d waits of kernel_init say who woke it, %d tasks are named: want some of each (tracks %v)", woken, named, trackNames(tr))
	}
	// What kernel_init waited for while it brought the CPUs up (the
	// per-CPU kthreads it created, each waking it as it starts), named with
	// the task that ended the wait and where.
	var smpWaits []string
	for _, path := range find(tr, "smp_init") {
		path[len(path)-1].Walk(func(p []*trace.Span) bool {
			if s := p[len(p)-1]; s.Kind == trace.KindOffCPU {
				smpWaits = append(smpWaits, s.Name)
			}
			return true
		})
	}
	if !slices.ContainsFunc(smpWaits, wokenWithCaller.MatchString) {
		t.Errorf("no wait of kernel_init in smp_init names its waker and where it woke it: %q", smpWaits)
	}
	secondary := false
	for _, m := range tr.Marks {
		secondary = secondary || m.Text == "start_secondary"
	}
	if !secondary {
		t.Error("no start_secondary event from the secondary CPU")
	}
	// RCU grace-period waits with their callers. Debian's 6.1 and 6.12 no
	// longer call rcu_barrier() while booting this config (mark_readonly
	// flushes a workqueue instead), so synchronize_rcu() stands for both.
	var waits [][]*trace.Span
	for _, w := range []string{"rcu_barrier", "synchronize_rcu"} {
		waits = append(waits, find(tr, w)...)
	}
	if len(waits) == 0 {
		t.Fatal("no rcu_barrier or synchronize_rcu wait")
	}
	for _, path := range waits {
		// The caller is a frame, or the phase named for the function that
		// called (the reader does not repeat it as a frame).
		caller := path[len(path)-2]
		if caller.Kind != trace.KindFrame && caller.Kind != trace.KindInitcall && (caller.Kind != trace.KindPhase || strings.Contains(caller.Name, " ")) {
			var recs []string
			for _, l := range strings.Split(console, "\n") {
				if strings.Contains(l, " W ") || strings.Contains(l, " X ") {
					recs = append(recs, l)
				}
			}
			t.Errorf("%s without its caller: %v; the wait records:\n%s", path[len(path)-1].Name, names(path), strings.Join(recs, "\n"))
		}
	}
	checkSamplesName(t, tr, false)
}

func names(path []*trace.Span) []string {
	var n []string
	for _, s := range path {
		n = append(n, s.Name)
	}
	return n
}

// TestBootTraceDebugfs reads the flush from /sys/kernel/debug/boot_trace,
// as on a machine whose console nobody captures: the file alone must be a
// whole flush, header to end line, that boottrace reads like a console.
// init copies it to a virtio disk, a channel of its own: over the console,
// a printk from a workqueue (the clocksource switch, at a moment that
// depends on the host's speed) could land inside a line.
func TestBootTraceDebugfs(t *testing.T) {
	needTools(t)
	build := buildKernel(t, "6.1", testKernel...)
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	env := []string{"MEM=128", "MACHINE=microvm,acpi=off",
		"QEMU_EXTRA=-drive file=" + disk + ",format=raw,if=none,id=d0 -device virtio-blk-device,drive=d0"}
	// A word without "=" or "." on the kernel's command line is an
	// argument of init (after "--", QEMU's own virtio_mmio.device= would be
	// too, and the disk would be missing).
	fromConsole, console := boot(t, build, env, "savetrace")
	if !strings.Contains(console, "boottrace-init: saved ") || strings.Contains(console, "(no /") {
		t.Fatalf("init did not copy debugfs to the disk:\n%s", tail([]byte(console)))
	}
	img, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	file, _, _ := bytes.Cut(img, []byte{0}) // the rest of the disk is zeros
	syms, closeFn, err := symbolize.Open("", filepath.Join(build, "System.map"))
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	// Read with the symbols the console's flush was read with, so that the
	// records' names compare.
	fromFile, err := input.Read(bytes.NewReader(file), input.ReadOptions{Symbols: syms})
	if err != nil {
		t.Fatalf("read the debugfs file: %v\n%s", err, tail(file))
	}
	if fromFile.Format != input.FormatBootTrace {
		t.Fatalf("the debugfs file read as %q", fromFile.Format)
	}
	if notes := strings.Join(fromFile.Notes, "\n"); strings.Contains(notes, "partial") || fromFile.Skipped.Total > 0 {
		t.Errorf("the debugfs file is not a whole flush:\n%s\n%s", notes, fromFile.Skipped.String())
	}
	if last := fromFile.Marks[len(fromFile.Marks)-1].Text; last != "run_init_process" {
		t.Errorf("the debugfs file's boot ends at %q", last)
	}
	// The same boot as the console's flush: every record the console
	// carried whole is in the file (the console's own may have lost some
	// to other output).
	inFile := map[trace.Mark]int{}
	for _, m := range fromFile.Marks {
		m.Line = 0
		inFile[m]++
	}
	for _, m := range fromConsole.Marks {
		m.Line = 0
		if inFile[m] == 0 {
			t.Errorf("console record %q at %d ns is not in the debugfs file", m.Text, m.Time)
			break
		}
		inFile[m]--
	}
}

// TestBootTraceEnds checks the other ways a boot ends: a userspace end
// mark, a panic (an init that exits), and live mode.
func TestBootTraceEnds(t *testing.T) {
	needTools(t)
	build := buildKernel(t, "6.1", testKernel...)
	for _, tc := range []struct {
		name     string
		cmdline  []string
		lastMark string
	}{
		{"end mark", []string{"boottrace.end=init"}, "init"},
		{"panic", []string{"boottrace.end=never", "panic=-1", "--", "exit"}, "panic"},
		{"live", []string{"boottrace=live"}, "run_init_process"},
		// quiet hides printk below KERN_WARNING; the flush goes to the
		// console directly and is not hidden.
		{"quiet", []string{"quiet"}, "run_init_process"},
		// A real rcu_barrier(): init frees a network namespace, whose
		// teardown (in workqueues) waits for RCU callbacks, and the boot
		// ends at the mark init writes after it.
		{"rcu_barrier", []string{"boottrace.end=netns-done", "netns"}, "netns-done"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, console := boot(t, build, []string{"MEM=128"}, tc.cmdline...)
			if got := tr.Marks[len(tr.Marks)-1].Text; got != tc.lastMark {
				t.Errorf("the boot ended at %q, want %q", got, tc.lastMark)
			}
			if tc.name == "rcu_barrier" {
				barriers := find(tr, "rcu_barrier")
				if len(barriers) == 0 {
					t.Fatalf("no rcu_barrier wait; tracks %v", trackNames(tr))
				}
				// The namespace's teardown calls it from more than one
				// place (cleanup_net, fqdir_free_fn for its IP
				// fragments): each must be named with its caller.
				for _, path := range barriers {
					if caller := path[len(path)-2]; caller.Kind != trace.KindFrame || strings.HasPrefix(caller.Name, "0x") {
						t.Errorf("rcu_barrier without a named caller: %v", names(path))
					}
				}
			}
			if tc.name != "panic" {
				if len(find(tr, "start_kernel")) == 0 {
					t.Error("no start_kernel span")
				}
				return
			}
			// At a panic, only the last records, after the oops (which a
			// pstore backend saves first).
			oops, flush := strings.Index(console, "Kernel panic - not syncing"), strings.Index(console, "BOOT_TRACE H ")
			if oops < 0 || flush < oops {
				t.Errorf("the panic's flush (at %d) does not follow the oops (at %d)", flush, oops)
			}
			if n := len(tr.Marks); n > 64 {
				t.Errorf("%d records printed at the panic, want the last 64", n)
			}
			if !strings.Contains(strings.Join(tr.Notes, "\n"), "records missing") {
				t.Errorf("notes do not say the records before the last ones are missing:\n%s", strings.Join(tr.Notes, "\n"))
			}
		})
	}
}

// TestBootTraceLimits boots with a buffer too small for the boot (the
// overflow is counted, the boot goes on, the profile says it is partial)
// and with boottrace=off (no record, no flush).
func TestBootTraceLimits(t *testing.T) {
	needTools(t)
	build := buildKernel(t, "6.1", testKernel...)
	t.Run("overflow", func(t *testing.T) {
		tr, console := boot(t, build, []string{"MEM=128"}, "boottrace.records=300")
		if !strings.Contains(console, "BOOT_TRACE H 2 ") || len(tr.Marks) > 300 {
			t.Errorf("%d records, want at most the 300 slots", len(tr.Marks))
		}
		if notes := strings.Join(tr.Notes, "\n"); !strings.Contains(notes, "dropped") {
			t.Errorf("the notes do not say records were dropped:\n%s", notes)
		}
	})
	t.Run("off", func(t *testing.T) {
		console := bootConsole(t, build, []string{"MEM=128"}, "boottrace=off")
		if bytes.Contains(console, []byte("BOOT_TRACE")) {
			t.Errorf("boottrace=off printed a flush:\n%s", tail(console))
		}
	})
}

// TestBootTraceKASAN boots a KASAN kernel with the patch: the first
// record is taken before KASAN's shadow memory exists, so an instrumented
// boot_trace.o would fault before the first printk.
func TestBootTraceKASAN(t *testing.T) {
	needTools(t)
	build := buildKernel(t, "6.1", "microvm", "boottrace", "kasan")
	tr, console := boot(t, build, []string{"MEM=256"})
	if !strings.Contains(console, "KernelAddressSanitizer initialized") {
		t.Errorf("the kernel did not say KASAN is on:\n%s", tail([]byte(console)))
	}
	if strings.Contains(console, "BUG: KASAN") {
		t.Errorf("KASAN reported a bug:\n%s", tail([]byte(console)))
	}
	if len(find(tr, "start_kernel")) == 0 || len(find(tr, "kernel_init_freeable")) == 0 {
		t.Error("the KASAN boot's trace lacks start_kernel or kernel_init_freeable")
	}
}

// TestBench boots the same kernel four times without and four times with
// ip= (the ~10 ms msleep of ip_auto_config), interleaved, through
// "boottrace bench": the diff must put ip_auto_config first and call its
// change significant (with 4 against 4 runs all ordered, p = 2/70).
func TestBench(t *testing.T) {
	needTools(t)
	build := buildKernel(t, "6.1", testKernel...)
	dir := t.TempDir()
	initramfs := filepath.Join(dir, "initramfs.cpio.gz")
	if out, err := exec.Command("./init/mkinitramfs.sh", initramfs).CombinedOutput(); err != nil {
		t.Fatalf("mkinitramfs: %v\n%s", err, out)
	}
	bin := filepath.Join(dir, "boottrace")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/boottrace").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	kernel := filepath.Join(build, "arch/x86/boot/bzImage")
	net := "QEMU_EXTRA='-netdev user,id=n0,restrict=on -device virtio-net-device,netdev=n0'"
	cmd := exec.Command(bin, "bench", "--runs", "5", "-o", filepath.Join(dir, "runs"), "--system-map", filepath.Join(build, "System.map"),
		"--vs", net+" ./boot.sh "+kernel+" "+initramfs+" - ip=10.0.2.15::10.0.2.2:255.255.255.0::eth0:off",
		"--", "/bin/sh", "-c", net+" ./boot.sh "+kernel+" "+initramfs+" -")
	// Both sides have the same network device: only ip= differs.
	cmd.Env = append(os.Environ(), "MEM=128", "MACHINE=microvm,acpi=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "boottrace: run "); n != 10 {
		t.Errorf("%d progress lines, want 10:\n%s", n, stderr.String())
	}
	// The first change of the table, and whether it is significant.
	_, table, _ := strings.Cut(string(out), "PATH\n")
	first, _, _ := strings.Cut(table, "\n")
	if !strings.Contains(first, "ip_auto_config") || !strings.Contains(first, " *") {
		t.Errorf("the first change is not a significant change under ip_auto_config:\n%s", out)
	}
}
