package testkit

import (
	"errors"
	"testing"
	"time"
)

// Eventually calls f until it returns nil or timeout passes, and returns
// f's last error if it never does. It polls often at first and then every
// 100 ms. Timeouts bound a hang; they do not measure performance, so make
// them generous: the machine may be loaded.
func Eventually(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	pause := 5 * time.Millisecond
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pause)
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// Await waits until cond holds, failing the test after timeout with what
// and cond's last explanation of why it does not hold yet.
func Await(t testing.TB, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	err := Eventually(timeout, func() error {
		if ok, why := cond(); !ok {
			if why == "" {
				why = "(no detail)"
			}
			return errors.New(why)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("%s: not true after %v; last seen: %v", what, timeout, err)
	}
}
