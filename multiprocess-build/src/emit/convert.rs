//! Code that moves values between native Rust types and Cap'n Proto readers
//! and builders.
//!
//! Reads are expressions (a list of lines, the later ones indented relative
//! to the first); writes are statements. A value to write is given as an
//! expression of type `&T`, or of type `T` when it contains an interface, which
//! must move into the server that exports it.

use crate::emit::{local_for, native_type};
use crate::model::{Field, Model, Presence, Ty};

/// Expressions of the connection's `ServerContext`, for importing and
/// exporting interfaces.
#[derive(Clone, Copy)]
pub(crate) struct Conversions<'a> {
    pub(crate) model: &'a Model,
    /// An expression of type `ServerContext` or `&ServerContext`, for method calls.
    pub(crate) cx: &'a str,
    /// An expression of type `&ServerContext`, to pass on.
    pub(crate) cx_ref: &'a str,
}

/// The destination of a written value.
pub(crate) enum Target<'a> {
    /// A field of a struct builder, set with `set_…` or `init_…`.
    Field { builder: &'a str, accessor: &'a str, generic: bool },
    /// An element of a list builder.
    Element { list: &'a str, index: &'a str },
}

/// True if capnpc's getter for a field of this type returns a `Result`.
pub(crate) fn getter_is_fallible(ty: &Ty) -> bool {
    !matches!(ty, Ty::Bool | Ty::Number(_))
}

/// True if iterating a list of this type yields `Result`s.
fn element_is_fallible(ty: &Ty) -> bool {
    !matches!(ty, Ty::Bool | Ty::Number(_) | Ty::Struct(_) | Ty::Pair { .. })
}

/// Wraps lines in a block, indenting them.
fn block(inner: Vec<String>) -> Vec<String> {
    let mut lines = vec!["{".to_owned()];
    lines.extend(inner.into_iter().map(|line| indent(&line)));
    lines.push("}".to_owned());
    lines
}

/// Removes the braces of a block, so that its statements can stand in a
/// loop body of their own.
fn unblock(lines: Vec<String>) -> Vec<String> {
    let is_block = lines.len() >= 2 && lines.first().is_some_and(|line| line == "{") && lines.last().is_some_and(|line| line == "}");
    if !is_block {
        return lines;
    }
    lines[1..lines.len() - 1].iter().map(|line| line.strip_prefix("    ").unwrap_or(line).to_owned()).collect()
}

fn indent(line: &str) -> String {
    if line.is_empty() {
        String::new()
    } else {
        format!("    {line}")
    }
}

/// Puts `prefix` before the first line of an expression and `suffix` after its last.
pub(crate) fn surround(prefix: &str, mut expression: Vec<String>, suffix: &str) -> Vec<String> {
    if let Some(first) = expression.first_mut() {
        *first = format!("{prefix}{first}");
    }
    if let Some(last) = expression.last_mut() {
        last.push_str(suffix);
    }
    expression
}

/// Dereferences a `&T` expression of a `Copy` type, without writing `*&x`.
fn deref(value: &str) -> String {
    match value.strip_prefix('&') {
        Some(place) => place.to_owned(),
        None => format!("*{value}"),
    }
}

/// Returns a place expression for method calls on a `&T` or `T` expression.
fn place(value: &str) -> &str {
    value.strip_prefix('&').unwrap_or(value)
}

impl Conversions<'_> {
    fn struct_name(&self, id: u64) -> String {
        native_type(self.model, &Ty::Struct(id))
    }

    /// Returns an expression that reads a value of `ty` from `source`, whose
    /// type is `Result<Reader>` when `fallible`, else the reader or value
    /// itself. `name` names the field in errors.
    pub(crate) fn read(&self, ty: &Ty, source: &str, fallible: bool, name: &str) -> Vec<String> {
        let question = if fallible { "?" } else { "" };
        match ty {
            Ty::Bool | Ty::Number(_) => vec![source.to_owned()],
            Ty::Enum(_) => vec![format!("{source}?")],
            Ty::Text => vec![format!("mp::read_text(\"{name}\", {source})?")],
            Ty::Data => vec![format!("{source}?.to_vec()")],
            Ty::Struct(id) => {
                let name = self.struct_name(*id);
                if ty.holds_interface(self.model) {
                    vec![format!("{name}::read({}, {source}{question})?", self.cx_ref)]
                } else {
                    vec![format!("{name}::read({source}{question})?")]
                }
            }
            Ty::Interface(id) => {
                let interface = self.model.interface(*id);
                vec![format!("Box::new({}Proxy::new({}.import({source}?)?))", interface.rust_name, self.cx)]
            }
            Ty::List(element) => {
                let element_type = native_type(self.model, element);
                let item = self.read(element, "item", element_is_fallible(element), name);
                let mut inner = vec![
                    format!("let list = {source}?;"),
                    format!("let mut items: Vec<{element_type}> = Vec::with_capacity(list.len() as usize);"),
                    "for item in list.iter() {".to_owned(),
                ];
                inner.extend(surround("items.push(", item, ");").iter().map(|line| indent(line)));
                inner.push("}".to_owned());
                inner.push("items".to_owned());
                block(inner)
            }
            Ty::Pair { key, value, .. } => {
                // A pair from a list is a reader already; a pair field is a `Result`.
                let pair = if fallible { "pair" } else { source };
                let key = self.read(key, &format!("{pair}.get_key()"), getter_is_fallible(key), name);
                let value = self.read(value, &format!("{pair}.get_value()"), getter_is_fallible(value), name);
                let mut tuple = surround("(", key, ", ");
                let value = surround("", value, ")");
                let last = tuple.pop().unwrap_or_default();
                tuple.extend(surround(&last, value, ""));
                if fallible {
                    let mut inner = vec![format!("let pair = {source}?;")];
                    inner.extend(tuple);
                    block(inner)
                } else {
                    tuple
                }
            }
        }
    }

    /// Returns an expression that reads `field` from the reader `reader`,
    /// wrapped in an `Option` when the field's presence is optional.
    pub(crate) fn read_field(&self, field: &Field, reader: &str) -> Vec<String> {
        let accessor = &field.accessor;
        let getter = format!("{reader}.get_{accessor}()");
        let value = self.read(&field.ty, &getter, getter_is_fallible(&field.ty), &field.schema_name);
        let condition = match &field.presence {
            Presence::Always => return value,
            Presence::HasFlag { flag_accessor } => format!("{reader}.get_{flag_accessor}()"),
            Presence::Requested { want_param } => local_for(want_param),
            Presence::Recursive => format!("{reader}.has_{accessor}()"),
        };
        let value = match field.presence {
            Presence::Recursive => surround("Some(Box::new(", value, "))"),
            _ => surround("Some(", value, ")"),
        };
        let mut lines = vec![format!("if {condition} {{")];
        lines.extend(value.iter().map(|line| indent(line)));
        lines.push("} else {".to_owned());
        lines.push("    None".to_owned());
        lines.push("}".to_owned());
        lines
    }

    /// Returns statements that write `value` (see the module doc) to `target`.
    pub(crate) fn write(&self, ty: &Ty, value: &str, target: &Target<'_>) -> Vec<String> {
        match (ty, target) {
            (Ty::Bool | Ty::Number(_) | Ty::Enum(_), Target::Field { builder, accessor, .. }) => {
                vec![format!("{builder}.set_{accessor}({});", deref(value))]
            }
            (Ty::Bool | Ty::Number(_) | Ty::Enum(_), Target::Element { list, index }) => {
                vec![format!("{list}.set({index}, {});", deref(value))]
            }
            (Ty::Text | Ty::Data, Target::Field { builder, accessor, generic }) => {
                let question = if *generic { "?" } else { "" };
                vec![format!("{builder}.set_{accessor}(&{}[..]){question};", place(value))]
            }
            (Ty::Text | Ty::Data, Target::Element { list, index }) => {
                vec![format!("{list}.set({index}, &{}[..]);", place(value))]
            }
            (Ty::Struct(_), _) => {
                let builder = match target {
                    Target::Field { builder, accessor, .. } => format!("{builder}.reborrow().init_{accessor}()"),
                    Target::Element { list, index } => format!("{list}.reborrow().get({index})"),
                };
                if ty.holds_interface(self.model) {
                    vec![format!("{}.write({}, {builder})?;", place(value), self.cx_ref)]
                } else {
                    vec![format!("{}.write({builder})?;", place(value))]
                }
            }
            (Ty::List(element), _) => {
                let length = format!("list_len({}.len())?", place(value));
                let init = match target {
                    Target::Field { builder, accessor, generic: false } => format!("{builder}.reborrow().init_{accessor}({length})"),
                    Target::Field { builder, accessor, generic: true } => format!("{builder}.reborrow().initn_{accessor}({length})"),
                    Target::Element { list, index } => format!("{list}.reborrow().init({index}, {length})"),
                };
                let items = if element.holds_interface(self.model) {
                    value.to_owned()
                } else {
                    format!("{}.iter()", place(value))
                };
                let mut inner = vec![
                    format!("let mut list = {init};"),
                    format!("for (index, item) in (0u32..).zip({items}) {{"),
                ];
                let item = unblock(self.write(element, "item", &Target::Element { list: "list", index: "index" }));
                inner.extend(item.iter().map(|line| indent(line)));
                inner.push("}".to_owned());
                block(inner)
            }
            (Ty::Pair { key, value: value_type, key_generic, value_generic }, _) => {
                let builder = match target {
                    Target::Field { builder, accessor, .. } => format!("{builder}.reborrow().init_{accessor}()"),
                    Target::Element { list, index } => format!("{list}.reborrow().get({index})"),
                };
                let mut inner = vec![format!("let (key, value) = {value};"), format!("let mut pair = {builder};")];
                inner.extend(self.write(key, "key", &Target::Field { builder: "pair", accessor: "key", generic: *key_generic }));
                inner.extend(self.write(
                    value_type,
                    "value",
                    &Target::Field { builder: "pair", accessor: "value", generic: *value_generic },
                ));
                block(inner)
            }
            (Ty::Interface(id), _) => {
                let interface = self.model.interface(*id);
                let server = format!(
                    "capnp_rpc::new_client({}Server::new({}.clone(), std::sync::Arc::from({value})))",
                    interface.rust_name, self.cx
                );
                match target {
                    Target::Field { builder, accessor, .. } => vec![format!("{builder}.set_{accessor}({server});")],
                    Target::Element { list, index } => block(vec![
                        format!("let client: {}::Client = {server};", interface.capnp_module),
                        format!("{list}.set({index}, client.client.hook);"),
                    ]),
                }
            }
        }
    }

    /// Returns statements that write `field` from the local variable or place
    /// `local` (which contains the field's native type, with its `Option`) to the
    /// builder `builder`, setting a `hasX` flag where there is one.
    pub(crate) fn write_field(&self, field: &Field, local: &str, builder: &str) -> Vec<String> {
        let moves = field.ty.holds_interface(self.model);
        let target = Target::Field { builder, accessor: &field.accessor, generic: field.generic };
        if field.presence == Presence::Always {
            let value = if moves { local.to_owned() } else { format!("&{local}") };
            return self.write(&field.ty, &value, &target);
        }

        let binding = local_for(&field.rust_name);
        let binding = binding.as_str();
        let source = if moves { local.to_owned() } else { format!("&{local}") };
        let mut lines = vec![format!("if let Some({binding}) = {source} {{")];
        lines.extend(self.write(&field.ty, binding, &target).iter().map(|line| indent(line)));
        if let Presence::HasFlag { flag_accessor } = &field.presence {
            lines.push(indent(&format!("{builder}.set_{flag_accessor}(true);")));
        }
        lines.push("}".to_owned());
        lines
    }
}
