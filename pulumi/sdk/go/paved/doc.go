// Apps, spaces, pipelines, preview environments and multi-region replica sets on paved cells: build, run, route, deliver and roll out with canaries and automatic rollback.
package paved
