package trace

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
)

// detectWindow is how much of the input detection looks at.
const detectWindow = 64 << 10

// ReadFile reads the file at path with Read.
func ReadFile(path string, opt ReadOptions) (*Trace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, opt)
}

// Uncompressed returns what r holds, gunzipped if it is gzipped (trace
// files and logs are often kept compressed).
func Uncompressed(r io.Reader) (io.Reader, error) {
	br := bufio.NewReaderSize(r, MaxLineLen)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	}
	return br, nil
}

// Read detects the input's format from its content and reads it. On
// ErrNoData the returned trace still carries Skipped, to say why.
func Read(r io.Reader, opt ReadOptions) (*Trace, error) {
	u, err := Uncompressed(r)
	if err != nil {
		return nil, err
	}
	lr := newLineReader(u)
	head, _ := lr.r.Peek(detectWindow)
	switch detect(head) {
	case FormatRecording:
		return readRecording(lr, opt)
	case FormatFolded:
		return readFolded(lr)
	default:
		return readKernelLog(lr, opt)
	}
}

// detect names the format of the input's first bytes. A kernel log wins
// as soon as one line carries a printk timestamp; folded stacks need every
// looked-at line that has content to look like a stack with a count.
func detect(head []byte) string {
	if bytes.HasPrefix(head, []byte(recordingMagic)) {
		return FormatRecording
	}
	folded, other := 0, 0
	for len(head) > 0 {
		line := head
		if i := bytes.IndexByte(head, '\n'); i >= 0 {
			line, head = head[:i], head[i+1:]
		} else {
			head = nil // maybe cut by the window: look no further
			if _, _, ok := splitFolded(line); ok && other == 0 && folded > 0 {
				break
			}
		}
		line = bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if _, _, _, ok := parseLogPrefix(line); ok {
			return FormatKernelLog
		}
		if _, _, ok := splitFolded(line); ok {
			folded++
		} else {
			other++
		}
	}
	if folded > 0 && folded >= other {
		return FormatFolded
	}
	return FormatKernelLog
}

// Describe is the error message for an input nothing could be read from.
func Describe(name string, t *Trace, err error) string {
	msg := fmt.Sprintf("%s: %v", name, err)
	if t != nil && t.Skipped.Total > 0 {
		msg += fmt.Sprintf("\nskipped %d lines:\n%s", t.Skipped.Total, t.Skipped.String())
	}
	return msg + "\nboottrace reads serial console or dmesg logs with printk timestamps (\"[    0.123456] message\"), BOOT_TRACE flushes, trace files of \"boottrace record\" and folded stacks (\"frame;frame;frame 123\")"
}
