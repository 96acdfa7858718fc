// Package kube is the cell's Kubernetes runtime driver: a region's
// instances are pods spread over a cluster, while the cell's planner
// (internal/deploy) keeps deciding every rollout step. Kubernetes only runs
// what it is told.
//
// # Mapping
//
//   - A space is a namespace, NamespacePrefix+space, labelled as paved's.
//   - A release is one ReplicaSet, <app>-r<release>, whose pod template
//     never changes; the planner scales it one instance at a time (Start,
//     Stop). An instance is a pod; its ID is the pod's name.
//   - secret_env and the droplet token live in a Secret per release
//     (<app>-r<release>-env), owned by the ReplicaSet and referenced by the
//     pod: no secret value is in the ReplicaSet.
//   - The droplet reaches the pod without a registry: an init container
//     (the stack image, running `paved droplet fetch`) downloads the
//     droplet's archive from the cell by sha256 with a token that opens
//     that droplet only (package dropletfetch), checks the digest and
//     unpacks it into an emptyDir, where the app container runs the start
//     command.
//   - health_check becomes the readiness probe; an instance is running once
//     its pod is ready. memory_mb is the memory request and limit. Crashes
//     are the container's restartCount. Pods tolerate a not-ready or
//     unreachable node for EvictionAfter only, and spread over nodes.
//
// # Choosing which pod goes
//
// A ReplicaSet scaled down deletes a pod of its own choosing, which would
// not be the one the planner drained. Stop therefore first relabels the
// chosen pod out of the ReplicaSet's selector, then lowers replicas, then
// deletes the pod with grace. A replacement the ReplicaSet may make in the
// moment between is the first it removes again.
//
// # Adoption
//
// The cell keeps no runtime state of its own: New reads this cell's
// ReplicaSets (by the paved.dev/cell label) and their pods, which List
// reports and the cell takes over; pods kept serving while the cell was
// down, since Kubernetes restarts them. StopAll leaves pods running for the
// same reason. A pod the cell did not ask for (a replacement after a
// node was lost) is reported with Adopt set.
package kube
