//! The run as a pipeline of typed stages, outside the command line: a scenario is `Planned`
//! (expanded, its part resolved), `Connected` to a chain, `Funded` (and its `[[setup]]` calls
//! made), `Executed` (the plan sent and every row written and aggregated), then `Checked`
//! against the chain (sanity, views). Each stage is a function of the previous stage's value;
//! `cli/` parses arguments, calls the stages and prints what they return.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::Error;

pub mod facts;
pub mod fit;
pub mod names;
pub mod part;
pub mod run;

pub use run::{Checked, Connected, Executed, Funded, Planned};

/// Writes to FILE (created with its parent directories) or to stdout, buffered.
pub fn write_output(
    path: Option<&Path>,
    body: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), Error> {
    let label = path.map_or("stdout".to_string(), |p| p.display().to_string());
    let wrap = |source| Error::Write {
        path: label.clone(),
        source,
    };
    match path {
        Some(p) => {
            if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(wrap)?;
            }
            let mut w = BufWriter::with_capacity(1 << 20, File::create(p).map_err(wrap)?);
            body(&mut w).and_then(|()| w.flush()).map_err(wrap)
        }
        None => {
            let stdout = io::stdout();
            let mut w = BufWriter::with_capacity(1 << 20, stdout.lock());
            match body(&mut w).and_then(|()| w.flush()) {
                // A closed pipe (`loadrun plan x | head`) is not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                r => r.map_err(wrap),
            }
        }
    }
}
