package main

import (
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeProc builds a /proc tree of fixtures: files relative to its root.
func fakeProc(t *testing.T, files map[string]string, links map[string]string) procFS {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, target := range links {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	return procFS{root: root}
}

// statLine is a /proc/<pid>/stat line with the given CPU ticks.
func statLine(comm string, utime, stime, cutime, cstime int) string {
	return "42 (" + comm + ") S 1 42 42 0 -1 4194560 100 0 0 0 " +
		strconv.Itoa(utime) + " " + strconv.Itoa(stime) + " " + strconv.Itoa(cutime) + " " + strconv.Itoa(cstime) +
		" 20 0 1 0 100 1000000 50 18446744073709551615\n"
}

func TestParseStatCountsFieldsAfterTheLastParenthesis(t *testing.T) {
	got, err := parseStat(statLine("a) (b c", 7, 3, 11, 2))
	if err != nil {
		t.Fatal(err)
	}
	if got != (statTimes{7, 3, 11, 2}) {
		t.Fatalf("got %+v", got)
	}
	if _, err := parseStat("42 no-parenthesis S"); err == nil {
		t.Fatal("a line without a command name must fail")
	}
}

func TestProcessCPUTakesTheExactRuntimeAndAddsReapedChildren(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"7/stat":             statLine("app", 1, 1, 3, 0), // 20 ms own, 30 ms children
		"7/task/7/schedstat": "40000000 0 5\n",            // 40 ms
		"7/task/8/schedstat": "10000000 0 2\n",            // 10 ms
		"9/stat":             statLine("old", 80, 20, 0, 0),
		"9/task/9/schedstat": "5000000 0 1\n", // its dead threads are only in stat
	}, nil)
	if got, _ := fs.processCPU(7); got != 80_000_000 {
		t.Fatalf("pid 7: %d ns, want 50 ms own + 30 ms children", got)
	}
	if got, _ := fs.processCPU(9); got != 1_000_000_000 {
		t.Fatalf("pid 9: %d ns, want stat's 100 ticks", got)
	}
}

func TestProcessMemoryIsPssElseResidentPages(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"1/smaps_rollup": "00400000-7fff [rollup]\nRss:     2048 kB\nPss:     1024 kB\n",
		"2/statm":        "1000 300 20 1 0 100 0\n",
	}, nil)
	if got, _ := fs.processMemory(1); got != 1024*1024 {
		t.Fatalf("Pss: %d", got)
	}
	if got, _ := fs.processMemory(2); got != 300*uint64(os.Getpagesize()) {
		t.Fatalf("statm: %d", got)
	}
}

func TestMachineCPUAndWorkingSet(t *testing.T) {
	fs := fakeProc(t, map[string]string{
		"stat":    "cpu  100 10 50 9000 400 5 5 30 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n",
		"meminfo": "MemTotal:  1000 kB\nMemFree:  200 kB\nMemAvailable: 700 kB\nInactive(file):  300 kB\n",
	}, nil)
	// user+nice+system+irq+softirq+steal = 200 ticks; idle and iowait are not busy.
	if got, _ := fs.machineCPU(); got != 2_000_000_000 {
		t.Fatalf("cpu: %d", got)
	}
	if got, _ := fs.machineWorkingSet(); got != 500*1024 {
		t.Fatalf("working set: %d", got)
	}
	capacity, err := machineCapacity(fs)
	if err != nil {
		t.Fatal(err)
	}
	if capacity.Cpu().Value() != int64(runtime.NumCPU()) || capacity.Memory().Value() != 1000*1024 {
		t.Fatalf("capacity: %v", capacity)
	}
}

func TestPidNamespacesGroupTheProcesses(t *testing.T) {
	fs := fakeProc(t, map[string]string{"self": ""}, map[string]string{
		"1/ns/pid":  "pid:[100]",
		"5/ns/pid":  "pid:[200]",
		"6/ns/pid":  "pid:[200]",
		"77/ns/pid": "pid:[100]",
	})
	got := fs.pidNamespaces()
	if len(got) != 2 || len(got["pid:[200]"]) != 2 || len(got["pid:[100]"]) != 2 {
		t.Fatalf("got %v", got)
	}
}

func TestCounterFloorKeepsTheCounterMonotonicPerContainerStart(t *testing.T) {
	f := &counterFloor{}
	start := time.Unix(1000, 0)
	c := runningContainer{namespace: "ns", pod: "p", name: "c", started: start}
	s := []usage{{runningContainer: c, cpuNs: 500}}
	f.apply(s)
	s = []usage{{runningContainer: c, cpuNs: 400}} // a reaped child counted nowhere for a moment
	f.apply(s)
	if s[0].cpuNs != 500 {
		t.Fatalf("went back to %d", s[0].cpuNs)
	}
	restarted := c
	restarted.started = start.Add(time.Minute)
	s = []usage{{runningContainer: restarted, cpuNs: 10}}
	f.apply(s)
	if s[0].cpuNs != 10 {
		t.Fatalf("a restarted container is a new series, got %d", s[0].cpuNs)
	}
}

// A container whose PID 1 (a shell) sleeps while its child burns CPU: the
// child's time is the container's, and memory is never 0.
func TestCollectCountsEveryProcessOfThePIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("a new PID namespace needs root")
	}
	cmd := exec.Command("sh", "-c", "sh -c 'while :; do :; done' & sleep 5")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Pdeathsig reaches PID 1 only: killing it ends its namespace, the loop included.
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	time.Sleep(2 * time.Second)
	fs := procFS{root: "/proc"}
	shell, _ := fs.processCPU(cmd.Process.Pid)
	got := collect(fs, []runningContainer{{namespace: "ns", pod: "p", name: "c", pid: cmd.Process.Pid}})
	if len(got) != 1 {
		t.Fatalf("got %d samples", len(got))
	}
	// The loop is not PID 1's reaped child: only the namespace walk finds it.
	// It had about 2 s of a shared machine: at least 20 ms of CPU.
	if got[0].cpuNs < 20_000_000 || got[0].cpuNs < 2*shell {
		t.Fatalf("container CPU %d ns (its PID 1 alone: %d ns)", got[0].cpuNs, shell)
	}
	if got[0].memBytes == 0 {
		t.Fatal("memory 0")
	}
}

// The endpoint as metrics-server reads it: its metric names, the three
// labels, a timestamp on each sample, nothing for a container not running.
func TestMetricsResourceServesEveryRunningContainerAndTheNode(t *testing.T) {
	child := exec.Command("sleep", "10")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	p := &Provider{pods: map[string]*podRuntime{}}
	started := metav1.NewTime(time.Unix(1700000000, 500_000_000))
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-1"}}
	p.pods["shop/web-1"] = &podRuntime{pod: pod, containers: []*containerRuntime{
		{spec: corev1.Container{Name: "app"}, proc: child.Process,
			state: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}},
		{spec: corev1.Container{Name: "waiting"},
			state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ImageNotAvailable}}},
	}}
	srv := httptest.NewServer(api.HandlePodMetricsResource(p.GetMetricsResource))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	text := string(body)
	labels := `\{container="app",namespace="shop",pod="web-1"\}`
	for _, want := range []string{
		`(?m)^container_cpu_usage_seconds_total` + labels + ` [0-9.e+-]+ \d{13}$`,
		`(?m)^container_memory_working_set_bytes` + labels + ` [0-9.e+-]+ \d{13}$`,
		`(?m)^container_start_time_seconds` + labels + ` 1\.7000000005e\+09 \d{13}$`,
		`(?m)^node_cpu_usage_seconds_total [0-9.e+-]+ \d{13}$`,
		`(?m)^node_memory_working_set_bytes [0-9.e+-]+ \d{13}$`,
	} {
		if !regexp.MustCompile(want).MatchString(text) {
			t.Errorf("no line matching %s in:\n%s", want, text)
		}
	}
	if strings.Contains(text, `container="waiting"`) {
		t.Errorf("a container that is not running has samples:\n%s", text)
	}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 3 && !strings.HasPrefix(line, "#") && f[1] == "0" {
			t.Errorf("a zero sample: %s", line)
		}
	}
}
