//! The calculator demo run as a user runs it: a parent process with two
//! children, checked through its output and exit status.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::mpsc;
use std::time::Duration;

/// Returns the path of the `calc` example, or `None` after printing that
/// `test` is skipped. `cargo build --examples` builds it next to the test
/// executables' folder; `cargo test` alone builds examples only as test
/// executables, so `scripts/test.sh` builds them first.
fn calc_path(test: &str) -> Option<PathBuf> {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let path = deps.parent().unwrap().join("examples").join(format!("calc{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        println!("skipped {test}: {} is missing; build it with `cargo build --examples` first", path.display());
        return None;
    }
    Some(path)
}

/// Runs `calc` with `args` and no standard input, and returns its output.
fn run_calc(calc: &Path, args: &[&str]) -> Output {
    Command::new(calc).args(args).stdin(std::process::Stdio::null()).output().unwrap()
}

/// Aborts the test process if the guard is not dropped within `seconds`.
fn watchdog(test: &'static str, seconds: u64) -> mpsc::Sender<()> {
    let (done, wait) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(Duration::from_secs(seconds)) {
            eprintln!("{test}: still running after {seconds} s; aborting the test process");
            std::process::abort();
        }
    });
    done
}

#[test]
fn demo_prints_answers() {
    let _watchdog = watchdog("demo_prints_answers", 60);
    let Some(calc) = calc_path("demo_prints_answers") else { return };
    let output = run_calc(&calc, &["1+1", "2*(3+4)"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "calc failed: {}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.lines().any(|line| line == "1+1 = 2"), "stdout: {stdout}");
    assert!(stdout.lines().any(|line| line == "2*(3+4) = 14"), "stdout: {stdout}");
}

#[test]
fn demo_rejects_unknown_option() {
    let _watchdog = watchdog("demo_rejects_unknown_option", 60);
    let Some(calc) = calc_path("demo_rejects_unknown_option") else { return };
    let output = run_calc(&calc, &["--bogus"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("unknown option --bogus"), "stderr: {stderr}");
}

#[test]
fn demo_reports_child_exiting_before_serving() {
    let _watchdog = watchdog("demo_reports_child_exiting_before_serving", 60);
    let Some(calc_path) = calc_path("demo_reports_child_exiting_before_serving") else { return };
    let calc = calc_path.to_str().unwrap();
    if calc.contains(char::is_whitespace) {
        println!("skipped demo_reports_child_exiting_before_serving: the path {calc} has a space, which --printer-cmd cannot express");
        return;
    }
    // The printer role rejects an extra argument and exits with status 1
    // before it serves.
    let printer_cmd = format!("{calc} printer extra-argument");
    let output = run_calc(&calc_path, &["--printer-cmd", &printer_cmd, "1+1"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr.contains("invalid arguments for the printer role"), "stderr: {stderr}");
    // Windows prints an exit status as "exit code: 1", Unix as "exit status: 1".
    assert!(stderr.contains("exited with exit"), "stderr: {stderr}");
    assert!(stderr.contains(": 1 before serving"), "stderr: {stderr}");
}
