package kubenode

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var probeClient = &http.Client{
	Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as a kubelet's probes: no verification
		Proxy:             nil,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probeLoop runs a readiness or liveness probe of one container instance
// until ctx ends: readiness sets the container's ready flag, a liveness
// failure kills the instance.
func (p *provider) probeLoop(ctx context.Context, pd *pod, c *container, proc *process, pr *corev1.Probe, liveness bool) {
	period := time.Duration(orDefault(pr.PeriodSeconds, 10)) * time.Second
	timeout := time.Duration(orDefault(pr.TimeoutSeconds, 1)) * time.Second
	successes, failures := orDefault(pr.SuccessThreshold, 1), orDefault(pr.FailureThreshold, 3)
	if !sleepCtx(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	var succ, fail int32
	for {
		err := p.probe(ctx, pd, c, pr, timeout)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			succ, fail = succ+1, 0
		} else {
			succ, fail = 0, fail+1
		}
		if liveness {
			if fail >= failures {
				p.mu.Lock()
				c.killMsg = fmt.Sprintf("liveness probe failed %d times: %v", fail, err)
				grace := 30 * time.Second
				if s := pd.spec.Spec.TerminationGracePeriodSeconds; s != nil {
					grace = time.Duration(*s) * time.Second
				}
				if pr.TerminationGracePeriodSeconds != nil {
					grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
				}
				p.mu.Unlock()
				p.log.Info("liveness probe failed, killing", "pod", pd.key, "container", c.spec.Name, "err", err)
				go proc.terminate(grace, pd.hurry)
				return
			}
		} else {
			p.mu.Lock()
			if c.proc == proc {
				switch {
				case !c.ready && succ >= successes:
					c.ready = true
					p.markDirty(pd)
				case c.ready && fail >= failures:
					c.ready = false
					p.markDirty(pd)
				}
			}
			p.mu.Unlock()
		}
		if !sleepCtx(ctx, period) {
			return
		}
	}
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

func (p *provider) probe(ctx context.Context, pd *pod, c *container, pr *corev1.Probe, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case pr.HTTPGet != nil:
		h := pr.HTTPGet
		port, err := resolvePort(h.Port, &c.spec)
		if err != nil {
			return err
		}
		host := h.Host
		if host == "" {
			host = pd.ip
		}
		scheme := strings.ToLower(string(h.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		path := h.Path
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+net.JoinHostPort(host, strconv.Itoa(port))+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("User-Agent", "kube-probe/kubenode")
		for _, hd := range h.HTTPHeaders {
			if strings.EqualFold(hd.Name, "Host") {
				req.Host = hd.Value
			} else {
				req.Header.Add(hd.Name, hd.Value)
			}
		}
		resp, err := probeClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Errorf("HTTP probe failed with statuscode: %d", resp.StatusCode)
		}
		return nil
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, &c.spec)
		if err != nil {
			return err
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = pd.ip
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return err
		}
		return conn.Close()
	case pr.Exec != nil:
		p.mu.Lock()
		env, dir, ns := c.env, c.dir, pd.thread()
		p.mu.Unlock()
		if env == nil {
			return errors.New("exec probe: the container is not running")
		}
		path, argv, err := pd.resolveCommand(&corev1.Container{Name: c.spec.Name, Command: pr.Exec.Command}, env, dir)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, path)
		cmd.Args, cmd.Env, cmd.Dir = argv, env.environ(), dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
		cmd.WaitDelay = time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err = startCmd(ns, cmd)
		if err == nil {
			err = cmd.Wait()
		}
		if err != nil {
			return fmt.Errorf("exec probe: %w: %s", err, strings.TrimSpace(out.String()))
		}
		return nil
	case pr.GRPC != nil:
		return errors.New("gRPC probes are not supported by this agent")
	}
	return errors.New("probe has no handler")
}

func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q is not a port of container %q", port.StrVal, c.Name)
}
