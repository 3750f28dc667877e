package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

const cgroupRoot = "/sys/fs/cgroup"

// cgroupMount is one line of a mountinfo below /sys/fs/cgroup.
type cgroupMount struct {
	target, fstype, options string
}

// cgroupMounts lists the cgroup file systems (and the tmpfs holding them)
// mounted at or below /sys/fs/cgroup in a mountinfo file.
func cgroupMounts(mountinfo string) ([]cgroupMount, error) {
	f, err := os.Open(mountinfo)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root target options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		target := fields[4]
		if target != cgroupRoot && !strings.HasPrefix(target, cgroupRoot+"/") {
			continue
		}
		out = append(out, cgroupMount{target: target, fstype: tail[0], options: tail[2]})
	}
	return out, sc.Err()
}

// mountCgroups gives the node's mount namespace the machine's cgroup
// hierarchies. `ip netns exec` remounts /sys for the network namespace, and
// its /sys/fs/cgroup is empty there: runc would find no cgroup mount. Mounting
// a v1 hierarchy again with the same controllers attaches the same hierarchy.
// Only the node's own mount namespace sees these mounts.
func mountCgroups() error {
	mine, err := cgroupMounts("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	for _, m := range mine {
		if m.fstype == "cgroup" || m.fstype == "cgroup2" {
			return nil // already there (started without ip netns exec)
		}
	}
	host, err := cgroupMounts("/proc/1/mountinfo")
	if err != nil {
		return err
	}
	for _, m := range host {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return err
		}
		data := cgroupData(m)
		if err := unix.Mount(m.fstype, m.target, m.fstype, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, data); err != nil {
			return fmt.Errorf("mount %s %s: %w", m.fstype, m.target, err)
		}
	}
	return nil
}

// cgroupData is the mount data of a hierarchy: its controllers (v1: the
// super options other than rw/ro), a tmpfs's mode.
func cgroupData(m cgroupMount) string {
	var keep []string
	for _, o := range strings.Split(m.options, ",") {
		if o != "rw" && o != "ro" {
			keep = append(keep, o)
		}
	}
	return strings.Join(keep, ",")
}

// hasCPUController tells whether CPU limits can be set: the v1 cpu
// controller with CFS quota, or cgroup v2's cpu.max.
func hasCPUController() bool {
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cpu", "cpu.cfs_quota_us")); err == nil {
		return true
	}
	data, err := os.ReadFile(filepath.Join(cgroupRoot, "cgroup.controllers"))
	return err == nil && strings.Contains(" "+string(data)+" ", " cpu ")
}
