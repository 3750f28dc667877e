package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// defaultCaps is the set a container runtime (containerd, CRI-O) grants
// before the pod's securityContext adds or drops any.
var defaultCaps = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// maskedPaths and readonlyPaths are runc's defaults (`runc spec`).
var maskedPaths = []string{
	"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
	"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
}
var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

const cfsPeriod = 100000 // µs, the kubelet's CPU CFS period

// ociInput is what the runtime spec is made from besides the pod.
type ociInput struct {
	image      *imgspec.Image
	rootfs     string // the container's own (overlay) root
	imageRoot  string // the unpacked image, for /etc/passwd look-ups
	mounts     []Mount
	pidNS      string // path of the pid namespace to join
	netNS      string
	cgroupPath string
	cpuLimits  bool // the cpu controller is mounted
	pidsLimit  int64
}

// ociSpec is the runtime spec of one container of a pod, as a CRI runtime
// writes it: the image's config overridden by the container's.
func ociSpec(pod *corev1.Pod, c *corev1.Container, in *ociInput) (*specs.Spec, error) {
	ic := in.image.Config
	args := ociArgs(&ic, c)
	if len(args) == 0 {
		return nil, fmt.Errorf("no command specified: the image has no entrypoint or cmd and the container none")
	}
	user, err := ociUser(pod, c, ic.User, in.imageRoot)
	if err != nil {
		return nil, err
	}
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = ic.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	sc := c.SecurityContext
	caps := ociCaps(sc)
	spec := &specs.Spec{
		Version:  specs.Version,
		Hostname: pod.Name,
		Root:     &specs.Root{Path: in.rootfs, Readonly: sc != nil && sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem},
		Process: &specs.Process{
			User: user, Args: args, Env: ociEnv(ic.Env, pod, c), Cwd: cwd,
			Capabilities:    &specs.LinuxCapabilities{Bounding: caps, Effective: caps, Permitted: caps},
			NoNewPrivileges: sc != nil && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation,
		},
		Mounts: append(baseMounts(), ociBinds(in.mounts)...),
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace, Path: in.pidNS},
				{Type: specs.NetworkNamespace, Path: in.netNS},
				{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			CgroupsPath:   in.cgroupPath,
			Resources:     ociResources(c, in.cpuLimits, in.pidsLimit),
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
		},
	}
	return spec, nil
}

// ociArgs: command replaces the entrypoint (and drops the image's cmd), args replace cmd.
func ociArgs(ic *imgspec.ImageConfig, c *corev1.Container) []string {
	if len(c.Command) > 0 {
		return append(append([]string{}, c.Command...), c.Args...)
	}
	args := ic.Cmd
	if len(c.Args) > 0 {
		args = c.Args
	}
	return append(append([]string{}, ic.Entrypoint...), args...)
}

// ociEnv: the image's variables, HOSTNAME, then the container's (valueFrom
// already resolved by virtual-kubelet), a later one replacing an earlier one.
func ociEnv(image []string, pod *corev1.Pod, c *corev1.Container) []string {
	var order []string
	vals := map[string]string{}
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	set("PATH", basePath)
	for _, kv := range image {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	set("HOSTNAME", pod.Name)
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, e.Value)
		}
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+vals[k])
	}
	return env
}

// ociUser: runAsUser/runAsGroup (container over pod), else the image's USER;
// fsGroup and supplementalGroups as additional groups.
func ociUser(pod *corev1.Pod, c *corev1.Container, imageUser, root string) (specs.User, error) {
	uid, gid, groups := securityIDs(pod, c)
	var u specs.User
	if uid == nil || gid == nil {
		iu, ig, err := resolveImageUser(imageUser, root)
		if err != nil {
			return u, err
		}
		if uid == nil {
			uid = &iu
		}
		if gid == nil {
			gid = &ig
		}
	}
	u.UID, u.GID = uint32(*uid), uint32(*gid)
	for _, g := range groups {
		u.AdditionalGids = append(u.AdditionalGids, uint32(g))
	}
	if nonRoot(pod, c) && u.UID == 0 {
		return u, fmt.Errorf("container has runAsNonRoot and image will run as root")
	}
	return u, nil
}

func nonRoot(pod *corev1.Pod, c *corev1.Container) bool {
	if c.SecurityContext != nil && c.SecurityContext.RunAsNonRoot != nil {
		return *c.SecurityContext.RunAsNonRoot
	}
	psc := pod.Spec.SecurityContext
	return psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
}

// resolveImageUser turns USER ("uid[:gid]" or names) into ids, names through
// the image's /etc/passwd and /etc/group.
func resolveImageUser(user, root string) (int64, int64, error) {
	if user == "" {
		return 0, 0, nil
	}
	name, group, hasGroup := strings.Cut(user, ":")
	uid, gid, err := lookupID(filepath.Join(root, "etc/passwd"), name, true)
	if err != nil {
		return 0, 0, err
	}
	if hasGroup {
		if gid, _, err = lookupID(filepath.Join(root, "etc/group"), group, false); err != nil {
			return 0, 0, err
		}
	}
	return uid, gid, nil
}

// lookupID finds a name's id (and, in passwd, its primary group); a number
// stands for itself (its group in passwd, else the same number).
func lookupID(file, name string, passwd bool) (int64, int64, error) {
	n, numErr := strconv.ParseInt(name, 10, 64)
	f, err := os.Open(file)
	if err != nil {
		if numErr == nil {
			return n, n, nil
		}
		return 0, 0, fmt.Errorf("image USER %q: %w", name, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) < 4 || (fields[0] != name && fields[2] != name) {
			continue
		}
		id, _ := strconv.ParseInt(fields[2], 10, 64)
		primary := id
		if passwd {
			primary, _ = strconv.ParseInt(fields[3], 10, 64)
		}
		return id, primary, nil
	}
	if numErr == nil {
		return n, n, nil
	}
	return 0, 0, fmt.Errorf("image USER %q: not in %s", name, file)
}

// ociCaps: the default set, less the dropped (ALL drops all), plus the added.
func ociCaps(sc *corev1.SecurityContext) []string {
	set := map[string]bool{}
	for _, c := range defaultCaps {
		set[c] = true
	}
	if sc != nil && sc.Capabilities != nil {
		for _, d := range sc.Capabilities.Drop {
			if strings.EqualFold(string(d), "ALL") {
				set = map[string]bool{}
				break
			}
			delete(set, capName(d))
		}
		for _, a := range sc.Capabilities.Add {
			set[capName(a)] = true
		}
	}
	out := []string{}
	for _, c := range defaultCaps {
		if set[c] {
			out = append(out, c)
			delete(set, c)
		}
	}
	for c := range set {
		out = append(out, c)
	}
	return out
}

func capName(c corev1.Capability) string {
	s := strings.ToUpper(string(c))
	if !strings.HasPrefix(s, "CAP_") {
		s = "CAP_" + s
	}
	return s
}

// ociResources: memory and CPU from the container's resources (CPU only when
// the cpu controller is mounted), pids from the node's per-pod limit.
func ociResources(c *corev1.Container, cpu bool, pids int64) *specs.LinuxResources {
	r := &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}}
	if m, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		v := m.Value()
		r.Memory = &specs.LinuxMemory{Limit: &v}
	}
	if cpu {
		r.CPU = &specs.LinuxCPU{}
		if l, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
			quota, period := l.MilliValue()*cfsPeriod/1000, uint64(cfsPeriod)
			r.CPU.Quota, r.CPU.Period = &quota, &period
		}
		if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
			shares := uint64(max(2, q.MilliValue()*1024/1000))
			r.CPU.Shares = &shares
		}
	}
	if pids > 0 {
		r.Pids = &specs.LinuxPids{Limit: pids}
	}
	return r
}

func baseMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

// ociBinds: the pod's volumes, resolv.conf, hosts and hostname, as binds.
func ociBinds(mounts []Mount) []specs.Mount {
	var out []specs.Mount
	for _, m := range mounts {
		opts := []string{"rbind", "rprivate"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		out = append(out, specs.Mount{Destination: m.Target, Type: "bind", Source: m.Source, Options: opts})
	}
	return out
}
