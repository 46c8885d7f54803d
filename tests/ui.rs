//! Each forbidden transition, as a program that must not compile, with the error that teaches
//! the legal path (see the `.stderr` beside each case in `ui-tests/`).

#[test]
fn forbidden_transitions_do_not_compile() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("ui-tests/*.rs");
}
