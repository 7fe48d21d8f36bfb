//! The implementations behind the demo's interfaces, one per child role.

use std::io::Write;

use multiprocess::{Error, Result};

use crate::equation::{format_value, solve};
use crate::interfaces::{Calculator, Init, Printer};

/// The interface a child process provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Serves calculators (`makeCalculator`).
    Solver,
    /// Serves printers (`makePrinter`).
    Printer,
}

impl Role {
    /// Parses a role name as given on the command line.
    pub fn parse(name: &str) -> Option<Role> {
        match name {
            "solver" => Some(Role::Solver),
            "printer" => Some(Role::Printer),
            _ => None,
        }
    }

    /// Returns the role's command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Solver => "solver",
            Role::Printer => "printer",
        }
    }
}

/// The Init a child serves: the factory method of its role works, the other fails.
pub struct DemoInit {
    /// The role of this process.
    pub role: Role,
}

impl Init for DemoInit {
    fn make_calculator(&self, print: Box<dyn Printer>) -> Result<Box<dyn Calculator>> {
        match self.role {
            Role::Solver => Ok(Box::new(Solver { printer: print })),
            Role::Printer => Err(Error::failed("this process has the printer role; ask a solver for a calculator")),
        }
    }

    fn make_printer(&self) -> Result<Box<dyn Printer>> {
        match self.role {
            Role::Printer => Ok(Box::new(StdoutPrinter)),
            Role::Solver => Err(Error::failed("this process has the solver role; ask a printer for a printer")),
        }
    }
}

/// Solves equations and sends each result to its printer.
pub struct Solver {
    printer: Box<dyn Printer>,
}

impl Calculator for Solver {
    fn solve_equation(&self, eqn: &str) -> Result<()> {
        let value = solve(eqn).map_err(|error| Error::failed(format!("invalid equation {eqn:?}: {error}")))?;
        self.printer.print(&format!("{eqn} = {}", format_value(value)))
    }
}

/// Writes each text to standard output on a line of its own.
pub struct StdoutPrinter;

impl Printer for StdoutPrinter {
    fn print(&self, text: &str) -> Result<()> {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", text.trim_end_matches('\n'))
            .and_then(|()| stdout.flush())
            .map_err(|error| Error::failed(format!("failed to write to standard output: {error}")))
    }
}
