// Package perfettopb is the Go code protoc-gen-go generates from
// perfetto_trace.proto: the part of Perfetto's trace format boottrace
// writes.
package perfettopb

//go:generate protoc --go_out=. --go_opt=paths=source_relative perfetto_trace.proto
