//! Tests of the generator itself: the checked-in test code is current, the
//! `mpgen` command writes what a build script writes, and bad input gives
//! errors that name the place and the cause.
//!
//! Run with `MULTIPROCESS_REGENERATE=1` to rewrite `tests/generated/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use multiprocess_build::Config;

const SCHEMAS: [&str; 3] = ["tests/schema/init.capnp", "tests/schema/types.capnp", "tests/schema/mining.capnp"];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn schema_paths() -> Vec<PathBuf> {
    SCHEMAS.iter().map(|schema| crate_dir().join(schema)).collect()
}

/// Returns every file under `dir`, by path relative to it, with its contents.
fn read_tree(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let contents = std::fs::read_to_string(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_owned(), contents));
            }
        }
    }
    files.sort();
    files
}

/// Writes `schema` to a file named `name` in a new temporary folder.
fn schema_file(name: &str, schema: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, schema).unwrap();
    (dir, path)
}

fn generate_error(schema: &str) -> String {
    let (dir, path) = schema_file("bad.capnp", schema);
    let result = Config::new().generate(&[&path], &[dir.path()]);
    match result {
        Ok(_) => panic!("generating from an invalid schema succeeded"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn checked_in_code_is_current() {
    let generated = Config::new().module("testapi").generate(&schema_paths(), &[crate_dir().join("tests/schema")]).unwrap();
    let checked_in = crate_dir().join("tests/generated");
    let regenerate = std::env::var_os("MULTIPROCESS_REGENERATE").is_some();

    for file in &generated.files {
        let path = checked_in.join(&file.path);
        if regenerate {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &file.contents).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == file.contents,
            "{} differs from what the generator writes now; run the test with MULTIPROCESS_REGENERATE=1 and commit the result",
            path.display()
        );
    }
    assert_eq!(read_tree(&checked_in).len(), generated.files.len(), "tests/generated holds files the generator no longer writes");
}

#[test]
fn mpgen_writes_what_compile_writes() {
    let from_compile = tempfile::tempdir().unwrap();
    Config::new()
        .module("testapi")
        .out_dir(from_compile.path())
        .compile(&schema_paths(), &[crate_dir().join("tests/schema")])
        .unwrap();

    // mpgen runs from another folder with relative paths, which must not
    // change the output.
    let from_mpgen = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mpgen"))
        .current_dir(crate_dir().join("tests"))
        .args(["--module", "testapi", "--out"])
        .arg(from_mpgen.path())
        .args(["-I", "schema", "schema/init.capnp", "schema/types.capnp", "schema/mining.capnp"])
        .output()
        .unwrap();
    assert!(output.status.success(), "mpgen failed: {}", String::from_utf8_lossy(&output.stderr));

    let expected = read_tree(from_compile.path());
    let written = read_tree(from_mpgen.path());
    assert_eq!(written.len(), 4, "one module file and one capnpc file per schema");
    assert_eq!(
        written.iter().map(|(path, _)| path).collect::<Vec<_>>(),
        expected.iter().map(|(path, _)| path).collect::<Vec<_>>()
    );
    for ((path, mpgen_text), (_, compile_text)) in written.iter().zip(&expected) {
        assert!(mpgen_text == compile_text, "{} differs between mpgen and Config::compile", path.display());
    }
}

#[test]
fn proxy_schema_copy_matches_the_runtime() {
    let runtime = std::fs::read_to_string(crate_dir().join("../multiprocess/schema/mp/proxy.capnp")).unwrap();
    let copy = std::fs::read_to_string(crate_dir().join("schema/mp/proxy.capnp")).unwrap();
    assert!(copy == runtime, "schema/mp/proxy.capnp differs from the runtime's copy; copy it again");
}

#[test]
fn schema_error_names_file_and_line() {
    let (_dir, path) = schema_file("broken.capnp", "@0xd4c3c9cb5b1e5f01;\n\ninterface Broken {\n  call @0 () -> (result :NoSuchType);\n}\n");
    // The embedded compiler prints its diagnostics on standard error, so run
    // mpgen as a separate process to read them.
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mpgen")).arg("--out").arg(out.path()).arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.capnp:4:"), "the message names the file and line: {stderr}");
    assert!(stderr.contains("NoSuchType"), "the message names the unknown type: {stderr}");
}

#[test]
fn missing_tool_says_what_to_install() {
    let (dir, path) = schema_file("empty.capnp", "@0xd4c3c9cb5b1e5f02;\n");
    let error = Config::new()
        .capnp_tool(dir.path().join("no-such-capnp"))
        .generate(&[&path], &[dir.path()])
        .unwrap_err()
        .to_string();
    assert!(error.contains("was not found"), "{error}");
    assert!(error.contains("apt-get install capnproto libcapnp-dev"), "{error}");
}

#[test]
fn missing_schema_file_is_named() {
    let error = Config::new().generate(&["no/such/file.capnp"], &["no/such"]).unwrap_err().to_string();
    assert!(error.contains("no/such/file.capnp"), "{error}");
}

#[test]
fn union_struct_in_a_method_is_rejected() {
    let error = generate_error(
        "@0xd4c3c9cb5b1e5f03;\nusing Proxy = import \"/mp/proxy.capnp\";\n\
         struct Either { union { left @0 :Int32; right @1 :Text; } }\n\
         interface Api { pick @0 (context :Proxy.Context, value :Either) -> (); }\n",
    );
    assert!(error.contains("Api.pick"), "the error names the method: {error}");
    assert!(error.contains("union"), "the error says why: {error}");
}

#[test]
fn type_from_a_file_not_compiled_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("other.capnp"), "@0xd4c3c9cb5b1e5f04;\nstruct Thing { value @0 :Int32; }\n").unwrap();
    let main = dir.path().join("main.capnp");
    std::fs::write(
        &main,
        "@0xd4c3c9cb5b1e5f05;\nusing Other = import \"other.capnp\";\n\
         interface Api { take @0 (thing :Other.Thing) -> (); }\n",
    )
    .unwrap();
    let error = Config::new().generate(&[&main], &[dir.path()]).unwrap_err().to_string();
    assert!(error.contains("Api.take"), "{error}");
    assert!(error.contains("pass that file to compile() too"), "the error says what to do: {error}");
}

#[test]
fn clashing_names_are_rejected() {
    let error = generate_error(
        "@0xd4c3c9cb5b1e5f06;\nstruct Thing { value @0 :Int32; }\ninterface ThingInterface { get @0 () -> (result :Int32); }\n",
    );
    assert!(error.contains("would both generate the Rust item Thing"), "{error}");
}

/// The layer does not depend on the schema compiler: the `capnp` tool and
/// the embedded compiler give the same module file. Skipped without the tool.
#[test]
fn tool_and_embedded_compiler_give_the_same_layer() {
    if Command::new("capnp").arg("--version").output().is_err() {
        eprintln!("skipped: the capnp tool is not installed");
        return;
    }
    let includes = [crate_dir().join("tests/schema")];
    let embedded = Config::new().module("testapi").generate(&schema_paths(), &includes).unwrap();
    let tool = Config::new().module("testapi").capnp_tool("capnp").generate(&schema_paths(), &includes).unwrap();
    assert_eq!(embedded.files[0].path, tool.files[0].path);
    assert!(embedded.files[0].contents == tool.files[0].contents, "the module file differs between the two compilers");
}

/// A pair of schemas in the shape of Bitcoin Core's IPC schemas: a shared file
/// with constants, wrapped structs, and generic and union structs that no
/// method uses, and a node file whose methods take defaults named by
/// constants. Unused generic and union structs are not an error.
#[test]
fn node_shaped_schemas_generate() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("shared.capnp"),
        r#"@0xd4c3c9cb5b1e5f07;
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("demo::messages");
using Proxy = import "/mp/proxy.capnp";
$Proxy.include("demo/shared.h");
$Proxy.includeTypes("demo/shared-types.h");

struct Tip $Proxy.wrap("demo::Tip") {
    hash @0 :Data;
    height @1 :Int32;
}
struct Message $Proxy.wrap("demo::Message") {
    original @0 :Text;
    translated @1 :Text;
}
struct Outcome(Value) {
    value @0 :Value;
    error @1 :Message;
}
struct Either(Value, Error) {
    union {
        value @0 :Value;
        error @1 :Error;
    }
}
"#,
    )
    .unwrap();
    let node = dir.path().join("node.capnp");
    std::fs::write(
        &node,
        r#"@0xd4c3c9cb5b1e5f08;
using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("demo::messages");
using Shared = import "shared.capnp";
using Proxy = import "/mp/proxy.capnp";

const longestWait :Float64 = 1.7976931348623157e308;
const defaultWeight :UInt32 = 4000;

interface Node $Proxy.wrap("demo::Node") {
    tip @0 (context :Proxy.Context) -> (result :Shared.Tip, hasResult :Bool);
    waitTipChanged @1 (context :Proxy.Context, current :Data, timeout :Float64 = .longestWait) -> (result :Shared.Tip);
    makeTemplate @2 (context :Proxy.Context, options :TemplateOptions, cooldown :Bool = true) -> (result :Template);
    interrupt @3 () -> ();
}

interface Template $Proxy.wrap("demo::Template") {
    destroy @0 (context :Proxy.Context) -> ();
    submit @1 (context :Proxy.Context, nonce :UInt32, extra :Data) -> (reason :Text, debug :Text, result :Bool);
    waitNext @2 (context :Proxy.Context, options :TemplateOptions) -> (result :Template);
    interruptWait @3 () -> ();
}

struct TemplateOptions $Proxy.wrap("demo::TemplateOptions") {
    useMempool @0 :Bool = true $Proxy.name("use_mempool");
    reservedWeight @1 :UInt64 = .defaultWeight $Proxy.name("reserved_weight");
}
"#,
    )
    .unwrap();

    let generated = Config::new().generate(&[node, dir.path().join("shared.capnp")], &[dir.path()]).unwrap();
    let layer = &generated.files[0].contents;
    let expected = [
        "fn tip(&self) -> mp::Result<Option<Tip>>;",
        "fn wait_tip_changed(&self, current: &[u8], timeout: f64) -> mp::Result<Tip>;",
        "fn make_template(&self, options: &TemplateOptions, cooldown: bool) -> mp::Result<Box<dyn Template>>;",
        "fn interrupt(&self) -> mp::Result<()>;",
        "fn wait_next(&self, options: &TemplateOptions) -> mp::Result<Box<dyn Template>>;",
        "fn submit(&self, nonce: u32, extra: &[u8]) -> mp::Result<TemplateSubmitOutput>;",
    ];
    for signature in expected {
        assert!(layer.contains(signature), "the generated code lacks `{signature}`");
    }
}
