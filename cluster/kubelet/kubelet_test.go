package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var promImage = Image{
	Pattern:    "prom/prometheus:*",
	Entrypoint: []string{"/bin/prometheus"},
	Cmd:        []string{"--config.file=/etc/prometheus/prometheus.yml"},
	Aliases:    map[string]string{"/bin/prometheus": "/opt/bin/prometheus"},
}

func TestArgvFollowsEntrypointAndCmdSemantics(t *testing.T) {
	cases := []struct {
		name          string
		command, args []string
		want          []string
	}{
		{"image defaults", nil, nil, []string{"/bin/prometheus", "--config.file=/etc/prometheus/prometheus.yml"}},
		{"args replace CMD", nil, []string{"--web.listen-address=:9090"}, []string{"/bin/prometheus", "--web.listen-address=:9090"}},
		{"command replaces entrypoint and CMD", []string{"sh"}, nil, []string{"sh"}},
		{"command plus args", []string{"sh", "-c"}, []string{"true"}, []string{"sh", "-c", "true"}},
	}
	for _, c := range cases {
		got := argv(&promImage, &corev1.Container{Command: c.command, Args: c.args})
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: argv = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestResolveProgram(t *testing.T) {
	dir := t.TempDir()
	tool := filepath.Join(dir, "hey")
	if err := os.WriteFile(tool, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if p, _ := resolveProgram(&promImage, "/bin/prometheus", ""); p != "/opt/bin/prometheus" {
		t.Errorf("alias: %q", p)
	}
	if p, _ := resolveProgram(&promImage, "hey", dir+":/nonexistent"); p != tool {
		t.Errorf("PATH lookup: %q", p)
	}
	if _, err := resolveProgram(&promImage, "missing-tool", dir); err == nil || !strings.Contains(err.Error(), "missing-tool") {
		t.Errorf("missing program error: %v", err)
	}
	if _, err := resolveProgram(&promImage, "./in-image-only", dir); err == nil {
		t.Error("a path that exists only inside the image must fail")
	}
}

func TestLookupImage(t *testing.T) {
	c := &Config{Images: []Image{promImage, {Pattern: "order-api:*"}}}
	if c.lookupImage("prom/prometheus:v3.7.3") == nil || c.lookupImage("order-api:1.1.0") == nil {
		t.Error("table rows must match their tags")
	}
	if c.lookupImage("grafana/grafana:12.2.1") != nil || c.lookupImage("evil/prom/prometheus:v1") != nil {
		t.Error("images outside the table must not match")
	}
}

func TestContainerEnvContainerWinsOverImage(t *testing.T) {
	img := &Image{Path: []string{"/opt/tools"}, Env: map[string]string{"A": "image", "B": "image"}}
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "B", Value: "container"},
		{Name: "UNRESOLVED", ValueFrom: &corev1.EnvVarSource{}},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
	env, path := containerEnv(img, pod, c, "/")
	if !strings.HasPrefix(path, "/opt/tools:") {
		t.Errorf("PATH = %q", path)
	}
	for _, want := range []string{"A=image", "B=container", "HOSTNAME=p", "HOME=/"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %s: %q", want, env)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "UNRESOLVED=") {
			t.Error("an unresolved valueFrom must not become an empty variable")
		}
	}
}

func TestSecurityIDsContainerOverridesPod(t *testing.T) {
	u, g, fs, cu := int64(10001), int64(10001), int64(2000), int64(65534)
	pod := &corev1.Pod{Spec: corev1.PodSpec{SecurityContext: &corev1.PodSecurityContext{
		RunAsUser: &u, RunAsGroup: &g, FSGroup: &fs, SupplementalGroups: []int64{3000},
	}}}
	uid, gid, groups := securityIDs(pod, &corev1.Container{SecurityContext: &corev1.SecurityContext{RunAsUser: &cu}})
	if *uid != 65534 || *gid != 10001 || !slices.Equal(groups, []int{2000, 3000}) {
		t.Errorf("uid %d gid %d groups %v", *uid, *gid, groups)
	}
	uid, gid, _ = securityIDs(&corev1.Pod{}, &corev1.Container{})
	if uid != nil || gid != nil {
		t.Error("no securityContext: keep the kubelet's user")
	}
}

func TestSelectKeys(t *testing.T) {
	data := map[string][]byte{"prometheus.yml": []byte("a"), "x.rules.yml": []byte("b")}
	mode := int32(0o600)
	got, err := selectKeys(data, []corev1.KeyToPath{{Key: "x.rules.yml", Path: "rules/x.yml", Mode: &mode}}, 0o644)
	if err != nil || len(got) != 1 || string(got["rules/x.yml"].data) != "b" || got["rules/x.yml"].mode != 0o600 {
		t.Errorf("items: %v %v", got, err)
	}
	if all, _ := selectKeys(data, nil, 0o644); len(all) != 2 {
		t.Errorf("no items: every key, got %v", all)
	}
	if _, err := selectKeys(data, []corev1.KeyToPath{{Key: "nope", Path: "p"}}, 0o644); err == nil {
		t.Error("a missing key must fail")
	}
}

func TestWriteFilesStaysInsideTheVolume(t *testing.T) {
	dir := t.TempDir()
	if err := writeFiles(dir, map[string]file{"../../escape": {[]byte("x"), 0o644}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "escape")); err != nil {
		t.Errorf("a relative path must land inside the volume: %v", err)
	}
}

func TestSetConditionsKeepsSchedulingAndTransitions(t *testing.T) {
	st := &corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}}
	setConditions(st, true, false)
	got := map[corev1.PodConditionType]corev1.ConditionStatus{}
	for _, c := range st.Conditions {
		got[c.Type] = c.Status
	}
	if got[corev1.PodScheduled] != corev1.ConditionTrue || got[corev1.PodReady] != corev1.ConditionFalse || got[corev1.PodInitialized] != corev1.ConditionTrue {
		t.Errorf("conditions %v", got)
	}
	setConditions(st, true, true)
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			t.Error("Ready must follow the readiness result")
		}
	}
}

func TestBackoffIsBounded(t *testing.T) {
	if backoff(0) != time.Second || backoff(2) != 4*time.Second || backoff(50) != 20*time.Second {
		t.Errorf("backoff: %v %v %v", backoff(0), backoff(2), backoff(50))
	}
}

func TestFieldValue(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "sre-demo"}}
	if v, _ := fieldValue(pod, "metadata.namespace"); v != "sre-demo" {
		t.Errorf("namespace %q", v)
	}
	if _, err := fieldValue(pod, "status.hostIP"); err == nil {
		t.Error("unsupported fieldRef must fail by name")
	}
}

func TestWithKeptRebindsOnlyPathsAVolumeHides(t *testing.T) {
	mounts := []Mount{
		{Source: "/run/pod/tmp", Target: "/tmp"},
		{Source: "/run/pod/cfg", Target: "/etc/prometheus", ReadOnly: true},
	}
	keep := []string{"/tmp/checkout/project", "/home/u/.cache/toolchain", "/tmpfoo/venv"}
	got := withKept(mounts, keep)
	var kept []string
	for _, m := range got {
		if m.Kept {
			if m.Source != m.Target || !m.ReadOnly {
				t.Errorf("kept mount %+v: want a read-only self-bind", m)
			}
			kept = append(kept, m.Target)
		}
	}
	// Only the checkout under /tmp is hidden; /tmpfoo is not below /tmp.
	if want := []string{"/tmp/checkout/project"}; !slices.Equal(kept, want) {
		t.Fatalf("kept %v, want %v", kept, want)
	}
	if len(got) != len(mounts)+1 {
		t.Fatalf("volumes changed: %+v", got)
	}
}

func TestStopRecordsTellADrainFromAKill(t *testing.T) {
	sent := time.Now()
	ended := func(after time.Duration, code int32) *containerRuntime {
		return &containerRuntime{
			spec: corev1.Container{Name: "c"},
			state: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: code, FinishedAt: metav1.NewTime(sent.Add(after)),
			}},
		}
	}
	pr := &podRuntime{pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}}
	drained, slow, never := ended(5*time.Second, 0), ended(30*time.Second, 137), &containerRuntime{}
	got := stopRecords(pr, []*containerRuntime{drained, slow, never}, sent, 30*time.Second, true)
	if len(got) != 2 {
		t.Fatalf("records = %+v, want 2 (a container that never ran has none)", got)
	}
	if got[0].Killed || got[0].ExitCode != 0 || got[0].AfterS != 5 || got[0].Pod != "p" {
		t.Fatalf("the drained container: %+v", got[0])
	}
	if !got[1].Killed || got[1].ExitCode != 137 {
		t.Fatalf("the killed container: %+v", got[1])
	}
	log := filepath.Join(t.TempDir(), "stops.jsonl")
	appendStops(log, got)
	appendStops(log, got[:1])
	data, err := os.ReadFile(log)
	if err != nil || strings.Count(string(data), "\n") != 3 {
		t.Fatalf("stop log %q, %v: want 3 lines", data, err)
	}
}
