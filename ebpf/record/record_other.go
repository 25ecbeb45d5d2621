//go:build !linux

package record

import (
	"context"
	"errors"
)

func checkPrivileges() error { return errors.New("boottrace record needs Linux") }

// Record needs Linux: its probes are Linux tracepoints.
func Record(ctx context.Context, opt Options) (Result, error) {
	return Result{}, errors.New("boottrace record needs Linux")
}
