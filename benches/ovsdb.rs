//! ovsdb benchmarks (divan); run with `cargo bench --bench ovsdb`.
fn main() {}
