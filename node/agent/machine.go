package agent

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// maxPods is the kubelet's default --max-pods.
const maxPods = 110

// capacity returns what this machine offers: its cpus, its memory, the
// size of the file system holding dataDir, and maxPods.
func capacity(dataDir string) (corev1.ResourceList, error) {
	mem, err := memTotal()
	if err != nil {
		return nil, err
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(dataDir, &fs); err != nil {
		return nil, fmt.Errorf("size of the file system of %s: %w", dataDir, err)
	}
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(mem, resource.BinarySI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(fs.Blocks)*fs.Bsize, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(maxPods, resource.DecimalSI),
	}, nil
}

// memTotal reads MemTotal from /proc/meminfo, in bytes.
func memTotal() (int64, error) { return meminfo("MemTotal:") }

// meminfo reads one field of /proc/meminfo (given in kB), in bytes.
func meminfo(field string) (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read memory figures: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == field {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, fields[1], err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/meminfo", field)
}

// systemInfo returns what `kubectl get nodes -o wide` shows of this
// machine; the runtime and agent versions are the caller's.
func systemInfo() corev1.NodeSystemInfo {
	info := corev1.NodeSystemInfo{
		OperatingSystem: "linux",
		Architecture:    goruntime.GOARCH,
		OSImage:         osImage(),
		MachineID:       readTrimmed("/etc/machine-id"),
		BootID:          readTrimmed("/proc/sys/kernel/random/boot_id"),
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		info.KernelVersion = unix.ByteSliceToString(u.Release[:])
	}
	info.SystemUUID = info.MachineID
	return info
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// osImage is PRETTY_NAME of /etc/os-release, as the kubelet reports it.
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("PRETTY_NAME=")); ok {
			return strings.Trim(string(v), `"`)
		}
	}
	return "Linux"
}

// DetectNodeIP returns the first global unicast IPv4 address of an
// interface that is up and is not one of the pod network's (the bridge
// and its veths), or 127.0.0.1 on a machine that has none, as inside a
// network namespace that holds only loopback.
func DetectNodeIP() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "127.0.0.1"
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 ||
			strings.HasPrefix(ifc.Name, "veth") || strings.HasPrefix(ifc.Name, "sqlkube") || strings.HasPrefix(ifc.Name, "cni") {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
				return n.IP.String()
			}
		}
	}
	return "127.0.0.1"
}

// Eviction thresholds the kubelet uses by default: less than 100 MiB of
// memory available, less than 10% of the node's file system free; and,
// for processes, more than 90% of pid_max in use.
const (
	memoryAvailableMin = 100 << 20
	diskAvailableMin   = 0.10
	pidsUsedMax        = 0.90
)

// pressure reports which of memory, disk (the file system of dataDir) and
// process ids run short on this machine now.
func pressure(dataDir string) (memory, disk, pids bool) {
	if avail, err := memAvailable(); err == nil {
		memory = avail < memoryAvailableMin
	}
	var fs unix.Statfs_t
	if unix.Statfs(dataDir, &fs) == nil && fs.Blocks > 0 {
		disk = float64(fs.Bavail)/float64(fs.Blocks) < diskAvailableMin
	}
	if pidMax, err := strconv.Atoi(readTrimmed("/proc/sys/kernel/pid_max")); err == nil && pidMax > 0 {
		// /proc/loadavg: "0.00 0.01 0.05 1/123 456": running/total tasks.
		if f := strings.Fields(readTrimmed("/proc/loadavg")); len(f) >= 4 {
			if _, total, ok := strings.Cut(f[3], "/"); ok {
				if n, err := strconv.Atoi(total); err == nil {
					pids = float64(n)/float64(pidMax) > pidsUsedMax
				}
			}
		}
	}
	return memory, disk, pids
}

// memAvailable reads MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) { return meminfo("MemAvailable:") }
