package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/pavedroad/terraform-provider-paved/internal/store"
)

func TestSpaceUID(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent first uses of one space agree; other spaces get the next uids.
	uids := make([]int, 10)
	var wg sync.WaitGroup
	for i := range uids {
		wg.Go(func() {
			space := "dev"
			if i%2 == 1 {
				space = "prod"
			}
			uid, err := s.SpaceUID(ctx, space, 200000, 3)
			if err != nil {
				t.Error(err)
			}
			uids[i] = uid
		})
	}
	wg.Wait()
	dev, prod := uids[0], uids[1]
	for i, u := range uids {
		if want := []int{dev, prod}[i%2]; u != want {
			t.Fatalf("call %d got uid %d, want %d: %v", i, u, want, uids)
		}
	}
	if dev == prod || dev < 200000 || prod < 200000 || dev > 200001 || prod > 200001 {
		t.Fatalf("uids dev %d prod %d, want 200000 and 200001", dev, prod)
	}
	if _, err := s.SpaceUID(ctx, "stage", 200000, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SpaceUID(ctx, "qa", 200000, 3); !errors.Is(err, store.ErrUIDsExhausted) {
		t.Fatalf("a fourth space in a range of 3: %v, want ErrUIDsExhausted", err)
	}
	if _, err := s.SpaceUID(ctx, "x", 0, 10); err == nil {
		t.Fatal("a range starting at uid 0 was accepted")
	}
	s.Close()
	// Persisted: the same uid after a restart.
	s, err = store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again, _ := s.SpaceUID(ctx, "dev", 200000, 3); again != dev {
		t.Fatalf("after reopening dev has uid %d, want %d", again, dev)
	}
}
