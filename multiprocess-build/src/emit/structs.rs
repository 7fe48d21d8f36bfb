//! The plain Rust struct of a schema struct, with its conversions from a
//! reader and to a builder.

use crate::emit::convert::{surround, Conversions};
use crate::emit::{field_type, Code};
use crate::model::{Field, Model, Presence, StructDef, Ty};

/// Writes the struct, its `Default` where every field has one, and its conversions.
pub(crate) fn write(code: &mut Code, model: &Model, def: &StructDef) {
    let name = &def.rust_name;
    let module = &def.capnp_module;
    let holds_interface = def.holds_interface(model);

    let origin = match &def.wraps {
        Some(wraps) => format!("Native form of struct `{}` of {} (`$Proxy.wrap(\"{wraps}\")`).", def.schema_name, def.file),
        None => format!("Native form of struct `{}` of {}.", def.schema_name, def.file),
    };
    match &def.doc {
        Some(doc) if !doc.trim().is_empty() => {
            code.doc(doc);
            code.line("///");
            code.doc(&origin);
        }
        _ => code.doc(&origin),
    }
    let defaultable = def.is_defaultable(model);
    let custom_default = defaultable && def.fields.iter().any(|field| default_expression(model, field).is_some());
    if !holds_interface {
        if defaultable && !custom_default {
            code.line("#[derive(Clone, Debug, Default, PartialEq)]");
        } else {
            code.line("#[derive(Clone, Debug, PartialEq)]");
        }
    }
    code.open(format!("pub struct {name} {{"));
    for field in &def.fields {
        code.doc_or(&field.doc, &format!("Field `{}`.", field.schema_name));
        code.line(format!("pub {}: {},", field.rust_name, field_type(model, field)));
    }
    code.close("}");
    code.blank();

    if custom_default {
        code.doc("Returns the struct with the schema's default values.");
        code.open(format!("impl Default for {name} {{"));
        code.open(format!("fn default() -> {name} {{"));
        code.open(format!("{name} {{"));
        for field in &def.fields {
            let value = default_expression(model, field).unwrap_or_else(|| "Default::default()".to_owned());
            code.line(format!("{}: {value},", field.rust_name));
        }
        code.close("}");
        code.close("}");
        code.close("}");
        code.blank();
    }

    let conversions = Conversions { model, cx: "cx", cx_ref: "cx" };
    let cx_param = if holds_interface { "cx: &mp::ServerContext, " } else { "" };
    let reader = if def.fields.is_empty() { "_reader" } else { "reader" };
    let builder = if def.fields.is_empty() { "_builder" } else { "mut builder" };
    let receiver = if holds_interface { "self" } else { "&self" };

    code.open(format!("impl {name} {{"));
    code.doc(&format!("Reads a `{}` message.", def.schema_name));
    code.open(format!("pub fn read({cx_param}{reader}: {module}::Reader<'_>) -> capnp::Result<{name}> {{"));
    code.open(format!("Ok({name} {{"));
    for field in &def.fields {
        let value = conversions.read_field(field, "reader");
        code.lines(&surround(&format!("{}: ", field.rust_name), value, ","));
    }
    code.close("})");
    code.close("}");
    code.blank();
    code.doc(&format!("Writes the fields into a `{}` message.", def.schema_name));
    code.open(format!("pub fn write({receiver}, {cx_param}{builder}: {module}::Builder<'_>) -> capnp::Result<()> {{"));
    for field in &def.fields {
        code.lines(&conversions.write_field(field, &format!("self.{}", field.rust_name), "builder"));
    }
    code.line("Ok(())");
    code.close("}");
    code.close("}");
    code.blank();

    if !holds_interface {
        code.open(format!("impl TryFrom<{module}::Reader<'_>> for {name} {{"));
        code.line("type Error = capnp::Error;");
        code.blank();
        code.open(format!("fn try_from(reader: {module}::Reader<'_>) -> capnp::Result<{name}> {{"));
        code.line(format!("{name}::read(reader)"));
        code.close("}");
        code.close("}");
        code.blank();
    }
}

/// Returns the default of a field when it is not `Default::default()`: the
/// schema's default, or the first variant of an enum.
fn default_expression(model: &Model, field: &Field) -> Option<String> {
    if field.presence != Presence::Always {
        return None;
    }
    if let Some(value) = &field.default {
        return Some(value.clone());
    }
    match &field.ty {
        Ty::Enum(id) => {
            let def = model.enum_def(*id);
            def.variants.first().map(|variant| format!("{}::{variant}", def.rust_name))
        }
        _ => None,
    }
}
