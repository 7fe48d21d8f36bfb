//! Resident memory of a process.

/// Returns the resident set size of process `pid` in KiB, from the `VmRSS`
/// line of `/proc/<pid>/status`.
///
/// Returns `None` where that file does not exist, as on systems other than Linux.
pub fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    // The line reads "VmRSS:     1234 kB".
    line.split_whitespace().nth(1)?.parse().ok()
}
