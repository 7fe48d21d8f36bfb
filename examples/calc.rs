//! The calculator demo.
//!
//! ```text
//! calc [--solver-cmd CMD] [--printer-cmd CMD] [EQUATION...]
//! calc solver|printer CONNECTION_ARG
//! calc solver|printer --listen PATH
//! ```
//!
//! With equations as arguments, the parent solves each one; without, it reads
//! one per line from standard input until end of input or a line `exit`. It
//! spawns a printer child and a solver child (this same program with a role
//! subcommand, or the programs given with `--printer-cmd` and `--solver-cmd`,
//! which receive the connection argument last), passes the printer to the
//! solver as a callback, and the solver prints each answer through it.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use multiprocess::{spawn_process, start_spawned, EventLoop, Listener, ListenerOptions};
use multiprocess_examples::interfaces::{Init, InitProxy, InitServer};
use multiprocess_examples::roles::{DemoInit, Role};

const USAGE: &str = "usage:
  calc [--solver-cmd CMD] [--printer-cmd CMD] [EQUATION...]
  calc solver|printer CONNECTION_ARG
  calc solver|printer --listen PATH

Without equations, calc reads one per line from standard input until end of
input or a line \"exit\". CMD is a program and its arguments separated by
spaces; the connection argument is appended to it.";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().and_then(|first| Role::parse(first)) {
        Some(role) => run_child(role, &args[1..]),
        None => run_parent(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("calc: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Serves the role's Init on the connection to the parent, or on a socket path.
fn run_child(role: Role, args: &[String]) -> Result<(), String> {
    let event_loop = EventLoop::new(role.name()).map_err(|e| e.to_string())?;
    let init = Arc::new(DemoInit { role });
    match args {
        [flag, path] if flag == "--listen" => {
            let options = ListenerOptions::default();
            let listener = Listener::bind(&event_loop, path, options, move |cx| InitServer::client(cx, init.clone()))
                .map_err(|e| e.to_string())?;
            eprintln!("calc {}: listening on {}", role.name(), listener.path().display());
            loop {
                std::thread::park();
            }
        }
        [connection_arg] => {
            let stream = start_spawned(connection_arg).map_err(|e| e.to_string())?;
            let connection = InitServer::serve(&event_loop, stream, "parent", init).map_err(|e| e.to_string())?;
            connection.wait_disconnected();
            Ok(())
        }
        _ => Err(format!("invalid arguments for the {} role\n{USAGE}", role.name())),
    }
}

struct ParentOptions {
    solver_cmd: Option<Vec<String>>,
    printer_cmd: Option<Vec<String>>,
    equations: Vec<String>,
}

fn parse_parent_args(args: &[String]) -> Result<ParentOptions, String> {
    let mut options = ParentOptions { solver_cmd: None, printer_cmd: None, equations: Vec::new() };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let command = |value: Option<&String>| -> Result<Vec<String>, String> {
            let words: Vec<String> = value.map(|v| v.split_whitespace().map(str::to_owned).collect()).unwrap_or_default();
            if words.is_empty() {
                return Err(format!("{arg} needs a command\n{USAGE}"));
            }
            Ok(words)
        };
        match arg.as_str() {
            "--solver-cmd" => options.solver_cmd = Some(command(iter.next())?),
            "--printer-cmd" => options.printer_cmd = Some(command(iter.next())?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            unknown if unknown.starts_with("--") => return Err(format!("unknown option {unknown}\n{USAGE}")),
            _ => options.equations.push(arg.clone()),
        }
    }
    Ok(options)
}

/// Spawns a child for `role` and connects to its Init.
fn spawn_child(
    event_loop: &EventLoop,
    role: Role,
    command: &Option<Vec<String>>,
) -> Result<(InitProxy, multiprocess::ChildProcess), String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's path: {e}"))?;
    let (child, stream) = spawn_process(|arg| {
        let mut argv: Vec<OsString> = match command {
            Some(words) => words.iter().map(OsString::from).collect(),
            None => vec![exe.clone().into(), role.name().into()],
        };
        argv.push(arg.into());
        argv
    })
    .map_err(|e| e.to_string())?;
    let peer = format!("{} (pid {})", role.name(), child.id());
    match InitProxy::connect(event_loop, stream, &peer) {
        Ok(init) => Ok((init, child)),
        Err(error) => Err(explain_failed_start(&peer, child, error)),
    }
}

/// Describes why the child `peer` did not serve: usually it exited first, and
/// its exit status explains more than the connection error. The child is waited
/// for, or killed if it is still running after a second.
fn explain_failed_start(peer: &str, mut child: multiprocess::ChildProcess, error: multiprocess::Error) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return format!("child {peer} exited with {status} before serving: {error}"),
            Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    format!("child {peer} did not serve, so it was killed: {error}")
}

fn run_parent(args: &[String]) -> Result<(), String> {
    let options = parse_parent_args(args)?;
    let event_loop = EventLoop::new("calc").map_err(|e| e.to_string())?;

    let (printer_init, mut printer_child) = spawn_child(&event_loop, Role::Printer, &options.printer_cmd)?;
    let (solver_init, mut solver_child) = spawn_child(&event_loop, Role::Solver, &options.solver_cmd)?;
    let printer = printer_init.make_printer().map_err(|e| e.to_string())?;
    let calculator = solver_init.make_calculator(printer).map_err(|e| e.to_string())?;

    let mut failures = 0;
    let mut solve = |eqn: &str| {
        if let Err(error) = calculator.solve_equation(eqn) {
            eprintln!("error: {error}");
            failures += 1;
        }
    };
    if options.equations.is_empty() {
        read_equations(&mut solve)?;
    } else {
        options.equations.iter().for_each(|eqn| solve(eqn));
    }

    // Dropping the proxies closes each connection, and each child exits.
    drop(calculator);
    drop(solver_init);
    let solver_status = solver_child.wait().map_err(|e| e.to_string())?;
    drop(printer_init);
    let printer_status = printer_child.wait().map_err(|e| e.to_string())?;
    if !solver_status.success() || !printer_status.success() {
        return Err(format!("children exited with {solver_status} (solver) and {printer_status} (printer)"));
    }
    if failures > 0 {
        return Err(format!("{failures} equation(s) failed"));
    }
    Ok(())
}

fn read_equations(solve: &mut dyn FnMut(&str)) -> Result<(), String> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("Enter an equation, or \"exit\" to quit: ");
            let _ = std::io::stdout().flush();
        }
        let Some(line) = lines.next() else { return Ok(()) };
        let line = line.map_err(|e| format!("failed to read standard input: {e}"))?;
        let eqn = line.trim();
        if eqn == "exit" {
            return Ok(());
        }
        if !eqn.is_empty() {
            solve(eqn);
        }
    }
}
