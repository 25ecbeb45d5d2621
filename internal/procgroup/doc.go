// Package procgroup runs a command in a process group of its own and stops
// the group: a boot command's shell, its timeout wrapper and the VMM they
// start end together (capture's runs, record's VMM).
package procgroup
