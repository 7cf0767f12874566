//! docs/kinds.md is what the kinds declare: regenerate it with
//! `PROBSTAB_BLESS=1 cargo test --release -p probstab --test docs`.

use std::path::Path;

#[test]
fn the_kinds_page_matches_the_kinds_declarations() {
    let page = probstab::docs::kinds_page().unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/kinds.md");
    if std::env::var_os("PROBSTAB_BLESS").is_some() {
        std::fs::write(&path, &page).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == page,
        "docs/kinds.md is out of date with the kinds; rerun with PROBSTAB_BLESS=1 to rewrite it"
    );
    for kind in probstab::kinds::KINDS {
        assert!(page.contains(&format!("## {}", kind.name())));
    }
}
