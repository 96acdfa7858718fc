// Package runtime runs app instances for a paved cell.
//
// A Runtime is the cell's only view of "where instances live": it makes
// instances of a droplet run, reports their state and stops them. The
// interface is deliberately small so that other drivers (Kubernetes, say)
// can be plugged in later; this package also holds the default driver,
// ProcessDriver, which runs every instance as an ordinary OS process tree
// on the cell's own machine.
//
// # How the process driver keeps instances contained
//
// An instance is "/bin/sh -c COMMAND" started in its own process group, so
// one signal to -pgid reaches the shell and everything it forked. Its
// stdout and stderr go through pipes that the driver reads line by line
// (bounded buffers), forwards to OnLog and appends to a per-instance log
// file. When the group leader exits while nobody asked it to stop, that is a
// crash: the rest of the group is killed and the instance is restarted after
// an exponential backoff, on the same port.
//
// Nothing an instance starts may outlive the cell, even if the cell is
// killed with SIGKILL and gets no chance to clean up. Two mechanisms share
// that job:
//
//   - Pdeathsig=SIGKILL on the group leader, so the kernel kills it when the
//     cell dies. The kernel ties Pdeathsig to the thread that forked, not to
//     the process, so all forks happen on one dedicated OS thread that is
//     locked and never released (see spawn.go).
//   - SweepOrphans, which the cell calls at startup: it finds every process
//     whose environment carries PAVED_CELL=<cell id> (the environment is
//     inherited, so this also finds grandchildren that left their group or
//     were not reached by Pdeathsig) and kills it.
//
// Stop and crashes clean up the whole tree: the group is signalled, the
// driver waits until no live process is left in it, and processes that left
// the group (setsid daemons) are found by their PAVED_INSTANCE environment
// entry and killed too. The driver reaps the group leader itself, and with
// ProcessOptions.Subreaper also every orphan of the group, so no zombie is
// left even under an init that does not reap.
//
// Where cgroup v2 is available each instance also gets its own cgroup with
// memory.max set; otherwise MemoryLimits says why limits are not enforced.
package runtime
