//go:build !amd64

package record

// ReadTSC returns 0 where there is no x86 time-stamp counter.
func ReadTSC() uint64 { return 0 }
