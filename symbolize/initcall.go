package symbolize

import (
	"slices"
	"sort"
	"strings"
)

// Level is an initcall level, numbered in the order the kernel runs them.
type Level int8

// Initcall levels.
const (
	LevelEarly  Level = iota // early_initcall
	LevelPure                // 0
	LevelCore                // 1
	LevelPost                // 2, postcore
	LevelArch                // 3
	LevelSubsys              // 4
	LevelFS                  // 5
	LevelRootfs              // rootfs
	LevelDevice              // 6
	LevelLate                // 7
)

// levelInfo gives each level, in order, its name in the kernel's initcall
// macros, its suffix in __initcall symbols, and the boundary symbol that
// starts its section in .init.data.
var levelInfo = []struct{ name, suffix, start string }{
	{"early", "early", "__initcall_start"},
	{"pure", "0", "__initcall0_start"},
	{"core", "1", "__initcall1_start"},
	{"postcore", "2", "__initcall2_start"},
	{"arch", "3", "__initcall3_start"},
	{"subsys", "4", "__initcall4_start"},
	{"fs", "5", "__initcall5_start"},
	{"rootfs", "rootfs", "__initcallrootfs_start"},
	{"device", "6", "__initcall6_start"},
	{"late", "7", "__initcall7_start"},
}

// String is the level's name in the kernel's initcall macros ("core").
func (l Level) String() string {
	if l < 0 || int(l) >= len(levelInfo) {
		return "unknown"
	}
	return levelInfo[l].name
}

// initcallLevels learns each initcall function's level from the
// __initcall* pointer symbols: the level comes from which section boundary
// the pointer lies after (exact), and the function name from the pointer's
// symbol name with that level's suffix removed. Both naming schemes are
// understood: "__initcall_<fn><level>" (up to 5.x) and
// "__initcall__kmod_<mod>__<id>_<line>_<fn><level>" (5.15 on).
func initcallLevels(syms []symbol) map[string][]Level {
	type bound struct {
		addr  uint64
		level Level
	}
	var bounds []bound
	byName := make(map[string]uint64, len(levelInfo)+1)
	for _, s := range syms {
		if strings.HasPrefix(s.name, "__initcall") && (strings.HasSuffix(s.name, "_start") || s.name == "__initcall_end") {
			byName[s.name] = s.addr
		}
	}
	for l, info := range levelInfo {
		if a, ok := byName[info.start]; ok {
			bounds = append(bounds, bound{a, Level(l)})
		}
	}
	end, haveEnd := byName["__initcall_end"]
	if len(bounds) == 0 || !haveEnd {
		return nil
	}
	sort.SliceStable(bounds, func(i, j int) bool { return bounds[i].addr < bounds[j].addr })
	levels := make(map[string][]Level)
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

func initcallFunc(sym string, level Level) (string, bool) {
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
	suffix := levelInfo[level].suffix
	for _, suffix := range []string{suffix + "s", suffix} {
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
