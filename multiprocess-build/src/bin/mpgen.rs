//! Writes the code that `multiprocess-build` generates into a folder, for
//! projects that check generated code in.
//!
//! ```text
//! mpgen [--module PATH] [--capnp PROGRAM] --out DIR [-I DIR]... SCHEMA...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: mpgen [--module PATH] [--capnp PROGRAM] --out DIR [-I DIR]... SCHEMA...

Generates Rust traits, proxies and servers from Cap'n Proto schemas and writes
DIR/<module>.rs and DIR/<module>/*_capnp.rs, the same files a build script
that calls multiprocess_build::Config::compile writes to OUT_DIR.

  --module PATH    module path of the generated code from the crate root
                   (default: interfaces)
  --capnp PROGRAM  compile schemas with this capnp program instead of the
                   embedded compiler
  --out DIR        folder to write into, usually the crate's src folder
  -I DIR           folder searched for imports; repeatable";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mpgen: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut config = multiprocess_build::Config::new();
    let mut out = None;
    let mut includes: Vec<PathBuf> = Vec::new();
    let mut files: Vec<PathBuf> = Vec::new();

    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value\n{USAGE}"));
        match arg.as_str() {
            "--module" => {
                config.module(&value("--module")?);
            }
            "--capnp" => {
                config.capnp_tool(value("--capnp")?);
            }
            "--out" => out = Some(PathBuf::from(value("--out")?)),
            "-I" => includes.push(PathBuf::from(value("-I")?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if arg.starts_with("-I") => includes.push(PathBuf::from(&arg[2..])),
            _ if arg.starts_with('-') => return Err(format!("unknown option {arg}\n{USAGE}")),
            _ => files.push(PathBuf::from(arg)),
        }
    }

    let out = out.ok_or_else(|| format!("--out is required\n{USAGE}"))?;
    if files.is_empty() {
        return Err(format!("no schema files given\n{USAGE}"));
    }
    config.out_dir(&out).compile(&files, &includes).map_err(|error| error.to_string())
}
