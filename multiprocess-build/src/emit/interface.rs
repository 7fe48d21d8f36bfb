//! The items of one interface: the trait, the types of its methods' results
//! and errors, the client proxy and the server adapter.

use crate::emit::convert::{surround, Conversions};
use crate::emit::{field_type, local_name, native_type, needs_server_context, param_type, passed_by_reference, Code};
use crate::model::{Field, Interface, Method, Model, Presence, Ty};

/// Writes every item of `interface`.
pub(crate) fn write(code: &mut Code, model: &Model, interface: &Interface) {
    code.line(format!("// Interface {} of {}.", interface.schema_name, interface.file));
    code.blank();
    write_trait(code, model, interface);
    for method in &interface.methods {
        write_output_struct(code, model, interface, method);
        write_error_enum(code, model, interface, method);
    }
    write_proxy(code, model, interface);
    write_server(code, model, interface);
}

/// Returns the type a trait method returns.
fn return_type(model: &Model, method: &Method) -> String {
    let value = match (&method.output_struct, method.results.as_slice()) {
        (Some(name), _) => name.clone(),
        (None, []) => "()".to_owned(),
        (None, [field]) => field_type(model, field),
        (None, _) => unreachable!("several results always have an output struct"),
    };
    match &method.error_enum {
        Some(error) => format!("mp::Result<{value}, {error}>"),
        None => format!("mp::Result<{value}>"),
    }
}

/// Returns the parameter list of a trait method, after `&self`.
fn signature(model: &Model, method: &Method, use_locals: bool) -> String {
    let mut text = String::from("&self");
    for param in &method.params {
        let name = if use_locals { local_name(param) } else { param.rust_name.clone() };
        text.push_str(&format!(", {name}: {}", param_type(model, param)));
    }
    text
}

fn write_trait(code: &mut Code, model: &Model, interface: &Interface) {
    code.doc_or(&interface.doc, &format!("The `{}` interface of {}.", interface.schema_name, interface.file));
    code.line("///");
    code.doc(&format!(
        "[`{name}Proxy`] calls an implementation in another process; [`{name}Server`] serves an implementation to one.",
        name = interface.rust_name
    ));
    code.open(format!("pub trait {}: Send + Sync {{", interface.rust_name));
    for (index, method) in interface.methods.iter().enumerate() {
        if index > 0 {
            code.blank();
        }
        code.doc_or(&method.doc, &format!("Calls `{}`, method @{} of the schema.", method.schema_name, method.ordinal));
        if method.context.is_none() {
            code.line("///");
            code.doc("The method has no `Context` parameter, so the server runs it on its event loop thread: it must not block.");
        }
        // Clippy counts `&self`; the schema fixes the parameter list.
        if method.params.len() + 1 > 7 {
            code.line("#[allow(clippy::too_many_arguments)]");
        }
        code.line(format!("fn {}({}) -> {};", method.rust_name, signature(model, method, false), return_type(model, method)));
    }
    code.close("}");
    code.blank();
}

fn derives(model: &Model, fields: &[Field]) -> Option<&'static str> {
    if fields.iter().any(|field| field.ty.holds_interface(model)) {
        None
    } else {
        Some("#[derive(Clone, Debug, PartialEq)]")
    }
}

fn write_output_struct(code: &mut Code, model: &Model, interface: &Interface, method: &Method) {
    let Some(name) = &method.output_struct else { return };
    code.doc(&format!("Results of [`{}::{}`].", interface.rust_name, method.rust_name));
    if let Some(derive) = derives(model, &method.results) {
        code.line(derive);
    }
    code.open(format!("pub struct {name} {{"));
    for field in &method.results {
        code.doc_or(&field.doc, &format!("Result field `{}`.", field.schema_name));
        code.line(format!("pub {}: {},", field.rust_name, field_type(model, field)));
    }
    code.close("}");
    code.blank();
}

fn write_error_enum(code: &mut Code, model: &Model, interface: &Interface, method: &Method) {
    let Some(name) = &method.error_enum else { return };
    code.doc(&format!(
        "Error of [`{}::{}`]: a failed call, or an error that the server returned in a result field marked `$Proxy.exception`.",
        interface.rust_name, method.rust_name
    ));
    code.line("#[derive(Debug)]");
    code.open(format!("pub enum {name} {{"));
    code.doc("The call failed: the connection ended, or the server returned an error of another kind.");
    code.line("Call(mp::Error),");
    for exception in &method.exceptions {
        code.doc(&format!(
            "Sent in result field `{}` (native type `{}` in libmultiprocess).",
            exception.field.schema_name, exception.native_type
        ));
        code.line(format!("{}({}),", exception.variant, native_type(model, &exception.field.ty)));
    }
    code.close("}");
    code.blank();

    code.open(format!("impl std::fmt::Display for {name} {{"));
    code.open("fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {");
    code.open("match self {");
    code.line(format!("{name}::Call(error) => error.fmt(f),"));
    for exception in &method.exceptions {
        let format = if exception.field.ty == Ty::Text { "{value}" } else { "{value:?}" };
        code.line(format!(
            "{name}::{}(value) => write!(f, \"{}: {format}\"),",
            exception.variant, exception.field.schema_name
        ));
    }
    code.close("}");
    code.close("}");
    code.close("}");
    code.blank();

    code.open(format!("impl std::error::Error for {name} {{"));
    code.open("fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {");
    code.open("match self {");
    code.line(format!("{name}::Call(error) => Some(error),"));
    code.line("_ => None,");
    code.close("}");
    code.close("}");
    code.close("}");
    code.blank();

    code.open(format!("impl From<mp::Error> for {name} {{"));
    code.open(format!("fn from(error: mp::Error) -> {name} {{"));
    code.line(format!("{name}::Call(error)"));
    code.close("}");
    code.close("}");
    code.blank();
}

fn write_proxy(code: &mut Code, model: &Model, interface: &Interface) {
    let name = &interface.rust_name;
    let client = format!("{}::Client", interface.capnp_module);

    code.doc(&format!(
        "Calls an implementation of [`{name}`] that a peer serves. Each call blocks the calling thread until the reply."
    ));
    if interface.destroy.is_some() {
        code.line("///");
        code.doc("Dropping the proxy calls `destroy`, so that the peer drops its object.");
    }
    code.open(format!("pub struct {name}Proxy {{"));
    code.line(format!("object: mp::RemoteObject<{client}>,"));
    if interface.construct.is_some() {
        code.line("connection: Option<mp::Connection>,");
    }
    code.close("}");
    code.blank();

    let connection_field = if interface.construct.is_some() { ", connection: None" } else { "" };
    code.open(format!("impl {name}Proxy {{"));
    code.doc("Wraps a capability of the peer.");
    code.open(format!("pub fn new(object: mp::RemoteObject<{client}>) -> {name}Proxy {{"));
    code.line(format!("{name}Proxy {{ object{connection_field} }}"));
    code.close("}");
    code.blank();
    code.doc("Returns the handle of the peer's capability.");
    code.open(format!("pub fn object(&self) -> &mp::RemoteObject<{client}> {{"));
    code.line("&self.object");
    code.close("}");
    if interface.construct.is_some() {
        code.blank();
        code.doc(&format!(
            "Connects over `stream` to a peer that serves `{}` as its bootstrap capability, and calls `construct` \
             to exchange thread maps. `peer_name` appears in errors and logs.",
            interface.schema_name
        ));
        code.open(format!(
            "pub fn connect(event_loop: &mp::EventLoop, stream: mp::Stream, peer_name: &str) -> mp::Result<{name}Proxy> {{"
        ));
        code.line("let connection = mp::Connection::connect(event_loop, stream, peer_name)?;");
        code.line(format!("let object = connection.bootstrap::<{client}>()?;"));
        code.line("connection.construct(&object)?;");
        code.line(format!("Ok({name}Proxy {{ object, connection: Some(connection) }})"));
        code.close("}");
        code.blank();
        code.doc("Returns the connection that [`Self::connect`] made, if the proxy was made that way.");
        code.open("pub fn connection(&self) -> Option<&mp::Connection> {");
        code.line("self.connection.as_ref()");
        code.close("}");
    }
    code.close("}");
    code.blank();

    code.open(format!("impl {name} for {name}Proxy {{"));
    for (index, method) in interface.methods.iter().enumerate() {
        if index > 0 {
            code.blank();
        }
        write_proxy_method(code, model, method);
    }
    code.close("}");
    code.blank();

    if let Some(destroy) = &interface.destroy {
        code.open(format!("impl Drop for {name}Proxy {{"));
        code.open("fn drop(&mut self) {");
        match &destroy.context {
            Some(context) => {
                code.open("self.object.destroy(|client, cx| {");
                code.line("let mut request = client.destroy_request();");
                code.line(format!("cx.set_context(request.get().init_{context}());"));
            }
            None => {
                code.open("self.object.destroy(|client, _cx| {");
                code.line("let request = client.destroy_request();");
            }
        }
        code.open("Ok(async move {");
        code.line("request.send().promise.await?;");
        code.line("Ok(())");
        code.close("})");
        code.close("});");
        code.close("}");
        code.close("}");
        code.blank();
    }
}

/// Returns the statement that copies a borrowed parameter into an owned
/// value that the request builder can take to the event loop thread.
fn owned_copy(model: &Model, param: &Field) -> Option<String> {
    if !passed_by_reference(model, &param.ty) {
        return None;
    }
    let local = local_name(param);
    let optional = param.presence != Presence::Always;
    let copy = match (&param.ty, optional) {
        (Ty::Text, false) => format!("{local}.to_owned()"),
        (Ty::Text, true) => format!("{local}.map(str::to_owned)"),
        (Ty::Data, false) | (Ty::List(_), false) => format!("{local}.to_vec()"),
        (Ty::Data, true) => format!("{local}.map(<[u8]>::to_vec)"),
        (Ty::List(element), true) => format!("{local}.map(<[{}]>::to_vec)", native_type(model, element)),
        (_, false) => format!("{local}.clone()"),
        (_, true) => format!("{local}.cloned()"),
    };
    Some(format!("let {local} = {copy};"))
}

fn write_proxy_method(code: &mut Code, model: &Model, method: &Method) {
    code.open(format!("fn {}({}) -> {} {{", method.rust_name, signature(model, method, true), return_type(model, method)));
    for param in &method.params {
        if let Some(copy) = owned_copy(model, param) {
            code.line(copy);
        }
    }

    let all_fields = method.params.iter().chain(&method.results).chain(method.exceptions.iter().map(|e| &e.field));
    let uses_server = needs_server_context(model, all_fields);
    let conversions = Conversions { model, cx: "server", cx_ref: "&server" };
    let question = if method.error_enum.is_some() { "?" } else { "" };

    let cx = if method.context.is_some() || uses_server { "cx" } else { "_cx" };
    code.open(format!("self.object.call(\"{}\", move |client, {cx}| {{", method.schema_name));
    if uses_server {
        code.line("let server = cx.server();");
    }
    let has_params = method.context.is_some() || !method.params.is_empty();
    if has_params {
        code.line(format!("let mut request = client.{}_request();", method.request_fn));
        code.line("let mut params = request.get();");
    } else {
        code.line(format!("let request = client.{}_request();", method.request_fn));
    }
    if let Some(context) = &method.context {
        code.line(format!("cx.set_context(params.reborrow().init_{context}());"));
    }
    for param in &method.params {
        code.lines(&conversions.write_field(param, &local_name(param), "params"));
    }

    code.open("Ok(async move {");
    if method.results.is_empty() && method.exceptions.is_empty() {
        code.line("request.send().promise.await?;");
        code.line("Ok(())");
    } else {
        code.line("let response = request.send().promise.await?;");
        code.line("let results = response.get()?;");
        let error_enum = method.error_enum.as_deref().unwrap_or_default();
        for exception in &method.exceptions {
            let field = &exception.field;
            code.open(format!("if results.has_{}() {{", field.accessor));
            let value = conversions.read_field(field, "results");
            code.lines(&surround(&format!("return Ok(Err({error_enum}::{}(", exception.variant), value, ")));"));
            code.close("}");
        }
        for field in &method.results {
            let value = conversions.read_field(field, "results");
            code.lines(&surround(&format!("let {}: {} = ", local_name(field), field_type(model, field)), value, ";"));
        }
        let value = result_value(method);
        if method.error_enum.is_some() {
            code.line(format!("Ok(Ok({value}))"));
        } else {
            code.line(format!("Ok({value})"));
        }
    }
    code.close("})");
    code.close(format!("}}){question}"));
    code.close("}");
}

/// Returns the expression that builds a method's return value from the
/// locals of its results.
fn result_value(method: &Method) -> String {
    match (&method.output_struct, method.results.as_slice()) {
        (Some(name), fields) => {
            let inits: Vec<String> = fields
                .iter()
                .map(|field| {
                    let local = local_name(field);
                    if local == field.rust_name {
                        local
                    } else {
                        format!("{}: {local}", field.rust_name)
                    }
                })
                .collect();
            format!("{name} {{ {} }}", inits.join(", "))
        }
        (None, [field]) => local_name(field),
        (None, _) => "()".to_owned(),
    }
}

fn write_server(code: &mut Code, model: &Model, interface: &Interface) {
    let name = &interface.rust_name;
    let module = &interface.capnp_module;

    code.doc(&format!(
        "Serves an implementation of [`{name}`] to a peer. Each call runs on the thread that the call's `Context` names, \
         or on the event loop thread if the method has no `Context`."
    ));
    code.open(format!("pub struct {name}Server {{"));
    code.line("cx: mp::ServerContext,");
    code.line("/// Taken by `destroy`, so that later calls fail.");
    code.line(format!("implementation: std::cell::RefCell<Option<std::sync::Arc<dyn {name}>>>,"));
    code.close("}");
    code.blank();

    code.open(format!("impl {name}Server {{"));
    code.doc("Wraps `implementation` to serve it on the connection of `cx`.");
    code.open(format!("pub fn new(cx: mp::ServerContext, implementation: std::sync::Arc<dyn {name}>) -> {name}Server {{"));
    code.line(format!("{name}Server {{ cx, implementation: std::cell::RefCell::new(Some(implementation)) }}"));
    code.close("}");
    code.blank();
    code.doc(
        "Returns a capability that serves `implementation` on the connection of `cx`, such as the bootstrap \
         capability that `Connection::serve` and `Listener::bind` take.",
    );
    code.open(format!(
        "pub fn client(cx: mp::ServerContext, implementation: std::sync::Arc<dyn {name}>) -> capnp::capability::Client {{"
    ));
    code.line(format!("let client: {module}::Client = capnp_rpc::new_client({name}Server::new(cx, implementation));"));
    code.line("client.client");
    code.close("}");
    code.blank();
    if interface.construct.is_some() {
        code.doc(&format!(
            "Serves `implementation` as the bootstrap capability on `stream`; the peer connects with \
             [`{name}Proxy::connect`]. `peer_name` appears in errors and logs."
        ));
        code.line("pub fn serve(");
        code.line("    event_loop: &mp::EventLoop,");
        code.line("    stream: mp::Stream,");
        code.line("    peer_name: &str,");
        code.line(format!("    implementation: std::sync::Arc<dyn {name}>,"));
        code.open(") -> mp::Result<mp::Connection> {");
        code.line("let options = mp::ConnectionOptions::default();");
        code.line(format!(
            "mp::Connection::serve(event_loop, stream, peer_name, options, move |cx| {name}Server::client(cx, implementation))"
        ));
        code.close("}");
        code.blank();
    }
    code.open(format!("fn implementation(&self) -> capnp::Result<std::sync::Arc<dyn {name}>> {{"));
    code.line("self.implementation");
    code.line("    .borrow()");
    code.line("    .clone()");
    code.line(format!("    .ok_or_else(|| capnp::Error::failed(\"{name}: called after destroy\".to_owned()))"));
    code.close("}");
    code.close("}");
    code.blank();

    code.open(format!("impl {module}::Server for {name}Server {{"));
    let mut first = true;
    let mut separate = |code: &mut Code| {
        if !first {
            code.blank();
        }
        first = false;
    };
    if let Some(construct) = &interface.construct {
        separate(code);
        write_server_header(code, module, construct, true, true);
        code.line("let params = params.get()?;");
        code.line("let peer_thread_map = if params.has_thread_map() { Some(params.get_thread_map()?) } else { None };");
        code.line("results.get().set_thread_map(self.cx.construct(peer_thread_map));");
        code.line("Ok(())");
        code.close("}");
    }
    if let Some(destroy) = &interface.destroy {
        separate(code);
        write_server_header(code, module, destroy, destroy.context.is_some(), false);
        code.line("let implementation = self.implementation.borrow_mut().take();");
        match &destroy.context {
            Some(context) => {
                code.line("let params = params.get()?;");
                code.line("// The implementation is dropped on the thread that the call names.");
                code.open(format!("self.cx.run_on_thread(\"destroy\", params.get_{context}(), move || {{"));
                code.line("drop(implementation);");
                code.line("Ok(())");
                code.close("})");
                code.line(".await");
            }
            None => {
                code.line("drop(implementation);");
                code.line("Ok(())");
            }
        }
        code.close("}");
    }
    for method in &interface.methods {
        separate(code);
        write_server_method(code, model, interface, method);
    }
    code.close("}");
    code.blank();
}

/// Writes the signature of a method of capnpc's `Server` trait.
fn write_server_header(code: &mut Code, module: &str, method: &Method, uses_params: bool, writes_results: bool) {
    let params = if uses_params { "params" } else { "_params" };
    let results = if writes_results { "mut results" } else { "_results" };
    let prefix = &method.capnp_type_prefix;
    code.line(format!("async fn {}(", method.server_fn));
    code.line("    self: std::rc::Rc<Self>,");
    code.line(format!("    {params}: {module}::{prefix}Params,"));
    code.line(format!("    {results}: {module}::{prefix}Results,"));
    code.open(") -> Result<(), capnp::Error> {");
}

/// Returns the argument that passes the local of `param` to the trait method.
fn argument(model: &Model, param: &Field) -> String {
    let local = local_name(param);
    if !passed_by_reference(model, &param.ty) {
        return local;
    }
    match (&param.ty, &param.presence) {
        (_, Presence::Always) => format!("&{local}"),
        (Ty::Text | Ty::Data | Ty::List(_), _) => format!("{local}.as_deref()"),
        _ => format!("{local}.as_ref()"),
    }
}

fn write_server_method(code: &mut Code, model: &Model, interface: &Interface, method: &Method) {
    let conversions = Conversions { model, cx: "self.cx", cx_ref: "&self.cx" };
    let uses_params = method.context.is_some() || !method.params.is_empty();
    let writes_results = !method.results.is_empty() || !method.exceptions.is_empty();
    write_server_header(code, &interface.capnp_module, method, uses_params, writes_results);

    code.line("let implementation = self.implementation()?;");
    if uses_params {
        code.line("let params = params.get()?;");
    }
    for param in &method.params {
        let value = conversions.read_field(param, "params");
        code.lines(&surround(&format!("let {}: {} = ", local_name(param), field_type(model, param)), value, ";"));
    }

    let arguments: Vec<String> = method.params.iter().map(|param| argument(model, param)).collect();
    let mut call = format!("implementation.{}({})", method.rust_name, arguments.join(", "));
    if method.error_enum.is_some() {
        // The job returns the method's own error as a value, to be written
        // into its result field.
        call = format!("Ok({call})");
    }
    let job = match &method.context {
        Some(context) => format!(
            "self.cx.run_on_thread(\"{}\", params.get_{context}(), move || {call}).await",
            method.schema_name
        ),
        None => format!("mp::codegen::run_inline(\"{}\", move || {call})", method.schema_name),
    };
    if !writes_results {
        code.line(job);
        code.close("}");
        return;
    }

    code.line(format!("let output = {job}?;"));
    code.line("let mut results = results.get();");
    match &method.error_enum {
        None => write_results(code, &conversions, method, "output"),
        Some(error_enum) => {
            code.open("match output {");
            code.open("Ok(output) => {");
            write_results(code, &conversions, method, "output");
            code.close("}");
            code.line(format!("Err({error_enum}::Call(error)) => return Err(error.into()),"));
            for exception in &method.exceptions {
                code.open(format!("Err({error_enum}::{}(value)) => {{", exception.variant));
                code.lines(&conversions.write_field(&exception.field, "value", "results"));
                code.close("}");
            }
            code.close("}");
        }
    }
    code.line("Ok(())");
    code.close("}");
}

/// Writes the statements that put a method's return value `output` into the
/// results builder `results`.
fn write_results(code: &mut Code, conversions: &Conversions<'_>, method: &Method, output: &str) {
    match (&method.output_struct, method.results.as_slice()) {
        (Some(name), fields) => {
            let bindings: Vec<String> = fields
                .iter()
                .map(|field| {
                    let local = local_name(field);
                    if local == field.rust_name {
                        local
                    } else {
                        format!("{}: {local}", field.rust_name)
                    }
                })
                .collect();
            code.line(format!("let {name} {{ {} }} = {output};", bindings.join(", ")));
            for field in fields {
                code.lines(&conversions.write_field(field, &local_name(field), "results"));
            }
        }
        (None, [field]) => code.lines(&conversions.write_field(field, output, "results")),
        (None, _) => {}
    }
}
