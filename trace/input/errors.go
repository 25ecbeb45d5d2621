package input

import "errors"

// ErrNoData is returned when an input holds nothing a reader could use.
var ErrNoData = errors.New("no usable data")
