//go:build !linux

package ebpf

import (
	"context"
	"errors"
)

// Record needs Linux: its probes are Linux tracepoints.
func Record(ctx context.Context, opt RecordOptions) (RecordResult, error) {
	return RecordResult{}, errors.New("boottrace record needs Linux")
}
