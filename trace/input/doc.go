// Package input reads what users have into the span model (package
// trace), one file per format: kernel logs (kernlog.go), BOOT_TRACE
// flushes (boottrace.go), folded stacks (folded.go) and trace files of
// "boottrace record" (recording.go, recevents.go for the VMM's probe
// events, recguest.go for the guest placed on the host's clock). Read
// detects the format from content; Load, the entry point of the commands,
// also chooses the input (a file, stdin or the embedded example) and its
// symbols. Every reader bounds its memory and reports what it skipped.
package input
