package agent

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sqlkube/sqlkube/node/agentapi"
	"github.com/sqlkube/sqlkube/node/runtime"
)

// cpuSamples remembers each container's last CPU reading, so that a
// summary can say how many cores it used since (usageNanoCores, what
// metrics-server and `kubectl top` read).
type cpuSamples struct {
	mu   sync.Mutex
	last map[string]runtime.Stats
}

// rate records s for container id and returns its use in nanocores since
// the previous reading (nil for the first).
func (c *cpuSamples) rate(id string, s runtime.Stats) *uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last == nil {
		c.last = map[string]runtime.Stats{}
	}
	prev, ok := c.last[id]
	c.last[id] = s
	if !ok || !s.Time.After(prev.Time) || s.CPUUsageNanos < prev.CPUUsageNanos {
		return nil
	}
	v := uint64(float64(s.CPUUsageNanos-prev.CPUUsageNanos) / s.Time.Sub(prev.Time).Seconds())
	return &v
}

// forget drops the readings of containers not in live.
func (c *cpuSamples) forget(live map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.last {
		if !live[id] {
			delete(c.last, id)
		}
	}
}

// Summary reports the CPU and memory used by the running containers of
// each pod, read from their cgroups, and their sums for the node.
func (a *Agent) Summary(ctx context.Context) (agentapi.Summary, error) {
	all, err := a.rt.Containers(ctx)
	if err != nil {
		return agentapi.Summary{}, err
	}
	now := metav1.NewTime(time.Now())
	out := agentapi.Summary{Node: agentapi.NodeStats{NodeName: a.cfg.NodeName}}
	pods := map[string]*agentapi.PodStats{}
	var order []string
	live := map[string]bool{}
	var nodeCPU, nodeMem, nodeWS uint64
	var nodeRate uint64
	for _, c := range all {
		if c.State != runtime.StateRunning {
			continue
		}
		st, err := a.rt.Stats(ctx, c.ID)
		if err != nil {
			continue
		}
		live[c.ID] = true
		uid := c.Labels[labelPodUID]
		p := pods[uid]
		if p == nil {
			p = &agentapi.PodStats{
				PodRef: agentapi.PodReference{Name: c.Labels[labelPodName], Namespace: c.Labels[labelPodNamespace], UID: uid},
				CPU:    &agentapi.CPUStats{Time: now, UsageCoreNanoSeconds: new(uint64)},
				Memory: &agentapi.MemoryStats{Time: now, UsageBytes: new(uint64), WorkingSetBytes: new(uint64)},
			}
			pods[uid] = p
			order = append(order, uid)
		}
		cpu, mem, ws := st.CPUUsageNanos, st.MemoryUsageBytes, st.MemoryWorkingSetBytes
		cs := agentapi.ContainerStats{
			Name:   c.Labels[labelContainer],
			CPU:    &agentapi.CPUStats{Time: now, UsageCoreNanoSeconds: &cpu, UsageNanoCores: a.cpu.rate(c.ID, st)},
			Memory: &agentapi.MemoryStats{Time: now, UsageBytes: &mem, WorkingSetBytes: &ws},
		}
		p.Containers = append(p.Containers, cs)
		*p.CPU.UsageCoreNanoSeconds += cpu
		*p.Memory.UsageBytes += mem
		*p.Memory.WorkingSetBytes += ws
		if cs.CPU.UsageNanoCores != nil {
			if p.CPU.UsageNanoCores == nil {
				p.CPU.UsageNanoCores = new(uint64)
			}
			*p.CPU.UsageNanoCores += *cs.CPU.UsageNanoCores
			nodeRate += *cs.CPU.UsageNanoCores
		}
		nodeCPU, nodeMem, nodeWS = nodeCPU+cpu, nodeMem+mem, nodeWS+ws
	}
	a.cpu.forget(live)
	for _, uid := range order {
		out.Pods = append(out.Pods, *pods[uid])
	}
	out.Node.CPU = &agentapi.CPUStats{Time: now, UsageCoreNanoSeconds: &nodeCPU, UsageNanoCores: &nodeRate}
	out.Node.Memory = &agentapi.MemoryStats{Time: now, UsageBytes: &nodeMem, WorkingSetBytes: &nodeWS}
	return out, nil
}
