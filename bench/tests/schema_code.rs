//! Checks that the checked-in code under `src/schema` is what capnpc generates
//! from `schema/` today. Run with `MULTIPROCESS_REGENERATE=1` to rewrite it.

use std::path::Path;

const SCHEMAS: [&str; 1] = ["bench.capnp"];
const GENERATED: [&str; 1] = ["bench_capnp.rs"];

#[test]
fn generated_schema_code_is_current() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema = manifest.join("schema");
    let out = tempfile::tempdir().unwrap();
    let mut command = capnpc::CompilerCommand::new();
    command
        .src_prefix(&schema)
        .import_path(manifest.join("../multiprocess/schema"))
        .output_path(out.path())
        .default_parent_module(vec!["schema".into()])
        .crate_provides("multiprocess", [0xcc31_6e3f_71a0_40fb]);
    for file in SCHEMAS {
        command.file(schema.join(file));
    }
    if let Err(error) = command.run() {
        panic!("capnpc failed: {error}. Install the capnp tool (Debian: apt-get install capnproto libcapnp-dev)");
    }

    let regenerate = std::env::var_os("MULTIPROCESS_REGENERATE").is_some();
    for name in GENERATED {
        let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
        let path = manifest.join("src/schema").join(name);
        if regenerate {
            std::fs::write(&path, &fresh).unwrap();
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(
            current == fresh,
            "{} differs from what capnpc generates; run the test with MULTIPROCESS_REGENERATE=1 and commit the result",
            path.display()
        );
    }
}
