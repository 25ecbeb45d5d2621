// Package examples holds real boots captured on a development machine, with
// the commands that captured them (see README.md). One of them is embedded
// in the boottrace binary as the default input.
package examples

import _ "embed"

// Example is a captured boot shipped with boottrace.
type Example struct {
	Name      string
	Log       []byte
	SystemMap []byte // gzipped System.map of the kernel that booted
}

var (
	//go:embed debian-6.1/initcall.log
	debianInitcallLog []byte
	//go:embed debian-6.1/System.map.gz
	debianSystemMap []byte
)

// Default is the example boottrace reads when no input is given: Debian's
// 6.1 kernel booted under QEMU microvm with initcall_debug.
func Default() Example {
	return Example{Name: "debian-6.1/initcall.log", Log: debianInitcallLog, SystemMap: debianSystemMap}
}
