package symbolize

import (
	"slices"
	"sort"
	"strings"
)

// levelOrder lists initcall levels in the order the kernel runs them, with
// the boundary symbol that starts each level's section in .init.data.
var levelOrder = []struct{ level, start string }{
	{"early", "__initcall_start"},
	{"0", "__initcall0_start"},
	{"1", "__initcall1_start"},
	{"2", "__initcall2_start"},
	{"3", "__initcall3_start"},
	{"4", "__initcall4_start"},
	{"5", "__initcall5_start"},
	{"rootfs", "__initcallrootfs_start"},
	{"6", "__initcall6_start"},
	{"7", "__initcall7_start"},
}

// LevelIndex is the position of a level in the order the kernel runs
// them, or -1 for an unknown level.
func LevelIndex(level string) int {
	for i, l := range levelOrder {
		if l.level == level {
			return i
		}
	}
	return -1
}

// LevelName is the name the kernel's initcall macros give a level.
func LevelName(level string) string {
	switch level {
	case "early":
		return "early"
	case "0":
		return "pure"
	case "1":
		return "core"
	case "2":
		return "postcore"
	case "3":
		return "arch"
	case "4":
		return "subsys"
	case "5":
		return "fs"
	case "rootfs":
		return "rootfs"
	case "6":
		return "device"
	case "7":
		return "late"
	}
	return level
}

// initcallLevels learns each initcall function's level from the
// __initcall* pointer symbols: the level comes from which section boundary
// the pointer lies after (exact), and the function name from the pointer's
// symbol name with that level's suffix removed. Both naming schemes are
// understood: "__initcall_<fn><level>" (up to 5.x) and
// "__initcall__kmod_<mod>__<id>_<line>_<fn><level>" (5.15 on).
func initcallLevels(syms []symbol) map[string][]string {
	type bound struct {
		addr  uint64
		level string
	}
	var bounds []bound
	byName := make(map[string]uint64, len(levelOrder)+1)
	for _, s := range syms {
		if strings.HasPrefix(s.name, "__initcall") && (strings.HasSuffix(s.name, "_start") || s.name == "__initcall_end") {
			byName[s.name] = s.addr
		}
	}
	for _, l := range levelOrder {
		if a, ok := byName[l.start]; ok {
			bounds = append(bounds, bound{a, l.level})
		}
	}
	end, haveEnd := byName["__initcall_end"]
	if len(bounds) == 0 || !haveEnd {
		return nil
	}
	sort.SliceStable(bounds, func(i, j int) bool { return bounds[i].addr < bounds[j].addr })
	levels := make(map[string][]string)
	for _, s := range syms {
		if !strings.HasPrefix(s.name, "__initcall_") || s.addr >= end || s.addr < bounds[0].addr {
			continue
		}
		if strings.HasSuffix(s.name, "_start") || strings.HasSuffix(s.name, "_end") {
			continue
		}
		i := sort.Search(len(bounds), func(i int) bool { return bounds[i].addr > s.addr }) - 1
		level := bounds[i].level
		fn, ok := initcallFunc(s.name, level)
		if ok && !slices.Contains(levels[fn], level) {
			// Static functions of the same name, or one function registered
			// twice, give a name several levels.
			levels[fn] = append(levels[fn], level)
		}
	}
	return levels
}

func initcallFunc(sym, level string) (string, bool) {
	var fn string
	if rest, ok := strings.CutPrefix(sym, "__initcall__kmod_"); ok {
		// <mod>__<id>_<line>_<fn><level>: skip to after "__<digits>_<digits>_".
		for i := 0; i+2 < len(rest); i++ {
			if rest[i] != '_' || rest[i+1] != '_' {
				continue
			}
			j := i + 2
			k := skipDigits(rest, j)
			if k == j || k >= len(rest) || rest[k] != '_' {
				continue
			}
			m := skipDigits(rest, k+1)
			if m == k+1 || m >= len(rest) || rest[m] != '_' {
				continue
			}
			fn = rest[m+1:]
			break
		}
	} else {
		fn = strings.TrimPrefix(sym, "__initcall_")
	}
	for _, suffix := range []string{level + "s", level} {
		if f, ok := strings.CutSuffix(fn, suffix); ok && f != "" {
			return f, true
		}
	}
	return "", false
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// LevelAt is the level at position i of the kernel's order.
func LevelAt(i int) string {
	if i < 0 || i >= len(levelOrder) {
		return ""
	}
	return levelOrder[i].level
}
