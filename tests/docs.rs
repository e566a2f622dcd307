//! The README's runbook and GRANTs are tested SQL: every ```sql block of
//! its "Runbook" and "Roles and GRANTs" sections must appear verbatim in the
//! pg_regress file that runs it.  (No server needed.)

use std::fs;

fn section<'a>(readme: &'a str, heading: &str) -> &'a str {
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no '## {heading}' section"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map(|e| e + 3).unwrap_or(rest.len());
    &rest[..end]
}

fn sql_blocks(text: &str) -> Vec<String> {
    text.split("```sql\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap_or_default().to_string())
        .collect()
}

fn assert_blocks_in(heading: &str, regress_file: &str) -> usize {
    let readme = fs::read_to_string("README.md").expect("README.md");
    let sql = fs::read_to_string(regress_file).expect(regress_file);
    let blocks = sql_blocks(section(&readme, heading));
    assert!(!blocks.is_empty(), "no SQL in README section {heading}");
    for b in &blocks {
        assert!(
            sql.contains(b.as_str()),
            "README section '{heading}' has SQL that {regress_file} does not run:\n{b}"
        );
    }
    blocks.len()
}

#[test]
fn every_runbook_block_is_run_by_pg_regress() {
    let n = assert_blocks_in("Runbook", "tests/pg_regress/sql/08_runbook.sql");
    assert!(n >= 6, "one block per incident at least, found {n}");
}

#[test]
fn the_upgrade_steps_are_the_tested_steps() {
    assert_blocks_in("Upgrading", "tests/upgrade/after.sql");
}

#[test]
fn the_documented_grants_are_the_tested_grants() {
    assert_blocks_in("Roles and GRANTs", "tests/pg_regress/sql/07_security.sql");
}

#[test]
fn the_integrators_role_setup_is_the_tested_one() {
    assert_blocks_in(
        "Integrating: clients, poolers and drivers",
        "tests/pg_regress/sql/07_security.sql",
    );
}
