//! The calculator demo of `multiprocess`: a parent process spawns a solver
//! child and a printer child, hands the printer to the solver as a callback,
//! and asks the solver to solve equations. Its schemas are wire-compatible with
//! the libmultiprocess example, so either side can be the C++ program.

#![warn(missing_docs)]

pub mod equation;
pub mod roles;

/// The demo's interfaces, generated from `schema/` by `build.rs`: a trait per
/// interface (`Calculator`, `Printer`, `Init`), a proxy that calls a peer
/// (`CalculatorProxy`, ...) and a server that serves an implementation
/// (`CalculatorServer`, ...).
pub mod interfaces {
    multiprocess::include_generated!(interfaces);
}
