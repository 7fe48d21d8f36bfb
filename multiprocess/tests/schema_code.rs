//! Checks that the checked-in code under `src/schema` is what capnpc generates
//! from `schema/` today. Run with `MULTIPROCESS_REGENERATE=1` to rewrite it.
//! It runs on Unix hosts only, where the `capnp` tool is installed; the
//! files it checks are the same for every target.

#![cfg(unix)]

use std::path::Path;

fn generate(out: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    let result = capnpc::CompilerCommand::new()
        .src_prefix(root.join("mp"))
        .file(root.join("mp/proxy.capnp"))
        .import_path(&root)
        .output_path(out)
        .default_parent_module(vec!["schema".into()])
        .run()
        .and_then(|()| {
            capnpc::CompilerCommand::new()
                .src_prefix(&root)
                .file(root.join("handshake.capnp"))
                .import_path(&root)
                .output_path(out)
                .default_parent_module(vec!["schema".into()])
                .run()
        });
    if let Err(error) = result {
        panic!("capnpc failed: {error}. Install the capnp tool (Debian: apt-get install capnproto libcapnp-dev)");
    }
}

#[test]
fn generated_schema_code_is_current() {
    let out = tempfile::tempdir().unwrap();
    generate(out.path());
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/schema");
    let regenerate = std::env::var_os("MULTIPROCESS_REGENERATE").is_some();

    for name in ["proxy_capnp.rs", "handshake_capnp.rs"] {
        let fresh = std::fs::read_to_string(out.path().join(name)).unwrap();
        let path = checked_in.join(name);
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
