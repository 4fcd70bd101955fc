package mockserver_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sandboxkit/sandboxkit/mockserver"
)

func TestAdvanceOnRealClockIsAnError(t *testing.T) {
	t.Parallel()
	srv := mockserver.Start(t)
	before := srv.Now()
	if err := srv.Advance(time.Hour); !errors.Is(err, mockserver.ErrRealClock) {
		t.Fatalf("Advance on a real-clock server: err = %v, want ErrRealClock", err)
	}
	if srv.Now().Sub(before) > time.Minute {
		t.Error("Advance moved a real-clock server")
	}
}

func TestAdvanceMovesManualClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	srv := mockserver.Start(t, mockserver.WithManualClock(start))
	if err := srv.Advance(90 * time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := srv.Now(); !got.Equal(start.Add(90 * time.Minute)) {
		t.Errorf("Now = %v, want %v", got, start.Add(90*time.Minute))
	}
}
