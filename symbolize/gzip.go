package symbolize

import (
	"bufio"
	"compress/gzip"
	"io"
)

// maybeGunzip lets examples ship symbol maps compressed.
func maybeGunzip(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		return gzip.NewReader(br)
	}
	return br, nil
}

// ReadSystemMapGz reads a System.map that may be gzipped.
func ReadSystemMapGz(r io.Reader) (*Table, error) {
	zr, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	return ReadSystemMap(zr)
}
