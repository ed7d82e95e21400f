//! Every command in README.md and docs/*.md works as written: `scripts/check-docs.py` runs them
//! against a fresh `baton demo` started from this build (see the script for the rules).

use std::path::Path;
use std::process::Command;

#[test]
fn every_command_in_the_docs_works_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for tool in ["python3", "curl", "jq", "bash"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "the docs check needs {tool}"
            );
            eprintln!("skipped: the docs check needs {tool}");
            return;
        }
    }
    let out = Command::new("python3")
        .arg(root.join("scripts/check-docs.py"))
        .args(["--baton", env!("CARGO_BIN_EXE_baton")])
        .output()
        .expect("running scripts/check-docs.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("all commands in the docs work as written"),
        "{stdout}"
    );
    println!("{stdout}");
}
