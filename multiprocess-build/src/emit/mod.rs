//! Turning the model into the Rust source of the generated module.
//!
//! The module has, per interface, a trait, a client proxy that implements it
//! and a server adapter that serves any implementation; per struct a plain
//! Rust struct with conversions; and the capnpc modules the layer is built on.
//! [`convert`] writes the statements that move values between native types
//! and Cap'n Proto readers and builders; [`interface`] and [`structs`] write
//! the items.

mod convert;
mod interface;
mod structs;

use crate::model::{Field, Model, Presence, Ty};

/// Lines of Rust with the current indentation.
pub(crate) struct Code {
    text: String,
    indent: usize,
}

impl Code {
    pub(crate) fn new() -> Code {
        Code { text: String::new(), indent: 0 }
    }

    pub(crate) fn into_string(self) -> String {
        self.text
    }

    /// Writes one line at the current indentation; an empty line stays empty.
    pub(crate) fn line(&mut self, line: impl AsRef<str>) {
        let line = line.as_ref();
        if !line.is_empty() {
            for _ in 0..self.indent {
                self.text.push_str("    ");
            }
            self.text.push_str(line);
        }
        self.text.push('\n');
    }

    /// Writes lines that carry their own relative indentation.
    pub(crate) fn lines(&mut self, lines: &[String]) {
        for line in lines {
            self.line(line);
        }
    }

    /// Writes `line` and indents what follows.
    pub(crate) fn open(&mut self, line: impl AsRef<str>) {
        self.line(line);
        self.indent += 1;
    }

    /// Ends an indented block with `line`.
    pub(crate) fn close(&mut self, line: impl AsRef<str>) {
        self.indent -= 1;
        self.line(line);
    }

    pub(crate) fn blank(&mut self) {
        self.text.push('\n');
    }

    /// Writes a doc comment, one `///` line per line of `doc`.
    pub(crate) fn doc(&mut self, doc: &str) {
        for line in doc.trim_end().lines() {
            let line = line.trim_end();
            if line.is_empty() {
                self.line("///");
            } else {
                self.line(format!("/// {line}"));
            }
        }
    }

    /// Writes the schema's doc comment if there is one, else `fallback`.
    pub(crate) fn doc_or(&mut self, doc: &Option<String>, fallback: &str) {
        match doc {
            Some(doc) if !doc.trim().is_empty() => self.doc(doc),
            _ => self.doc(fallback),
        }
    }
}

/// Local names that generated functions use themselves; a parameter or
/// result with one of these names gets `_arg` appended inside the function.
const RESERVED_LOCALS: &[&str] = &[
    "client", "cx", "server", "request", "params", "response", "results", "implementation", "output", "list", "item",
    "index", "pair", "builder", "reader", "error",
];

/// Returns the name of a parameter or result as a local variable.
pub(crate) fn local_name(field: &Field) -> String {
    local_for(&field.rust_name)
}

/// Returns the local variable name for a parameter or result named `name`.
pub(crate) fn local_for(name: &str) -> String {
    if RESERVED_LOCALS.contains(&name) {
        format!("{name}_arg")
    } else {
        name.to_owned()
    }
}

/// Returns the Rust type of a value of `ty`.
pub(crate) fn native_type(model: &Model, ty: &Ty) -> String {
    match ty {
        Ty::Bool => "bool".to_owned(),
        Ty::Number(name) => (*name).to_owned(),
        Ty::Text => "String".to_owned(),
        Ty::Data => "Vec<u8>".to_owned(),
        Ty::Enum(id) => model.enum_def(*id).rust_name.clone(),
        Ty::List(element) => format!("Vec<{}>", native_type(model, element)),
        Ty::Struct(id) => model.struct_def(*id).map(|def| def.rust_name.clone()).unwrap_or_default(),
        Ty::Pair { key, value, .. } => format!("({}, {})", native_type(model, key), native_type(model, value)),
        Ty::Interface(id) => format!("Box<dyn {}>", model.interface(*id).rust_name),
    }
}

/// Returns the Rust type of a result or struct field, with its presence.
pub(crate) fn field_type(model: &Model, field: &Field) -> String {
    let base = native_type(model, &field.ty);
    match field.presence {
        Presence::Always => base,
        Presence::HasFlag { .. } | Presence::Requested { .. } => format!("Option<{base}>"),
        Presence::Recursive => format!("Option<Box<{base}>>"),
    }
}

/// True if values of `ty` are passed to a trait method by reference.
pub(crate) fn passed_by_reference(model: &Model, ty: &Ty) -> bool {
    matches!(ty, Ty::Text | Ty::Data | Ty::List(_) | Ty::Struct(_) | Ty::Pair { .. }) && !ty.holds_interface(model)
}

/// Returns the type of a trait method parameter: borrowed where the value
/// need not move.
pub(crate) fn param_type(model: &Model, field: &Field) -> String {
    let ty = &field.ty;
    let base = if !passed_by_reference(model, ty) {
        native_type(model, ty)
    } else {
        match ty {
            Ty::Text => "&str".to_owned(),
            Ty::Data => "&[u8]".to_owned(),
            Ty::List(element) => format!("&[{}]", native_type(model, element)),
            _ => format!("&{}", native_type(model, ty)),
        }
    };
    match field.presence {
        Presence::Always => base,
        _ => format!("Option<{base}>"),
    }
}

/// True if any field's value contains an interface, so the conversions need the
/// connection's [`multiprocess::ServerContext`].
pub(crate) fn needs_server_context<'a>(model: &Model, fields: impl IntoIterator<Item = &'a Field>) -> bool {
    fields.into_iter().any(|field| field.ty.holds_interface(model))
}

/// True if the module uses the `list_len` helper.
fn uses_lists(model: &Model) -> bool {
    fn has_list(ty: &Ty) -> bool {
        match ty {
            Ty::List(_) => true,
            Ty::Pair { key, value, .. } => has_list(key) || has_list(value),
            _ => false,
        }
    }
    let struct_fields = model.structs.iter().flat_map(|def| def.fields.iter());
    let method_fields = model.interfaces.iter().flat_map(|interface| {
        interface.methods.iter().flat_map(|method| {
            method.params.iter().chain(&method.results).chain(method.exceptions.iter().map(|exception| &exception.field))
        })
    });
    struct_fields.chain(method_fields).any(|field| has_list(&field.ty))
}

/// Writes the whole module for `model`. `capnp_dir` is the folder, relative
/// to the module's file, that contains capnpc's files.
pub(crate) fn module(model: &Model, capnp_dir: &str) -> String {
    let mut code = Code::new();
    let files: Vec<&str> = model.files.iter().map(|file| file.name.as_str()).collect();
    code.line(format!(
        "// @generated by multiprocess-build {} from {}.",
        env!("CARGO_PKG_VERSION"),
        files.join(", ")
    ));
    code.line("// Do not edit: change the schema and build again, or run mpgen again.");
    code.line("//");
    code.line("// Each interface has a trait, a proxy that implements the trait by calling a");
    code.line("// peer, and a server that serves an implementation of the trait to a peer.");
    code.blank();
    code.line("use ::multiprocess as mp;");
    code.line("#[allow(unused_imports)]");
    code.line("use ::multiprocess::reexports::{capnp, capnp_rpc};");
    code.blank();

    for def in &model.enums {
        code.doc(&format!("Enum `{}` of the schema, as capnpc generates it.", def.rust_name));
        code.line(format!("pub use {};", def.capnp_path));
        code.blank();
    }

    for interface in &model.interfaces {
        interface::write(&mut code, model, interface);
    }
    for def in &model.structs {
        structs::write(&mut code, model, def);
    }
    for note in &model.skipped {
        code.line(format!("// Not generated: {note}."));
    }
    if !model.skipped.is_empty() {
        code.blank();
    }

    if uses_lists(model) {
        code.doc("Converts a list length to the `u32` that Cap'n Proto lists use.");
        code.open("fn list_len(len: usize) -> capnp::Result<u32> {");
        code.line("u32::try_from(len).map_err(|_| capnp::Error::failed(format!(\"a list of {len} elements is too long for Cap'n Proto\")))");
        code.close("}");
        code.blank();
    }

    code.line("// The Cap'n Proto code of each schema file, generated by capnpc.");
    for file in &model.files {
        code.doc(&format!("Cap'n Proto readers, builders and capabilities of `{}`, generated by capnpc.", file.name));
        code.line("#[allow(missing_docs, unused_qualifications, rust_2018_idioms, clippy::all, clippy::pedantic)]");
        code.open(format!("pub mod {} {{", file.module));
        code.line(format!("include!(\"{capnp_dir}/{}.rs\");", file.module));
        code.close("}");
    }

    let mut text = code.into_string();
    while text.ends_with("\n\n") {
        text.pop();
    }
    text
}
