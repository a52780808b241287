//! What the CLI says when a `--db` file or an import FILE is not what the
//! command needs: a swarph mesh database points at the exact import
//! command, another application's database is refused untouched, and a
//! file that is not SQLite at all is named. All are usage errors (exit 2):
//! the user pointed the command at the wrong file.

use std::path::Path;

use meshgate_store_sqlite::{inspect, FileContents};

use crate::exit::advised;

/// The command that imports the swarph database at `path`.
pub fn swarph_import_command(path: &Path) -> String {
    format!("meshgate import --from-swarph {}", path.display())
}

/// Checks that `path` may be opened as a meshgate store (missing, empty or
/// meshgate's); anything else is a usage error naming the file.
pub fn check_store_file(path: &Path) -> anyhow::Result<FileContents> {
    let contents = inspect(path).map_err(|e| {
        let reason = match e {
            meshgate_store::StoreError::Backend(text) => text,
            other => other.to_string(),
        };
        advised(format!("{reason}: not an SQLite database meshgate can use; pass --db with a meshgate database"))
    })?;
    match &contents {
        FileContents::Swarph => Err(advised(format!(
            "{} is a swarph mesh database, not a meshgate one; run `{}` to copy it into meshgate's store",
            path.display(),
            swarph_import_command(path)
        ))),
        FileContents::Foreign(tables) => Err(advised(format!(
            "{} is not a meshgate database (it holds other tables: {}); refusing to add meshgate's tables to it: \
             pass --db with a meshgate database or a new file",
            path.display(),
            tables.join(", ")
        ))),
        _ => Ok(contents),
    }
}

/// Refuses an import FILE that is an SQLite database rather than a
/// `meshgate export` stream, pointing a swarph one at `--from-swarph`.
pub fn check_export_file(path: &Path) -> anyhow::Result<()> {
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path).and_then(|mut f| std::io::Read::read(&mut f, &mut head)).unwrap_or(0);
    if &head[..n] != b"SQLite format 3\0" {
        return Ok(());
    }
    Err(match inspect(path) {
        Ok(FileContents::Swarph) => advised(format!(
            "{} is a swarph mesh database, not a `meshgate export` file; run `{}`",
            path.display(),
            swarph_import_command(path)
        )),
        _ => advised(format!(
            "{} is an SQLite database, not a `meshgate export` file (JSON lines); export it first with \
             `meshgate export --db sqlite:{} > FILE`",
            path.display(),
            path.display()
        )),
    })
}
