//! Running the Cap'n Proto schema compiler, which parses `.capnp` files and
//! returns a `CodeGeneratorRequest`: every node (struct, interface, field,
//! annotation) of the requested files and of the files they import.
//!
//! Two compilers are supported. With the `embedded` feature (the default) the
//! compiler of the `capnpc-embedded` crate runs in-process as WebAssembly, so
//! nothing outside the Rust toolchain is needed. Otherwise, or when
//! [`crate::Config::capnp_tool`] names a program, the external `capnp` tool
//! runs as `capnp compile -o-` and writes the request to its standard output.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The schema compiler that produces the request.
#[derive(Clone, Debug)]
pub(crate) enum Compiler {
    /// The WebAssembly build of the compiler from `capnpc-embedded`.
    #[cfg(feature = "embedded")]
    Embedded,
    /// An external `capnp` program.
    Tool(PathBuf),
}

impl Compiler {
    /// Returns the embedded compiler if the crate was built with it, else
    /// the `capnp` program found on PATH.
    pub(crate) fn default_choice() -> Compiler {
        #[cfg(feature = "embedded")]
        {
            Compiler::Embedded
        }
        #[cfg(not(feature = "embedded"))]
        {
            Compiler::Tool(PathBuf::from("capnp"))
        }
    }
}

/// The inputs of one compiler run, with every path as the caller gave it.
pub(crate) struct CompileRequest<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) import_paths: &'a [PathBuf],
    pub(crate) src_prefixes: &'a [PathBuf],
}

/// Runs `compiler` and returns the serialized `CodeGeneratorRequest`.
pub(crate) fn run(compiler: &Compiler, request: &CompileRequest<'_>) -> Result<Vec<u8>, Error> {
    for file in request.files {
        if let Err(error) = std::fs::metadata(file) {
            return Err(Error::new(format!("cannot read schema file {}: {error}", file.display())));
        }
    }
    match compiler {
        #[cfg(feature = "embedded")]
        Compiler::Embedded => run_embedded(request),
        Compiler::Tool(program) => run_tool(program, request),
    }
}

#[cfg(feature = "embedded")]
fn run_embedded(request: &CompileRequest<'_>) -> Result<Vec<u8>, Error> {
    let mut command = capnpc_embedded::CompileCommand::new();
    for path in request.import_paths {
        command.import_path(path);
    }
    for prefix in request.src_prefixes {
        command.src_prefix(prefix);
    }
    for file in request.files {
        command.file(file);
    }
    // The embedded compiler writes its diagnostics ("file.capnp:LINE:COLUMN:
    // error: ...") to this process's standard error; it returns only a summary.
    command.compile().map_err(|error| {
        Error::new(format!(
            "failed to compile {}: {error}. The schema compiler's messages on standard error name the file and line",
            file_list(request.files)
        ))
    })
}

fn run_tool(program: &Path, request: &CompileRequest<'_>) -> Result<Vec<u8>, Error> {
    let mut command = Command::new(program);
    command.arg("compile").arg("-o-");
    for path in request.import_paths {
        command.arg(format!("--import-path={}", path.display()));
    }
    for prefix in request.src_prefixes {
        command.arg(format!("--src-prefix={}", prefix.display()));
    }
    command.args(request.files);

    let output = match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::new(format!(
                "the Cap'n Proto schema compiler {:?} was not found: {error}. Install it (Debian and Ubuntu: \
                 apt-get install capnproto libcapnp-dev; macOS: brew install capnp; Windows: choco install capnproto) \
                 or build multiprocess-build with its default `embedded` feature, which needs no external tool",
                program.display().to_string()
            )));
        }
        Err(error) => return Err(Error::new(format!("failed to run {}: {error}", program.display()))),
    };
    if !output.status.success() {
        let diagnostics = String::from_utf8_lossy(&output.stderr);
        let mut message = format!(
            "failed to compile {} ({} exited with {}):\n{}",
            file_list(request.files),
            program.display(),
            output.status,
            diagnostics.trim_end()
        );
        if diagnostics.contains("/capnp/c++.capnp") {
            message.push_str(
                "\nThe standard schema /capnp/c++.capnp is missing; install it with the compiler \
                 (Debian and Ubuntu: apt-get install libcapnp-dev)",
            );
        }
        return Err(Error::new(message));
    }
    Ok(output.stdout)
}

fn file_list(files: &[PathBuf]) -> String {
    files.iter().map(|file| file.display().to_string()).collect::<Vec<_>>().join(", ")
}
