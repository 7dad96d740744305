// cgroup_cpu_limit — how many CPUs' worth of time the kernel lets this
// process use, from its cgroup's CPU bandwidth quota.
//
// The default number of logical processors (usable_cpus in run.hpp) is the
// affinity mask capped by this limit, so that a program in a container with
// `--cpus=2` on a 64-core host runs 2 processors, not 64 that the kernel
// throttles in turn.
//
// Where the limit lives:
// - /proc/self/cgroup names this process's cgroup in each hierarchy: the
//   cgroup v2 line is "0::<path>", a v1 line "<id>:<controllers>:<path>"
//   (the one whose controllers include "cpu" counts).
// - /proc/self/mountinfo says where each hierarchy is mounted (file system
//   type cgroup2, or cgroup with the "cpu" super option) and which of its
//   directories the mount shows (its root field: "/" on a host, the
//   container's own cgroup where a container sees only that).
// - In that directory: v2 `cpu.max` ("<quota> <period>" or "max <period>"),
//   v1 `cpu.cfs_quota_us` (-1 for none) and `cpu.cfs_period_us`.
//
// A parent's quota bounds all of its children, so the limit is the tightest
// quota/period over the process's cgroup and every ancestor the mount shows
// (Go 1.25 reads only the leaf). Both hierarchies are read where both are
// mounted (hybrid systems); the tighter wins. Anything missing or unreadable
// means "no limit from there", never an error: this runs at start-up.
#pragma once

#include <optional>
#include <string>

namespace goro::detail {

/// The tightest CPU bandwidth limit over this process's cgroups, in CPUs
/// (quota / period, e.g. 1.5), or nullopt when no quota applies. `root` is
/// prefixed to every path read: "" for the live system; tests pass a
/// directory holding a fake proc/self/{cgroup,mountinfo} and cgroup tree.
std::optional<double> cgroup_cpu_limit(const std::string& root = "");

/// The default processor count for `cpus` CPUs in the affinity mask under
/// `limit`: the limit rounded up (a 1.5-CPU quota runs 2 processors, each
/// throttled a little, rather than 1 that leaves half a CPU idle), never above
/// `cpus`, never below 1.
unsigned procs_for_cpu_limit(unsigned cpus, std::optional<double> limit) noexcept;

}  // namespace goro::detail
