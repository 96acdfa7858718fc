package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pavedroad/terraform-provider-paved/paved"
)

// TestHelloThreeInstances pushes examples/hello with 3 instances; the router
// serves it and the answers come from 3 distinct instances.
func TestHelloThreeInstances(t *testing.T) {
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 3)

	v := c.appShow("demo", "web")
	if v.Status != paved.AppRunning || v.Release != 1 || len(v.Instances) != 3 {
		t.Fatalf("app show: status %q release %d instances %d, want running/1/3", v.Status, v.Release, len(v.Instances))
	}
	if len(v.Routes) != 1 || v.Routes[0] != "web.example.test" {
		t.Fatalf("routes = %v", v.Routes)
	}
	for _, in := range v.Instances {
		if in.ID == "" || in.State != paved.InstanceRunning || in.Release != 1 || in.Crashes != 0 {
			t.Fatalf("instance %+v: want a running instance of release 1 with no crashes", in)
		}
	}

	seen := map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	for range 60 {
		resp, body, err := c.get(client, "web.example.test", "/")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "hello from paved") {
			t.Fatalf("router answered %d %q", resp.StatusCode, body)
		}
		id := resp.Header.Get("X-Paved-Instance")
		if !strings.Contains(body, id) {
			t.Fatalf("X-Paved-Instance %q does not match the instance that answered: %q", id, body)
		}
		seen[id]++
	}
	if len(seen) != 3 {
		t.Fatalf("answers came from %d instances (%v), want 3", len(seen), seen)
	}

	// Host matching ignores case and port; unknown hosts are a clear 404.
	resp, _, err := c.get(client, "WEB.example.test:80", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("mixed-case host with port: %v %v", resp, err)
	}
	resp, body, err := c.get(client, "nope.example.test", "/")
	if err != nil || resp.StatusCode != 404 || !strings.Contains(body, "nope.example.test") {
		t.Fatalf("unknown host: want 404 naming the host, got %v %q %v", resp.StatusCode, body, err)
	}

	// The CLI's read commands agree with the API.
	if out := c.mustPaved("apps"); !strings.Contains(out, "web") || !strings.Contains(out, "3/3") {
		t.Fatalf("paved apps:\n%s", out)
	}
	if out := c.mustPaved("status"); !strings.Contains(out, "3/3 instances healthy") {
		t.Fatalf("paved status:\n%s", out)
	}
	logs := c.mustPaved("logs", "web", "--space", "demo")
	if !strings.Contains(logs, "listening on 127.0.0.1:") || !strings.Contains(logs, "release 1 is live") {
		t.Fatalf("paved logs lacks the instances' output or the cell's notes:\n%s", logs)
	}
}

// TestKillInstanceNoFailedRequests kills one instance with SIGKILL while a
// client loops through the router: the instance comes back and no request fails.
func TestKillInstanceNoFailedRequests(t *testing.T) {
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 3)
	victim := c.appShow("demo", "web").Instances[0]

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, _, err := c.get(client, "web.example.test", "/")
				if err == nil && resp.StatusCode == 200 {
					ok.Add(1)
					continue
				}
				failed.Add(1)
				if err == nil {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
				firstErr.CompareAndSwap(nil, err.Error())
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the killed instance restarts and is healthy again", func() error {
		for _, in := range c.appShow("demo", "web").Instances {
			if in.ID == victim.ID {
				if in.Crashes >= 1 && in.State == paved.InstanceRunning && in.PID != victim.PID {
					return nil
				}
				return fmt.Errorf("instance %s: state %s crashes %d pid %d", in.ID, in.State, in.Crashes, in.PID)
			}
		}
		return errors.New("instance vanished")
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the kill (first: %v)", failed.Load(), ok.Load()+failed.Load(), firstErr.Load())
	}
	if ok.Load() < 50 {
		t.Fatalf("only %d requests went through; the loop did not exercise the router", ok.Load())
	}
	t.Logf("%d requests, 0 failed, across the kill and restart of %s", ok.Load(), victim.ID)
}

// TestCellKill9Restart kills the cell itself: after a restart on the same
// data dir every app is back at its instance count, nothing from before is
// left running, and the event log is intact.
func TestCellKill9Restart(t *testing.T) {
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 2)
	// This app's instances leave a grandchild in a session of its own, out of
	// reach of process-group signals: only the cell's sweep can find it.
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Fatalf("setsid (util-linux) is needed to leave a process out of the instance's group: %v", err)
	}
	c.pushHello("demo", "sneaky", "sneaky.example.test", 1, "--command", "setsid sleep 600 & exec ./hello")
	// Without the escaped grandchild (setsid missing in the instance, the
	// background start failing) the checks after the restart, all of them
	// absence checks, would pass on nothing. Its session tells it apart:
	// in a sandbox the app itself runs in a process group of its own below
	// the instance's process, but in the instance's session.
	sv := c.appShow("demo", "sneaky")
	if len(sv.Instances) != 1 {
		t.Fatalf("sneaky has %d instances, want 1", len(sv.Instances))
	}
	sneaky := sv.Instances[0]
	eventually(t, 10*time.Second, "the sneaky instance's grandchild runs in a session of its own", func() error {
		sid, err := unix.Getsid(sneaky.PID)
		if err != nil {
			return fmt.Errorf("session of instance %s (pid %d): %v", sneaky.ID, sneaky.PID, err)
		}
		pids := processesWithEnv("PAVED_INSTANCE", sneaky.ID)
		for _, pid := range pids {
			if s, err := unix.Getsid(pid); err == nil && s != sid {
				return nil
			}
		}
		return fmt.Errorf("processes of instance %s (pid %d, session %d): %v, none in another session", sneaky.ID, sneaky.PID, sid, pids)
	})

	before := map[string]cliInstance{}
	for _, app := range []string{"web", "sneaky"} {
		for _, in := range c.appShow("demo", app).Instances {
			before[in.ID] = cliInstance{pid: in.PID}
		}
	}
	evBefore, err := c.client.Events.List(context.Background(), paved.ListEventsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evBefore) == 0 {
		t.Fatal("no events recorded")
	}

	c.kill9()
	c.start()

	for id, in := range before {
		if processAlive(in.pid) || groupAlive(in.pid) {
			t.Errorf("instance %s (pid/pgid %d) from before the kill is still running", id, in.pid)
		}
		if pids := processesWithEnv("PAVED_INSTANCE", id); len(pids) > 0 {
			t.Errorf("processes of instance %s survived the restart: %v", id, pids)
		}
	}
	for app, want := range map[string]int{"web": 2, "sneaky": 1} {
		eventually(t, 60*time.Second, app+" is back at its instance count", func() error {
			v := c.appShow("demo", app)
			if v.Status != paved.AppRunning || v.Running != want {
				return fmt.Errorf("status %s, %d/%d healthy", v.Status, v.Running, want)
			}
			return nil
		})
	}
	resp, _, err := c.get(&http.Client{Timeout: 5 * time.Second}, "web.example.test", "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("router after restart: %v %v", resp, err)
	}
	evAfter, err := c.client.Events.List(context.Background(), paved.ListEventsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(evAfter) < len(evBefore) {
		t.Fatalf("events shrank from %d to %d", len(evBefore), len(evAfter))
	}
	for i, e := range evBefore {
		if evAfter[i] != e {
			t.Fatalf("event %d changed across the restart: %+v → %+v", i, e, evAfter[i])
		}
	}
}

type cliInstance struct{ pid int }

// TestShutdownStopsApps checks that SIGTERM stops every app process.
func TestShutdownStopsApps(t *testing.T) {
	c := startCell(t)
	c.pushHello("demo", "web", "web.example.test", 2)
	var pids []int
	for _, in := range c.appShow("demo", "web").Instances {
		pids = append(pids, in.PID)
	}
	c.stop()
	for _, pid := range pids {
		if processAlive(pid) || groupAlive(pid) {
			t.Errorf("app process %d is still running after the cell's clean shutdown", pid)
		}
	}
}
