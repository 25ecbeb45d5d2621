package record

func rdtsc() uint64

// ReadTSC reads the host's time-stamp counter.
func ReadTSC() uint64 { return rdtsc() }
