package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// argv follows the image semantics: command replaces the entrypoint, args
// replace the image's CMD.
func argv(img *Image, c *corev1.Container) []string {
	if len(c.Command) > 0 {
		return append(append([]string{}, c.Command...), c.Args...)
	}
	args := img.Cmd
	if len(c.Args) > 0 {
		args = c.Args
	}
	return append(append([]string{}, img.Entrypoint...), args...)
}

// resolveProgram maps argv[0] through the image's aliases, then PATH.
func resolveProgram(img *Image, name, pathEnv string) (string, error) {
	if p, ok := img.Aliases[name]; ok {
		return p, nil
	}
	if strings.Contains(name, "/") {
		if _, err := os.Stat(name); err != nil {
			return "", fmt.Errorf("%s: not a local program for this image", name)
		}
		return name, nil
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found on the image's PATH", name)
}

// containerEnv is the process environment: the image's, then the
// container's (valueFrom already resolved by virtual-kubelet).
func containerEnv(img *Image, pod *corev1.Pod, c *corev1.Container, home string) (env []string, path string) {
	vals := map[string]string{
		"PATH":     strings.Join(append(append([]string{}, img.Path...), basePath), ":"),
		"HOSTNAME": pod.Name,
		"HOME":     home,
	}
	order := []string{"PATH", "HOSTNAME", "HOME"}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for k, v := range img.Env {
		set(k, v)
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, e.Value)
		}
	}
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env, vals["PATH"]
}

// securityIDs picks uid/gid/groups from the container's, else the pod's, context.
func securityIDs(pod *corev1.Pod, c *corev1.Container) (uid, gid *int64, groups []int) {
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
		if psc.FSGroup != nil {
			groups = append(groups, int(*psc.FSGroup))
		}
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, int(g))
		}
	}
	if sc := c.SecurityContext; sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	if uid != nil && gid == nil {
		gid = uid
	}
	return uid, gid, groups
}

// mountpoints creates missing mount targets on the host filesystem (a bind
// mount needs one) and records them, so `python -m cluster down` removes them.
type mountpoints struct {
	mu  sync.Mutex
	log string
}

func (m *mountpoints) ensure(target string, isDir bool) error {
	if _, err := os.Lstat(target); err == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var created []string
	for p := filepath.Dir(target); p != "/"; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		created = append([]string{p}, created...)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if isDir {
		if err := os.Mkdir(target, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
	} else if err := os.WriteFile(target, nil, 0o644); err != nil {
		return err
	}
	created = append(created, target)
	f, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range created {
		fmt.Fprintln(f, p)
	}
	return nil
}

// buildSpec assembles what the helper needs for one container run.
func (p *Provider) buildSpec(pr *podRuntime, c *corev1.Container, img *Image, command []string) (*HelperSpec, error) {
	pod := pr.pod
	uid, gid, groups := securityIDs(pod, c)
	home := "/"
	if uid == nil || *uid == 0 {
		home = "/root"
	}
	env, pathEnv := containerEnv(img, pod, c, home)
	if command == nil {
		command = argv(img, c)
	}
	if len(command) == 0 {
		return nil, fmt.Errorf("no command: the image has no entrypoint and the container none")
	}
	prog, err := resolveProgram(img, command[0], pathEnv)
	if err != nil {
		return nil, err
	}
	mounts := []Mount{{Source: filepath.Join(pr.dir, "resolv.conf"), Target: "/etc/resolv.conf", ReadOnly: true}}
	for _, vm := range c.VolumeMounts {
		src, ok := pr.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q: no such volume", vm.Name)
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, filepath.Clean("/"+vm.SubPath))
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("volumeMount %q: %w", vm.Name, err)
		}
		if err := p.mountpoints.ensure(vm.MountPath, st.IsDir()); err != nil {
			return nil, fmt.Errorf("mount target %s: %w", vm.MountPath, err)
		}
		mounts = append(mounts, Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	wd := c.WorkingDir
	if wd == "" {
		wd = img.WorkingDir
	}
	if st, err := os.Stat(wd); wd == "" || err != nil || !st.IsDir() {
		if !isMountTarget(mounts, wd) {
			wd = "/"
		}
	}
	sc := c.SecurityContext
	return &HelperSpec{
		NetNS:        pr.sandbox.netns,
		Hostname:     pod.Name,
		Mounts:       mounts,
		Keep:         p.cfg.ProgramRoots,
		ReadOnlyRoot: sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem,
		WorkingDir:   wd,
		UID:          uid,
		GID:          gid,
		Groups:       groups,
		NoNewPrivs:   sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		Argv:         append([]string{prog}, command[1:]...),
		Env:          env,
	}, nil
}

func isMountTarget(mounts []Mount, dir string) bool {
	for _, m := range mounts {
		if m.Target == dir {
			return true
		}
	}
	return false
}

// startHelper starts the helper for a spec: its own mount, UTS and PID
// namespaces (the program is PID 1 there, so everything it starts dies with
// it), killed with the kubelet.
func startHelper(spec *HelperSpec, specFile string, out *os.File, newPID bool) (*exec.Cmd, error) {
	data, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return nil, err
	}
	cmd := exec.Command("/proc/self/exe", helperArg, specFile)
	flags := uintptr(syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS)
	if newPID {
		flags |= syscall.CLONE_NEWPID
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}
