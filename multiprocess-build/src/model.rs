//! The model of the generated layer, read from a `CodeGeneratorRequest`.
//!
//! This module applies the libmultiprocess conventions. It hides parameters
//! (`context`, `$Proxy.skip`, `$Proxy.count(0)`, `Void`), makes fields optional
//! (`hasX`) or requested (`wantX`), turns result fields into errors
//! (`$Proxy.exception`), renames items (`$Proxy.name`), and sets apart the
//! special methods (`construct`, `destroy`). The emitter only turns the model
//! into text.

use std::collections::{BTreeSet, HashMap, HashSet};

use capnp::schema_capnp::{annotation, brand, code_generator_request, field, node, type_, value};

use crate::names::{capitalize_first, capnpc_module, capnpc_snake, pascal, snake};
use crate::Error;

/// File id of `/mp/proxy.capnp`, fixed by the libmultiprocess wire protocol.
pub(crate) const PROXY_FILE_ID: u64 = 0xcc31_6e3f_71a0_40fb;

/// Ids of the `/mp/proxy.capnp` declarations the generator reads.
#[derive(Debug)]
struct ProxyIds {
    wrap: u64,
    count: u64,
    exception: u64,
    name: u64,
    skip: u64,
    context: u64,
    thread_map: u64,
}

impl ProxyIds {
    /// Takes the ids from the proxy.capnp file node of the request, by
    /// declaration name. Ids derive from the file id and the names, so a file
    /// node that is absent (nothing imports proxy.capnp) leaves the ids that
    /// the declarations have in libmultiprocess.
    fn from_request(nodes: &HashMap<u64, node::Reader<'_>>) -> capnp::Result<ProxyIds> {
        let mut ids = ProxyIds {
            wrap: 0xe6f4_6079_b7b1_405e,
            count: 0xd026_82b3_19f6_9b38,
            exception: 0x996a_1832_0099_2f88,
            name: 0xb594_888f_63f4_dbb9,
            skip: 0x824c_08b8_2695_d8dd,
            context: 0x9c44_e664_5d0b_22c6,
            thread_map: 0xee5e_3717_9ad9_dc9d,
        };
        let Some(file) = nodes.get(&PROXY_FILE_ID) else { return Ok(ids) };
        for nested in file.get_nested_nodes()? {
            let id = nested.get_id();
            match nested.get_name()?.to_str()? {
                "wrap" => ids.wrap = id,
                "count" => ids.count = id,
                "exception" => ids.exception = id,
                "name" => ids.name = id,
                "skip" => ids.skip = id,
                "Context" => ids.context = id,
                "ThreadMap" => ids.thread_map = id,
                _ => {}
            }
        }
        Ok(ids)
    }
}

/// Everything generated into one module: the requested schema files.
#[derive(Debug)]
pub(crate) struct Model {
    /// Requested files in the order given.
    pub(crate) files: Vec<SchemaFile>,
    pub(crate) interfaces: Vec<Interface>,
    pub(crate) structs: Vec<StructDef>,
    pub(crate) enums: Vec<EnumDef>,
    /// Declarations that have no native counterpart, with the reason, for a
    /// comment in the generated code.
    pub(crate) skipped: Vec<String>,
    interface_index: HashMap<u64, usize>,
    enum_index: HashMap<u64, usize>,
    /// Structs that contain an interface, directly or through their fields.
    interface_holders: HashSet<u64>,
    /// Structs whose native type has a `Default`.
    defaultable: HashSet<u64>,
}

/// One requested schema file.
#[derive(Debug)]
pub(crate) struct SchemaFile {
    /// Name as the compiler reports it, relative to a source prefix.
    pub(crate) name: String,
    /// Name of the capnpc module, such as `calculator_capnp`.
    pub(crate) module: String,
}

/// A schema interface and the trait, proxy and server made from it.
#[derive(Debug)]
pub(crate) struct Interface {
    pub(crate) schema_name: String,
    pub(crate) file: String,
    /// Name of the trait; the proxy and server add `Proxy` and `Server`.
    pub(crate) rust_name: String,
    /// Path of the capnpc module, such as `calculator_capnp::calculator_interface`.
    pub(crate) capnp_module: String,
    pub(crate) doc: Option<String>,
    /// Methods of the trait, in declaration order.
    pub(crate) methods: Vec<Method>,
    /// The `destroy` method, called when a proxy is dropped.
    pub(crate) destroy: Option<Method>,
    /// The `construct` method, the connection handshake.
    pub(crate) construct: Option<Method>,
}

/// A schema method.
#[derive(Debug)]
pub(crate) struct Method {
    pub(crate) schema_name: String,
    pub(crate) ordinal: u16,
    /// Name of the trait method.
    pub(crate) rust_name: String,
    /// Name of the method of capnpc's `Server` trait.
    pub(crate) server_fn: String,
    /// Name of capnpc's request builder, without `_request`.
    pub(crate) request_fn: String,
    /// Prefix of capnpc's `…Params` and `…Results` types.
    pub(crate) capnp_type_prefix: String,
    pub(crate) doc: Option<String>,
    /// Accessor stem of the `context :Proxy.Context` parameter. A method
    /// with one runs on a mapped thread, one without on the event loop.
    pub(crate) context: Option<String>,
    /// Parameters the trait method takes.
    pub(crate) params: Vec<Field>,
    /// Result fields the trait method returns.
    pub(crate) results: Vec<Field>,
    /// Result fields marked `$Proxy.exception`: the method's error variants.
    pub(crate) exceptions: Vec<Exception>,
    /// Name of the generated results struct when there are several results.
    pub(crate) output_struct: Option<String>,
    /// Name of the generated error enum when there are exception fields.
    pub(crate) error_enum: Option<String>,
}

/// A parameter, result or struct field.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) schema_name: String,
    /// Name in Rust code: the parameter or struct field name.
    pub(crate) rust_name: String,
    /// Stem of capnpc's accessors: `get_…`, `set_…`, `init_…`, `has_…`.
    pub(crate) accessor: String,
    pub(crate) ty: Ty,
    pub(crate) presence: Presence,
    /// True if the field's type is a generic parameter of its struct, whose
    /// capnpc setters return a `Result` and whose list initializer is `initn_…`.
    pub(crate) generic: bool,
    pub(crate) doc: Option<String>,
    /// Default value from the schema, as a Rust expression.
    pub(crate) default: Option<String>,
}

/// Whether a field always has a value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Presence {
    /// Always present.
    Always,
    /// Present when the companion field `hasX` is true: an `Option`.
    HasFlag {
        /// Accessor stem of the `hasX` field.
        flag_accessor: String,
    },
    /// A result the caller asks for with the `wantX` parameter: an `Option`,
    /// `None` when not asked for.
    Requested {
        /// Rust name of the `wantX` parameter.
        want_param: String,
    },
    /// A struct field of the struct's own type, present when its pointer is
    /// set: an `Option<Box<_>>`.
    Recursive,
}

/// A result field marked `$Proxy.exception`.
#[derive(Clone, Debug)]
pub(crate) struct Exception {
    pub(crate) field: Field,
    /// Variant of the error enum.
    pub(crate) variant: String,
    /// Native type the annotation names (a C++ type in libmultiprocess).
    pub(crate) native_type: String,
}

/// A schema struct that becomes a plain Rust struct.
#[derive(Debug)]
pub(crate) struct StructDef {
    pub(crate) id: u64,
    pub(crate) schema_name: String,
    pub(crate) file: String,
    pub(crate) rust_name: String,
    pub(crate) capnp_module: String,
    pub(crate) doc: Option<String>,
    pub(crate) fields: Vec<Field>,
    /// The `$Proxy.wrap` value, if any.
    pub(crate) wraps: Option<String>,
}

/// A schema enum; capnpc's Rust enum is used as it is.
#[derive(Debug)]
pub(crate) struct EnumDef {
    pub(crate) rust_name: String,
    pub(crate) capnp_path: String,
    /// Variant names in capnpc's spelling, by ordinal.
    pub(crate) variants: Vec<String>,
}

/// The native type of a value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Ty {
    Bool,
    /// An integer or float type, by its Rust name.
    Number(&'static str),
    Text,
    Data,
    Enum(u64),
    List(Box<Ty>),
    Struct(u64),
    /// A generic struct with the fields `key` and `value`: a tuple. A list of
    /// them is how libmultiprocess sends a map.
    Pair {
        key: Box<Ty>,
        value: Box<Ty>,
        key_generic: bool,
        value_generic: bool,
    },
    Interface(u64),
}

impl Ty {
    /// True if the type contains an interface, so values move instead of being
    /// borrowed, and conversions need the connection.
    pub(crate) fn holds_interface(&self, model: &Model) -> bool {
        self.holds_interface_given(&model.interface_holders)
    }

    /// Like [`Ty::holds_interface`], with the structs known to hold one.
    fn holds_interface_given(&self, holders: &HashSet<u64>) -> bool {
        match self {
            Ty::Interface(_) => true,
            Ty::List(element) => element.holds_interface_given(holders),
            Ty::Pair { key, value, .. } => key.holds_interface_given(holders) || value.holds_interface_given(holders),
            Ty::Struct(id) => holders.contains(id),
            _ => false,
        }
    }

    /// True if the native type has a `Default`, given the structs that have one.
    fn is_defaultable_given(&self, defaultable: &HashSet<u64>) -> bool {
        match self {
            Ty::Interface(_) => false,
            Ty::Struct(id) => defaultable.contains(id),
            Ty::Pair { key, value, .. } => key.is_defaultable_given(defaultable) && value.is_defaultable_given(defaultable),
            _ => true,
        }
    }
}

impl StructDef {
    pub(crate) fn holds_interface(&self, model: &Model) -> bool {
        model.interface_holders.contains(&self.id)
    }

    /// True if every field's native type has a `Default`.
    pub(crate) fn is_defaultable(&self, model: &Model) -> bool {
        model.defaultable.contains(&self.id)
    }
}

impl Model {
    pub(crate) fn struct_def(&self, id: u64) -> Option<&StructDef> {
        self.structs.iter().find(|def| def.id == id)
    }

    pub(crate) fn interface(&self, id: u64) -> &Interface {
        &self.interfaces[self.interface_index[&id]]
    }

    pub(crate) fn enum_def(&self, id: u64) -> &EnumDef {
        &self.enums[self.enum_index[&id]]
    }

    /// Computes which structs contain an interface and which have a `Default`.
    /// A struct may contain itself through a list, so both are fixpoints.
    fn compute_struct_properties(&mut self) {
        let mut holders = HashSet::new();
        loop {
            let before = holders.len();
            for def in &self.structs {
                if def.fields.iter().any(|field| field.ty.holds_interface_given(&holders)) {
                    holders.insert(def.id);
                }
            }
            if holders.len() == before {
                break;
            }
        }
        self.interface_holders = holders;

        let mut defaultable: HashSet<u64> = self.structs.iter().map(|def| def.id).collect();
        loop {
            let before = defaultable.len();
            let lacking: Vec<u64> = self
                .structs
                .iter()
                .filter(|def| {
                    def.fields
                        .iter()
                        .any(|field| field.presence == Presence::Always && !field.ty.is_defaultable_given(&defaultable))
                })
                .map(|def| def.id)
                .collect();
            for id in lacking {
                defaultable.remove(&id);
            }
            if defaultable.len() == before {
                break;
            }
        }
        self.defaultable = defaultable;
    }
}

/// Doc comments of a node and of its members (fields, methods, enumerants).
#[derive(Default)]
struct Docs {
    node: Option<String>,
    members: Vec<Option<String>>,
}

/// Reads the request and applies the conventions.
pub(crate) fn read_model(request: code_generator_request::Reader<'_>) -> Result<Model, Error> {
    let mut reader = ModelReader::new(request)?;
    reader.read_files(request)?;
    reader.finish()
}

struct ModelReader<'a> {
    nodes: HashMap<u64, node::Reader<'a>>,
    docs: HashMap<u64, Docs>,
    ids: ProxyIds,
    /// capnpc module path of every node of the requested files.
    paths: HashMap<u64, String>,
    /// Requested file of every node of the requested files.
    node_files: HashMap<u64, String>,
    model: Model,
    /// Structs that failed to convert, with the reason, by id.
    unsupported: HashMap<u64, String>,
    /// Every type a method or a converted struct uses, with where it is used.
    uses: Vec<(Ty, String)>,
}

impl<'a> ModelReader<'a> {
    fn new(request: code_generator_request::Reader<'a>) -> Result<ModelReader<'a>, Error> {
        let mut nodes = HashMap::new();
        for node in request.get_nodes()? {
            nodes.insert(node.get_id(), node);
        }
        let mut docs = HashMap::new();
        for info in request.get_source_info()? {
            let node = if info.has_doc_comment() { Some(info.get_doc_comment()?.to_string()?) } else { None };
            let mut members = Vec::new();
            for member in info.get_members()? {
                members.push(if member.has_doc_comment() { Some(member.get_doc_comment()?.to_string()?) } else { None });
            }
            docs.insert(info.get_id(), Docs { node, members });
        }
        let ids = ProxyIds::from_request(&nodes)?;
        let model = Model {
            files: Vec::new(),
            interfaces: Vec::new(),
            structs: Vec::new(),
            enums: Vec::new(),
            skipped: Vec::new(),
            interface_index: HashMap::new(),
            enum_index: HashMap::new(),
            interface_holders: HashSet::new(),
            defaultable: HashSet::new(),
        };
        Ok(ModelReader {
            nodes,
            docs,
            ids,
            paths: HashMap::new(),
            node_files: HashMap::new(),
            model,
            unsupported: HashMap::new(),
            uses: Vec::new(),
        })
    }

    fn read_files(&mut self, request: code_generator_request::Reader<'a>) -> Result<(), Error> {
        let mut file_ids = Vec::new();
        for file in request.get_requested_files()? {
            let name = file.get_filename()?.to_string()?;
            let stem = std::path::Path::new(&name)
                .file_stem()
                .and_then(|stem| stem.to_str())
                .ok_or_else(|| Error::new(format!("schema file name {name:?} has no stem")))?
                .replace('-', "_");
            let module = format!("{stem}_capnp");
            if self.model.files.iter().any(|other| other.module == module) {
                return Err(Error::new(format!(
                    "two schema files named {stem}.capnp would both become module {module}; rename one"
                )));
            }
            self.record_paths(file.get_id(), module.clone(), &name)?;
            self.model.files.push(SchemaFile { name, module });
            file_ids.push(file.get_id());
        }

        // Enums and structs first: methods refer to them.
        let mut declarations = Vec::new();
        for &file_id in &file_ids {
            self.collect_declarations(file_id, &mut declarations)?;
        }
        for &id in &declarations {
            if let Ok(node::Enum(enum_node)) = self.nodes[&id].which() {
                let mut variants = Vec::new();
                for enumerant in enum_node.get_enumerants()? {
                    variants.push(capitalize_first(enumerant.get_name()?.to_str()?));
                }
                self.model.enum_index.insert(id, self.model.enums.len());
                self.model.enums.push(EnumDef {
                    rust_name: self.short_name(id)?,
                    capnp_path: self.paths[&id].clone(),
                    variants,
                });
            }
        }
        for &id in &declarations {
            if let Ok(node::Interface(_)) = self.nodes[&id].which() {
                self.model.interface_index.insert(id, usize::MAX);
            }
        }
        for &id in &declarations {
            let node = self.nodes[&id];
            if let Ok(node::Struct(struct_node)) = node.which() {
                if struct_node.get_is_group() || node.get_is_generic() || node.get_scope_id() == 0 {
                    continue;
                }
                self.read_struct(id)?;
            }
        }
        for &id in &declarations {
            if let Ok(node::Interface(_)) = self.nodes[&id].which() {
                let interface = self.read_interface(id)?;
                self.model.interface_index.insert(id, self.model.interfaces.len());
                self.model.interfaces.push(interface);
            }
        }
        Ok(())
    }

    /// Records the capnpc module path of `id` and of the nodes nested in it.
    fn record_paths(&mut self, id: u64, path: String, file: &str) -> Result<(), Error> {
        let Some(&node) = self.nodes.get(&id) else { return Ok(()) };
        self.paths.insert(id, path.clone());
        self.node_files.insert(id, file.to_owned());
        for nested in node.get_nested_nodes()? {
            let nested_id = nested.get_id();
            let name = nested.get_name()?.to_str()?;
            let is_enum = matches!(self.nodes.get(&nested_id).map(|n| n.which()), Some(Ok(node::Enum(_))));
            let segment = if is_enum { name.to_owned() } else { capnpc_module(name) };
            self.record_paths(nested_id, format!("{path}::{segment}"), file)?;
        }
        Ok(())
    }

    /// Lists the declarations of a file, nested ones after their parent.
    fn collect_declarations(&self, id: u64, out: &mut Vec<u64>) -> Result<(), Error> {
        let Some(node) = self.nodes.get(&id) else { return Ok(()) };
        for nested in node.get_nested_nodes()? {
            out.push(nested.get_id());
            self.collect_declarations(nested.get_id(), out)?;
        }
        Ok(())
    }

    /// Returns the name of a node without the file and parent scopes.
    fn short_name(&self, id: u64) -> Result<String, Error> {
        let node = self.nodes[&id];
        let display = node.get_display_name()?.to_str()?;
        let short = &display[node.get_display_name_prefix_length() as usize..];
        Ok(short.to_owned())
    }

    /// Returns the schema-qualified name, such as `calculator.capnp:CalculatorInterface`.
    fn display_name(&self, id: u64) -> String {
        self.nodes
            .get(&id)
            .and_then(|node| node.get_display_name().ok())
            .and_then(|name| name.to_string().ok())
            .unwrap_or_else(|| format!("node {id:#x}"))
    }

    fn doc(&self, id: u64) -> Option<String> {
        self.docs.get(&id).and_then(|docs| docs.node.clone())
    }

    fn member_doc(&self, id: u64, index: usize) -> Option<String> {
        self.docs.get(&id).and_then(|docs| docs.members.get(index).cloned().flatten())
    }

    fn text_annotation(&self, annotations: capnp::struct_list::Reader<'_, annotation::Owned>, id: u64) -> Result<Option<String>, Error> {
        for annotation in annotations {
            if annotation.get_id() == id {
                if let value::Text(text) = annotation.get_value()?.which()? {
                    return Ok(Some(text?.to_string()?));
                }
            }
        }
        Ok(None)
    }

    fn has_annotation(&self, annotations: capnp::struct_list::Reader<'_, annotation::Owned>, id: u64) -> bool {
        annotations.iter().any(|annotation| annotation.get_id() == id)
    }

    /// Returns true if the `$Proxy.count` annotation sets zero native parameters.
    fn count_is_zero(&self, annotations: capnp::struct_list::Reader<'_, annotation::Owned>) -> Result<bool, Error> {
        for annotation in annotations {
            if annotation.get_id() == self.ids.count {
                if let value::Int32(count) = annotation.get_value()?.which()? {
                    return Ok(count == 0);
                }
            }
        }
        Ok(false)
    }

    fn read_struct(&mut self, id: u64) -> Result<(), Error> {
        let node = self.nodes[&id];
        let schema_name = self.short_name(id)?;
        let file = self.node_files[&id].clone();
        let wraps = self.text_annotation(node.get_annotations()?, self.ids.wrap)?;
        if self.count_is_zero(node.get_annotations()?)? {
            self.model.skipped.push(format!("struct {schema_name} ({file}): $Proxy.count(0), filled by the runtime"));
            return Ok(());
        }
        match self.read_fields(id, FieldSet::Struct)? {
            Ok(fields) => {
                let fields = fields.into_iter().map(|raw| raw.field).collect();
                let def = StructDef {
                    id,
                    rust_name: schema_name.clone(),
                    schema_name,
                    file,
                    capnp_module: self.paths[&id].clone(),
                    doc: self.doc(id),
                    fields,
                    wraps,
                };
                for field in &def.fields {
                    self.uses.push((field.ty.clone(), format!("field {} of struct {}", field.schema_name, def.schema_name)));
                }
                self.model.structs.push(def);
            }
            Err(reason) => {
                self.model.skipped.push(format!("struct {schema_name} ({file}): {reason}"));
                self.unsupported.insert(id, reason);
            }
        }
        Ok(())
    }

    fn read_interface(&mut self, id: u64) -> Result<Interface, Error> {
        let node = self.nodes[&id];
        let schema_name = self.short_name(id)?;
        let file = self.node_files[&id].clone();
        let node::Interface(interface_node) = node.which()? else { unreachable!("checked by the caller") };
        if node.get_is_generic() {
            return Err(Error::new(format!("{file}: interface {schema_name} is generic, which the generator does not support")));
        }
        if !interface_node.get_superclasses()?.is_empty() {
            return Err(Error::new(format!(
                "{file}: interface {schema_name} extends another interface, which the generator does not support"
            )));
        }
        let rust_name = schema_name.strip_suffix("Interface").filter(|name| !name.is_empty()).unwrap_or(&schema_name).to_owned();
        let mut interface = Interface {
            schema_name: schema_name.clone(),
            file: file.clone(),
            rust_name,
            capnp_module: self.paths[&id].clone(),
            doc: self.doc(id),
            methods: Vec::new(),
            destroy: None,
            construct: None,
        };

        let mut methods: Vec<_> = interface_node.get_methods()?.iter().enumerate().collect();
        methods.sort_by_key(|(_, method)| method.get_code_order());
        for (index, method) in methods {
            let method_name = method.get_name()?.to_string()?;
            let context = format!("{file}: method {schema_name}.{method_name}");
            if !method.get_implicit_parameters()?.is_empty() {
                return Err(Error::new(format!("{context} is generic, which the generator does not support")));
            }
            let rust_name = match self.text_annotation(method.get_annotations()?, self.ids.name)? {
                Some(name) => snake(&name),
                None => snake(&method_name),
            };
            let params = self
                .read_fields(method.get_param_struct_type(), FieldSet::Params)?
                .map_err(|reason| Error::new(format!("{context}: {reason}")))?;
            let results = self
                .read_fields(method.get_result_struct_type(), FieldSet::Results)?
                .map_err(|reason| Error::new(format!("{context}: {reason}")))?;
            let interface_name = interface.rust_name.clone();
            let context_field = self.context_field(method.get_param_struct_type())?;

            let mut method = Method {
                ordinal: index as u16,
                server_fn: capnpc_module(&method_name),
                request_fn: capnpc_snake(&method_name),
                capnp_type_prefix: capitalize_first(&method_name),
                doc: self.member_doc(id, index),
                context: context_field,
                params: Vec::new(),
                results: Vec::new(),
                exceptions: Vec::new(),
                output_struct: None,
                error_enum: None,
                rust_name,
                schema_name: method_name.clone(),
            };
            sort_fields(&mut method, &interface_name, params, results, &context)?;
            for field in method.params.iter().chain(&method.results).chain(method.exceptions.iter().map(|e| &e.field)) {
                self.uses.push((field.ty.clone(), format!("{context}, field {}", field.schema_name)));
            }

            match method_name.as_str() {
                "construct" => {
                    // The runtime's handshake calls method 0 with one ThreadMap each way.
                    if method.ordinal != 0 || !method.params.is_empty() || !method.results.is_empty() {
                        return Err(Error::new(format!(
                            "{context}: construct must be `construct @0 (threadMap :Proxy.ThreadMap) -> (threadMap :Proxy.ThreadMap)`, \
                             the libmultiprocess handshake"
                        )));
                    }
                    interface.construct = Some(method);
                }
                "destroy" => interface.destroy = Some(method),
                _ => interface.methods.push(method),
            }
        }
        Ok(interface)
    }


    /// Returns the accessor stem of a params field of type `Proxy.Context`.
    fn context_field(&self, params_id: u64) -> Result<Option<String>, Error> {
        let Some(node::Struct(params)) = self.nodes.get(&params_id).map(|node| node.which()).transpose()? else {
            return Ok(None);
        };
        for field in params.get_fields()? {
            if let field::Slot(slot) = field.which()? {
                if let type_::Struct(target) = slot.get_type()?.which()? {
                    if target.get_type_id() == self.ids.context {
                        return Ok(Some(capnpc_snake(field.get_name()?.to_str()?)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Reads the fields of a struct, of method params or of method results.
    /// The inner error is the reason the fields have no native counterpart.
    fn read_fields(&self, id: u64, set: FieldSet) -> Result<Result<Vec<RawField>, String>, Error> {
        let node = self.nodes.get(&id).ok_or_else(|| Error::new(format!("the request lacks node {id:#x}")))?;
        let node::Struct(struct_node) = node.which()? else {
            return Ok(Err(format!("{} is not a struct", self.display_name(id))));
        };
        if struct_node.get_discriminant_count() > 0 {
            return Ok(Err("it has a union, which the generator does not support".to_owned()));
        }

        let mut fields: Vec<_> = struct_node.get_fields()?.iter().enumerate().collect();
        fields.sort_by_key(|(_, field)| field.get_code_order());
        let names: BTreeSet<String> =
            fields.iter().map(|(_, field)| field.get_name().ok().and_then(|n| n.to_string().ok()).unwrap_or_default()).collect();

        let mut out: Vec<RawField> = Vec::new();
        let mut flags = Vec::new();
        for (index, field) in fields {
            let schema_name = field.get_name()?.to_string()?;
            let slot = match field.which()? {
                field::Slot(slot) => slot,
                field::Group(_) => return Ok(Err(format!("field {schema_name} is a group, which the generator does not support"))),
            };
            let annotations = field.get_annotations()?;
            if self.has_annotation(annotations, self.ids.skip) || self.count_is_zero(annotations)? {
                continue;
            }
            let field_type = slot.get_type()?;
            if let type_::Void(()) = field_type.which()? {
                continue;
            }
            if self.type_is_hidden(field_type)? {
                continue;
            }
            // A Bool `hasX` beside a field `x` only says whether `x` is set.
            if let Some(target) = schema_name.strip_prefix("has") {
                let target = lower_first(target);
                if matches!(field_type.which()?, type_::Bool(())) && names.contains(&target) && !target.is_empty() {
                    flags.push((target, capnpc_snake(&schema_name)));
                    continue;
                }
            }

            let (ty, generic) = match self.resolve(field_type, &HashMap::new()) {
                Ok(resolved) => resolved,
                Err(reason) => return Ok(Err(format!("field {schema_name}: {reason}"))),
            };
            let presence = if set == FieldSet::Struct && ty == Ty::Struct(id) { Presence::Recursive } else { Presence::Always };
            let rust_name = match self.text_annotation(annotations, self.ids.name)? {
                Some(name) => snake(&name),
                None => snake(&schema_name),
            };
            let default = if slot.get_had_explicit_default() { default_value(slot.get_default_value()?, &ty, self)? } else { None };
            let exception = match set {
                FieldSet::Results => self.text_annotation(annotations, self.ids.exception)?,
                _ => None,
            };
            out.push(RawField {
                field: Field {
                    accessor: capnpc_snake(&schema_name),
                    schema_name,
                    rust_name,
                    ty,
                    presence,
                    generic,
                    doc: self.member_doc(id, index),
                    default,
                },
                exception,
            });
        }

        for (target, flag_accessor) in flags {
            if let Some(raw) = out.iter_mut().find(|raw| raw.field.schema_name == target) {
                raw.field.presence = Presence::HasFlag { flag_accessor };
            }
        }
        Ok(Ok(out))
    }

    /// Returns true for types that the runtime fills and the trait hides:
    /// `Proxy.Context`, `Proxy.ThreadMap`, and types marked `$Proxy.count(0)`.
    fn type_is_hidden(&self, field_type: type_::Reader<'_>) -> Result<bool, Error> {
        let id = match field_type.which()? {
            type_::Struct(target) => target.get_type_id(),
            type_::Interface(target) => target.get_type_id(),
            _ => return Ok(false),
        };
        if id == self.ids.context || id == self.ids.thread_map {
            return Ok(true);
        }
        match self.nodes.get(&id) {
            Some(node) => self.count_is_zero(node.get_annotations()?),
            None => Ok(false),
        }
    }

    /// Converts a schema type to a native type. `bindings` gives the types
    /// bound to the generic parameters in scope, by (scope id, index). The
    /// flag is true when the type came from a generic parameter.
    fn resolve(&self, field_type: type_::Reader<'_>, bindings: &HashMap<(u64, u16), Ty>) -> Result<(Ty, bool), String> {
        let which = field_type.which().map_err(|error| error.to_string())?;
        let ty = match which {
            type_::Void(()) => return Err("Void is only allowed as a hidden parameter".to_owned()),
            type_::Bool(()) => Ty::Bool,
            type_::Int8(()) => Ty::Number("i8"),
            type_::Int16(()) => Ty::Number("i16"),
            type_::Int32(()) => Ty::Number("i32"),
            type_::Int64(()) => Ty::Number("i64"),
            type_::Uint8(()) => Ty::Number("u8"),
            type_::Uint16(()) => Ty::Number("u16"),
            type_::Uint32(()) => Ty::Number("u32"),
            type_::Uint64(()) => Ty::Number("u64"),
            type_::Float32(()) => Ty::Number("f32"),
            type_::Float64(()) => Ty::Number("f64"),
            type_::Text(()) => Ty::Text,
            type_::Data(()) => Ty::Data,
            type_::List(list) => {
                let element = list.get_element_type().map_err(|error| error.to_string())?;
                let (element, _) = self.resolve(element, bindings)?;
                Ty::List(Box::new(element))
            }
            type_::Enum(target) => {
                let id = target.get_type_id();
                if !self.model.enum_index.contains_key(&id) {
                    return Err(self.outside_error(id));
                }
                Ty::Enum(id)
            }
            type_::Struct(target) => {
                let id = target.get_type_id();
                let node = self.nodes.get(&id).ok_or_else(|| format!("the request lacks struct {id:#x}"))?;
                if node.get_is_generic() {
                    let brand = target.get_brand().map_err(|error| error.to_string())?;
                    return self.resolve_pair(id, brand, bindings).map(|ty| (ty, false));
                }
                if !self.paths.contains_key(&id) {
                    return Err(self.outside_error(id));
                }
                Ty::Struct(id)
            }
            type_::Interface(target) => {
                let id = target.get_type_id();
                if !self.model.interface_index.contains_key(&id) {
                    return Err(self.outside_error(id));
                }
                Ty::Interface(id)
            }
            type_::AnyPointer(pointer) => match pointer.which().map_err(|error| error.to_string())? {
                type_::any_pointer::Parameter(parameter) => {
                    let key = (parameter.get_scope_id(), parameter.get_parameter_index());
                    let ty = bindings.get(&key).cloned().ok_or_else(|| "a generic parameter is left unbound".to_owned())?;
                    return Ok((ty, true));
                }
                _ => return Err("AnyPointer has no native type; give the field a concrete type".to_owned()),
            },
        };
        Ok((ty, false))
    }

    /// Converts a use of a generic struct with the fields `key` and `value`
    /// to a tuple type.
    fn resolve_pair(&self, id: u64, brand: brand::Reader<'_>, outer: &HashMap<(u64, u16), Ty>) -> Result<Ty, String> {
        let node = self.nodes[&id];
        let name = self.display_name(id);
        let unsupported = || format!("generic struct {name} is not supported; only pairs with the fields `key` and `value` are");
        let node::Struct(pair) = node.which().map_err(|error| error.to_string())? else { return Err(unsupported()) };
        let fields = pair.get_fields().map_err(|error| error.to_string())?;
        if fields.len() != 2 || pair.get_discriminant_count() > 0 {
            return Err(unsupported());
        }

        let mut bindings = HashMap::new();
        for scope in brand.get_scopes().map_err(|error| error.to_string())? {
            let scope_id = scope.get_scope_id();
            if let brand::scope::Bind(list) = scope.which().map_err(|error| error.to_string())? {
                for (index, binding) in list.map_err(|error| error.to_string())?.iter().enumerate() {
                    if let brand::binding::Type(bound) = binding.which().map_err(|error| error.to_string())? {
                        let (ty, _) = self.resolve(bound.map_err(|error| error.to_string())?, outer)?;
                        bindings.insert((scope_id, index as u16), ty);
                    }
                }
            }
        }

        let mut key = None;
        let mut value = None;
        for field in fields {
            let field_name = field.get_name().map_err(|error| error.to_string())?.to_str().map_err(|error| error.to_string())?;
            let field::Slot(slot) = field.which().map_err(|error| error.to_string())? else { return Err(unsupported()) };
            let resolved = self.resolve(slot.get_type().map_err(|error| error.to_string())?, &bindings)?;
            match field_name {
                "key" => key = Some(resolved),
                "value" => value = Some(resolved),
                _ => return Err(unsupported()),
            }
        }
        let ((key, key_generic), (value, value_generic)) = key.zip(value).ok_or_else(unsupported)?;
        if matches!(key, Ty::Interface(_)) || matches!(value, Ty::Interface(_)) {
            return Err(format!("{name} contains an interface, which the generator does not support in a pair"));
        }
        Ok(Ty::Pair { key: Box::new(key), value: Box::new(value), key_generic, value_generic })
    }

    fn outside_error(&self, id: u64) -> String {
        format!(
            "type {} is declared in a schema file that is not compiled with this one; pass that file to compile() too",
            self.display_name(id)
        )
    }

    /// Checks every type in use, and returns the model.
    fn finish(mut self) -> Result<Model, Error> {
        self.model.compute_struct_properties();
        for (ty, context) in &self.uses {
            self.check_type(ty, context)?;
        }
        self.check_names()?;
        Ok(self.model)
    }

    fn check_type(&self, ty: &Ty, context: &str) -> Result<(), Error> {
        match ty {
            Ty::Struct(id) => {
                if let Some(reason) = self.unsupported.get(id) {
                    return Err(Error::new(format!("{context}: struct {} has no native type: {reason}", self.display_name(*id))));
                }
                if self.model.struct_def(*id).is_none() {
                    return Err(Error::new(format!(
                        "{context}: struct {} has no native type: it is hidden with $Proxy.count(0) or nested in a method",
                        self.display_name(*id)
                    )));
                }
                Ok(())
            }
            Ty::List(element) => self.check_type(element, context),
            Ty::Pair { key, value, .. } => {
                self.check_type(key, context)?;
                self.check_type(value, context)
            }
            _ => Ok(()),
        }
    }

    /// Rejects two generated items with one name.
    fn check_names(&self) -> Result<(), Error> {
        let mut seen: HashMap<String, String> = HashMap::new();
        let mut claim = |name: String, owner: String| -> Result<(), Error> {
            if let Some(previous) = seen.insert(name.clone(), owner.clone()) {
                return Err(Error::new(format!(
                    "{owner} and {previous} would both generate the Rust item {name}; every compiled file goes into one module, \
                     so rename one of them in the schema"
                )));
            }
            Ok(())
        };
        for interface in &self.model.interfaces {
            let owner = format!("interface {} ({})", interface.schema_name, interface.file);
            claim(interface.rust_name.clone(), owner.clone())?;
            claim(format!("{}Proxy", interface.rust_name), owner.clone())?;
            claim(format!("{}Server", interface.rust_name), owner.clone())?;
            for method in &interface.methods {
                let owner = format!("method {}.{}", interface.schema_name, method.schema_name);
                if let Some(name) = &method.output_struct {
                    claim(name.clone(), owner.clone())?;
                }
                if let Some(name) = &method.error_enum {
                    claim(name.clone(), owner.clone())?;
                }
            }
        }
        for def in &self.model.structs {
            claim(def.rust_name.clone(), format!("struct {} ({})", def.schema_name, def.file))?;
        }
        for def in &self.model.enums {
            claim(def.rust_name.clone(), format!("enum {}", def.capnp_path))?;
        }
        for file in &self.model.files {
            claim(file.module.clone(), format!("schema file {}", file.name))?;
        }
        Ok(())
    }
}

/// Which kind of struct a field list belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldSet {
    Struct,
    Params,
    Results,
}

/// A field as read, before the fields of a method are sorted.
struct RawField {
    field: Field,
    /// The `$Proxy.exception` value of a result field.
    exception: Option<String>,
}

/// Splits a method's fields into parameters, results and exceptions,
/// applies `wantX`, and names the results struct and error enum.
fn sort_fields(
    method: &mut Method,
    interface_name: &str,
    params: Vec<RawField>,
    results: Vec<RawField>,
    context: &str,
) -> Result<(), Error> {
    let params: Vec<Field> = params.into_iter().map(|raw| raw.field).collect();
    for raw in results {
        let mut field = raw.field;
        if let Some(native_type) = raw.exception {
            let detectable = matches!(field.ty, Ty::Text | Ty::Data | Ty::List(_) | Ty::Struct(_));
            if !detectable || field.presence != Presence::Always {
                return Err(Error::new(format!(
                    "{context}: exception field {} must be a Text, Data, List or struct field without a has-flag, \
                     so that the caller can tell whether it is set",
                    field.schema_name
                )));
            }
            method.exceptions.push(Exception { variant: pascal(&field.rust_name), native_type, field });
            continue;
        }

        let want = format!("want{}", capitalize_first(&field.schema_name));
        if let Some(param) = params.iter().find(|param| param.schema_name == want && param.ty == Ty::Bool) {
            if field.presence != Presence::Always {
                return Err(Error::new(format!(
                    "{context}: result {} has both a {want} parameter and a has-flag",
                    field.schema_name
                )));
            }
            field.presence = Presence::Requested { want_param: param.rust_name.clone() };
        }
        method.results.push(field);
    }
    if method.exceptions.iter().any(|exception| exception.variant == "Call") {
        return Err(Error::new(format!(
            "{context}: an exception field named `call` clashes with the error variant for failed calls; rename it with $Proxy.name"
        )));
    }

    method.params = params;
    if method.results.len() > 1 {
        method.output_struct = Some(format!("{interface_name}{}Output", pascal(&method.rust_name)));
    }
    if !method.exceptions.is_empty() {
        method.error_enum = Some(format!("{interface_name}{}Error", pascal(&method.rust_name)));
    }
    Ok(())
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Returns a schema default value as a Rust expression of the native type,
/// or `None` where the native type's own default is right.
fn default_value(value: value::Reader<'_>, ty: &Ty, reader: &ModelReader<'_>) -> Result<Option<String>, Error> {
    let text = match value.which()? {
        // A default equal to the native type's own default needs no expression.
        value::Bool(false) | value::Int8(0) | value::Int16(0) | value::Int32(0) | value::Int64(0) => return Ok(None),
        value::Uint8(0) | value::Uint16(0) | value::Uint32(0) | value::Uint64(0) => return Ok(None),
        value::Float32(v) if v == 0.0 && v.is_sign_positive() => return Ok(None),
        value::Float64(v) if v == 0.0 && v.is_sign_positive() => return Ok(None),
        value::Bool(v) => v.to_string(),
        value::Int8(v) => format!("{v}"),
        value::Int16(v) => format!("{v}"),
        value::Int32(v) => format!("{v}"),
        value::Int64(v) => format!("{v}"),
        value::Uint8(v) => format!("{v}"),
        value::Uint16(v) => format!("{v}"),
        value::Uint32(v) => format!("{v}"),
        value::Uint64(v) => format!("{v}"),
        value::Float32(v) => float_literal(f64::from(v), "f32"),
        value::Float64(v) => float_literal(v, "f64"),
        value::Text(v) => {
            let text = v?.to_str()?;
            if text.is_empty() {
                return Ok(None);
            }
            format!("{text:?}.to_owned()")
        }
        value::Data(v) => {
            let data = v?;
            if data.is_empty() {
                return Ok(None);
            }
            format!("vec!{data:?}")
        }
        value::Enum(ordinal) => match ty {
            Ty::Enum(id) => {
                let def = reader.model.enum_def(*id);
                let variant = def
                    .variants
                    .get(ordinal as usize)
                    .ok_or_else(|| Error::new(format!("default enumerant {ordinal} is out of range for {}", def.rust_name)))?;
                format!("{}::{variant}", def.rust_name)
            }
            _ => return Ok(None),
        },
        // TODO: defaults of list and struct fields are not applied to the native type.
        _ => return Ok(None),
    };
    Ok(Some(text))
}

fn float_literal(value: f64, ty: &str) -> String {
    if value.is_nan() {
        format!("{ty}::NAN")
    } else if value == f64::INFINITY {
        format!("{ty}::INFINITY")
    } else if value == f64::NEG_INFINITY {
        format!("{ty}::NEG_INFINITY")
    } else if ty == "f32" {
        format!("{:?}_f32", value as f32)
    } else {
        format!("{value:?}_f64")
    }
}
