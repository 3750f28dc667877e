package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
)

// sandboxArg is argv[1] of the pod's sandbox: a process that only holds the
// pod's network namespace (the role of the pause container).
const sandboxArg = "pod-sandbox"

const loopbackConf = `{"cniVersion": "1.0.0", "name": "loopback", "type": "loopback"}`

func runSandbox() {
	for {
		_ = unix.Pause()
	}
}

// Sandbox is a pod's network namespace, attached to the cluster bridge.
type Sandbox struct {
	cmd   *exec.Cmd
	netns string
	rt    *libcni.RuntimeConf
	IP    string
}

type network struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
	lo   *libcni.NetworkConfig
}

func newNetwork(cfg *Config) (*network, error) {
	list, err := libcni.ConfListFromBytes(cfg.CNIConfList)
	if err != nil {
		return nil, fmt.Errorf("cniConfList: %w", err)
	}
	lo, err := libcni.ConfFromBytes([]byte(loopbackConf))
	if err != nil {
		return nil, err
	}
	cacheDir := filepath.Join(cfg.RunDir, "cni-cache")
	cni := libcni.NewCNIConfigWithCacheDir([]string{cfg.CNIBinDir}, cacheDir, nil)
	return &network{cni: cni, list: list, lo: lo}, nil
}

// create starts the sandbox in a new network namespace and calls the CNI
// plugins on it (loopback, then bridge with host-local IPAM).
func (n *network) create(ctx context.Context, podUID, logFile string) (*Sandbox, error) {
	cmd := exec.Command("/proc/self/exe", sandboxArg)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNET,
		Pdeathsig:  syscall.SIGKILL,
		Setpgid:    true,
	}
	if f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err == nil {
		cmd.Stdout, cmd.Stderr = f, f
		defer f.Close()
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("pod sandbox: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	s := &Sandbox{cmd: cmd, netns: fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)}
	s.rt = &libcni.RuntimeConf{ContainerID: podUID, NetNS: s.netns, IfName: "eth0"}
	if _, err := n.cni.AddNetwork(ctx, n.lo, &libcni.RuntimeConf{ContainerID: podUID, NetNS: s.netns, IfName: "lo"}); err != nil {
		n.destroy(ctx, s)
		return nil, fmt.Errorf("cni loopback: %w", err)
	}
	res, err := n.cni.AddNetworkList(ctx, n.list, s.rt)
	if err != nil {
		n.destroy(ctx, s)
		return nil, fmt.Errorf("cni %s: %w", n.list.Name, err)
	}
	r, err := types100.NewResultFromResult(res)
	if err != nil || len(r.IPs) == 0 {
		n.destroy(ctx, s)
		return nil, fmt.Errorf("cni %s returned no IP (%v)", n.list.Name, err)
	}
	s.IP = r.IPs[0].Address.IP.String()
	return s, nil
}

// destroy releases the pod's address and veth, then ends the sandbox (and
// with it the network namespace).
func (n *network) destroy(ctx context.Context, s *Sandbox) {
	if s == nil {
		return
	}
	if s.rt != nil {
		_ = n.cni.DelNetworkList(ctx, n.list, s.rt)
	}
	if s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
	}
}
