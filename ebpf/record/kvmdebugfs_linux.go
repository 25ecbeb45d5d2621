package record

import (
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/boottrace/boottrace/trace/tracefile"
)

// kvmDebugfs is where KVM keeps a directory per VM, "<pid>-<vm fd>", with
// its statistics and, per vCPU, the TSC offset and scaling ratio KVM
// applies: what the tracepoints cannot say (the offset in effect after a
// catch-up or a restore, whether the hardware scales the TSC at all).
// debugfs is mounted if it is not (as tracefs is): mounting it changes no
// state of the kernel's.
const (
	debugfs    = "/sys/kernel/debug"
	kvmDebugfs = debugfs + "/kvm"
)

// How often debugfs is looked at for a new VM (a short-lived VM is still
// seen), and how often a VM's directory is read again.
const (
	kvmScan = 5 * time.Millisecond
	kvmPoll = 50 * time.Millisecond
)

// kvmStats polls the KVM debugfs directories of the VMs made by pid (the
// VMM's global pid) or a process under local (the VMM as boottrace's pid
// namespace sees it), and writes what changed as "kvm-debugfs" events: a
// VM's counters (vcpu -1) and each vCPU's TSC offset and scaling ratio. It
// returns when quit is closed, after a last read.
func kvmStats(pid, local int, w *tracefile.Writer, quit <-chan struct{}) {
	if _, err := os.Stat(kvmDebugfs); err != nil {
		if _, err := os.Stat("/dev/kvm"); err != nil {
			return // no KVM: nothing to read
		}
		if err := unix.Mount("none", debugfs, "debugfs", 0, ""); err != nil {
			return // the reader notes that debugfs said nothing
		}
	}
	mine := map[string]bool{} // VM directory → made by the VMM
	last := map[string]map[string]int64{}
	read := map[string]time.Time{}
	tick := time.NewTicker(kvmScan)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-quit:
			done = true
		case <-tick.C:
		}
		dirs, _ := filepath.Glob(filepath.Join(kvmDebugfs, "*-*"))
		var tree map[int]bool
		for _, dir := range dirs {
			vmPID, fd, ok := vmDir(filepath.Base(dir))
			if !ok {
				continue
			}
			if _, known := mine[dir]; !known {
				if tree == nil {
					tree = map[int]bool{pid: true}
					for _, p := range processTree(local) {
						tree[p] = true
					}
				}
				mine[dir] = tree[vmPID]
			}
			if !mine[dir] || !done && time.Since(read[dir]) < kvmPoll {
				continue
			}
			read[dir] = time.Now()
			now := monotonic()
			for key, fields := range readVM(dir) {
				fields["vm_fd"] = int64(fd)
				if maps.Equal(last[dir+key], fields) {
					continue
				}
				last[dir+key] = fields
				w.Write(tracefile.Event{Time: now, Kind: tracefile.KindKVMDebugfs, TGID: uint32(vmPID), Fields: fields})
			}
		}
	}
}

// vmDir parses a VM directory's name, "<pid>-<fd>".
func vmDir(name string) (pid, fd int, ok bool) {
	a, b, found := strings.Cut(name, "-")
	pid, err1 := strconv.Atoi(a)
	fd, err2 := strconv.Atoi(b)
	return pid, fd, found && err1 == nil && err2 == nil
}

// readVM reads a VM's directory: its counters (files holding one number)
// under key "", and each vCPU's TSC files under key "vcpuN".
func readVM(dir string) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out // the VM is gone
	}
	stats := map[string]int64{"vcpu": -1}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			id, err := strconv.Atoi(strings.TrimPrefix(name, "vcpu"))
			if !strings.HasPrefix(name, "vcpu") || err != nil {
				continue
			}
			v := map[string]int64{"vcpu": int64(id)}
			// tsc-scaling-ratio exists only where the hardware scales
			// the TSC; its absence is an answer too.
			for _, f := range []string{"tsc-offset", "tsc-scaling-ratio", "tsc-scaling-ratio-frac-bits"} {
				if n, ok := readNumber(filepath.Join(dir, name, f)); ok {
					v[strings.ReplaceAll(f, "-", "_")] = n
				}
			}
			if len(v) > 1 {
				out[name] = v
			}
			continue
		}
		if n, ok := readNumber(filepath.Join(dir, name)); ok {
			stats[name] = n
		}
	}
	if len(stats) > 1 {
		out[""] = stats
	}
	return out
}

// readNumber reads a debugfs file holding one integer (histograms and
// other files are not).
func readNumber(path string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 32 {
		return 0, false
	}
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	// Ratios are unsigned and may not fit: keep their bits.
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		return int64(n), true
	}
	return 0, false
}
