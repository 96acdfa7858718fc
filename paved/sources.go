package paved

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Source is an uploaded app archive, stored by the sha256 of its bytes.
type Source struct {
	Digest    string    `json:"digest"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// Sources is the source archive API.
type Sources interface {
	// Exists tells whether the cell already holds these bytes, so a client
	// never uploads the same archive twice.
	Exists(ctx context.Context, digest string) (bool, error)
	// Upload sends an archive (tar.gz or zip). The cell verifies the digest.
	// progress, when set, is told how many bytes have been sent.
	Upload(ctx context.Context, data []byte, progress func(sent int64)) (*Source, error)
	// Ensure uploads an archive unless the cell has those bytes already,
	// and returns its digest. uploaded tells whether bytes were sent.
	Ensure(ctx context.Context, data []byte, progress func(sent int64)) (digest string, uploaded bool, err error)
}

type sources struct{ c *Client }

var _ Sources = sources{}

func (s sources) Exists(ctx context.Context, digest string) (bool, error) {
	err := s.c.do(ctx, http.MethodHead, "/v1/sources/"+digest, nil, nil)
	if err == nil {
		return true, nil
	}
	if IsNotFound(err) {
		return false, nil
	}
	return false, err
}

func (s sources) Upload(ctx context.Context, data []byte, progress func(int64)) (*Source, error) {
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	var out Source
	err := s.c.doRaw(ctx, http.MethodPut, "/v1/sources/"+digest, "application/octet-stream",
		func() io.Reader { return &countingReader{r: bytes.NewReader(data), fn: progress} },
		int64(len(data)), &out)
	if err != nil {
		return nil, fmt.Errorf("upload source %s: %w", digest[:12], err)
	}
	return &out, nil
}

// countingReader reports upload progress as the transport reads the body.
type countingReader struct {
	r  io.Reader
	n  int64
	fn func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.fn != nil && n > 0 {
		c.fn(c.n)
	}
	return n, err
}

func (s sources) Ensure(ctx context.Context, data []byte, progress func(int64)) (string, bool, error) {
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	ok, err := s.Exists(ctx, digest)
	if err != nil || ok {
		return digest, false, err
	}
	if _, err := s.Upload(ctx, data, progress); err != nil {
		return digest, false, err
	}
	return digest, true, nil
}
