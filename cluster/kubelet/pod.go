package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ImageNotAvailable is the waiting reason of a container whose image has no
// local program in the image table.
const ImageNotAvailable = "ImageNotAvailableLocally"

type containerRuntime struct {
	spec         corev1.Container
	image        *Image
	state        corev1.ContainerState
	last         corev1.ContainerState
	restarts     int32
	ready        bool
	started      bool
	proc         *os.Process
	done         chan struct{} // closed when the current process exited
	livenessKill bool
	ociContainer // set for an image of the node's store, run by runc (runc.go)
}

type podRuntime struct {
	mu         sync.Mutex
	pod        *corev1.Pod
	dir        string
	sandbox    *Sandbox
	volumes    map[string]string
	containers []*containerRuntime
	startTime  metav1.Time
	phase      corev1.PodPhase
	message    string
	reason     string
	stopping   bool
	stopped    chan struct{}
	ctx        context.Context
	cancel     context.CancelFunc
}

func newPodRuntime(p *Provider, pod *corev1.Pod) *podRuntime {
	ctx, cancel := context.WithCancel(context.Background())
	pr := &podRuntime{
		pod:       pod.DeepCopy(),
		dir:       filepath.Join(p.cfg.RunDir, "pods", string(pod.UID)),
		startTime: metav1.Now(),
		phase:     corev1.PodPending,
		stopped:   make(chan struct{}),
		ctx:       ctx,
		cancel:    cancel,
	}
	for _, c := range pod.Spec.Containers {
		cr := &containerRuntime{spec: c}
		cr.state.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		// The node's image store first: an image it has (or should have) never runs as a program.
		if !p.resolveImage(cr) {
			if cr.image = p.cfg.lookupImage(c.Image); cr.image == nil {
				cr.state.Waiting = &corev1.ContainerStateWaiting{
					Reason:  ImageNotAvailable,
					Message: fmt.Sprintf("image %q has no local program on this node (see cluster/images.py)", c.Image),
				}
			}
		}
		pr.containers = append(pr.containers, cr)
	}
	return pr
}

// start sets up the sandbox and volumes, then runs every container.
func (p *Provider) start(pr *podRuntime) {
	if err := p.setup(pr); err != nil {
		pr.mu.Lock()
		pr.reason, pr.message = "SetupFailed", err.Error()
		for _, c := range pr.containers {
			if c.runnable() {
				c.state.Waiting = &corev1.ContainerStateWaiting{Reason: "CreateContainerError", Message: err.Error()}
			}
		}
		pr.mu.Unlock()
		p.notifyPod(pr)
		return
	}
	p.notifyPod(pr)
	if !p.runInitContainers(pr) {
		return
	}
	for _, c := range pr.containers {
		if c.runnable() {
			go p.supervise(pr, c)
		}
	}
}

func (p *Provider) setup(pr *podRuntime) error {
	for _, d := range []string{"logs", "containers", "volumes"} {
		if err := os.MkdirAll(filepath.Join(pr.dir, d), 0o755); err != nil {
			return err
		}
	}
	sb, err := p.net.create(pr.ctx, string(pr.pod.UID), filepath.Join(pr.dir, "logs", "sandbox.log"))
	if err != nil {
		return err
	}
	pr.mu.Lock()
	pr.sandbox = sb
	pr.mu.Unlock()
	vols, err := materializeVolumes(pr.ctx, p.client, pr.pod, pr.dir)
	if err != nil {
		return err
	}
	pr.volumes = vols
	return os.WriteFile(filepath.Join(pr.dir, "resolv.conf"), []byte(p.resolvConf(pr.pod)), 0o644)
}

func (p *Provider) resolvConf(pod *corev1.Pod) string {
	d := p.cfg.ClusterDomain
	return fmt.Sprintf("nameserver %s\nsearch %s.svc.%s svc.%s %s\noptions ndots:5\n",
		p.cfg.DNSServer, pod.Namespace, d, d, d)
}

// runInitContainers runs them in order to completion (retrying failures, as
// restartPolicy Always/OnFailure do).
func (p *Provider) runInitContainers(pr *podRuntime) bool {
	for _, ic := range pr.pod.Spec.InitContainers {
		img := p.cfg.lookupImage(ic.Image)
		if img == nil {
			pr.mu.Lock()
			pr.reason, pr.message = ImageNotAvailable, fmt.Sprintf("init container %s: image %q has no local program", ic.Name, ic.Image)
			pr.mu.Unlock()
			p.notifyPod(pr)
			return false
		}
		for attempt := 0; ; attempt++ {
			c := &containerRuntime{spec: ic, image: img}
			code, err := p.runOnce(pr, c)
			if err == nil && code == 0 {
				break
			}
			if pr.isStopping() || pr.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return false
			}
			if !pr.sleep(backoff(attempt)) {
				return false
			}
		}
	}
	return true
}

// runOnce runs a container to its end and returns its exit code.
func (p *Provider) runOnce(pr *podRuntime, c *containerRuntime) (int, error) {
	spec, err := p.buildSpec(pr, &c.spec, c.image, nil)
	if err != nil {
		return -1, err
	}
	out, err := pr.openLog(c.spec.Name)
	if err != nil {
		return -1, err
	}
	defer out.Close()
	cmd, err := startHelper(spec, filepath.Join(pr.dir, "containers", c.spec.Name+".json"), out, true)
	if err != nil {
		return -1, err
	}
	_ = cmd.Wait()
	return cmd.ProcessState.ExitCode(), nil
}

func backoff(restarts int) time.Duration {
	d := time.Second << min(restarts, 5)
	return min(d, 20*time.Second)
}

// supervise runs one container, restarting it per restartPolicy.
func (p *Provider) supervise(pr *podRuntime, c *containerRuntime) {
	for {
		code, err := p.runContainer(pr, c)
		if pr.isStopping() {
			return
		}
		policy := pr.pod.Spec.RestartPolicy
		if policy == corev1.RestartPolicyNever || (policy == corev1.RestartPolicyOnFailure && err == nil && code == 0) {
			p.notifyPod(pr)
			return
		}
		pr.mu.Lock()
		delay := backoff(int(c.restarts))
		c.restarts++
		c.last = c.state
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container %s", delay, c.spec.Name),
		}}
		pr.mu.Unlock()
		p.notifyPod(pr)
		if !pr.sleep(delay) {
			return
		}
	}
}

// runContainer starts the container, probes it and waits for its exit.
func (p *Provider) runContainer(pr *podRuntime, c *containerRuntime) (int, error) {
	fail := func(reason string, err error) (int, error) {
		pr.mu.Lock()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: reason, Message: err.Error(), FinishedAt: metav1.Now(),
		}}
		pr.mu.Unlock()
		return 128, err
	}
	if c.oci != nil {
		return p.runOCIContainer(pr, c)
	}
	spec, err := p.buildSpec(pr, &c.spec, c.image, nil)
	if err != nil {
		return fail("CreateContainerError", err)
	}
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
	cmd, err := startHelper(spec, filepath.Join(pr.dir, "containers", c.spec.Name+".json"), out, true)
	if err != nil {
		pr.mu.Unlock()
		return fail("StartError", err)
	}
	c.proc, c.done, c.started, c.ready, c.livenessKill = cmd.Process, make(chan struct{}), true, c.spec.ReadinessProbe == nil, false
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
	pr.phase = corev1.PodRunning
	done := c.done
	pr.mu.Unlock()
	p.notifyPod(pr)
	go p.probeLoop(pr, c, done)

	_ = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	code := ws.ExitStatus()
	reason := "Completed"
	if ws.Signaled() {
		code = 128 + int(ws.Signal())
	}
	if code != 0 {
		reason = "Error"
	}
	pr.mu.Lock()
	close(done)
	c.proc, c.ready, c.started = nil, false, false
	msg := ""
	if c.livenessKill {
		msg = "liveness probe failed: container restarted"
	}
	started := metav1.Now()
	if c.state.Running != nil {
		started = c.state.Running.StartedAt
	}
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: started, FinishedAt: metav1.Now(),
		ContainerID: containerID(cmd.Process.Pid),
	}}
	pr.mu.Unlock()
	p.notifyPod(pr)
	return code, nil
}

func containerID(pid int) string { return fmt.Sprintf("local://%d", pid) }

func (pr *podRuntime) isStopping() bool {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return pr.stopping
}

// sleep waits d unless the pod stops first.
func (pr *podRuntime) sleep(d time.Duration) bool {
	select {
	case <-time.After(d):
		return true
	case <-pr.ctx.Done():
		return false
	}
}

// stop sends SIGTERM to every container, SIGKILL after the grace period,
// then tears down the sandbox. Safe to call more than once.
func (p *Provider) stop(pr *podRuntime, grace time.Duration) {
	pr.mu.Lock()
	if pr.stopping {
		pr.mu.Unlock()
		return
	}
	pr.stopping = true
	var waits []chan struct{}
	var signalled []*containerRuntime
	for _, c := range pr.containers {
		if c.proc != nil {
			_ = c.proc.Signal(syscall.SIGTERM)
			waits = append(waits, c.done)
			signalled = append(signalled, c)
		}
	}
	pr.mu.Unlock()
	sent := time.Now()
	pr.cancel()
	deadline := time.After(grace)
	killed := false
	for _, w := range waits {
		select {
		case <-w:
		case <-deadline:
			killed = true
			pr.killAll()
			<-w
		}
	}
	pr.mu.Lock()
	appendStops(p.cfg.StopLog, stopRecords(pr, signalled, sent, grace, killed))
	for _, c := range pr.containers {
		if c.state.Terminated == nil {
			c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 0, Reason: "Completed", FinishedAt: metav1.Now(),
			}}
			if !c.runnable() {
				c.state.Terminated.Reason, c.state.Terminated.ExitCode = ImageNotAvailable, 128
			}
		}
		c.ready = false
	}
	sb := pr.sandbox
	pr.mu.Unlock()
	p.net.destroy(context.Background(), sb)
	_ = os.RemoveAll(filepath.Join(pr.dir, "volumes"))
	close(pr.stopped)
	p.notifyPod(pr)
}

// stopRecords describes how the signalled containers ended (pr.mu held).
// After a SIGKILL every container still running then was killed; one that had
// exited before it is told apart by its exit time.
func stopRecords(pr *podRuntime, cs []*containerRuntime, sent time.Time, grace time.Duration, killed bool) []StopRecord {
	var out []StopRecord
	for _, c := range cs {
		t := c.state.Terminated
		if t == nil {
			continue
		}
		after := t.FinishedAt.Sub(sent)
		out = append(out, StopRecord{
			Namespace: pr.pod.Namespace, Pod: pr.pod.Name, Container: c.spec.Name,
			Signalled: sent, ExitCode: t.ExitCode, AfterS: after.Seconds(), GraceS: grace.Seconds(),
			Killed: killed && after >= grace, ContainerID: t.ContainerID,
		})
	}
	return out
}

func (pr *podRuntime) killAll() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	for _, c := range pr.containers {
		c.hardKill()
	}
}

// status is the pod as the API server should see it.
func (pr *podRuntime) status() *corev1.Pod {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pod := pr.pod.DeepCopy()
	st := &pod.Status
	st.Phase = pr.phase
	st.Reason, st.Message = pr.reason, pr.message
	st.StartTime = &pr.startTime
	st.HostIP = ""
	if pr.sandbox != nil {
		st.PodIP = pr.sandbox.IP
		st.PodIPs = []corev1.PodIP{{IP: pr.sandbox.IP}}
	}
	st.ContainerStatuses = nil
	allReady, allDone, anyFailed := true, true, false
	for _, c := range pr.containers {
		started := c.started
		cs := corev1.ContainerStatus{
			Name: c.spec.Name, Image: c.spec.Image, ImageID: c.imageID(),
			State: c.state, LastTerminationState: c.last, Ready: c.ready,
			RestartCount: c.restarts, Started: &started,
		}
		if c.state.Running != nil && c.proc != nil {
			cs.ContainerID = c.containerID()
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && c.ready
		allDone = allDone && c.state.Terminated != nil
		anyFailed = anyFailed || (c.state.Terminated != nil && c.state.Terminated.ExitCode != 0)
	}
	if allDone && (pr.stopping || pod.Spec.RestartPolicy != corev1.RestartPolicyAlways) {
		st.Phase = corev1.PodSucceeded
		if anyFailed {
			st.Phase = corev1.PodFailed
		}
	}
	setConditions(st, pr.sandbox != nil, allReady && !pr.stopping)
	return pod
}

func setConditions(st *corev1.PodStatus, sandbox, ready bool) {
	b := func(v bool) corev1.ConditionStatus {
		if v {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	want := map[corev1.PodConditionType]corev1.ConditionStatus{
		corev1.PodReadyToStartContainers: b(sandbox),
		corev1.PodInitialized:            b(sandbox),
		corev1.ContainersReady:           b(ready),
		corev1.PodReady:                  b(ready),
	}
	now := metav1.Now()
	kept := st.Conditions[:0]
	for _, c := range st.Conditions {
		if v, ok := want[c.Type]; ok {
			if c.Status != v {
				c.Status, c.LastTransitionTime = v, now
			}
			delete(want, c.Type)
		}
		kept = append(kept, c)
	}
	for _, t := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		if v, ok := want[t]; ok {
			kept = append(kept, corev1.PodCondition{Type: t, Status: v, LastTransitionTime: now})
		}
	}
	st.Conditions = kept
}

func podKey(ns, name string) string { return ns + "/" + name }

// openLog opens a container's log for appending: every run of it (restarts
// included) writes to the same file, as `kubectl logs` reads it.
func (pr *podRuntime) openLog(container string) (*os.File, error) {
	return os.OpenFile(filepath.Join(pr.dir, "logs", container+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}
