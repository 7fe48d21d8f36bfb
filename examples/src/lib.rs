//! The calculator demo of `multiprocess`: a parent process spawns a solver
//! child and a printer child, hands the printer to the solver as a callback,
//! and asks the solver to solve equations. Its schemas are wire-compatible with
//! the libmultiprocess example, so either side can be the C++ program.

#![warn(missing_docs)]

pub mod equation;
pub mod interfaces;
pub mod roles;
pub mod schema;
