//! The start-up link order survives the names' drift (build.rs, hack/ld-with-order.sh,
//! hack/link-order.awk): the resolver on a symbol table with every kind of drift, and the
//! linker wrapper on a real link (cc and lld, which hack/lib.sh installs) whose function
//! was renamed since the order was written. And the C++ runtime that build.rs links into
//! the executable.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_resolver_follows_names_that_drift() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let symbols = tmp.path().join("symbols.nm");
    let order = tmp.path().join("order.txt");
    std::fs::write(
        &symbols,
        "0000000000001000 T _ZN3mcp5start17h0123456789abcdefE\n\
         0000000000001010 t _ZN3mcp4load17h1111111111111111E.llvm.999\n\
         0000000000001020 t _ZN4core3ptr13drop_in_place17haaaaaaaaaaaaaaaaE\n\
         0000000000001030 t _ZN4core3ptr13drop_in_place17hbbbbbbbbbbbbbbbbE\n\
         0000000000001040 t _ZN3mcp5serve17h2222222222222222E\n\
         0000000000001050 d _ZN3mcp4DATA17h3333333333333333E\n\
         0000000000001060 T main\n\
         \x20                U malloc\n",
    )
    .expect("write");
    std::fs::write(
        &order,
        "# tier: warm start until idle\n\
         main\n\
         _ZN3mcp4load17h1111111111111111E.llvm.123\n\
         _ZN3mcp5serve17h9999999999999999E\n\
         _ZN4core3ptr13drop_in_place17hccccccccccccccccE\n\
         _ZN3mcp4gone17h4444444444444444E\n\
         \n\
         # tier: stopping\n\
         _ZN3mcp5start17h0123456789abcdefE\n\
         main\n\
         _ZN3mcp4DATA17h5555555555555555E\n",
    )
    .expect("write");
    let out = Command::new("awk")
        .arg("-f")
        .arg(repo().join("hack/link-order.awk"))
        .arg(&symbols)
        .arg(&order)
        .output()
        .expect("awk");
    assert!(out.status.success(), "{out:?}");
    let resolved = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        resolved.lines().collect::<Vec<_>>(),
        [
            // As written.
            "main",
            // Another ThinLTO suffix.
            "_ZN3mcp4load17h1111111111111111E.llvm.999",
            // Another hash, and this build has one function of that path.
            "_ZN3mcp5serve17h2222222222222222E",
            // Not: two instances share the drop_in_place path (either could be meant),
            // `gone` is gone, DATA is not code, and main is there once (the tier
            // headings are no names).
            "_ZN3mcp5start17h0123456789abcdefE",
        ]
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "link order: 8 names, 3 as written, 1 with another .llvm suffix, \
         1 by a unique hash-less match, 3 not in this build"
    );
}

/// The lld that build.rs links with, as its generated wrapper names it.
fn lld() -> String {
    let wrapper = Path::new(env!("OUT_DIR")).join("linker/ld.mold");
    let script = std::fs::read_to_string(&wrapper).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build.rs writes it when lld is installed (hack/lib.sh installs it)",
            wrapper.display()
        )
    });
    // exec /bin/sh 'WRAPPER' 'LLD' 'ORDER' 'OUT' "$@"
    script
        .split('\'')
        .nth(3)
        .expect("the wrapper names lld")
        .to_string()
}

/// Links two C functions with an order written before one of them was renamed (as
/// ThinLTO renames a Rust function when other code of its unit changes): the renamed one
/// still comes first.
#[test]
fn a_renamed_function_keeps_its_place() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    std::fs::write(
        dir.join("two.c"),
        "int late(void) { return 1; }\n\
         int early(void) __asm__(\"early.llvm.42\");\n\
         int early(void) { return 2; }\n\
         int main(void) { return late() + early(); }\n",
    )
    .expect("write");
    let order = dir.join("order.txt");
    std::fs::write(&order, "early.llvm.7\nlate\n").expect("write");
    let linker = dir.join("bin");
    std::fs::create_dir(&linker).expect("mkdir");
    let script = format!(
        "#!/bin/sh\nexec /bin/sh '{}' '{}' '{}' '{}' \"$@\"\n",
        repo().join("hack/ld-with-order.sh").display(),
        lld(),
        order.display(),
        dir.display()
    );
    let wrapper = linker.join("ld.mold");
    std::fs::write(&wrapper, script).expect("write");
    let chmod = Command::new("chmod").arg("+x").arg(&wrapper).status();
    assert!(chmod.is_ok_and(|s| s.success()));
    let out = Command::new("cc")
        .args(["-O0", "-ffunction-sections", "-fno-inline"])
        .arg(format!("-B{}/", linker.display()))
        .arg("-fuse-ld=mold")
        .arg(dir.join("two.c"))
        .arg("-o")
        .arg(dir.join("two"))
        .output()
        .expect("cc (build-essential)");
    assert!(out.status.success(), "{out:?}");
    let summary = std::fs::read_to_string(dir.join("link-order.txt")).expect("the summary");
    assert!(
        summary.contains("2 names, 1 as written, 1 with another .llvm suffix"),
        "{summary}"
    );
    let nm = Command::new("nm")
        .arg(dir.join("two"))
        .output()
        .expect("nm");
    let table = String::from_utf8_lossy(&nm.stdout);
    let address = |name: &str| {
        table
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && f[2] == name).then(|| u64::from_str_radix(f[0], 16))
            })
            .unwrap_or_else(|| panic!("{name} not in\n{table}"))
            .expect("hex")
    };
    assert!(
        address("early.llvm.42") < address("late"),
        "the renamed function is placed first:\n{table}"
    );
    // Nothing of the probe link is left behind.
    let left: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("probe"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// RocksDB's C++ runtime is part of the executable (build.rs): the binary these tests
/// drive does not load libstdc++, unless a system RocksDB (`ROCKSDB_LIB_DIR`) or
/// `MCP_STATIC_CXX=0` asked for the shared one when it was built.
#[test]
fn the_cxx_runtime_is_linked_in() {
    if option_env!("ROCKSDB_LIB_DIR").is_some() || option_env!("MCP_STATIC_CXX") == Some("0") {
        return;
    }
    let out = Command::new("readelf")
        .args(["-d", env!("CARGO_BIN_EXE_multicluster-controlplane")])
        .output()
        .expect("readelf (binutils, with build-essential)");
    assert!(out.status.success(), "{out:?}");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(
        needed.iter().any(|l| l.contains("libc.so")),
        "no libc among the needed libraries: {needed:?}"
    );
    assert!(
        !needed.iter().any(|l| l.contains("libstdc++")),
        "the shared libstdc++ is needed: {needed:?}"
    );
}
