// Package symbolize resolves kernel addresses and "func+0x12/0x40"
// references against a vmlinux ELF file, a System.map, or text in
// /proc/kallsyms format, and knows which initcall level each initcall
// function was registered at.
//
// Parsing is kept apart from I/O: every table is built from an io.Reader
// (or an ELF file for vmlinux) so tests run on inline text.
package symbolize
