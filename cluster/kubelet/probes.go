package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeLoop runs the container's readiness and liveness probes until the
// process exits (done closed).
func (p *Provider) probeLoop(pr *podRuntime, c *containerRuntime, done chan struct{}) {
	if c.spec.ReadinessProbe != nil {
		go p.runProbe(pr, c, c.spec.ReadinessProbe, done, func(ok bool) {
			pr.mu.Lock()
			changed := c.ready != ok && c.done == done
			if changed {
				c.ready = ok
			}
			pr.mu.Unlock()
			if changed {
				p.notifyPod(pr)
			}
		})
	}
	if c.spec.LivenessProbe != nil {
		go p.runProbe(pr, c, c.spec.LivenessProbe, done, func(ok bool) {
			if ok {
				return
			}
			pr.mu.Lock()
			if c.done == done && c.proc != nil {
				c.livenessKill = true
				c.hardKill()
			}
			pr.mu.Unlock()
		})
	}
}

// runProbe calls report(result) each time the result crosses its threshold.
func (p *Provider) runProbe(pr *podRuntime, c *containerRuntime, pb *corev1.Probe, done chan struct{}, report func(bool)) {
	period := seconds(pb.PeriodSeconds, 10)
	success, failure := orDefault(pb.SuccessThreshold, 1), orDefault(pb.FailureThreshold, 3)
	select {
	case <-time.After(seconds(pb.InitialDelaySeconds, 0)):
	case <-done:
		return
	}
	okRun, failRun := int32(0), int32(0)
	for {
		err := p.probeOnce(pr, c, pb)
		if err == nil {
			okRun, failRun = okRun+1, 0
			if okRun >= success {
				report(true)
			}
		} else {
			okRun, failRun = 0, failRun+1
			if failRun >= failure {
				report(false)
			}
		}
		select {
		case <-time.After(period):
		case <-done:
			return
		}
	}
}

func seconds(v int32, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

func (p *Provider) probeOnce(pr *podRuntime, c *containerRuntime, pb *corev1.Probe) error {
	timeout := seconds(pb.TimeoutSeconds, 1)
	pr.mu.Lock()
	ip := ""
	if pr.sandbox != nil {
		ip = pr.sandbox.IP
	}
	pr.mu.Unlock()
	switch {
	case pb.HTTPGet != nil:
		return httpProbe(pb.HTTPGet, ip, &c.spec, timeout)
	case pb.TCPSocket != nil:
		port, err := resolvePort(pb.TCPSocket.Port, &c.spec)
		if err != nil {
			return err
		}
		host := pb.TCPSocket.Host
		if host == "" {
			host = ip
		}
		conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, strconv.Itoa(port)), timeout)
		if err == nil {
			conn.Close()
		}
		return err
	case pb.Exec != nil:
		return p.execProbe(pr, c, pb.Exec.Command, timeout)
	}
	return fmt.Errorf("probe type not supported (httpGet, tcpSocket, exec are)")
}

func resolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("no container port named %q", port.StrVal)
}

func httpProbe(h *corev1.HTTPGetAction, ip string, c *corev1.Container, timeout time.Duration) error {
	port, err := resolvePort(h.Port, c)
	if err != nil {
		return err
	}
	host := h.Host
	if host == "" {
		host = ip
	}
	scheme := "http"
	if h.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), h.Path)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "kube-probe/1.35")
	for _, hd := range h.HTTPHeaders {
		req.Header.Set(hd.Name, hd.Value)
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
}

// HTTPS probes do not verify the serving certificate, as the kubelet's prober
// does not (metrics-server serves a self-signed one).
var probeClient = &http.Client{Transport: &http.Transport{
	DisableKeepAlives: true,
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet's prober
}}

// execProbe runs the command in the container's context (same mounts,
// network namespace and user), not in its PID namespace.
func (p *Provider) execProbe(pr *podRuntime, c *containerRuntime, command []string, timeout time.Duration) error {
	if c.oci != nil {
		return p.ociExecProbe(pr, c, command, timeout)
	}
	spec, err := p.buildSpec(pr, &c.spec, c.image, command)
	if err != nil {
		return err
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer devnull.Close()
	tmp, err := os.CreateTemp(filepath.Join(pr.dir, "containers"), c.spec.Name+".probe-*.json")
	if err != nil {
		return err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd, err := startHelper(spec, tmp.Name(), devnull, false)
	if err != nil {
		return err
	}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("exec probe: %w", err)
	}
	return nil
}
