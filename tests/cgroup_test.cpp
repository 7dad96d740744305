// The default processor count under a cgroup CPU quota (cgroup_cpu_limit.hpp).
//
// Most cases build a fake proc/self/{cgroup,mountinfo} and cgroup tree in a
// temporary directory and pass it as the root, so every layout (host, v1,
// hybrid, container views, nested quotas) is checked on any machine. The last
// case moves a child process into a real cgroup with a quota where this
// machine lets us (root, a writable cpu hierarchy) and checks goro::procs().
#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>

#include <goro/runtime/detail/cgroup_cpu_limit.hpp>
#include "support/child_process.hpp"
#include "support/temp_dir.hpp"
#include <goro/goro.hpp>

namespace {

namespace stdfs = std::filesystem;
using goro::detail::cgroup_cpu_limit;
using goro::detail::procs_for_cpu_limit;

// A fake root: files are written relative to it, and it is removed at the end.
struct fake_root {
    goro_test::temp_dir tmp{"goro-cgroup"};

    void write(const std::string& relative, const std::string& text) const {
        const stdfs::path p = tmp.dir / relative;
        stdfs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
    std::string root() const { return tmp.dir.string(); }
};

constexpr const char* k_v2_host_mounts =
    "25 1 0:22 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

}  // namespace

TEST_CASE("cgroup v2: the quota of the process's own cgroup", "[sched][cgroup]") {
    fake_root f;
    f.write("proc/self/cgroup", "0::/system.slice/app.service\n");
    f.write("proc/self/mountinfo", k_v2_host_mounts);
    f.write("sys/fs/cgroup/cpu.max", "max 100000\n");  // the root has no limit
    f.write("sys/fs/cgroup/system.slice/cpu.max", "max 100000\n");
    f.write("sys/fs/cgroup/system.slice/app.service/cpu.max", "150000 100000\n");
    const auto limit = cgroup_cpu_limit(f.root());
    REQUIRE(limit.has_value());
    REQUIRE(*limit == Approx(1.5));
    REQUIRE(procs_for_cpu_limit(16, limit) == 2);
}

TEST_CASE("cgroup v2: a parent's tighter quota bounds its children", "[sched][cgroup]") {
    fake_root f;
    f.write("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    f.write("proc/self/mountinfo", k_v2_host_mounts);
    f.write("sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
    f.write("sys/fs/cgroup/kubepods/pod1/cpu.max", "300000 100000\n");       // 3 CPUs
    f.write("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");      // none of its own
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(3.0));

    f.write("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "800000 100000\n");   // looser than the parent
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(3.0));

    f.write("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "50000 100000\n");    // tighter
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(0.5));
    REQUIRE(procs_for_cpu_limit(16, cgroup_cpu_limit(f.root())) == 1);
}

TEST_CASE("cgroup v2: no quota anywhere, or nothing to read, is no limit", "[sched][cgroup]") {
    fake_root f;
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());  // no proc files at all

    f.write("proc/self/cgroup", "0::/user.slice\n");
    f.write("proc/self/mountinfo", k_v2_host_mounts);
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());  // no cpu.max files (controller off)

    f.write("sys/fs/cgroup/user.slice/cpu.max", "max 100000\n");
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());

    f.write("sys/fs/cgroup/user.slice/cpu.max", "garbage\n");
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());
    REQUIRE(procs_for_cpu_limit(6, cgroup_cpu_limit(f.root())) == 6);
}

TEST_CASE("cgroup v2: a container's views of its own cgroup", "[sched][cgroup]") {
    SECTION("cgroup namespace: the process sees itself at / and the mount shows /") {
        fake_root f;
        f.write("proc/self/cgroup", "0::/\n");
        f.write("proc/self/mountinfo",
                "700 600 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw\n");
        f.write("sys/fs/cgroup/cpu.max", "200000 100000\n");
        REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(2.0));
    }
    SECTION("no namespace: the mount's root is the container's cgroup") {
        fake_root f;
        f.write("proc/self/cgroup", "0::/docker/abc123\n");
        f.write("proc/self/mountinfo",
                "700 600 0:26 /docker/abc123 /sys/fs/cgroup ro,relatime - cgroup2 cgroup rw\n");
        f.write("sys/fs/cgroup/cpu.max", "250000 100000\n");
        REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(2.5));
    }
    SECTION("a mount that does not show our cgroup: its top directory is read") {
        fake_root f;
        f.write("proc/self/cgroup", "0::/elsewhere\n");
        f.write("proc/self/mountinfo",
                "700 600 0:26 /docker/abc123 /sys/fs/cgroup ro,relatime - cgroup2 cgroup rw\n");
        f.write("sys/fs/cgroup/cpu.max", "100000 50000\n");
        REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(2.0));
    }
}

TEST_CASE("cgroup v2: only the mount that shows our cgroup counts", "[sched][cgroup]") {
    fake_root f;
    f.write("proc/self/cgroup", "0::/app\n");
    // A second cgroup2 mount of some delegated subtree comes first; it does
    // not show /app, so its quota is someone else's.
    f.write("proc/self/mountinfo",
            "29 25 0:26 /delegated /mnt/delegated rw - cgroup2 cgroup2 rw\n"
            "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    f.write("mnt/delegated/cpu.max", "50000 100000\n");
    f.write("sys/fs/cgroup/app/cpu.max", "300000 100000\n");
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(3.0));

    // Outside our namespace's root: "/../x" leads nowhere, not out of the mount.
    f.write("proc/self/cgroup", "0::/../escape\n");
    f.write("proc/self/mountinfo", "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
    f.write("sys/fs/cgroup/cpu.max", "max 100000\n");
    f.write("sys/escape/cpu.max", "10000 100000\n");  // what a naive join would read
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());
}

TEST_CASE("cgroup v1 and hybrid: cpu.cfs_quota_us over cpu.cfs_period_us", "[sched][cgroup]") {
    fake_root f;
    // A hybrid host (this project's own machine looks like this): the cpu
    // controller on v1, cgroup2 mounted without it.
    f.write("proc/self/cgroup",
            "9:name=systemd:/user.slice\n"
            "4:memory:/user.slice\n"
            "2:cpu,cpuacct:/user.slice/job\n"
            "0::/user.slice\n");
    f.write("proc/self/mountinfo",
            "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
            "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
            "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
            "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
    f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    f.write("sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    f.write("sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_quota_us", "-1\n");
    f.write("sys/fs/cgroup/cpu,cpuacct/user.slice/job/cpu.cfs_period_us", "100000\n");
    // A file named like a quota under the memory hierarchy must be ignored.
    f.write("sys/fs/cgroup/memory/user.slice/cpu.cfs_quota_us", "1000\n");
    f.write("sys/fs/cgroup/memory/user.slice/cpu.cfs_period_us", "100000\n");
    REQUIRE_FALSE(cgroup_cpu_limit(f.root()).has_value());

    f.write("sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_quota_us", "350000\n");
    f.write("sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_period_us", "100000\n");
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(3.5));
    REQUIRE(procs_for_cpu_limit(8, cgroup_cpu_limit(f.root())) == 4);

    // Where both hierarchies carry a quota, the tighter one wins.
    f.write("sys/fs/cgroup/unified/user.slice/cpu.max", "120000 100000\n");
    REQUIRE(cgroup_cpu_limit(f.root()).value() == Approx(1.2));
}

TEST_CASE("cgroup: mount points with escaped characters", "[sched][cgroup]") {
    fake_root f;
    f.write("proc/self/cgroup", "0::/a\n");
    f.write("proc/self/mountinfo", "30 25 0:26 / /cg\\040root rw - cgroup2 none rw\n");
    f.write("cg root/a/cpu.max", "400000 100000\n");
    REQUIRE(cgroup_cpu_limit(f.root()) == std::optional<double>(4.0));
}

TEST_CASE("procs for a CPU limit: rounded up, at most the affinity CPUs, at least 1", "[sched][cgroup]") {
    REQUIRE(procs_for_cpu_limit(2, std::nullopt) == 2);
    REQUIRE(procs_for_cpu_limit(8, 0.1) == 1);
    REQUIRE(procs_for_cpu_limit(8, 2.0) == 2);
    REQUIRE(procs_for_cpu_limit(8, 2.01) == 3);
    REQUIRE(procs_for_cpu_limit(2, 4.0) == 2);
    REQUIRE(procs_for_cpu_limit(0, std::nullopt) == 1);
    REQUIRE(procs_for_cpu_limit(4, 0.0) == 4);  // a zero limit is no reading, not zero CPUs
}

namespace {

unsigned affinity_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    return ::sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<unsigned>(CPU_COUNT(&set)) : 0;
}

bool write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.flush();
    return static_cast<bool>(out);
}

// A new cgroup under one that this process could write, with a one-CPU quota,
// or "" where the machine does not allow it. v1 first (a hybrid host keeps
// the cpu controller there), then v2 where the controller is enabled.
std::string make_one_cpu_cgroup() {
    const std::string name = "goro-test-" + std::to_string(::getpid());
    for (const char* base : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
        const std::string dir = std::string(base) + "/" + name;
        if (::mkdir(dir.c_str(), 0755) != 0) continue;
        if (write_file(dir + "/cpu.cfs_period_us", "100000") && write_file(dir + "/cpu.cfs_quota_us", "100000"))
            return dir;
        ::rmdir(dir.c_str());
    }
    const std::string dir = "/sys/fs/cgroup/" + name;
    if (::mkdir(dir.c_str(), 0755) == 0) {
        if (write_file(dir + "/cpu.max", "100000 100000")) return dir;
        ::rmdir(dir.c_str());
    }
    return "";
}

}  // namespace

TEST_CASE("cgroup: a process put in a cgroup with a one-CPU quota runs one processor", "[sched][cgroup]") {
    if (::geteuid() != 0 || affinity_cpus() < 2) {
        WARN("not root, or one CPU: the live cgroup check needs root and two CPUs; the fake trees above still ran");
        return;
    }
    const std::string dir = make_one_cpu_cgroup();
    if (dir.empty()) {
        WARN("no writable cgroup with a cpu controller here; the fake trees above still ran");
        return;
    }
    const auto r = goro_test::run_in_child([&] {
        if (!write_file(dir + "/cgroup.procs", std::to_string(::getpid()))) return 90;
        ::unsetenv("GORO_MAXPROCS");
        auto report = []() -> goro::task<int> { co_return static_cast<int>(goro::procs()); };
        return goro::run(report());
    });
    // The child has exited, but the kernel may take a moment to empty the
    // cgroup: retry the removal briefly, then say what was left behind.
    bool removed = false;
    for (int attempt = 0; attempt < 50 && !removed; ++attempt) {
        removed = ::rmdir(dir.c_str()) == 0;
        if (!removed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!removed) WARN("could not remove " << dir);
    INFO(r.stderr_text);
    if (r.exit_status == 90) {
        WARN("could make " << dir << " but not move a process into it; the fake trees above still ran");
        return;
    }
    REQUIRE(r.exit_status == 1);
}
