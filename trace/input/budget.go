package input

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// DefaultMaxMemory is the memory budget when ReadOptions.MaxMemory is 0.
const DefaultMaxMemory = 1 << 30

// The budget is kept by bounding what is read, in a way that depends on
// the input alone (so that the same input gives the same output on every
// machine): a number of input bytes for line formats, of tree nodes for
// folded stacks. The factors are the most memory (max RSS, garbage
// collector headroom included) that any command was measured to need per
// unit, on every shape of scripts/measure-memory.sh, at 20 and 100 MB,
// with a margin.
var memoryPerByte = map[string]int64{
	FormatKernelLog: 64, // report of 22 MB of initcalls that never return: 46
	FormatBootTrace: 20, // summary of nested records: 17.5
	FormatRecording: 12, // every command on 2 M events in one reorder window: 11.2
}

const (
	memoryPerNode     = 1800 // a folded frame read into spans (pprof: 1,650)
	memoryPerTreeNode = 200  // a folded frame kept as a call tree (flame: 140)
)

// maxMemory is the budget opt asks for, or 0 for none.
func maxMemory(opt ReadOptions) int64 {
	switch {
	case opt.MaxMemory < 0:
		return 0
	case opt.MaxMemory == 0:
		return DefaultMaxMemory
	}
	return opt.MaxMemory
}

// cutNote says where the budget stopped reading and what was left; the
// rest of r is read (not kept) to count it.
func cutNote(r *bufio.Reader, format string, budget int64, line int, read int64, unit string) string {
	var restBytes, restLines int64
	buf := make([]byte, 64<<10)
	last := byte('\n')
	for {
		n, err := r.Read(buf)
		restBytes += int64(n)
		restLines += int64(bytes.Count(buf[:n], []byte("\n")))
		if n > 0 {
			last = buf[n-1]
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return budgetNote(budget, "this "+format, line, FormatBytes(read)+" of it", unit) + fmt.Sprintf("; what follows could not be read: %v", err)
			}
			break
		}
	}
	if last != '\n' {
		restLines++
	}
	return budgetNote(budget, "this "+format, line, FormatBytes(read)+" of it", unit) + restNote(restLines, restBytes)
}

// budgetNote says that the budget stopped reading what after line,
// howFar into it, and why that far.
func budgetNote(budget int64, what string, line int, howFar, why string) string {
	return fmt.Sprintf("partial: the memory budget (%s, --max-memory) stopped reading %s after line %d, %s (%s)", FormatBytes(budget), what, line, howFar, why)
}

// restNote ends a budgetNote with what was left.
func restNote(lines, bytes int64) string {
	return fmt.Sprintf(": the %d lines after it (%s) are not shown", lines, FormatBytes(bytes))
}

// FormatBytes prints a size in the largest binary unit it reaches.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size {
			return strconv.FormatFloat(float64(n)/float64(u.size), 'f', 1, 64) + " " + u.name
		}
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// ParseBytes reads a size such as "1GiB", "512 MiB", "64M" or "1000000"
// (bytes). K, M, G with or without "iB" are powers of 1024; "KB", "MB",
// "GB" powers of 1000.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToUpper(strings.TrimSpace(t[i:]))
	mult := map[string]int64{"": 1, "B": 1, "K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30,
		"KB": 1e3, "MB": 1e6, "GB": 1e9}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || mult == 0 || v < 0 || v*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("size %q: give a number of bytes with an optional unit, such as 512MiB or 2GiB", s)
	}
	return int64(v * float64(mult)), nil
}
