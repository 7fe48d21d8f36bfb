//! Generates the demo's Rust interfaces from `schema/` with multiprocess-build.
//! The schema compiler runs in-process, so building needs no `capnp` tool.

fn main() {
    multiprocess_build::Config::new()
        .compile(&["schema/calculator.capnp", "schema/printer.capnp", "schema/init.capnp"], &["schema"])
        .unwrap_or_else(|error| panic!("{error}"));
}
