package main

// The kubelet's /metrics/resource, which metrics-server scrapes: CPU and
// memory of every running container (all the processes of its PID namespace)
// and of the node (the machine), computed from /proc at each scrape.

import (
	"context"
	"runtime"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The metric names metrics-server reads (pkg/scraper/client/resource/decode.go).
const (
	metricContainerCPU   = "container_cpu_usage_seconds_total"
	metricContainerMem   = "container_memory_working_set_bytes"
	metricContainerStart = "container_start_time_seconds"
	metricNodeCPU        = "node_cpu_usage_seconds_total"
	metricNodeMem        = "node_memory_working_set_bytes"
)

// runningContainer is what a scrape needs of a container, copied under the
// pod's lock.
type runningContainer struct {
	namespace, pod, name string
	pid                  int
	started              time.Time
}

// usage is one container's sample.
type usage struct {
	runningContainer
	cpuNs, memBytes uint64
}

// counterFloor keeps each container's CPU counter monotonic: a child reaped
// between two reads of /proc is briefly counted nowhere. A restarted
// container is a new series (its start time changes), as on a real kubelet.
type counterFloor struct {
	mu   sync.Mutex
	last map[string]uint64
}

func (f *counterFloor) apply(samples []usage) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seen := map[string]uint64{}
	for i := range samples {
		s := &samples[i]
		key := s.namespace + "/" + s.pod + "/" + s.name + "@" + s.started.Format(time.RFC3339Nano)
		s.cpuNs = max(s.cpuNs, f.last[key])
		seen[key] = s.cpuNs
	}
	f.last = seen // containers gone since the last scrape are forgotten
}

var metricsFloor = &counterFloor{}

// GetMetricsResource serves /metrics/resource (virtual-kubelet's route).
func (p *Provider) GetMetricsResource(context.Context) ([]*dto.MetricFamily, error) {
	fs := procFS{root: "/proc"}
	now := time.Now()
	samples := collect(fs, p.runningContainers())
	metricsFloor.apply(samples)
	families := containerFamilies(samples, now)
	node, err := nodeFamilies(fs, now)
	if err != nil {
		return nil, err
	}
	return append(families, node...), nil
}

// runningContainers lists the containers with a live process.
func (p *Provider) runningContainers() []runningContainer {
	p.mu.Lock()
	pods := make([]*podRuntime, 0, len(p.pods))
	for _, pr := range p.pods {
		pods = append(pods, pr)
	}
	p.mu.Unlock()
	var out []runningContainer
	for _, pr := range pods {
		pr.mu.Lock()
		for _, c := range pr.containers {
			// A runc container's processes live in its own PID namespace: count
			// from its first process, not from the runc that started it.
			if pid := c.mainPID(); pid > 0 && c.state.Running != nil {
				out = append(out, runningContainer{
					namespace: pr.pod.Namespace, pod: pr.pod.Name, name: c.spec.Name,
					pid: pid, started: c.state.Running.StartedAt.Time,
				})
			}
		}
		pr.mu.Unlock()
	}
	return out
}

// collect sums CPU and memory over every process in each container's PID
// namespace (the container's first process is PID 1 there, so its whole
// process tree and anything it orphaned is in it). A container whose usage
// reads 0 is left out: metrics-server would drop its whole pod.
func collect(fs procFS, containers []runningContainer) []usage {
	namespaces := fs.pidNamespaces()
	var out []usage
	for _, c := range containers {
		ns, err := fs.pidNamespace(c.pid)
		if err != nil {
			continue // exited since the list was taken
		}
		u := usage{runningContainer: c}
		for _, pid := range namespaces[ns] {
			if cpu, err := fs.processCPU(pid); err == nil {
				u.cpuNs += cpu
			}
			if mem, err := fs.processMemory(pid); err == nil {
				u.memBytes += mem
			}
		}
		if u.cpuNs > 0 && u.memBytes > 0 {
			out = append(out, u)
		}
	}
	return out
}

func ptr[T any](v T) *T { return &v }

func labelPair(name, value string) *dto.LabelPair {
	return &dto.LabelPair{Name: ptr(name), Value: ptr(value)}
}

func sample(value float64, at time.Time, labels ...*dto.LabelPair) *dto.Metric {
	return &dto.Metric{Label: labels, Gauge: &dto.Gauge{Value: ptr(value)}, TimestampMs: ptr(at.UnixMilli())}
}

func counterSample(value float64, at time.Time, labels ...*dto.LabelPair) *dto.Metric {
	return &dto.Metric{Label: labels, Counter: &dto.Counter{Value: ptr(value)}, TimestampMs: ptr(at.UnixMilli())}
}

func family(name, help string, typ dto.MetricType, metrics []*dto.Metric) *dto.MetricFamily {
	return &dto.MetricFamily{Name: ptr(name), Help: ptr(help), Type: typ.Enum(), Metric: metrics}
}

func containerFamilies(samples []usage, at time.Time) []*dto.MetricFamily {
	var cpu, mem, start []*dto.Metric
	for _, s := range samples {
		labels := []*dto.LabelPair{labelPair("container", s.name), labelPair("namespace", s.namespace), labelPair("pod", s.pod)}
		cpu = append(cpu, counterSample(float64(s.cpuNs)/1e9, at, labels...))
		mem = append(mem, sample(float64(s.memBytes), at, labels...))
		start = append(start, sample(float64(s.started.UnixNano())/1e9, at, labels...))
	}
	return []*dto.MetricFamily{
		family(metricContainerCPU, "Cumulative cpu time consumed by the container in core-seconds", dto.MetricType_COUNTER, cpu),
		family(metricContainerMem, "Current working set of the container in bytes", dto.MetricType_GAUGE, mem),
		family(metricContainerStart, "Start time of the container since unix epoch in seconds", dto.MetricType_GAUGE, start),
	}
}

func nodeFamilies(fs procFS, at time.Time) ([]*dto.MetricFamily, error) {
	cpu, err := fs.machineCPU()
	if err != nil {
		return nil, err
	}
	mem, err := fs.machineWorkingSet()
	if err != nil {
		return nil, err
	}
	return []*dto.MetricFamily{
		family(metricNodeCPU, "Cumulative cpu time consumed by the node in core-seconds", dto.MetricType_COUNTER,
			[]*dto.Metric{counterSample(float64(cpu)/1e9, at)}),
		family(metricNodeMem, "Current working set of the node in bytes", dto.MetricType_GAUGE,
			[]*dto.Metric{sample(float64(mem), at)}),
	}, nil
}

// machineCapacity is what the node advertises: the CPUs this process may run
// on and the machine's memory, so `kubectl top node` percentages are true.
func machineCapacity(fs procFS) (corev1.ResourceList, error) {
	m, err := fs.meminfo("MemTotal")
	if err != nil {
		return nil, err
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(int64(m["MemTotal"]), resource.BinarySI),
		corev1.ResourcePods:   resource.MustParse("110"),
	}, nil
}
