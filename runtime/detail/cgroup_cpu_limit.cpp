// cgroup_cpu_limit: see the header for where the limit lives and why the
// tightest quota over the ancestors is taken.
#include "runtime/detail/cgroup_cpu_limit.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

namespace goro::detail {
namespace {

enum class cgroup_version { v1, v2 };

// One hierarchy that can carry a CPU quota: where the process sits in it
// (from /proc/self/cgroup) and where it is mounted (from mountinfo).
struct cpu_hierarchy {
    cgroup_version version;
    std::string cgroup_path;  // e.g. "/system.slice/app.service"
};

struct cgroup_mount {
    cgroup_version version;
    std::string root;         // the hierarchy directory the mount shows, e.g. "/" or "/docker/<id>"
    std::string mount_point;  // e.g. "/sys/fs/cgroup" or "/sys/fs/cgroup/cpu,cpuacct"
};

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= s.size()) {
        const std::size_t end = std::min(s.find(sep, start), s.size());
        parts.emplace_back(s.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

bool has_token(std::string_view comma_list, std::string_view token) {
    for (const auto& t : split(comma_list, ',')) {
        if (t == token) return true;
    }
    return false;
}

// mountinfo writes space, tab, newline and backslash in paths as \ooo octal.
std::string unescape_octal(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
            s[i + 3] >= '0' && s[i + 3] <= '7') {
            out.push_back(static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
            i += 3;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

// /proc/self/cgroup: "0::<path>" (v2) and "<id>:<controllers>:<path>" (v1).
// The path may itself contain ':', so split on the first two only.
std::vector<cpu_hierarchy> read_process_cgroups(const std::string& root) {
    std::vector<cpu_hierarchy> found;
    std::ifstream in(root + "/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        const std::size_t c1 = line.find(':');
        if (c1 == std::string::npos) continue;
        const std::size_t c2 = line.find(':', c1 + 1);
        if (c2 == std::string::npos) continue;
        const std::string_view id = std::string_view(line).substr(0, c1);
        const std::string_view controllers = std::string_view(line).substr(c1 + 1, c2 - c1 - 1);
        std::string path = line.substr(c2 + 1);
        if (path.empty() || path[0] != '/') continue;
        if (id == "0" && controllers.empty()) {
            found.push_back({cgroup_version::v2, std::move(path)});
        } else if (has_token(controllers, "cpu")) {
            found.push_back({cgroup_version::v1, std::move(path)});
        }
    }
    return found;
}

// /proc/self/mountinfo: "<id> <parent> <maj:min> <root> <mount point> <opts>
// [optional fields...] - <fstype> <source> <super options>".
std::vector<cgroup_mount> read_cgroup_mounts(const std::string& root) {
    std::vector<cgroup_mount> mounts;
    std::ifstream in(root + "/proc/self/mountinfo");
    std::string line;
    while (std::getline(in, line)) {
        const std::vector<std::string> f = split(line, ' ');
        const auto sep = std::find(f.begin(), f.end(), "-");
        if (sep == f.end() || f.begin() + 5 > sep || f.end() - sep < 4) continue;
        const std::string& fstype = *(sep + 1);
        const std::string& super_options = *(sep + 3);
        if (fstype == "cgroup2") {
            mounts.push_back({cgroup_version::v2, unescape_octal(f[3]), unescape_octal(f[4])});
        } else if (fstype == "cgroup" && has_token(super_options, "cpu")) {
            mounts.push_back({cgroup_version::v1, unescape_octal(f[3]), unescape_octal(f[4])});
        }
    }
    return mounts;
}

// The part of `path` below the mount's root, or nullopt when the mount does
// not show it. "/a/b" under root "/" is "/a/b"; under "/a" it is "/b".
std::optional<std::string> path_below(const std::string& path, const std::string& mount_root) {
    // A process outside its cgroup namespace's root sees paths like
    // "/../sibling": nothing under this mount, and never a path to follow.
    if (path == "/.." || path.find("/../") != std::string::npos ||
        (path.size() >= 3 && path.compare(path.size() - 3, 3, "/..") == 0))
        return std::nullopt;
    if (mount_root == "/") return path == "/" ? std::string() : path;
    if (path == mount_root) return std::string();
    if (path.size() > mount_root.size() && path.compare(0, mount_root.size(), mount_root) == 0 &&
        path[mount_root.size()] == '/')
        return path.substr(mount_root.size());
    return std::nullopt;
}

// The quota of one cgroup directory, in CPUs, if it has one.
std::optional<double> quota_in(cgroup_version version, const std::string& dir) {
    if (version == cgroup_version::v2) {
        std::ifstream in(dir + "/cpu.max");
        std::string quota;
        double period = 0;
        if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
        char* end = nullptr;
        const double q = std::strtod(quota.c_str(), &end);
        if (*end != '\0' || q <= 0) return std::nullopt;
        return q / period;
    }
    std::ifstream quota_file(dir + "/cpu.cfs_quota_us");
    std::ifstream period_file(dir + "/cpu.cfs_period_us");
    double quota = -1, period = 0;
    if (!(quota_file >> quota) || !(period_file >> period) || quota <= 0 || period <= 0) return std::nullopt;
    return quota / period;
}

std::optional<double> tighter(std::optional<double> a, std::optional<double> b) {
    if (!a) return b;
    if (!b) return a;
    return std::min(*a, *b);
}

}  // namespace

std::optional<double> cgroup_cpu_limit(const std::string& root) {
    const std::vector<cgroup_mount> mounts = read_cgroup_mounts(root);
    std::optional<double> limit;
    for (const cpu_hierarchy& h : read_process_cgroups(root)) {
        // The mount that shows this process's cgroup; failing that (a
        // container whose view was set up by hand), the top of the first
        // mount of that version, the best there is to read.
        const cgroup_mount* chosen = nullptr;
        std::string below;
        for (const cgroup_mount& m : mounts) {
            if (m.version != h.version) continue;
            if (const std::optional<std::string> b = path_below(h.cgroup_path, m.root)) {
                chosen = &m;
                below = *b;
                break;
            }
            if (!chosen) chosen = &m;
        }
        if (!chosen) continue;
        std::string top = root + chosen->mount_point;
        if (top.size() > 1 && top.back() == '/') top.pop_back();
        std::string dir = top + below;
        // From the process's own cgroup up to the top of the mount.
        for (;;) {
            limit = tighter(limit, quota_in(h.version, dir));
            if (dir.size() <= top.size()) break;
            dir.erase(dir.rfind('/'));
        }
    }
    return limit;
}

unsigned procs_for_cpu_limit(unsigned cpus, std::optional<double> limit) noexcept {
    cpus = std::max(1u, cpus);
    if (!limit || !(*limit > 0)) return cpus;
    const double rounded_up = std::ceil(*limit);
    if (rounded_up >= static_cast<double>(cpus)) return cpus;
    return std::max(1u, static_cast<unsigned>(rounded_up));
}

}  // namespace goro::detail
