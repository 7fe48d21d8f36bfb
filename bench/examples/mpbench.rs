//! Measures multiprocess calls between this process and a child process and
//! prints a table of round-trip times, each compared with a one-byte socket
//! ping-pong measured in the same run.
//!
//! ```text
//! cargo run --release --example mpbench
//! ```
//!
//! Every row talks to a child process: this executable run again with a child
//! role (see `multiprocess_bench::child`). Runs on Unix; the resident memory
//! figures need Linux's `/proc` and read "n/a" elsewhere.
//!
//! `mpbench --row R --calls N` (R is one of a, b, c, d, e) makes only the
//! calls of row R, N of them after the usual warm-up, and prints their
//! median. It is meant to run under `strace -c -f` or `perf stat`, to count
//! system calls and context switches per call.

use std::process::ExitCode;

use multiprocess_bench::child;

fn main() -> ExitCode {
    if let Some(code) = child::run_if_child() {
        return code;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mpbench: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(unix))]
fn run() -> Result<(), multiprocess_bench::BoxError> {
    Err("mpbench measures its floor over a Unix socket pair and runs on Unix only".into())
}

#[cfg(unix)]
use bench::run;

#[cfg(unix)]
mod bench {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Barrier};
    use std::time::{Duration, Instant};

    use multiprocess::{ChildProcess, EventLoop};
    use multiprocess_bench::child::{self, Role};
    use multiprocess_bench::floor::FloorClient;
    use multiprocess_bench::memory::resident_kib;
    use multiprocess_bench::plain_rpc::EchoClient;
    use multiprocess_bench::stats::{Samples, Summary};
    use multiprocess_bench::{BenchProxy, BoxError, CallbackFn};

    /// Calls of each kind made before any is measured.
    const WARMUP_CALLS: usize = 2_000;
    /// Rows (a) to (e) are measured in this many rounds, one row after the
    /// other within a round, so that a drift of the machine's speed during the
    /// run affects every row alike.
    const ROUNDS: usize = 10;
    const CALLS_PER_ROUND: usize = 3_000;
    const THROUGHPUT_THREADS: [usize; 4] = [1, 2, 4, 8];
    const THROUGHPUT_WARMUP_CALLS: usize = 200;
    const THROUGHPUT_DURATION: Duration = Duration::from_millis(1_500);
    const DATA_SIZE: usize = 1 << 20;
    const DATA_WARMUP_CALLS: usize = 20;
    const DATA_CALLS: usize = 200;
    const SPAWN_SAMPLES: usize = 30;
    /// Client threads added, on top of one, to measure the memory of a mapped thread pair.
    const EXTRA_THREADS: usize = 64;
    /// Time given to the child to finish starting threads before its memory is read.
    const SETTLE: Duration = Duration::from_millis(200);

    /// One line of the table.
    struct Row {
        label: String,
        summary: Summary,
        /// Calls per second, for throughput rows.
        rate: Option<f64>,
    }

    pub(super) fn run() -> Result<(), BoxError> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            [] => run_all(),
            ["--row", row, "--calls", calls] => {
                let calls = calls.parse().map_err(|_| format!("invalid call count {calls:?}; expected a positive integer"))?;
                profile_row(row, calls)
            }
            _ => Err(format!("invalid arguments {args:?}; expected none, or --row a|b|c|d|e --calls N").into()),
        }
    }

    fn run_all() -> Result<(), BoxError> {
        let cpus = std::thread::available_parallelism().map_or(0, |count| count.get());
        println!("mpbench: round trips between this process and a child process; {cpus} CPUs available");
        // Other processes that compete for the CPUs lengthen every wakeup, so the load goes with the results.
        let load = match std::fs::read_to_string("/proc/loadavg") {
            Ok(text) => text.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
            Err(_) => "n/a".to_owned(),
        };
        println!("load average (1, 5, 15 minutes) before the run: {load}");
        println!("warming up, then measuring; this takes under a minute");

        let event_loop = EventLoop::new("mpbench")?;
        let mut rows = measure_latency_rows(&event_loop)?;

        let proxy_child = Connected::spawn(&event_loop)?;
        for threads in THROUGHPUT_THREADS {
            let (samples, rate) = measure_throughput(&proxy_child.proxy, threads)?;
            rows.push(Row {
                label: format!("(f) call with Context, {threads} client thread{}", if threads == 1 { "" } else { "s" }),
                summary: summarize(&samples)?,
                rate: Some(rate),
            });
        }
        rows.push(Row {
            label: "(g) 1 MiB Data argument and result".into(),
            summary: summarize(&measure_data(&proxy_child.proxy)?)?,
            rate: None,
        });
        proxy_child.close()?;

        rows.push(Row {
            label: "(h) spawn to first completed call".into(),
            summary: summarize(&measure_spawn(&event_loop)?)?,
            rate: None,
        });
        let memory = measure_memory(&event_loop)?;

        print_table(&rows);
        print_memory(&memory);
        let floor = rows[0].summary.median.as_secs_f64();
        let on_loop = rows[2].summary.median.as_secs_f64() / floor;
        let context = rows[3].summary.median.as_secs_f64() / floor;
        println!("ratio on-loop/floor: {on_loop:.2}");
        println!("ratio context/floor: {context:.2}");
        Ok(())
    }

    /// A child serving `BenchInit` and the proxy connected to it.
    struct Connected {
        child: ChildProcess,
        proxy: BenchProxy,
    }

    impl Connected {
        fn spawn(event_loop: &EventLoop) -> Result<Connected, BoxError> {
            let (child, stream) = child::spawn(Role::Multiprocess)?;
            let proxy = BenchProxy::connect(event_loop, stream, "mpbench-child")?;
            Ok(Connected { child, proxy })
        }

        /// Drops the proxy, which closes the connection, and waits for the child to exit.
        fn close(self) -> Result<(), BoxError> {
            let Connected { mut child, proxy } = self;
            drop(proxy);
            wait_success(&mut child)
        }
    }

    fn wait_success(child: &mut ChildProcess) -> Result<(), BoxError> {
        let status = child.wait()?;
        if !status.success() {
            return Err(format!("child process {} exited with {status}", child.id()).into());
        }
        Ok(())
    }

    /// The children and clients of rows (a) to (e).
    struct LatencyPeers {
        floor_child: ChildProcess,
        floor: FloorClient,
        echo_child: ChildProcess,
        echo: EchoClient,
        mp: Connected,
        callback: Arc<CallbackFn>,
    }

    /// A call of one of the rows (a) to (e).
    type RowCall<'a> = Box<dyn FnMut() -> Result<(), BoxError> + 'a>;

    const LATENCY_ROWS: [&str; 5] = [
        "(a) socket pair ping-pong, 1 byte (floor)",
        "(b) capnp-rpc echo, no thread map",
        "(c) call without Context (server loop)",
        "(d) call with Context (mapped thread)",
        "(e) call with one callback to the client",
    ];

    impl LatencyPeers {
        fn spawn(event_loop: &EventLoop) -> Result<LatencyPeers, BoxError> {
            let (floor_child, floor_stream) = child::spawn(Role::Floor)?;
            let (echo_child, echo_stream) = child::spawn(Role::PlainRpc)?;
            Ok(LatencyPeers {
                floor_child,
                floor: FloorClient::new(floor_stream),
                echo_child,
                echo: EchoClient::connect(echo_stream)?,
                mp: Connected::spawn(event_loop)?,
                callback: Arc::new(|| Ok(())),
            })
        }

        /// Returns the call of each row, in the order of [`LATENCY_ROWS`].
        fn calls(&mut self) -> [RowCall<'_>; 5] {
            let LatencyPeers { floor, echo, mp, callback, .. } = self;
            let proxy = &mp.proxy;
            [
                Box::new(|| Ok(floor.round_trip()?)),
                Box::new(|| Ok(echo.round_trip()?)),
                Box::new(|| Ok(proxy.ping_on_loop()?)),
                Box::new(|| Ok(proxy.ping()?)),
                Box::new(|| Ok(proxy.call_back(callback.clone())?)),
            ]
        }

        fn close(self) -> Result<(), BoxError> {
            let LatencyPeers { mut floor_child, floor, mut echo_child, echo, mp, .. } = self;
            drop((floor, echo));
            wait_success(&mut floor_child)?;
            wait_success(&mut echo_child)?;
            mp.close()
        }
    }

    /// Measures rows (a) to (e), interleaved in rounds.
    fn measure_latency_rows(event_loop: &EventLoop) -> Result<Vec<Row>, BoxError> {
        let mut peers = LatencyPeers::spawn(event_loop)?;
        let mut calls = peers.calls();
        for call in calls.iter_mut() {
            for _ in 0..WARMUP_CALLS {
                call()?;
            }
        }
        let mut samples: Vec<Samples> = calls.iter().map(|_| Samples::with_capacity(ROUNDS * CALLS_PER_ROUND)).collect();
        for _ in 0..ROUNDS {
            for (call, row_samples) in calls.iter_mut().zip(samples.iter_mut()) {
                for _ in 0..CALLS_PER_ROUND {
                    let start = Instant::now();
                    call()?;
                    row_samples.push(start.elapsed());
                }
            }
        }
        drop(calls);
        peers.close()?;

        LATENCY_ROWS
            .iter()
            .zip(samples)
            .map(|(label, samples)| Ok(Row { label: label.to_string(), summary: summarize(&samples)?, rate: None }))
            .collect()
    }

    /// Makes `count` calls of one of the rows (a) to (e) after the warm-up and prints their median.
    fn profile_row(row: &str, count: usize) -> Result<(), BoxError> {
        let index = ["a", "b", "c", "d", "e"]
            .iter()
            .position(|name| *name == row)
            .ok_or_else(|| format!("invalid row {row:?}; expected one of a, b, c, d, e"))?;
        let event_loop = EventLoop::new("mpbench")?;
        let mut peers = LatencyPeers::spawn(&event_loop)?;
        let mut calls = peers.calls();
        let call = &mut calls[index];
        for _ in 0..WARMUP_CALLS {
            call()?;
        }
        let mut samples = Samples::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            call()?;
            samples.push(start.elapsed());
        }
        drop(calls);
        peers.close()?;
        let summary = summarize(&samples)?;
        println!(
            "{}: {count} calls after {WARMUP_CALLS} warm-up calls; median {:.1} µs, p99 {:.1} µs",
            LATENCY_ROWS[index],
            micros(summary.median),
            micros(summary.p99)
        );
        Ok(())
    }

    /// Makes calls with Context from `threads` client threads at once for
    /// [`THROUGHPUT_DURATION`]. Returns the latency of every call and the calls per second.
    fn measure_throughput(proxy: &BenchProxy, threads: usize) -> Result<(Samples, f64), BoxError> {
        let ready = Barrier::new(threads + 1);
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<Samples, BoxError> {
                        let warmed_up = (0..THROUGHPUT_WARMUP_CALLS).try_for_each(|_| proxy.ping());
                        // Waits even after an error, so that the other threads and the measuring thread go on.
                        ready.wait();
                        warmed_up?;
                        let mut samples = Samples::with_capacity(100_000);
                        while !stop.load(Ordering::Relaxed) {
                            let start = Instant::now();
                            proxy.ping()?;
                            samples.push(start.elapsed());
                        }
                        Ok(samples)
                    })
                })
                .collect();

            ready.wait();
            let start = Instant::now();
            std::thread::sleep(THROUGHPUT_DURATION);
            stop.store(true, Ordering::Relaxed);
            let mut all = Samples::default();
            for worker in workers {
                all.append(worker.join().map_err(|_| "a client thread panicked")??);
            }
            let rate = all.len() as f64 / start.elapsed().as_secs_f64();
            Ok((all, rate))
        })
    }

    fn measure_data(proxy: &BenchProxy) -> Result<Samples, BoxError> {
        let data: Vec<u8> = (0..DATA_SIZE).map(|index| (index % 251) as u8).collect();
        for _ in 0..DATA_WARMUP_CALLS {
            proxy.echo_data(&data)?;
        }
        let mut samples = Samples::with_capacity(DATA_CALLS);
        for _ in 0..DATA_CALLS {
            let start = Instant::now();
            let returned = proxy.echo_data(&data)?;
            samples.push(start.elapsed());
            if returned != data {
                return Err(format!("echoData returned {} bytes that differ from the {} sent", returned.len(), data.len()).into());
            }
        }
        Ok(samples)
    }

    /// Measures the time from spawning a child to the end of the first call
    /// with Context, which includes the handshake and the first `makeThread`.
    /// The parent's event loop is already running.
    fn measure_spawn(event_loop: &EventLoop) -> Result<Samples, BoxError> {
        let mut samples = Samples::with_capacity(SPAWN_SAMPLES);
        for _ in 0..SPAWN_SAMPLES {
            let start = Instant::now();
            let connected = Connected::spawn(event_loop)?;
            connected.proxy.ping()?;
            samples.push(start.elapsed());
            connected.close()?;
        }
        Ok(samples)
    }

    /// Resident memory in KiB of both processes at three moments, or `None` where it cannot be read.
    struct Memory {
        child_idle: Option<u64>,
        child_one_thread: Option<u64>,
        child_more_threads: Option<u64>,
        parent_one_thread: Option<u64>,
        parent_more_threads: Option<u64>,
    }

    /// Reads the child's memory when idle with one connection, then with one
    /// and with `1 + EXTRA_THREADS` client threads that each made one call
    /// and so each have a server thread in the child.
    fn measure_memory(event_loop: &EventLoop) -> Result<Memory, BoxError> {
        let connected = Connected::spawn(event_loop)?;
        let child_pid = connected.child.id();
        let parent_pid = std::process::id();
        std::thread::sleep(SETTLE);
        let child_idle = resident_kib(child_pid);

        let release = Barrier::new(EXTRA_THREADS + 2);
        let (called, calls) = mpsc::channel::<Result<(), BoxError>>();
        let proxy = &connected.proxy;
        let memory = std::thread::scope(|scope| -> Result<Memory, BoxError> {
            let start_client = || {
                let called = called.clone();
                let release = &release;
                scope.spawn(move || {
                    let _ = called.send(proxy.ping().map_err(BoxError::from));
                    // Keeps the thread, and so its server thread, alive until both readings are taken.
                    release.wait();
                })
            };

            let mut clients = vec![start_client()];
            let mut take_readings = || -> Result<Memory, BoxError> {
                let lost = || -> BoxError { "a client thread ended without calling".into() };
                calls.recv().map_err(|_| lost())??;
                std::thread::sleep(SETTLE);
                let child_one_thread = resident_kib(child_pid);
                let parent_one_thread = resident_kib(parent_pid);
                clients.extend((0..EXTRA_THREADS).map(|_| start_client()));
                for _ in 0..EXTRA_THREADS {
                    calls.recv().map_err(|_| lost())??;
                }
                std::thread::sleep(SETTLE);
                Ok(Memory {
                    child_idle,
                    child_one_thread,
                    child_more_threads: resident_kib(child_pid),
                    parent_one_thread,
                    parent_more_threads: resident_kib(parent_pid),
                })
            };
            let readings = take_readings();
            // Starts the threads the readings did not get to, so that all reach the barrier.
            while clients.len() < EXTRA_THREADS + 1 {
                clients.push(start_client());
            }
            release.wait();
            readings
        })?;
        connected.close()?;
        Ok(memory)
    }

    fn summarize(samples: &Samples) -> Result<Summary, BoxError> {
        samples.summary().ok_or_else(|| "no calls were measured".into())
    }

    fn micros(duration: Duration) -> f64 {
        duration.as_secs_f64() * 1e6
    }

    fn print_table(rows: &[Row]) {
        let floor = rows[0].summary.median.as_secs_f64();
        println!();
        println!("{:<44} {:>11} {:>11} {:>10} {:>10}", "row", "median µs", "p99 µs", "ratio (a)", "calls/s");
        for row in rows {
            let rate = row.rate.map_or_else(String::new, |rate| format!("{rate:.0}"));
            println!(
                "{:<44} {:>11.1} {:>11.1} {:>10.2} {:>10}",
                row.label,
                micros(row.summary.median),
                micros(row.summary.p99),
                row.summary.median.as_secs_f64() / floor,
                rate
            );
        }
    }

    fn print_memory(memory: &Memory) {
        let kib = |value: Option<u64>| value.map_or_else(|| "n/a".to_owned(), |value| format!("{value} KiB"));
        let per_thread = |one: Option<u64>, more: Option<u64>| match (one, more) {
            (Some(one), Some(more)) => format!("{:.0} KiB", (more as f64 - one as f64) / EXTRA_THREADS as f64),
            _ => "n/a".to_owned(),
        };
        println!();
        println!("resident memory (VmRSS):");
        println!("  child idle with one connection: {}", kib(memory.child_idle));
        println!(
            "  child with 1 and {} mapped threads: {} and {}",
            EXTRA_THREADS + 1,
            kib(memory.child_one_thread),
            kib(memory.child_more_threads)
        );
        println!(
            "  added per mapped thread pair: child {}, parent {}",
            per_thread(memory.child_one_thread, memory.child_more_threads),
            per_thread(memory.parent_one_thread, memory.parent_more_threads)
        );
    }
}
