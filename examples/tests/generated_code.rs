//! Checks that the files the build script wrote to `OUT_DIR` are what the
//! generator writes for the same schemas. `mpgen` writes the same files too
//! (a test of multiprocess-build checks that), so a project may check them in.

use std::path::{Path, PathBuf};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()))
}

#[test]
fn generator_output_matches_build_script() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let build_out = PathBuf::from(env!("OUT_DIR"));
    let fresh = tempfile::tempdir().unwrap();
    let schemas: Vec<PathBuf> =
        ["calculator", "printer", "init"].iter().map(|name| crate_dir.join(format!("schema/{name}.capnp"))).collect();

    let generated = multiprocess_build::Config::new()
        .out_dir(fresh.path())
        .generate(&schemas, &[crate_dir.join("schema")])
        .unwrap();
    assert_eq!(generated.files.len(), 4, "one module file and one capnpc file per schema");
    for file in &generated.files {
        let built = read(&build_out.join(&file.path));
        assert!(built == file.contents, "{} in OUT_DIR differs from what the generator writes", file.path.display());
    }
}
