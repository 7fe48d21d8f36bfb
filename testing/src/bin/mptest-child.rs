//! Child process of the integration tests.
//!
//! ```text
//! mptest-child serve CONNECTION_ARG       serve TestInit to the parent until it leaves
//! mptest-child exit-early CONNECTION_ARG  exit with status 3 without serving
//! mptest-child serve-threads MAX CONNECTION_ARG  serve, allowing MAX server threads
//! mptest-child hold SECONDS                sleep, then exit
//! mptest-child listen PATH [MAX]          serve TestInit on a socket path
//! ```

use std::process::ExitCode;

use multiprocess::{start_spawned, Connection, ConnectionOptions, EventLoop, Listener, ListenerOptions};
use multiprocess_testing::TestServer;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();

    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["serve", arg] => serve(arg, ConnectionOptions::default()),
        ["serve-threads", max, arg] => match max.parse() {
            Ok(max_threads) => serve(arg, ConnectionOptions { max_threads, ..ConnectionOptions::default() }),
            Err(_) => Err(format!("invalid thread limit {max:?}; expected a positive integer")),
        },
        ["hold", seconds] => {
            std::thread::sleep(std::time::Duration::from_secs(seconds.parse().unwrap_or(1)));
            Ok(())
        }
        ["exit-early", _] => return ExitCode::from(3),
        ["listen", path] => listen(path, None),
        ["listen", path, max] => match max.parse() {
            Ok(max) => listen(path, Some(max)),
            Err(_) => Err(format!("invalid connection limit {max:?}; expected a positive integer")),
        },
        _ => Err(format!("invalid arguments {args:?}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mptest-child: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(arg: &str, options: ConnectionOptions) -> Result<(), String> {
    let stream = start_spawned(arg).map_err(|e| e.to_string())?;
    let event_loop = EventLoop::new("mptest-child").map_err(|e| e.to_string())?;
    let connection = Connection::serve(&event_loop, stream, "parent", options, TestServer::client)
        .map_err(|e| e.to_string())?;
    connection.wait_disconnected();
    Ok(())
}

fn listen(path: &str, max_connections: Option<usize>) -> Result<(), String> {
    let event_loop = EventLoop::new("mptest-child").map_err(|e| e.to_string())?;
    let options = ListenerOptions { max_connections, ..ListenerOptions::default() };
    let listener = Listener::bind(&event_loop, path, options, TestServer::client).map_err(|e| e.to_string())?;
    println!("listening");
    // Serves until the parent kills it or closes standard input, then shuts
    // down: closes every connection and reports the counters still alive.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    listener.disconnect_all();
    drop(listener);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while event_loop.connection_count().map_err(|e| e.to_string())? > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    println!("live counters: {}", multiprocess_testing::LIVE_COUNTERS.load(std::sync::atomic::Ordering::SeqCst));
    Ok(())
}
