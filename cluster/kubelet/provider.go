package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	statsv1alpha1 "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Provider is the virtual-kubelet provider: each pod is a sandbox process
// holding its network namespace plus one process tree per container.
type Provider struct {
	cfg         *Config
	client      kubernetes.Interface
	net         *network
	mountpoints *mountpoints
	images      *imageStore // nil: no image runs as a container
	cpuCgroup   bool        // CPU limits can be set

	mu       sync.Mutex
	pods     map[string]*podRuntime
	notifyFn func(*corev1.Pod)
	netErr   error
}

func NewProvider(cfg *Config, client kubernetes.Interface) *Provider {
	n, err := newNetwork(cfg)
	return &Provider{
		cfg: cfg, client: client, net: n, netErr: err,
		mountpoints: &mountpoints{log: cfg.MountpointLog},
		images:      newImageStore(cfg),
		cpuCgroup:   hasCPUController(),
		pods:        map[string]*podRuntime{},
		notifyFn:    func(*corev1.Pod) {},
	}
}

func (p *Provider) notifyPod(pr *podRuntime) {
	pod := pr.status()
	pod.Status.HostIP = p.cfg.NodeIP
	pod.Status.HostIPs = []corev1.HostIP{{IP: p.cfg.NodeIP}}
	p.mu.Lock()
	fn := p.notifyFn
	p.mu.Unlock()
	fn(pod)
}

// NotifyPods makes the provider asynchronous: every state change is pushed.
func (p *Provider) NotifyPods(_ context.Context, fn func(*corev1.Pod)) {
	p.mu.Lock()
	p.notifyFn = fn
	p.mu.Unlock()
}

func (p *Provider) CreatePod(_ context.Context, pod *corev1.Pod) error {
	if p.netErr != nil {
		return p.netErr
	}
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	if old, ok := p.pods[key]; ok && old.pod.UID == pod.UID {
		p.mu.Unlock()
		return nil
	}
	pr := newPodRuntime(p, pod)
	p.pods[key] = pr
	p.mu.Unlock()
	go p.start(pr)
	return nil
}

// UpdatePod: a pod's containers are immutable apart from their image, which
// the workloads here never change in place.
func (p *Provider) UpdatePod(context.Context, *corev1.Pod) error { return nil }

func (p *Provider) DeletePod(_ context.Context, pod *corev1.Pod) error {
	key := podKey(pod.Namespace, pod.Name)
	p.mu.Lock()
	pr, ok := p.pods[key]
	p.mu.Unlock()
	if !ok || pr.pod.UID != pod.UID {
		return errdefs.NotFoundf("pod %s not found", key)
	}
	grace := 30 * time.Second
	if pod.DeletionGracePeriodSeconds != nil {
		grace = time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	} else if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	go func() {
		p.stop(pr, grace)
		p.finalDelete(pod)
		p.mu.Lock()
		if p.pods[key] == pr {
			delete(p.pods, key)
		}
		p.mu.Unlock()
		_ = os.RemoveAll(pr.dir)
	}()
	return nil
}

// finalDelete removes the pod object once its containers have ended, as the
// real kubelet does: virtual-kubelet alone would wait out the whole grace
// period (it does not react to a status-only change).
func (p *Provider) finalDelete(pod *corev1.Pod) {
	time.Sleep(500 * time.Millisecond) // let the terminal status reach the API server first
	zero := int64(0)
	opts := metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: metav1.NewUIDPreconditions(string(pod.UID))}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
}

func (p *Provider) GetPod(_ context.Context, ns, name string) (*corev1.Pod, error) {
	p.mu.Lock()
	pr, ok := p.pods[podKey(ns, name)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s not found", ns, name)
	}
	pod := pr.status()
	pod.Status.HostIP = p.cfg.NodeIP
	return pod, nil
}

func (p *Provider) GetPodStatus(ctx context.Context, ns, name string) (*corev1.PodStatus, error) {
	pod, err := p.GetPod(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return &pod.Status, nil
}

func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*corev1.Pod
	for _, pr := range p.pods {
		pod := pr.status()
		pod.Status.HostIP = p.cfg.NodeIP
		out = append(out, pod)
	}
	return out, nil
}

// Shutdown stops every pod (the kubelet is exiting).
func (p *Provider) Shutdown(grace time.Duration) {
	if p == nil {
		return
	}
	p.mu.Lock()
	var all []*podRuntime
	for _, pr := range p.pods {
		all = append(all, pr)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pr := range all {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(pr, grace) }()
	}
	wg.Wait()
}

func (p *Provider) GetContainerLogs(_ context.Context, ns, name, container string, _ api.ContainerLogOpts) (io.ReadCloser, error) {
	p.mu.Lock()
	pr, ok := p.pods[podKey(ns, name)]
	p.mu.Unlock()
	if !ok {
		return nil, errdefs.NotFoundf("pod %s/%s not found", ns, name)
	}
	f, err := os.Open(filepath.Join(pr.dir, "logs", container+".log"))
	if err != nil {
		return nil, errdefs.NotFoundf("no logs for container %s: %v", container, err)
	}
	return f, nil
}

// RunInContainer backs `kubectl exec`: the command runs in the container's
// mounts, network namespace and user.
func (p *Provider) RunInContainer(_ context.Context, ns, name, container string, cmd []string, attach api.AttachIO) error {
	return fmt.Errorf("kubectl exec is not supported by this node; use `python -m cluster shell`")
}

func (p *Provider) AttachToContainer(context.Context, string, string, string, api.AttachIO) error {
	return fmt.Errorf("attach is not supported by this node")
}

func (p *Provider) GetStatsSummary(context.Context) (*statsv1alpha1.Summary, error) {
	return nil, fmt.Errorf("stats are not collected by this node")
}

func (p *Provider) PortForward(context.Context, string, string, int32, io.ReadWriteCloser) error {
	return fmt.Errorf("port-forward is not supported by this node; use `python -m cluster shell`")
}
