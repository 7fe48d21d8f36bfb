//! Criterion benchmarks of one round trip to a child process: the socket
//! ping-pong floor, plain capnp-rpc, and multiprocess calls without and with
//! Context, all in the group `round_trip` of one run.
//!
//! ```text
//! cargo bench -p multiprocess-bench --bench calls
//! ```
//!
//! Besides criterion's report, the run ends with the median of every call
//! timed in it for each benchmark and its ratio to the floor's. Criterion's
//! own estimates are in its report folder.

use std::process::ExitCode;

use multiprocess_bench::child;

fn main() -> ExitCode {
    if let Some(code) = child::run_if_child() {
        return code;
    }
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("calls benchmark: {error}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(not(unix))]
fn run() -> Result<(), multiprocess_bench::BoxError> {
    Err("the benchmarks measure their floor over a Unix socket pair and run on Unix only".into())
}

#[cfg(unix)]
use bench::run;

#[cfg(unix)]
mod bench {
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use multiprocess::EventLoop;
    use multiprocess_bench::child::{self, Role};
    use multiprocess_bench::floor::FloorClient;
    use multiprocess_bench::plain_rpc::EchoClient;
    use multiprocess_bench::stats::Samples;
    use multiprocess_bench::{BenchProxy, BoxError};

    /// One round trip of a benchmark.
    type RoundTrip<'a> = Box<dyn FnMut() -> Result<(), BoxError> + 'a>;

    /// Calls of each kind made before criterion starts its own warm-up.
    const WARMUP_CALLS: usize = 1_000;
    /// Minimum number of timed calls of each benchmark for the ratios to be printed.
    const MIN_CALLS_FOR_RATIOS: usize = 100;

    pub(super) fn run() -> Result<(), BoxError> {
        let mut criterion = Criterion::default().configure_from_args();
        let event_loop = EventLoop::new("calls-bench")?;

        let (mut floor_child, floor_stream) = child::spawn(Role::Floor)?;
        let mut floor = FloorClient::new(floor_stream);
        let (mut echo_child, echo_stream) = child::spawn(Role::PlainRpc)?;
        let mut echo = EchoClient::connect(echo_stream)?;
        let (mut mp_child, mp_stream) = child::spawn(Role::Multiprocess)?;
        let proxy = BenchProxy::connect(&event_loop, mp_stream, "calls-bench-child")?;

        let mut benchmarks: [(&str, RoundTrip<'_>); 4] = [
            ("floor", Box::new(|| Ok(floor.round_trip()?))),
            ("capnp_rpc_echo", Box::new(|| Ok(echo.round_trip()?))),
            ("call_on_loop", Box::new(|| Ok(proxy.ping_on_loop()?))),
            ("call_with_context", Box::new(|| Ok(proxy.ping()?))),
        ];
        for (_, call) in benchmarks.iter_mut() {
            for _ in 0..WARMUP_CALLS {
                call()?;
            }
        }

        let names: Vec<&str> = benchmarks.iter().map(|(name, _)| *name).collect();
        let mut timed: Vec<Samples> = benchmarks.iter().map(|_| Samples::default()).collect();
        let mut group = criterion.benchmark_group("round_trip");
        for ((name, call), samples) in benchmarks.iter_mut().zip(timed.iter_mut()) {
            group.bench_function(*name, |bencher| {
                bencher.iter_custom(|iterations| time_calls(&mut **call, iterations, samples));
            });
        }
        group.finish();
        criterion.final_summary();
        print_ratios(&names, &timed);

        drop(benchmarks);
        drop(proxy);
        drop((floor, echo));
        for child in [&mut floor_child, &mut echo_child, &mut mp_child] {
            let status = child.wait()?;
            if !status.success() {
                return Err(format!("child process {} exited with {status}", child.id()).into());
            }
        }
        Ok(())
    }

    /// Makes `iterations` calls, each timed on its own into `samples`, and
    /// returns their total time. Panics on a failed call, because criterion's
    /// routine cannot return an error.
    fn time_calls(
        call: &mut dyn FnMut() -> Result<(), BoxError>,
        iterations: u64,
        samples: &mut Samples,
    ) -> Duration {
        let mut total = Duration::ZERO;
        for _ in 0..iterations {
            let start = Instant::now();
            if let Err(error) = call() {
                panic!("benchmark call failed: {error}");
            }
            let elapsed = start.elapsed();
            samples.push(elapsed);
            total += elapsed;
        }
        total
    }

    /// Prints the median of every timed call of each benchmark and its ratio
    /// to the first's. Prints nothing after a run that timed too few calls for
    /// a median to mean anything, such as `cargo test --benches`, which makes
    /// one call each.
    fn print_ratios(names: &[&str], timed: &[Samples]) {
        if timed.iter().any(|samples| samples.len() < MIN_CALLS_FOR_RATIOS) {
            return;
        }
        let Some(floor) = timed.first().and_then(Samples::summary) else {
            return;
        };
        println!("median of every timed call in this run, and its ratio to {}:", names[0]);
        for (name, samples) in names.iter().zip(timed) {
            if let Some(summary) = samples.summary() {
                let ratio = summary.median.as_secs_f64() / floor.median.as_secs_f64();
                println!(
                    "  {name:<20} {:>9.1} µs  {ratio:>6.2}  ({} calls)",
                    summary.median.as_secs_f64() * 1e6,
                    samples.len()
                );
            }
        }
    }
}
