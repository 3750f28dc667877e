package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var orderAPIConfig = imgspec.ImageConfig{
	User:       "10001:10001",
	Env:        []string{"PATH=/opt/venv/bin:/usr/bin", "PYTHONPATH=/opt/app"},
	Entrypoint: []string{"python", "-m", "order_api"},
	Cmd:        []string{"--host", "0.0.0.0", "--port", "8080"},
	WorkingDir: "/",
}

func TestOCIArgsReplaceEntrypointAndCmdAsARuntimeDoes(t *testing.T) {
	cases := []struct {
		command, args, want []string
	}{
		{nil, nil, []string{"python", "-m", "order_api", "--host", "0.0.0.0", "--port", "8080"}},
		{nil, []string{"--port", "9090"}, []string{"python", "-m", "order_api", "--port", "9090"}},
		{[]string{"sh"}, nil, []string{"sh"}},
		{[]string{"sh", "-c"}, []string{"true"}, []string{"sh", "-c", "true"}},
	}
	for _, c := range cases {
		if got := ociArgs(&orderAPIConfig, &corev1.Container{Command: c.command, Args: c.args}); !slices.Equal(got, c.want) {
			t.Errorf("command %q args %q: %q, want %q", c.command, c.args, got, c.want)
		}
	}
}

func TestOCIEnvIsTheImagesThenTheContainers(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p1"}}
	c := &corev1.Container{Env: []corev1.EnvVar{{Name: "PYTHONPATH", Value: "/x"}, {Name: "A", Value: "1"}}}
	got := ociEnv(orderAPIConfig.Env, pod, c)
	want := []string{"PATH=/opt/venv/bin:/usr/bin", "PYTHONPATH=/x", "HOSTNAME=p1", "A=1"}
	if !slices.Equal(got, want) {
		t.Errorf("env %q, want %q", got, want)
	}
}

func TestOCIUserFromTheSecurityContextElseTheImage(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\napp:x:10001:10002::/:/bin/sh\n"), 0o644)
	yes, uid := true, int64(65534)
	pod := &corev1.Pod{}
	u, err := ociUser(pod, &corev1.Container{}, "app", root)
	if err != nil || u.UID != 10001 || u.GID != 10002 {
		t.Errorf("image USER app: %+v %v", u, err)
	}
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &uid, FSGroup: &uid}
	if u, _ = ociUser(pod, &corev1.Container{}, "app", root); u.UID != 65534 || u.GID != 65534 || !slices.Equal(u.AdditionalGids, []uint32{65534}) {
		t.Errorf("runAsUser: %+v", u)
	}
	nonRoot := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes}}}
	if _, err := ociUser(nonRoot, &corev1.Container{}, "", root); err == nil || !strings.Contains(err.Error(), "runAsNonRoot") {
		t.Errorf("runAsNonRoot with a root image: %v", err)
	}
}

func TestOCICapsDropAllThenAdd(t *testing.T) {
	if got := ociCaps(nil); len(got) != len(defaultCaps) {
		t.Errorf("default caps: %q", got)
	}
	sc := &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	if got := ociCaps(sc); len(got) != 0 {
		t.Errorf("drop ALL: %q", got)
	}
	sc.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
	if got := ociCaps(sc); !slices.Equal(got, []string{"CAP_NET_BIND_SERVICE"}) {
		t.Errorf("drop ALL, add one: %q", got)
	}
}

func TestOCIResourcesFromLimitsAndRequests(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
	}}
	r := ociResources(c, true, 1024)
	if *r.Memory.Limit != 256<<20 || *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 || *r.CPU.Shares != 102 || r.Pids.Limit != 1024 {
		t.Errorf("resources: mem %d quota %d period %d shares %d pids %d", *r.Memory.Limit, *r.CPU.Quota, *r.CPU.Period, *r.CPU.Shares, r.Pids.Limit)
	}
	if r := ociResources(c, false, 0); r.CPU != nil || r.Pids != nil {
		t.Errorf("no cpu controller, no pids limit: %+v", r)
	}
}

func TestReadOnlyRootAndNoNewPrivileges(t *testing.T) {
	yes, no := true, false
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	c := &corev1.Container{SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: &yes, AllowPrivilegeEscalation: &no}}
	img := &imgspec.Image{Config: orderAPIConfig}
	spec, err := ociSpec(pod, c, &ociInput{image: img, rootfs: "/r", pidNS: "/proc/2/ns/pid", netNS: "/proc/3/ns/net",
		mounts: []Mount{{Source: "/v", Target: "/tmp"}, {Source: "/c", Target: "/etc/c", ReadOnly: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Root.Readonly || !spec.Process.NoNewPrivileges || spec.Process.User.UID != 10001 || spec.Hostname != "p" {
		t.Errorf("root %+v process %+v", spec.Root, spec.Process)
	}
	joined := map[string]string{}
	for _, ns := range spec.Linux.Namespaces {
		joined[string(ns.Type)] = ns.Path
	}
	if joined["network"] != "/proc/3/ns/net" || joined["pid"] != "/proc/2/ns/pid" || len(joined) != 5 {
		t.Errorf("namespaces %+v", spec.Linux.Namespaces)
	}
	last := spec.Mounts[len(spec.Mounts)-1]
	if last.Destination != "/etc/c" || !slices.Contains(last.Options, "ro") {
		t.Errorf("volume mount %+v", last)
	}
}

func TestCgroupMountsReadsTheHierarchiesOfAMountinfo(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mountinfo")
	os.WriteFile(f, []byte(`31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
22 1 0:20 / /proc rw - proc proc rw
`), 0o644)
	got, err := cgroupMounts(f)
	if err != nil || len(got) != 4 {
		t.Fatalf("%+v %v", got, err)
	}
	if cgroupData(got[1]) != "cpu" || cgroupData(got[2]) != "name=systemd" || cgroupData(got[0]) != "mode=755" || cgroupData(got[3]) != "" {
		t.Errorf("mount data: %+v", got)
	}
}
