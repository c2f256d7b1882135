use super::*;
use proptest::prelude::*;

fn ok(src: &str) -> Value {
    parse(src).unwrap_or_else(|e| panic!("{src:?} should parse: {e}"))
}

fn kind(src: &str) -> LiteralErrorKind {
    match parse(src) {
        Ok(v) => panic!("{src:?} should fail, parsed as {v:?}"),
        Err(e) => e.kind,
    }
}

fn s(x: &str) -> Value {
    Value::Str(x.into())
}

#[test]
fn scalars() {
    assert_eq!(ok("None"), Value::None);
    assert_eq!(ok("True"), Value::Bool(true));
    assert_eq!(ok(" False "), Value::Bool(false));
    assert_eq!(ok("42"), Value::Int(42));
    assert_eq!(ok("-42"), Value::Int(-42));
    assert_eq!(ok("- 7"), Value::Int(-7));
    assert_eq!(ok("+7"), Value::Int(7));
    assert_eq!(ok("0"), Value::Int(0));
    assert_eq!(ok("000"), Value::Int(0));
    assert_eq!(ok("0x1F"), Value::Int(31));
    assert_eq!(ok("-0xff"), Value::Int(-255));
    assert_eq!(ok("0o17"), Value::Int(15));
    assert_eq!(ok("0b101"), Value::Int(5));
    assert_eq!(ok("1_000_000"), Value::Int(1_000_000));
    assert_eq!(ok("0x_ff"), Value::Int(255));
    assert_eq!(ok("9223372036854775807"), Value::Int(i64::MAX));
    assert_eq!(ok("-9223372036854775808"), Value::Int(i64::MIN));
    assert_eq!(ok("1.5"), Value::Float(1.5));
    assert_eq!(ok(".5"), Value::Float(0.5));
    assert_eq!(ok("5."), Value::Float(5.0));
    assert_eq!(ok("1e3"), Value::Float(1000.0));
    assert_eq!(ok("-2.5E-3"), Value::Float(-0.0025));
    assert_eq!(ok("1e999"), Value::Float(f64::INFINITY));
}

#[test]
fn strings_and_escapes() {
    assert_eq!(ok("'abc'"), s("abc"));
    assert_eq!(ok("\"it's\""), s("it's"));
    assert_eq!(ok(r"'a\'b'"), s("a'b"));
    assert_eq!(ok(r"'\n\t\\\x41\101\u00e9\U0001F600'"), s("\n\t\\AAé😀"));
    assert_eq!(ok(r"'\q'"), s(r"\q"), "unknown escapes keep the backslash");
    assert_eq!(ok(r"r'\n\''"), s(r"\n\'"));
    assert_eq!(ok(r"b'\x00\xff\u'"), Value::Bytes(vec![0, 0xff, b'\\', b'u']));
    assert_eq!(ok(r"rb'\x'"), Value::Bytes(br"\x".to_vec()));
    assert_eq!(ok("u'x'"), s("x"));
    assert_eq!(ok("'a' \"b\" 'c'"), s("abc"), "adjacent literals concatenate");
    assert_eq!(ok("('a'\n 'b')"), s("ab"));
    assert_eq!(ok("'''one\ntwo'''"), s("one\ntwo"));
    assert_eq!(ok("'a\\\nb'"), s("ab"), "backslash-newline inside a string is dropped");
    assert_eq!(ok("'%(asctime)s # not a comment'"), s("%(asctime)s # not a comment"));
    assert_eq!(ok("'é'"), s("é"));
}

#[test]
fn containers() {
    assert_eq!(ok("[]"), Value::List(vec![]));
    assert_eq!(ok("()"), Value::Tuple(vec![]));
    assert_eq!(ok("{}"), Value::Dict(vec![]));
    assert_eq!(ok("set()"), Value::Set(vec![]));
    assert_eq!(ok("(1)"), Value::Int(1), "parentheses alone do not make a tuple");
    assert_eq!(ok("(1,)"), Value::Tuple(vec![Value::Int(1)]));
    assert_eq!(ok("[1, 2,]"), Value::List(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(ok("{1, 2, 1.0, True}"), Value::Set(vec![Value::Int(1), Value::Int(2)]));
    assert_eq!(
        ok("{'a': 1, 'b': [2, (3,)], 'a': 4,}"),
        Value::Dict(vec![
            (s("a"), Value::Int(4)),
            (s("b"), Value::List(vec![Value::Int(2), Value::Tuple(vec![Value::Int(3)])])),
        ])
    );
    assert_eq!(
        ok("{(1, 2): None}"),
        Value::Dict(vec![(Value::Tuple(vec![Value::Int(1), Value::Int(2)]), Value::None)])
    );
    let multi = "{'fileHandler':{'class':'logging.handlers.TimedRotatingFileHandler',\n      # a comment\n      'interval':1,\n      'backupCount':7}}";
    let v = ok(multi);
    assert_eq!(v.dict_get("fileHandler").and_then(|h| h.dict_get("interval")), Some(&Value::Int(1)));
    assert_eq!(ok("[1, \\\n 2]"), Value::List(vec![Value::Int(1), Value::Int(2)]));
}

#[test]
fn errors_say_what_was_expected_and_where() {
    let e = parse("[1, 2").unwrap_err();
    assert_eq!(e.kind, LiteralErrorKind::UnexpectedEnd { expected: "',' or ']'" });
    assert_eq!((e.line, e.column, e.offset), (1, 6, 5));

    let e = parse("{'a': 1,\n 'b' 2}").unwrap_err();
    assert_eq!((e.line, e.column), (2, 6));
    assert_eq!(e.to_string(), "line 2, column 6: unexpected '2', expected ':' after the dict key");

    assert_eq!(kind(""), LiteralErrorKind::Empty);
    assert_eq!(kind("  # just a comment"), LiteralErrorKind::Empty);
    assert_eq!(kind("foo"), LiteralErrorKind::NotALiteral { name: "foo".into() });
    assert!(matches!(kind("set([1])"), LiteralErrorKind::NotALiteral { .. }));
    assert!(matches!(kind("dict()"), LiteralErrorKind::NotALiteral { .. }));
    assert!(matches!(kind("f'x'"), LiteralErrorKind::NotALiteral { .. }));
    assert_eq!(kind("'abc"), LiteralErrorKind::UnterminatedString);
    assert_eq!(kind("'ab\ncd'"), LiteralErrorKind::UnterminatedString);
    assert!(matches!(kind("1j"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(
        kind("1+2j"),
        LiteralErrorKind::InvalidNumber { .. } | LiteralErrorKind::TrailingInput { .. }
    ));
    assert!(matches!(kind("012"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(kind("1__0"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(kind("0xg"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(kind("1e"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(kind("1.2.3"), LiteralErrorKind::InvalidNumber { .. }));
    assert!(matches!(kind("9223372036854775808"), LiteralErrorKind::IntegerOutOfRange { .. }));
    assert!(matches!(kind("--1"), LiteralErrorKind::Unexpected { .. }));
    assert!(matches!(kind("-True"), LiteralErrorKind::Unexpected { .. }));
    assert_eq!(kind("{[1]: 2}"), LiteralErrorKind::Unhashable { kind: "list" });
    assert_eq!(kind("{(1, {2}), 3}"), LiteralErrorKind::Unhashable { kind: "set" });
    assert_eq!(kind("'a' b'b'"), LiteralErrorKind::MixedBytesAndStr);
    assert_eq!(kind("b'é'"), LiteralErrorKind::NonAsciiInBytes);
    assert!(matches!(kind(r"'\x4'"), LiteralErrorKind::InvalidEscape { .. }));
    assert!(matches!(kind(r"'\ud800'"), LiteralErrorKind::InvalidEscape { .. }));
    assert!(matches!(kind(r"'\N{DASH}'"), LiteralErrorKind::InvalidEscape { .. }));
    assert!(matches!(kind("1 2"), LiteralErrorKind::TrailingInput { .. }));
    assert!(matches!(kind("'a'\n'b'"), LiteralErrorKind::TrailingInput { .. }));
    assert!(
        matches!(kind("-\n1"), LiteralErrorKind::Unexpected { .. }),
        "newline outside brackets ends the value"
    );
    assert!(matches!(kind("€"), LiteralErrorKind::Unexpected { .. }));
    assert!(matches!(kind("[1,,2]"), LiteralErrorKind::Unexpected { .. }));
    assert!(matches!(kind("{1: 2, 3}"), LiteralErrorKind::Unexpected { .. }));
    assert!(matches!(kind("{1, 2: 3}"), LiteralErrorKind::Unexpected { .. }));
}

#[test]
fn limits_are_enforced() {
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    assert_eq!(kind(&deep), LiteralErrorKind::TooDeep { max: 64 });
    let fine = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert!(parse(&fine).is_ok());
    let long = format!("'{}'", "x".repeat(100));
    let limits = Limits { max_len: 50, max_depth: 4 };
    assert_eq!(parse_with(&long, limits).unwrap_err().kind, LiteralErrorKind::TooLong { len: 102, max: 50 });
    // A very deep input fails cleanly instead of overflowing the stack.
    let abyss = "(".repeat(100_000);
    assert!(matches!(kind(&abyss), LiteralErrorKind::TooDeep { .. }));
}

#[test]
fn prints_python_repr() {
    let v =
        ok("{'a': (1,), 'b': [True, None, 1.0, -0.5], 'c': b'\\x00', 'd': set(), 'e': {1, 2}, 5: 'it\\'s'}");
    assert_eq!(
        v.to_string(),
        r"{'a': (1,), 'b': [True, None, 1.0, -0.5], 'c': b'\x00', 'd': set(), 'e': {1, 2}, 5: 'it\'s'}"
    );
    assert_eq!(ok("1e999").to_string(), "1e999");
    assert_eq!(ok("1e16").to_string(), "1e16");
}

#[test]
fn converts_to_json() {
    let v = ok("{'a': (1, 2.5), 'b': {None}, 3: b'x', 'c': {'d': False}, 'inf': 1e999}");
    assert_eq!(
        v.to_json(),
        serde_json::json!({"a": [1, 2.5], "b": [null], "3": "x", "c": {"d": false}, "inf": null})
    );
}

/// Literals whose printed form must read back equal. Dict keys and set members are generated
/// distinct (as Python would store them), so printing cannot merge them.
fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::Float),
        any::<String>().prop_map(Value::Str),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            proptest::collection::btree_set(any::<i32>(), 0..6)
                .prop_map(|s| Value::Set(s.into_iter().map(|i| Value::Int(i.into())).collect())),
            proptest::collection::btree_map("[a-z]{0,4}", inner, 0..6)
                .prop_map(|m| Value::Dict(m.into_iter().map(|(k, v)| (Value::Str(k), v)).collect())),
        ]
    })
}

proptest! {
    #[test]
    fn printed_literal_reparses_equal(v in arb_value()) {
        let text = v.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(back, v);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,64}") {
        let _ = parse(&text);
    }
}
