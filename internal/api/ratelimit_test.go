package api

import (
	"testing"
	"time"
)

func TestRateLimiterBucket(t *testing.T) {
	l := newRateLimiter(10) // burst 20
	t0 := time.Unix(1000, 0)
	for i := range 20 {
		if ok, _ := l.allow("a", t0); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := l.allow("a", t0)
	if ok || wait <= 0 || wait > 100*time.Millisecond {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused for up to 100ms", ok, wait)
	}
	if ok, _ := l.allow("b", t0); !ok {
		t.Fatal("another key shares the bucket")
	}
	if ok, _ := l.allow("a", t0.Add(100*time.Millisecond)); !ok {
		t.Fatal("a token did not come back after 1/rate")
	}
	if ok, _ := l.allow("a", t0.Add(100*time.Millisecond)); ok {
		t.Fatal("more than one token came back")
	}
	// Idle buckets are forgotten (they would be full anyway).
	l.allow("c", t0.Add(10*time.Minute))
	if _, ok := l.buckets["a"]; ok {
		t.Error("an idle bucket was kept")
	}
	if newRateLimiter(0) != nil {
		t.Error("rate 0 should be no limiter")
	}
	var none *rateLimiter
	if ok, _ := none.allow("a", t0); !ok {
		t.Error("no limiter refused")
	}
}

func TestAuthBackoffGrows(t *testing.T) {
	b := newAuthBackoff()
	now := time.Unix(1000, 0)
	for range 4 {
		b.failed("ip", now)
	}
	if _, blocked := b.blocked("ip", now); blocked {
		t.Fatal("blocked after four failures")
	}
	// The fifth failure within a minute blocks for 1s; each failure after a
	// block doubles it, up to a minute.
	want := []time.Duration{1, 2, 4, 8, 16, 32, 60, 60}
	for i, w := range want {
		b.failed("ip", now)
		wait, blocked := b.blocked("ip", now)
		if !blocked || wait != w*time.Second {
			t.Fatalf("block %d: %v %v, want %v", i, wait, blocked, w*time.Second)
		}
		if _, blocked := b.blocked("other-ip", now); blocked {
			t.Fatal("another address is blocked")
		}
		now = now.Add(wait) // the block is over
		if _, blocked := b.blocked("ip", now); blocked {
			t.Fatalf("still blocked after %v", wait)
		}
	}
	// A success forgets the address.
	b.succeeded("ip")
	for range 4 {
		b.failed("ip", now)
	}
	if _, blocked := b.blocked("ip", now); blocked {
		t.Fatal("blocked after a success and four failures")
	}
	b.failed("ip", now)
	if wait, _ := b.blocked("ip", now); wait != time.Second {
		t.Fatalf("after a reset the first block is %v, want 1s", wait)
	}
	// Failures spread over more than a minute never block.
	b2 := newAuthBackoff()
	for i := range 20 {
		at := now.Add(time.Duration(i) * 16 * time.Second)
		b2.failed("ip", at)
		if _, blocked := b2.blocked("ip", at); blocked {
			t.Fatalf("blocked by failure %d, 16s apart", i)
		}
	}
	// A quiet minute after the last block starts the backoff over.
	b3 := newAuthBackoff()
	for range 6 {
		b3.failed("ip", now)
		wait, _ := b3.blocked("ip", now)
		now = now.Add(wait)
	}
	if b3.clients["ip"].next != 2*time.Second {
		t.Fatalf("next block %v", b3.clients["ip"].next)
	}
	now = now.Add(authFailWindow + time.Second)
	b3.failed("ip", now)
	if _, blocked := b3.blocked("ip", now); blocked {
		t.Fatal("one failure after a quiet minute blocks")
	}
	if _, ok := b3.clients["ip"]; !ok || b3.clients["ip"].next != 0 {
		t.Fatalf("the backoff did not start over: %+v", b3.clients["ip"])
	}
}
