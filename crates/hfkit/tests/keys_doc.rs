//! docs/migrating-from-helmfile.md lists every helmfile key with its status, exactly as
//! `hfkit::theme::keys` has it.

#[test]
fn the_docs_key_table_is_the_parsers_table() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/migrating-from-helmfile.md"
    );
    let doc = std::fs::read_to_string(path).unwrap();
    let start = doc.find("<!-- keys-table").expect("start marker");
    let start = start + doc[start..].find('\n').unwrap() + 1;
    let end = doc.find("<!-- /keys-table -->").expect("end marker");
    let expected = hfkit::theme::keys::markdown_table();
    if std::env::var_os("HFKIT_BLESS").is_some() {
        std::fs::write(path, format!("{}{expected}{}", &doc[..start], &doc[end..])).unwrap();
        return;
    }
    assert!(
        doc[start..end] == expected,
        "the key table in docs/migrating-from-helmfile.md is stale; regenerate it with \
         HFKIT_BLESS=1 cargo test -p hfkit --test keys_doc"
    );
}
