//! Name conversions: the names capnpc gives to the items it generates, which
//! the generated layer must call, and the Rust names of the layer's own items.

/// Words that capnpc suffixes with `_` when they would be a module or method name.
const CAPNPC_KEYWORDS: &[&str] = &[
    "abstract", "alignof", "as", "be", "become", "box", "break", "const", "continue", "crate", "do", "else", "enum",
    "extern", "false", "final", "fn", "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod", "move", "mut",
    "offsetof", "once", "override", "priv", "proc", "pub", "pure", "ref", "return", "self", "sizeof", "static",
    "struct", "super", "trait", "true", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while",
    "yield",
];

/// Rust keywords (2021 edition, strict and reserved) that cannot name a
/// function, field or parameter.
const RUST_KEYWORDS: &[&str] = &[
    "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn", "else",
    "enum", "extern", "false", "final", "fn", "for", "if", "impl", "in", "let", "loop", "macro", "match", "mod",
    "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while", "yield",
];

/// Converts a camelCase schema name the way capnpc does for accessors
/// (`get_…`, `set_…`) and `…_request` methods: an underscore before every
/// uppercase letter but the first, then lowercase.
pub(crate) fn capnpc_snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (index, c) in name.chars().enumerate() {
        if c.is_uppercase() && index > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Converts a schema name the way capnpc names modules and server methods:
/// [`capnpc_snake`], with `_` appended to keywords.
pub(crate) fn capnpc_module(name: &str) -> String {
    let mut out = capnpc_snake(name);
    if CAPNPC_KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Uppercases the first letter, as capnpc does for `…Params` and `…Results` types.
pub(crate) fn capitalize_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Splits a camelCase, PascalCase or snake_case name into lowercase words.
/// A run of capitals is one word (`TxID` is `tx`, `id`), and a digit stays
/// with the word before it.
fn words(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (index, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let previous = chars[index - 1];
            let next_is_lower = chars.get(index + 1).is_some_and(|next| next.is_lowercase());
            if previous.is_lowercase() || previous.is_ascii_digit() || (previous.is_uppercase() && next_is_lower) {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// Converts a schema name to a Rust function, field or parameter name:
/// snake_case, with `_` appended to a keyword.
pub(crate) fn snake(name: &str) -> String {
    let mut out = words(name).join("_");
    if RUST_KEYWORDS.contains(&out.as_str()) {
        out.push('_');
    }
    out
}

/// Converts a schema name to a Rust type or variant name in PascalCase.
pub(crate) fn pascal(name: &str) -> String {
    words(name).iter().map(|word| capitalize_first(word)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capnpc_names_match_capnpc() {
        assert_eq!(capnpc_snake("solveEquation"), "solve_equation");
        assert_eq!(capnpc_snake("getTransactionsByTxID"), "get_transactions_by_tx_i_d");
        assert_eq!(capnpc_module("CalculatorInterface"), "calculator_interface");
        assert_eq!(capnpc_module("type"), "type_");
        assert_eq!(capitalize_first("solveEquation"), "SolveEquation");
    }

    #[test]
    fn rust_names_group_acronyms() {
        assert_eq!(snake("getTransactionsByTxID"), "get_transactions_by_tx_id");
        assert_eq!(snake("isRBFOptIn"), "is_rbf_opt_in");
        assert_eq!(snake("blockHash1"), "block_hash1");
        assert_eq!(snake("use_mempool"), "use_mempool");
        assert_eq!(snake("type"), "type_");
        assert_eq!(pascal("rpc_error"), "RpcError");
        assert_eq!(pascal("solveEquation"), "SolveEquation");
    }
}
