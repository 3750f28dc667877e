package main

// What /proc says about processes and the machine: CPU time, memory, PID
// namespaces. The node's resource metrics (metrics.go) are built from it.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// userHZ is the unit of the tick counts in /proc (USER_HZ, 100 on Linux
// whatever the kernel's own HZ).
const userHZ = 100

const nsPerTick = 1e9 / userHZ

// procFS reads one /proc tree (a folder of fixtures in the tests).
type procFS struct{ root string }

func (fs procFS) path(parts ...string) string {
	return filepath.Join(append([]string{fs.root}, parts...)...)
}

// statTimes are the CPU fields of /proc/<pid>/stat, in ticks: the process's
// own (its dead threads included) and its waited-for children's.
type statTimes struct {
	utime, stime, cutime, cstime uint64
}

// parseStat reads utime, stime, cutime and cstime (fields 14 to 17). The
// command name (field 2) may hold spaces and parentheses: the fields are
// counted after its last ')'.
func parseStat(line string) (statTimes, error) {
	end := strings.LastIndexByte(line, ')')
	if end < 0 {
		return statTimes{}, fmt.Errorf("stat: no command name in %q", line)
	}
	fields := strings.Fields(line[end+1:])
	// fields[0] is field 3 (state), so field N is fields[N-3].
	if len(fields) < 15 {
		return statTimes{}, fmt.Errorf("stat: %d fields after the command name", len(fields))
	}
	var v [4]uint64
	for i := range v {
		n, err := strconv.ParseUint(fields[11+i], 10, 64)
		if err != nil {
			return statTimes{}, fmt.Errorf("stat field %d: %w", 14+i, err)
		}
		v[i] = n
	}
	return statTimes{v[0], v[1], v[2], v[3]}, nil
}

// processCPU is the CPU time of one process in nanoseconds: its threads' and
// those of the children it has reaped. The live threads' scheduler runtimes
// (schedstat, nanoseconds) are exact; stat's tick counts also carry the
// threads that have exited. The larger of the two is the better estimate.
func (fs procFS) processCPU(pid int) (uint64, error) {
	data, err := os.ReadFile(fs.path(strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	t, err := parseStat(string(data))
	if err != nil {
		return 0, err
	}
	own := (t.utime + t.stime) * nsPerTick
	if exact := fs.threadsRuntime(pid); exact > own {
		own = exact
	}
	return own + (t.cutime+t.cstime)*nsPerTick, nil
}

// threadsRuntime sums the first field of /proc/<pid>/task/*/schedstat.
func (fs procFS) threadsRuntime(pid int) uint64 {
	tasks, _ := os.ReadDir(fs.path(strconv.Itoa(pid), "task"))
	var sum uint64
	for _, task := range tasks {
		data, err := os.ReadFile(fs.path(strconv.Itoa(pid), "task", task.Name(), "schedstat"))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(data)); len(f) > 0 {
			n, _ := strconv.ParseUint(f[0], 10, 64)
			sum += n
		}
	}
	return sum
}

// processMemory is the memory a process holds in bytes: its proportional set
// size (smaps_rollup's Pss: a page shared by n processes counts 1/n to each,
// so the containers of the node add up), else its resident set (statm).
func (fs procFS) processMemory(pid int) (uint64, error) {
	data, err := os.ReadFile(fs.path(strconv.Itoa(pid), "smaps_rollup"))
	if err == nil {
		if kb, ok := fieldKB(data, "Pss:"); ok {
			return kb * 1024, nil
		}
	}
	data, err = os.ReadFile(fs.path(strconv.Itoa(pid), "statm"))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(data))
	if len(f) < 2 {
		return 0, fmt.Errorf("statm: %q", data)
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("statm: %w", err)
	}
	return pages * uint64(os.Getpagesize()), nil
}

// fieldKB finds "Name:   123 kB" in a /proc key-value file.
func fieldKB(data []byte, name string) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == name {
			n, err := strconv.ParseUint(f[1], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// pidNamespaces maps each PID namespace (the inode /proc/<pid>/ns/pid links
// to) to the processes in it: one pass over /proc per scrape.
func (fs procFS) pidNamespaces() map[string][]int {
	entries, _ := os.ReadDir(fs.root)
	out := map[string][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := fs.pidNamespace(pid); err == nil {
			out[ns] = append(out[ns], pid)
		}
	}
	return out
}

func (fs procFS) pidNamespace(pid int) (string, error) {
	return os.Readlink(fs.path(strconv.Itoa(pid), "ns", "pid"))
}

// machineCPU is the CPU time the machine has spent outside idle and iowait,
// in nanoseconds (the first line of /proc/stat).
func (fs procFS) machineCPU() (uint64, error) {
	data, err := os.ReadFile(fs.path("stat"))
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var busy uint64
	// user nice system idle iowait irq softirq steal: all but idle and iowait.
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		busy += n
	}
	return busy * nsPerTick, nil
}

// meminfo reads the named fields of /proc/meminfo in bytes.
func (fs procFS) meminfo(names ...string) (map[string]uint64, error) {
	data, err := os.ReadFile(fs.path("meminfo"))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, name := range names {
		kb, ok := fieldKB(data, name+":")
		if !ok {
			return nil, fmt.Errorf("/proc/meminfo: no %s", name)
		}
		out[name] = kb * 1024
	}
	return out, nil
}

// machineWorkingSet is the machine's memory in use less what the kernel can
// drop at once: total - free - inactive file pages, the working set cAdvisor
// reports for a node (usage less inactive_file).
func (fs procFS) machineWorkingSet() (uint64, error) {
	m, err := fs.meminfo("MemTotal", "MemFree", "Inactive(file)")
	if err != nil {
		return 0, err
	}
	used := m["MemTotal"] - m["MemFree"]
	if inactive := m["Inactive(file)"]; inactive < used {
		used -= inactive
	}
	return used, nil
}
