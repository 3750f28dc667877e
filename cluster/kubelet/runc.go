package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pidHolderArg is argv[1] of a container's PID namespace holder: PID 1 of a
// fresh PID namespace that runc's container joins. It dies with the kubelet
// (parent-death signal, and with its process group), and the kernel then
// kills every process of the container, as the program helper's PID 1 does.
const pidHolderArg = "pid-holder"

// runHolder reaps the orphans of the namespace until killed.
func runHolder() {
	for {
		if _, err := unix.Wait4(-1, nil, 0, nil); err == unix.ECHILD {
			time.Sleep(time.Second)
		}
	}
}

// runcState is what runContainer needs of one runc container run.
type runcRun struct {
	id     string
	dir    string // bundle: config.json, upper/work/rootfs, pid, runc.log
	holder *exec.Cmd
}

// runcContainerID names a container uniquely on the node and validly for runc.
func runcContainerID(pr *podRuntime, c *containerRuntime) string {
	return fmt.Sprintf("%s-%s", pr.pod.UID, c.spec.Name)
}

// runOCIContainer runs one start of an image container under runc (the
// program path's runContainer, for an image of the node's store).
func (p *Provider) runOCIContainer(pr *podRuntime, c *containerRuntime) (int, error) {
	fail := func(reason string, err error) (int, error) {
		pr.mu.Lock()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: reason, Message: err.Error(), FinishedAt: metav1.Now(),
		}}
		pr.mu.Unlock()
		return 128, err
	}
	run, spec, err := p.prepareRunc(pr, c)
	if err != nil {
		if run != nil {
			p.cleanupRunc(run)
		}
		return fail("CreateContainerError", err)
	}
	defer p.cleanupRunc(run)
	out, err := pr.openLog(c.spec.Name)
	if err != nil {
		return fail("CreateContainerError", err)
	}
	defer out.Close()
	pr.mu.Lock()
	if pr.stopping {
		pr.mu.Unlock()
		return 0, nil
	}
	cmd := exec.Command(p.cfg.Runc, p.runcArgs(run, "runc.log", "run", "--bundle", run.dir, "--pid-file", filepath.Join(run.dir, "pid"), run.id)...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		pr.mu.Unlock()
		return fail("StartError", err)
	}
	holder := run.holder
	c.proc, c.done, c.started, c.ready, c.livenessKill = cmd.Process, make(chan struct{}), true, c.spec.ReadinessProbe == nil, false
	c.runcID, c.process, c.initPID = run.id, spec.Process, 0
	c.kill = func() { _ = holder.Process.Kill() }
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	pr.phase = corev1.PodRunning
	done := c.done
	pr.mu.Unlock()
	p.notifyPod(pr)
	go p.readInitPID(pr, c, run, done)
	go p.probeLoop(pr, c, done)

	_ = cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		code = 128 + int(ws.Signal()) // runc itself was killed (the node is going away)
	}
	reason, msg := "Completed", ""
	if code != 0 {
		reason = "Error"
	}
	if why := runcStartError(filepath.Join(run.dir, "runc.log")); why != "" {
		// The process never ran (an entrypoint that does not exist): as a CRI runtime says it.
		code, reason, msg = 128, "StartError", why
	}
	p.cleanupRunc(run) // before the stop waiting on done removes the pod folder
	pr.mu.Lock()
	close(done)
	if c.livenessKill {
		msg = "liveness probe failed: container restarted"
	}
	started := metav1.Now()
	if c.state.Running != nil {
		started = c.state.Running.StartedAt
	}
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: started, FinishedAt: metav1.Now(),
		ContainerID: "runc://" + run.id,
	}}
	c.proc, c.ready, c.started, c.kill, c.initPID = nil, false, false, nil, 0
	pr.mu.Unlock()
	p.notifyPod(pr)
	return code, nil
}

// prepareRunc unpacks the image (once), makes the container's own root (an
// overlay over the unpacked image), its PID namespace and its runtime spec.
func (p *Provider) prepareRunc(pr *podRuntime, c *containerRuntime) (*runcRun, *specs.Spec, error) {
	base, err := p.images.rootfs(c.oci)
	if err != nil {
		return nil, nil, err
	}
	run := &runcRun{id: runcContainerID(pr, c), dir: filepath.Join(pr.dir, "containers", c.spec.Name)}
	p.cleanupRunc(run) // what a killed earlier run left
	_ = os.Remove(filepath.Join(run.dir, "runc.log"))
	rootfs := filepath.Join(run.dir, "rootfs")
	for _, d := range []string{"upper", "work", "rootfs"} {
		if err := os.MkdirAll(filepath.Join(run.dir, d), 0o755); err != nil {
			return run, nil, err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", base, filepath.Join(run.dir, "upper"), filepath.Join(run.dir, "work"))
	if err := unix.Mount("overlay", rootfs, "overlay", 0, opts); err != nil {
		return run, nil, fmt.Errorf("container root (overlay): %w", err)
	}
	mounts, err := p.ociMounts(pr, c)
	if err != nil {
		return run, nil, err
	}
	holder := exec.Command("/proc/self/exe", pidHolderArg)
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		return run, nil, fmt.Errorf("pid namespace: %w", err)
	}
	run.holder = holder
	spec, err := ociSpec(pr.pod, &c.spec, &ociInput{
		image: &c.oci.config, rootfs: rootfs, imageRoot: base, mounts: mounts,
		pidNS:      fmt.Sprintf("/proc/%d/ns/pid", holder.Process.Pid),
		netNS:      pr.sandbox.netns,
		cgroupPath: "/" + runcCgroupParent + "/" + run.id,
		cpuLimits:  p.cpuCgroup, pidsLimit: p.cfg.PodPidsLimit,
	})
	if err != nil {
		return run, nil, err
	}
	data, err := json.MarshalIndent(spec, "", " ")
	if err == nil {
		err = os.WriteFile(filepath.Join(run.dir, "config.json"), data, 0o600)
	}
	return run, spec, err
}

// runcCgroupParent is the cgroup (under every hierarchy's root) holding the
// node's containers; `python -m cluster down` removes what is left of it.
const runcCgroupParent = "order-api-sre"

// ociMounts: resolv.conf, hosts, hostname and the container's volume mounts.
// Targets are made inside the container's root by runc, never on the host.
func (p *Provider) ociMounts(pr *podRuntime, c *containerRuntime) ([]Mount, error) {
	if err := p.writeEtcFiles(pr); err != nil {
		return nil, err
	}
	mounts := []Mount{
		{Source: filepath.Join(pr.dir, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true},
		{Source: filepath.Join(pr.dir, "hosts"), Target: "/etc/hosts", ReadOnly: true},
		{Source: filepath.Join(pr.dir, "hostname"), Target: "/etc/hostname", ReadOnly: true},
	}
	for _, vm := range c.spec.VolumeMounts {
		src, ok := pr.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no such volume", vm.Name)
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, filepath.Clean("/"+vm.SubPath))
		}
		if _, err := os.Stat(src); err != nil {
			return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
		}
		mounts = append(mounts, Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	return mounts, nil
}

// writeEtcFiles writes the pod's /etc/hosts and /etc/hostname, as the kubelet manages them.
func (p *Provider) writeEtcFiles(pr *podRuntime) error {
	pr.mu.Lock()
	ip, name := pr.sandbox.IP, pr.pod.Name
	pr.mu.Unlock()
	hosts := fmt.Sprintf("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n%s\t%s\n", ip, name)
	if err := os.WriteFile(filepath.Join(pr.dir, "hosts"), []byte(hosts), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(pr.dir, "hostname"), []byte(name+"\n"), 0o644)
}

// runcArgs: runc's state under the run dir, its own messages as JSON in the bundle.
func (p *Provider) runcArgs(run *runcRun, log string, args ...string) []string {
	global := []string{"--root", filepath.Join(p.cfg.RunDir, "runc"), "--log", filepath.Join(run.dir, log), "--log-format", "json"}
	return append(global, args...)
}

// cleanupRunc ends what is left of a run: the container's processes (its
// PID namespace holder), runc's record, the overlay root and its layer.
func (p *Provider) cleanupRunc(run *runcRun) {
	if run.holder != nil && run.holder.Process != nil {
		_ = run.holder.Process.Kill()
		_ = run.holder.Wait()
	}
	_ = exec.Command(p.cfg.Runc, p.runcArgs(run, "runc-delete.log", "delete", "--force", run.id)...).Run()
	_ = unix.Unmount(filepath.Join(run.dir, "rootfs"), unix.MNT_DETACH)
	for _, d := range []string{"rootfs", "upper", "work", "pid"} {
		_ = os.RemoveAll(filepath.Join(run.dir, d))
	}
}

// runcStartError is runc's error when the container's process could not be
// started at all ("" when it was).
func runcStartError(logFile string) string {
	f, err := os.Open(logFile)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Level == "error" &&
			strings.Contains(line.Msg, "unable to start container process") {
			return line.Msg
		}
	}
	return ""
}

// readInitPID records the container's first process once runc wrote it.
func (p *Provider) readInitPID(pr *podRuntime, c *containerRuntime, run *runcRun, done chan struct{}) {
	for {
		if data, err := os.ReadFile(filepath.Join(run.dir, "pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 0 {
				pr.mu.Lock()
				if c.done == done {
					c.initPID = pid
				}
				pr.mu.Unlock()
				return
			}
		}
		select {
		case <-done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// mainPID is the container's first process: for a runc container the image's
// entrypoint (inside its PID namespace), else the program's helper-exec'd process.
// pr.mu held.
func (c *containerRuntime) mainPID() int {
	if c.initPID > 0 {
		return c.initPID
	}
	if c.proc != nil && c.oci == nil {
		return c.proc.Pid
	}
	return 0
}

// hardKill ends the container's processes now (SIGKILL). pr.mu held.
func (c *containerRuntime) hardKill() {
	if c.kill != nil {
		c.kill()
	} else if c.proc != nil {
		_ = c.proc.Kill()
	}
}

// ociExecProbe runs an exec probe in the container with `runc exec`: its
// namespaces, root, user, environment and capabilities.
func (p *Provider) ociExecProbe(pr *podRuntime, c *containerRuntime, command []string, timeout time.Duration) error {
	pr.mu.Lock()
	id, process, started := c.runcID, c.process, c.initPID > 0
	pr.mu.Unlock()
	if process == nil || !started {
		return fmt.Errorf("exec probe: the container has not started")
	}
	proc := *process
	proc.Args = command
	data, err := json.Marshal(&proc)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Join(pr.dir, "containers"), c.spec.Name+".probe-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	tmp.Close()
	run := &runcRun{id: id, dir: filepath.Join(pr.dir, "containers", c.spec.Name)}
	cmd := exec.Command(p.cfg.Runc, p.runcArgs(run, "runc-exec.log", "exec", "--process", tmp.Name(), id)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	timer := time.AfterFunc(timeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("exec probe: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ociContainer is the runc side of a containerRuntime.
type ociContainer struct {
	oci     *ociImage      // the image, from the node's store
	runcID  string         // the running container's runc id
	process *specs.Process // its process spec (exec probes reuse it)
	initPID int            // its first process, once runc wrote it
	kill    func()         // SIGKILL to every process of it
}

// resolveImage looks the container's image up in the node's store: true when
// the store decides (the image, or the reason it cannot run); false when the
// image is not one of the store's (the program table is asked next).
func (p *Provider) resolveImage(c *containerRuntime) bool {
	img, err := p.images.lookup(c.spec.Image)
	if err != nil {
		c.state.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImageNeverPull", Message: err.Error()}
		return true
	}
	c.oci = img
	return img != nil
}

func (c *containerRuntime) runnable() bool { return c.image != nil || c.oci != nil }

func (c *containerRuntime) imageID() string {
	if c.oci != nil {
		return c.oci.ref + "@" + c.oci.manifest
	}
	return "local://" + c.spec.Image
}

// containerID is the status's containerID of the running container. pr.mu held.
func (c *containerRuntime) containerID() string {
	if c.runcID != "" {
		return "runc://" + c.runcID
	}
	return containerID(c.proc.Pid)
}
