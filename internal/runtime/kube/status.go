package kube

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/pavedroad/terraform-provider-paved/internal/runtime"
)

// podStatus is the cell's view of a pod: the instance it runs.
func podStatus(p *corev1.Pod) runtime.InstanceStatus {
	rel, _ := strconv.Atoi(p.Labels[LabelRelease])
	s := runtime.InstanceStatus{
		ID: p.Name, App: p.Labels[LabelSpace] + "/" + p.Labels[LabelApp], Release: rel,
		Host: p.Status.PodIP, Port: Port, State: runtime.StateStarting,
	}
	app := containerStatus(p.Status.ContainerStatuses, ContainerApp)
	if app != nil {
		s.Crashes = int(app.RestartCount)
		if t := app.LastTerminationState.Terminated; t != nil {
			s.LastExit, s.ExitedAt = exitText(t), t.FinishedAt.Time
		}
		if r := app.State.Running; r != nil {
			s.StartedAt = r.StartedAt.Time
		}
	}
	initc := containerStatus(p.Status.InitContainerStatuses, ContainerDroplet)
	switch {
	case p.DeletionTimestamp != nil || p.Labels[LabelPool] == PoolStopping:
		s.State = runtime.StateStopping
	case p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded:
		s.State = runtime.StateCrashed
		if s.LastExit == "" {
			s.LastExit = "pod " + string(p.Status.Phase) + ": " + p.Status.Reason + " " + p.Status.Message
		}
	case app != nil && (app.State.Terminated != nil || app.State.Waiting != nil && app.RestartCount > 0):
		s.State = runtime.StateCrashed
		if t := app.State.Terminated; t != nil {
			s.LastExit = exitText(t)
		}
	case initc != nil && initc.RestartCount > 0 && initc.State.Running == nil:
		// The droplet could not be fetched (yet): say why, as a crash.
		s.State, s.Crashes = runtime.StateCrashed, int(initc.RestartCount)
		if t := initc.LastTerminationState.Terminated; t != nil {
			s.LastExit = "fetching the droplet: " + exitText(t)
		}
	case ready(p):
		s.State = runtime.StateRunning
	}
	return s
}

func containerStatus(all []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range all {
		if all[i].Name == name {
			return &all[i]
		}
	}
	return nil
}

func exitText(t *corev1.ContainerStateTerminated) string {
	switch {
	case t.Signal != 0:
		return fmt.Sprintf("signal %d", t.Signal)
	case t.Reason == "OOMKilled":
		return "OOM killed (memory_mb exceeded)"
	case t.Reason != "" && t.Reason != "Error" && t.Reason != "Completed":
		return fmt.Sprintf("exit status %d (%s)", t.ExitCode, t.Reason)
	}
	return fmt.Sprintf("exit status %d", t.ExitCode)
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
