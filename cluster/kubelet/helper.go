package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// helperArg is argv[1] of the in-pod helper: the kubelet re-executes itself
// with it in fresh mount, UTS and PID namespaces (see startHelper).
const helperArg = "exec-in-pod"

// Mount is one bind mount of a materialized volume (or resolv.conf).
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly"`
	Kept     bool   `json:"kept,omitempty"` // a program root bound back on itself
}

// HelperSpec is everything the helper needs to become the container.
type HelperSpec struct {
	NetNS        string   `json:"netns"` // e.g. /proc/<sandbox pid>/ns/net
	Hostname     string   `json:"hostname"`
	Mounts       []Mount  `json:"mounts"`
	Keep         []string `json:"keep"` // host paths a volume must not hide
	ReadOnlyRoot bool     `json:"readOnlyRoot"`
	WorkingDir   string   `json:"workingDir"`
	UID          *int64   `json:"uid,omitempty"`
	GID          *int64   `json:"gid,omitempty"`
	Groups       []int    `json:"groups,omitempty"`
	NoNewPrivs   bool     `json:"noNewPrivs"`
	Argv         []string `json:"argv"`
	Env          []string `json:"env"`
}

func init() {
	// setns(CLONE_NEWNET) acts on one thread: keep the helper's main goroutine
	// on the thread that will execve.
	runtime.LockOSThread()
}

func runHelper(args []string) {
	if len(args) != 1 {
		helperFail("usage: kubelet %s SPEC.json", helperArg)
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		helperFail("%v", err)
	}
	var s HelperSpec
	if err := json.Unmarshal(data, &s); err != nil {
		helperFail("%s: %v", args[0], err)
	}
	if err := becomeContainer(&s); err != nil {
		helperFail("%v", err)
	}
	err = unix.Exec(s.Argv[0], s.Argv, s.Env)
	helperFail("exec %s: %v", s.Argv[0], err)
}

func helperFail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "kubelet exec-in-pod: "+format+"\n", a...)
	os.Exit(127)
}

func becomeContainer(s *HelperSpec) error {
	// Our mounts must never propagate back to the cluster's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make / private: %w", err)
	}
	if err := joinNetNS(s.NetNS); err != nil {
		return err
	}
	if err := bindMounts(withKept(s.Mounts, s.Keep)); err != nil {
		return err
	}
	if s.ReadOnlyRoot {
		// Per mount namespace: only this container sees / read-only.
		if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only root: %w", err)
		}
	}
	if s.Hostname != "" {
		if err := unix.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("sethostname: %w", err)
		}
	}
	if err := os.Chdir(s.WorkingDir); err != nil {
		return fmt.Errorf("working dir: %w", err)
	}
	if err := dropCredentials(s); err != nil {
		return err
	}
	// A credential change clears the parent-death signal: set it again so the
	// container dies with the kubelet.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("pdeathsig: %w", err)
	}
	if s.NoNewPrivs {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("no_new_privs: %w", err)
		}
	}
	return nil
}

func joinNetNS(path string) error {
	if path == "" {
		return nil
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("pod network namespace: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", path, err)
	}
	return nil
}

// withKept adds a self-bind for every kept path that lies below a volume's
// target, so the program (say, the virtualenv in a checkout under /tmp) stays
// visible when an emptyDir is mounted on /tmp.
func withKept(mounts []Mount, keep []string) []Mount {
	out := append([]Mount(nil), mounts...)
	for _, k := range keep {
		for _, m := range mounts {
			if strings.HasPrefix(k, strings.TrimSuffix(m.Target, "/")+"/") {
				out = append(out, Mount{Source: k, Target: k, ReadOnly: true, Kept: true})
				break
			}
		}
	}
	return out
}

func bindMounts(mounts []Mount) error {
	// Parents before children (/etc before /etc/x).
	sorted := append([]Mount(nil), mounts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return strings.Count(sorted[i].Target, "/") < strings.Count(sorted[j].Target, "/")
	})
	// Open every source first: a mount on /tmp would otherwise hide sources
	// that live below /tmp (the run dir, a kept path).
	fds := make([]int, len(sorted))
	for i, m := range sorted {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("volume source %s: %w", m.Source, err)
		}
		fds[i] = fd
	}
	for i, m := range sorted {
		if m.Kept {
			// The target is inside a volume mounted just before: make it there.
			if err := os.MkdirAll(m.Target, 0o755); err != nil {
				return fmt.Errorf("kept path %s: %w", m.Target, err)
			}
		}
		src := fmt.Sprintf("/proc/self/fd/%d", fds[i])
		if err := unix.Mount(src, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, m.Target, err)
		}
		unix.Close(fds[i])
	}
	// Read-only after every bind: a kept path may need a directory made
	// inside a volume that is itself read-only.
	for _, m := range sorted {
		if !m.ReadOnly {
			continue
		}
		flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
		if err := unix.Mount("", m.Target, "", flags, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", m.Target, err)
		}
	}
	return nil
}

func dropCredentials(s *HelperSpec) error {
	if s.UID == nil && s.GID == nil {
		return nil
	}
	gid := 0
	if s.GID != nil {
		gid = int(*s.GID)
	}
	if err := unix.Setgroups(s.Groups); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := unix.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("setgid %d: %w", gid, err)
	}
	if s.UID != nil {
		uid := int(*s.UID)
		if err := unix.Setresuid(uid, uid, uid); err != nil {
			return fmt.Errorf("setuid %d: %w", uid, err)
		}
	}
	return nil
}
