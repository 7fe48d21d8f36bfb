//! Code generator of [`multiprocess`](https://docs.rs/multiprocess): Rust
//! traits, client proxies, server adapters and plain structs from Cap'n Proto
//! schemas annotated with libmultiprocess's `/mp/proxy.capnp`.
//!
//! Use it from a build script:
//!
//! ```no_run
//! // In build.rs, in `fn main`:
//! multiprocess_build::Config::new()
//!     .compile(&["schema/calculator.capnp"], &["schema"])
//!     .unwrap_or_else(|error| panic!("{error}"));
//! ```
//!
//! and include the result in the module at the configured module path, by
//! default a module named `interfaces` at the crate root:
//!
//! ```ignore
//! // src/lib.rs
//! pub mod interfaces {
//!     multiprocess::include_generated!(interfaces);
//! }
//! ```
//!
//! The crate that includes the code needs only `multiprocess` as a dependency:
//! the generated code reaches `capnp` and `capnp-rpc` through
//! `multiprocess::reexports`. `/mp/proxy.capnp` is on the import path
//! automatically; this crate carries a copy of it.
//!
//! For projects that check generated code in, the `mpgen` command writes the
//! same files into a folder:
//!
//! ```text
//! mpgen --module interfaces --out src -I schema schema/calculator.capnp
//! ```
//!
//! writes `src/interfaces.rs` and `src/interfaces/*_capnp.rs`, byte for byte
//! what the build script writes to `OUT_DIR`; declare it with `pub mod interfaces;`.
//!
//! The [`guide`] shows a schema, the code generated from it, an
//! implementation and a client, and the whole type mapping.
//!
//! # The schema compiler
//!
//! Parsing `.capnp` files takes the Cap'n Proto schema compiler, which is a
//! C++ program. By default this crate uses the `capnpc-embedded` crate: the
//! compiler (Cap'n Proto 1.4.0) built to WebAssembly and run in-process by the
//! `wasmi` interpreter. The `capnp` tool (Debian's `capnproto` package, 0.9.2)
//! is used instead when the default `embedded` feature is off or
//! [`Config::capnp_tool`] names it. Measured on a 2-vCPU Linux machine,
//! compiling the three schemas of the calculator demo:
//!
//! | | embedded (default) | `capnp` tool |
//! | --- | --- | --- |
//! | clean build of the compiler and its dependencies, debug profile | 2 min 35 s (about 90 crates) | 0 s: a prebuilt package |
//! | clean build, release profile | 4 min 47 s | 0 s |
//! | one schema compile, debug (unoptimized) build | 2.2 to 3.1 s | 15 to 20 ms (process start) |
//! | one schema compile, release build | 110 to 160 ms | 15 to 20 ms |
//! | size of a release program that compiles schemas | 8.4 MB | 0.5 MB, plus the tool |
//! | needs on the build host | the Rust toolchain only | `capnp` and `/capnp/c++.capnp` installed |
//! | Windows hosts | one WebAssembly file for every platform, but it reaches only the working folder's drive: schemas, include folders and `OUT_DIR` must be on that drive | the tool must be installed by hand (Chocolatey, vcpkg or a release archive) |
//!
//! The embedded compiler is the default because it is the only choice with
//! which a fresh clone builds on a machine that has nothing but the Rust
//! toolchain, on Linux, macOS and Windows alike: no build step fails for a
//! missing program, and every developer and CI host compiles schemas with the
//! same compiler version, which the generated code records. Its costs are a
//! longer first build and a slower compile in unoptimized build scripts; a
//! project can give the interpreter optimization with
//! `[profile.dev.package.wasmi] opt-level = 3`. The build script runs again
//! only when a schema changes.
//!
//! The two compilers record different versions in the capnpc header of the
//! generated files, so code generated with one does not compare equal to code
//! generated with the other.
//!
//! # Errors
//!
//! A schema error fails the build with the compiler's message, which names
//! the file, line and column. With the `capnp` tool the message is part of the
//! returned [`Error`]; the embedded compiler prints it on standard error,
//! which Cargo shows when a build script fails. A missing tool gives an error
//! that says what to install. Schemas that use a construct the generator does
//! not support (see the [`guide`]) fail with an error naming the method or
//! field.

#![warn(missing_docs, rust_2018_idioms)]

mod compiler;
mod emit;
mod model;
mod names;

#[doc = include_str!("guide.md")]
pub mod guide {}

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use compiler::{CompileRequest, Compiler};

/// The copy of libmultiprocess's `/mp/proxy.capnp` put on the import path.
const PROXY_CAPNP: &str = include_str!("../schema/mp/proxy.capnp");

/// Settings of one code generation run.
#[derive(Clone, Debug)]
pub struct Config {
    module: Vec<String>,
    out_dir: Option<PathBuf>,
    compiler: Compiler,
}

impl Default for Config {
    fn default() -> Config {
        Config::new()
    }
}

impl Config {
    /// Returns the default settings: module `interfaces`, output to `OUT_DIR`,
    /// the embedded schema compiler if the `embedded` feature is on.
    pub fn new() -> Config {
        Config { module: vec!["interfaces".to_owned()], out_dir: None, compiler: Compiler::default_choice() }
    }

    /// Sets the path, from the crate root, of the module that includes the
    /// generated code, such as `interfaces` or `ipc::interfaces`.
    ///
    /// Code generated for one schema refers to the others through this path,
    /// so `include_generated!` must be invoked in exactly that module. It also
    /// names the output file: `ipc::interfaces` is written to `ipc/interfaces.rs`.
    pub fn module(&mut self, path: &str) -> &mut Config {
        self.module = path.split("::").map(str::to_owned).collect();
        self
    }

    /// Writes into `dir` instead of the `OUT_DIR` of the running build script.
    pub fn out_dir(&mut self, dir: impl AsRef<Path>) -> &mut Config {
        self.out_dir = Some(dir.as_ref().to_owned());
        self
    }

    /// Compiles schemas with the external `capnp` program at `program`
    /// (such as `"capnp"` to search PATH), instead of the embedded compiler.
    pub fn capnp_tool(&mut self, program: impl AsRef<Path>) -> &mut Config {
        self.compiler = Compiler::Tool(program.as_ref().to_owned());
        self
    }

    /// Generates the module for `files` and writes it to the output folder.
    ///
    /// `includes` are the folders searched for imports such as
    /// `import "/common.capnp"`; `/mp/proxy.capnp` is always found. Every
    /// file that declares a type the others use must be among `files`. In a
    /// build script this also prints the `cargo:rerun-if-changed` lines that
    /// make Cargo run the script again when a schema changes.
    pub fn compile(&self, files: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
        let build_script = self.out_dir.is_none();
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or_else(|| Error::new("OUT_DIR is not set; call compile() from a build script, or set Config::out_dir"))?,
        };

        let generated = self.generate(files, includes)?;
        for file in &generated.files {
            let path = out_dir.join(&file.path);
            write_if_changed(&path, &file.contents)?;
        }

        if build_script {
            for file in files {
                println!("cargo:rerun-if-changed={}", file.as_ref().display());
            }
            for dir in includes {
                println!("cargo:rerun-if-changed={}", dir.as_ref().display());
            }
        }
        Ok(())
    }

    /// Generates the module for `files` and returns its files without writing them.
    pub fn generate(&self, files: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<Generated, Error> {
        let files: Vec<PathBuf> = files.iter().map(|file| file.as_ref().to_owned()).collect();
        let includes: Vec<PathBuf> = includes.iter().map(|dir| dir.as_ref().to_owned()).collect();
        if files.is_empty() {
            return Err(Error::new("no schema files given"));
        }
        if self.module.iter().any(|segment| !is_identifier(segment)) {
            return Err(Error::new(format!("module path {:?} is not a Rust path", self.module.join("::"))));
        }

        // The compiler reads /mp/proxy.capnp from a folder on disk. On Windows
        // the embedded compiler reaches only the working folder's drive, so a
        // build script stages it under OUT_DIR, which is on that drive in
        // usual setups, rather than in the system temporary folder.
        let staging_parent = std::env::var_os("OUT_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        let staging = tempfile::Builder::new()
            .prefix("multiprocess-build-")
            .tempdir_in(&staging_parent)
            .map_err(|error| Error::new(format!("failed to create a temporary folder: {error}")))?;
        let mp_dir = staging.path().join("include/mp");
        std::fs::create_dir_all(&mp_dir)
            .and_then(|()| std::fs::write(mp_dir.join("proxy.capnp"), PROXY_CAPNP))
            .map_err(|error| Error::new(format!("failed to write proxy.capnp to {}: {error}", mp_dir.display())))?;

        let mut import_paths = includes.clone();
        import_paths.push(staging.path().join("include"));
        // Source prefixes make the file names in the request, and so in the
        // generated code, independent of the working folder.
        let mut src_prefixes = includes.clone();
        for file in &files {
            if let Some(parent) = file.parent().filter(|parent| !parent.as_os_str().is_empty()) {
                src_prefixes.push(parent.to_owned());
            }
        }
        let request = compiler::run(
            &self.compiler,
            &CompileRequest { files: &files, import_paths: &import_paths, src_prefixes: &src_prefixes },
        )?;

        self.generate_from_request(&request, staging.path())
    }

    /// Runs capnpc and the layer's generator on a serialized request.
    fn generate_from_request(&self, request_bytes: &[u8], scratch: &Path) -> Result<Generated, Error> {
        let message = capnp::serialize::read_message(request_bytes, capnp::message::ReaderOptions::new())
            .map_err(|error| Error::new(format!("the schema compiler's output is not a valid request: {error}")))?;
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> = message.get_root()?;
        let model = model::read_model(request)?;

        let capnp_out = scratch.join("capnp");
        capnpc::codegen::CodeGenerationCommand::new()
            .output_directory(&capnp_out)
            .default_parent_module(self.module.clone())
            .capnp_root("::multiprocess::reexports::capnp")
            .crates_provide_map(HashMap::from([(model::PROXY_FILE_ID, "multiprocess".to_owned())]))
            .run(request_bytes)
            .map_err(|error| Error::new(format!("capnpc failed to generate code: {error}")))?;

        let module_file = self.module.join("/");
        let capnp_dir = self.module.last().cloned().unwrap_or_default();
        let mut files = vec![GeneratedFile {
            path: PathBuf::from(format!("{module_file}.rs")),
            contents: emit::module(&model, &capnp_dir),
        }];
        for (file, request_file) in model.files.iter().zip(request.get_requested_files()?) {
            let name = request_file.get_filename()?.to_string()?;
            let written = capnp_out.join(Path::new(&name).with_file_name(format!("{}.rs", file.module)));
            let contents = std::fs::read_to_string(&written)
                .map_err(|error| Error::new(format!("failed to read capnpc's output {}: {error}", written.display())))?;
            files.push(GeneratedFile { path: PathBuf::from(format!("{module_file}/{}.rs", file.module)), contents });
        }
        Ok(Generated { files })
    }
}

fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|first| first.is_alphabetic() || first == '_') && chars.all(|c| c.is_alphanumeric() || c == '_')
}

/// Writes `contents` to `path` unless the file contains them already, so that
/// unchanged output keeps its timestamp.
fn write_if_changed(path: &Path, contents: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|current| current == contents) {
        return Ok(());
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|error| Error::new(format!("failed to create {}: {error}", parent.display())))?;
    }
    std::fs::write(path, contents).map_err(|error| Error::new(format!("failed to write {}: {error}", path.display())))
}

/// The files of a generated module, with paths relative to the output folder.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The module's file first, then capnpc's file for each schema.
    pub files: Vec<GeneratedFile>,
}

/// One generated file.
#[derive(Clone, Debug)]
pub struct GeneratedFile {
    /// Path relative to the output folder, with `/` separators.
    pub path: PathBuf,
    /// Rust source.
    pub contents: String,
}

/// Why code generation failed.
#[derive(Debug)]
pub struct Error {
    message: String,
}

impl Error {
    fn new(message: impl Into<String>) -> Error {
        Error { message: message.into() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<capnp::Error> for Error {
    fn from(error: capnp::Error) -> Error {
        Error::new(format!("invalid request from the schema compiler: {error}"))
    }
}

impl From<std::str::Utf8Error> for Error {
    fn from(error: std::str::Utf8Error) -> Error {
        Error::new(format!("a name in the schema is not valid UTF-8: {error}"))
    }
}

impl From<capnp::NotInSchema> for Error {
    fn from(error: capnp::NotInSchema) -> Error {
        Error::new(format!("the schema compiler's request has a value this generator does not know: {error}"))
    }
}
