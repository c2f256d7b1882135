//! Run last, after the whole suite (`scripts/test.sh` does): nothing the lab created may remain.

#[test]
#[ignore = "run by scripts/test.sh after the suite, alone: it checks the whole machine"]
fn no_lab_leftovers_after_suite() {
    let found = vlcp_e2e::lab::leaks::scan();
    assert!(found.is_empty(), "the suite left these behind: {found:#?}");
}
