//! One CEL expression parsed into the tree `cel-interpreter` evaluates
//! (`cel_parser::ast::IdedExpr`), and the facts the rule checks in [`super::cel`] read from
//! that tree: how deep it nests, how deeply its comprehensions (the `all`, `exists`,
//! `exists_one`, `map`, `filter` macros) nest, the variables they bind, the variables and
//! functions it refers to, and constructs the interpreter cannot evaluate.
//!
//! The parser is ANTLR-generated and recurses per level of the parse tree; a rule of
//! [`super::cel::MAX_RULE_BYTES`] whose brackets stay within [`super::cel::MAX_NESTING`] can
//! still be thousands of levels deep (`a.b.b.b…`, `1+1+1…`, `x ? y : x ? y : …`). So
//! [`parse`] runs the parser, and drops a tree it refuses, on a stack grown for it
//! ([`PARSE_STACK`], `stacker`) on the calling thread: no thread per expression, and a tokio
//! worker's stack is never exhausted. Walking the tree ([`facts`]) is iterative.
//!
//! Not for: kube's messages and limits (`cel`), evaluation.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use cel_parser::ast::{EntryExpr, Expr, IdedExpr};
use cel_parser::reference::Val;

/// The stack [`parse`] runs the parser on. Measured worst cases for 16 KiB rules within
/// the bracket limit: about 5 MiB optimised, about 62 MiB unoptimised (ANTLR's generated
/// frames are large without optimisation). Address space is reserved, pages are touched
/// only as deep as a parse goes.
pub(super) const PARSE_STACK: usize = if cfg!(debug_assertions) {
    128 << 20
} else {
    32 << 20
};

/// Why an expression was not parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ParseError {
    /// The parser's errors, one `ERROR: <input>:L:C: …` block each (cel-go's form).
    Syntax(String),
    /// The tree nests deeper than the caller's limit.
    TooDeep,
    /// The parser panicked on the input.
    Panicked,
}

/// What a parsed tree says about an expression.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Facts {
    /// How deep the tree nests, in levels of its derived `Debug` form: `IdedExpr { … }`,
    /// the variant's `( … )`, its payload's `{ … }` and every `[ … ]` of children count
    /// (a call nests its arguments 4 levels down, a field selection 3, a map entry 7), plus
    /// one for the program around the root. That is the unit the tree limit has always been
    /// measured in, so the set of accepted rules stays the same.
    pub depth: usize,
    /// The most comprehensions enclosing one another (a comprehension anywhere inside
    /// another one, its range included, counts).
    pub loops: u32,
    /// The variables comprehensions bind.
    pub loop_vars: BTreeSet<String>,
    /// The identifiers read, without the parser's internal `@` names (as
    /// `cel_parser`'s `references()` reports them).
    pub variables: BTreeSet<String>,
    /// The functions and operators called.
    pub functions: BTreeSet<String>,
    /// The number of expression nodes (a measure of the tree's memory).
    pub nodes: usize,
    /// Message construction (`Foo{a: 1}`) or a node the parser left unspecified: the
    /// interpreter cannot evaluate either.
    pub unsupported: bool,
}

/// Parses `src` on a stack of [`PARSE_STACK`] and reads its [`Facts`]; a tree deeper than
/// `max_depth` is refused (and dropped on that stack).
pub(super) fn parse(src: &str, max_depth: usize) -> Result<(IdedExpr, Facts), ParseError> {
    stacker::maybe_grow(PARSE_STACK, PARSE_STACK, || {
        catch_unwind(AssertUnwindSafe(|| {
            let expr = cel_parser::Parser::new()
                .parse(src)
                .map_err(|e| ParseError::Syntax(e.to_string()))?;
            let facts = facts(&expr);
            if facts.depth > max_depth {
                drop(expr);
                return Err(ParseError::TooDeep);
            }
            Ok((expr, facts))
        }))
        .unwrap_or(Err(ParseError::Panicked))
    })
}

/// Walks `root` (without recursion) and collects its [`Facts`].
pub(super) fn facts(root: &IdedExpr) -> Facts {
    let mut f = Facts::default();
    // (node, levels open before it, comprehensions enclosing it)
    let mut todo: Vec<(&IdedExpr, usize, u32)> = vec![(root, 1, 0)];
    while let Some((e, open, loops)) = todo.pop() {
        f.nodes += 1;
        // `IdedExpr {`, then the variant's `(`.
        let node = open + 1;
        let variant = node + 1;
        let reached = match &e.expr {
            Expr::Unspecified => {
                f.unsupported = true;
                node
            }
            Expr::Ident(name) => {
                if !name.starts_with('@') {
                    f.variables.insert(name.clone());
                }
                variant
            }
            Expr::Literal(v) => variant + literal_levels(v),
            Expr::Call(call) => {
                f.functions.insert(call.func_name.clone());
                // `CallExpr {`, then `Some(` around the target and `[` around the args.
                let children = variant + 2;
                if let Some(target) = &call.target {
                    todo.push((target, children, loops));
                }
                todo.extend(call.args.iter().map(|a| (a, children, loops)));
                children
            }
            Expr::Select(select) => {
                let children = variant + 1;
                todo.push((&select.operand, children, loops));
                children
            }
            Expr::Comprehension(c) => {
                let loops = loops + 1;
                f.loops = f.loops.max(loops);
                f.loop_vars.insert(c.iter_var.clone());
                let children = variant + 1;
                let mut reached = children;
                if let Some(v) = &c.iter_var2 {
                    f.loop_vars.insert(v.clone());
                    reached += 1;
                }
                for child in [
                    &c.iter_range,
                    &c.accu_init,
                    &c.loop_cond,
                    &c.loop_step,
                    &c.result,
                ] {
                    todo.push((child, children, loops));
                }
                reached
            }
            Expr::List(list) => {
                let children = variant + 2;
                todo.extend(list.elements.iter().map(|e| (e, children, loops)));
                children
            }
            Expr::Map(map) => entries(&map.entries, variant, loops, &mut todo),
            Expr::Struct(s) => {
                f.unsupported = true;
                entries(&s.entries, variant, loops, &mut todo)
            }
        };
        f.depth = f.depth.max(reached);
    }
    f
}

/// Queues the entries of a map or message literal whose variant opened at `variant`;
/// returns the deepest level the literal itself reaches.
fn entries<'a>(
    list: &'a [cel_parser::ast::IdedEntryExpr],
    variant: usize,
    loops: u32,
    todo: &mut Vec<(&'a IdedExpr, usize, u32)>,
) -> usize {
    // `MapExpr {`, `entries: [`, then per entry `IdedEntryExpr {`, `MapEntry(`,
    // `MapEntryExpr {`.
    let list_level = variant + 2;
    let children = list_level + 3;
    for entry in list {
        match &entry.expr {
            EntryExpr::MapEntry(m) => {
                todo.push((&m.key, children, loops));
                todo.push((&m.value, children, loops));
            }
            EntryExpr::StructField(s) => todo.push((&s.value, children, loops)),
        }
    }
    if list.is_empty() {
        list_level
    } else {
        children
    }
}

/// Levels a literal's value adds: `Int(…)` one, `Bytes([…])` two, `Null` none.
fn literal_levels(v: &Val) -> usize {
    match v {
        Val::Null => 0,
        Val::Bytes(_) => 2,
        Val::String(_) | Val::Boolean(_) | Val::Int(_) | Val::UInt(_) | Val::Double(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The measure rules were checked with before this module: brackets, comprehensions,
    /// `iter_var`s and unsupported variants read from the program's `Debug` text. Kept as
    /// the oracle the tree walk must agree with.
    fn debug_shape(debug: &str) -> (usize, u32, BTreeSet<String>, bool) {
        let (mut max, mut loops, mut vars, mut unsupported) = (0, 0u32, BTreeSet::new(), false);
        let bytes = debug.as_bytes();
        let mut depth = 0usize;
        let mut open: Vec<usize> = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c == b'"' {
                let start = i + 1;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    if bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                if bytes[..start.saturating_sub(1)].ends_with(b"iter_var: ") {
                    vars.insert(debug.get(start..i).unwrap_or_default().to_string());
                }
                i += 1;
                continue;
            }
            match c {
                b'(' | b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                    if c == b'(' {
                        let word = &bytes[..i];
                        if word.ends_with(b"Comprehension") {
                            open.push(depth);
                            loops = loops.max(open.len() as u32);
                        }
                        if word.ends_with(b"Struct") || word.ends_with(b"StructField") {
                            unsupported = true;
                        }
                    }
                }
                b')' | b']' | b'}' => {
                    while open.last().is_some_and(|d| *d >= depth) {
                        open.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                _ => {
                    if bytes[i..].starts_with(b"Unspecified") {
                        unsupported = true;
                    }
                }
            }
            i += 1;
        }
        (max, loops, vars, unsupported)
    }

    fn corpus() -> Vec<String> {
        let mut c: Vec<String> = [
            "true",
            "null == self",
            "self.a > 0 && self.b < 10 || !has(self.c)",
            "self.minReplicas <= self.maxReplicas",
            "self == oldSelf",
            "oldSelf.hasValue() ? oldSelf.value() == self : true",
            "self.l.all(a, self.l.all(b, self.l.all(c, a + b + c >= 0)))",
            "self.l.map(x, x * 2).filter(y, y > 2).exists_one(z, z == 4)",
            "self.m.exists(k, self.m[k] == 'v') && size(self.m) < 3",
            "[1, [2, [3, []]]] == self.l && {} == {'a': {'b': {}}}",
            "{'a': [1, 2], 'b': {'c': b'xyz'}}.a[0] == 1 && b'' == bytes('')",
            "self.s.matches('^a.*\"b\\\\') && 'x\"y' != \"Unspecified\"",
            "Foo{a: 1} == self",
            "google.protobuf.Int64Value{value: 1} == 1",
            "self.x.y.z.w == 1.5 && -self.n == 2u && 1e300 > 0.0",
            "size(self.items.filter(i, i.name.startsWith('a'))) == 1",
            "self.__namespace__ == 'a' && self.x__dash__y == 1",
            "has(self.a.b) ? self.a.b.map(x, [x, {x: x}]) : []",
            "self.lowerAscii() == 'ab-cd' && self.split('-').size() == 2",
            "['x', 'y'].join('-') == 'x-y' && self.substring(0, 2) == 'ab'",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Deep but within the bracket limit, around the tree limit.
        for n in [10, 100, 149, 150, 151, 199, 200, 201] {
            c.push(format!("{}true{}", "(".repeat(n), ")".repeat(n)));
            c.push(format!("{}1{}", "[".repeat(n), "]".repeat(n)));
            c.push(format!("{}1{}", "{1:".repeat(n), "}".repeat(n)));
            c.push(format!("{}1{}", "f(".repeat(n), ")".repeat(n)));
            c.push(format!("self{}", ".a".repeat(n)));
            c.push(format!("self{}", "[0]".repeat(n)));
            c.push(format!("1{}", " + 1".repeat(n)));
            c.push(format!("{}1", "1 ? 1 : ".repeat(n)));
            c.push(format!("self{}", ".f()".repeat(n)));
        }
        for n in [1, 5, 20, 40] {
            c.push(format!(
                "{}true{}",
                "self.l.all(x, ".repeat(n),
                ")".repeat(n)
            ));
            c.push(format!("{}[]{}", "self.l.map(x, ".repeat(n), ")".repeat(n)));
        }
        c
    }

    #[test]
    fn tree_facts_agree_with_the_debug_text_measure() {
        // Unoptimised parsing of the deep corpus needs more than a test thread's stack.
        stacker::grow(PARSE_STACK, || {
            for src in corpus() {
                let program = match cel_interpreter::Program::compile(&src) {
                    Ok(p) => p,
                    Err(e) => panic!("{src}: {e}"),
                };
                let (depth, loops, loop_vars, unsupported) = debug_shape(&format!("{program:?}"));
                let refs = program.references();
                let expr = match cel_parser::Parser::new().parse(&src) {
                    Ok(e) => e,
                    Err(e) => panic!("{src}: {e}"),
                };
                let f = facts(&expr);
                assert_eq!(f.depth, depth, "depth of {src}");
                assert_eq!(f.loops, loops, "loops of {src}");
                assert_eq!(f.loop_vars, loop_vars, "loop variables of {src}");
                assert_eq!(f.unsupported, unsupported, "unsupported in {src}");
                let vars: BTreeSet<String> =
                    refs.variables().iter().map(|s| s.to_string()).collect();
                let funcs: BTreeSet<String> =
                    refs.functions().iter().map(|s| s.to_string()).collect();
                assert_eq!(f.variables, vars, "variables of {src}");
                assert_eq!(f.functions, funcs, "functions of {src}");
            }
        });
    }

    #[test]
    fn facts_of_macros_and_message_construction() {
        let f = |src: &str| match parse(src, usize::MAX) {
            Ok((_, f)) => f,
            Err(e) => panic!("{src}: {e:?}"),
        };
        let nested = f("self.l.all(a, self.l.exists(b, a == b)) && self.l.map(c, c).size() > 0");
        assert_eq!(nested.loops, 2);
        assert_eq!(nested.loop_vars, ["a", "b", "c"].map(String::from).into());
        assert_eq!(
            nested.variables,
            ["a", "b", "c", "self"].map(String::from).into()
        );
        assert!(nested.functions.contains("size") && nested.functions.contains("_==_"));
        assert!(!nested.unsupported);
        assert_eq!(f("self.a > 0").loops, 0);
        assert!(f("Foo{a: 1} == self").unsupported);
        assert!(!f("{'a': 1} == self").unsupported);
        assert_eq!(
            f("oldSelf.value()").variables,
            ["oldSelf".to_string()].into()
        );
        assert!(
            matches!(parse("self..a", usize::MAX), Err(ParseError::Syntax(e)) if e.starts_with("ERROR: <input>:1:6: Syntax error: no viable alternative at input '..'"))
        );
        // The parser panics on an operator missing its right operand; that is an error
        // here, as it was when cel-interpreter's `Program::compile` was called.
        assert_eq!(
            parse("self.a >", usize::MAX).err(),
            Some(ParseError::Panicked)
        );
        // Brackets alone add no levels; lists do.
        assert!(parse("(((1)))", 4).is_ok());
        assert_eq!(parse("[[[1]]]", 4).err(), Some(ParseError::TooDeep));
    }

    /// Deep input within the limits, on a thread with a small stack (a tokio worker's is
    /// 2 MiB): the parser gets its own stack, a refused tree is dropped there.
    #[test]
    fn deep_expressions_parse_on_a_small_stack() {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(|| {
                let long = |unit: &str, base: &str| {
                    let n = (16 * 1024 - base.len()) / unit.len();
                    format!("{base}{}", unit.repeat(n))
                };
                // (expression, accepted): brackets alone add no tree levels; the rest
                // are thousands of levels deep and refused.
                let deep = [
                    (format!("{}true{}", "(".repeat(250), ")".repeat(250)), true),
                    (format!("{}1{}", "(".repeat(140), ")".repeat(140)), true),
                    (format!("{}1{}", "[".repeat(140), "]".repeat(140)), true),
                    (format!("{}1{}", "[".repeat(250), "]".repeat(250)), false),
                    (format!("{}1{}", "f(".repeat(250), ")".repeat(250)), false),
                    (long("+1", "1"), false),
                    (long(".a", "self"), false),
                    (long("[0]", "self"), false),
                    (long("?1:1", "1"), false),
                    (long(".f()", "self"), false),
                ];
                deep.into_iter()
                    .map(|(src, ok)| (src.len(), ok, parse(&src, 600).map(|(_, f)| f.depth)))
                    .collect::<Vec<_>>()
            })
            .expect("thread");
        let results = handle.join().expect("no stack overflow");
        for (len, ok, r) in results {
            assert!(len <= 16 * 1024);
            match r {
                Ok(depth) => assert!(ok && depth <= 600, "{len}: {depth}"),
                Err(e) => assert!(!ok && e == ParseError::TooDeep, "{len}: {e:?}"),
            }
        }
    }
}
