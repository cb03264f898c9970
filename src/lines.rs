//! File and line numbers for goroutine dumps, from an object's DWARF line
//! tables (`.debug_line`), read with gimli in place from the mapped file.
//!
//! Each compilation unit's line program is run once, when a dump first
//! needs the object, into one table sorted by address: a row says that
//! code from its address up to the next row's comes from `file:line`; a
//! row with line 0 ends a sequence (the addresses after it, up to the next
//! row, have no line). A lookup is a binary search.
//!
//! Rejected: the `addr2line` crate, which answers the same question
//! lazily per unit (through the units' address ranges) and also parses
//! functions and inlining that dumps do not print; its code was a tenth of
//! `libgort.so`.
//!
//! # Invariants
//!
//! - `rows` is sorted by address, and at one address a sequence's end comes
//!   before the next sequence's first row, so the last row at or below an
//!   address is the one that covers it.
//! - Every row's file index is an index into `files`.

use object::{Object, ObjectSection};

type Slice<'a> = gimli::EndianSlice<'a, gimli::NativeEndian>;

/// An object's line table (addresses as in the file, before relocation).
pub(crate) struct LineTable {
    /// (address, index into `files`, line; 0 ends a sequence).
    rows: Vec<(u64, u32, u32)>,
    files: Vec<String>,
}

impl LineTable {
    /// Reads the line tables of a parsed object; None if it has none that
    /// can be read in place (compressed debug sections are not).
    pub(crate) fn load(file: &object::File<'_>) -> Option<LineTable> {
        file.section_by_name(".debug_line")?;
        let load = |id: gimli::SectionId| -> Result<Slice<'_>, ()> {
            let data = match file.section_by_name(id.name()) {
                Some(section) => {
                    let c = section.compressed_data().map_err(|_| ())?;
                    if c.format != object::CompressionFormat::None {
                        return Err(());
                    }
                    c.data
                }
                None => &[],
            };
            Ok(gimli::EndianSlice::new(data, gimli::NativeEndian))
        };
        let dwarf = gimli::Dwarf::load(load).ok()?;
        let mut table = LineTable {
            rows: Vec::new(),
            files: Vec::new(),
        };
        let mut units = dwarf.units();
        while let Ok(Some(header)) = units.next() {
            if let Ok(unit) = dwarf.unit(header) {
                table.add_unit(&dwarf, &unit);
            }
        }
        if table.rows.is_empty() {
            return None;
        }
        table.rows.sort_by_key(|&(addr, _, line)| (addr, line != 0));
        Some(table)
    }

    /// Runs one unit's line program into the table.
    fn add_unit(&mut self, dwarf: &gimli::Dwarf<Slice<'_>>, unit: &gimli::Unit<Slice<'_>>) {
        let Some(program) = unit.line_program.clone() else {
            return;
        };
        // The unit's file indexes, mapped to the table's as they are met.
        let mut map: Vec<Option<u32>> = Vec::new();
        let mut rows = program.rows();
        while let Ok(Some((header, row))) = rows.next_row() {
            if row.end_sequence() {
                self.rows.push((row.address(), 0, 0));
                continue;
            }
            let Some(line) = row.line() else {
                continue;
            };
            let fi = row.file_index() as usize;
            if map.len() <= fi {
                map.resize(fi + 1, None);
            }
            let index = match map[fi] {
                Some(i) => i,
                None => {
                    let path = row
                        .file(header)
                        .map_or_else(|| "?".to_owned(), |f| file_path(dwarf, unit, header, f));
                    self.files.push(path);
                    let i = (self.files.len() - 1) as u32;
                    map[fi] = Some(i);
                    i
                }
            };
            let line = u32::try_from(line.get()).unwrap_or(u32::MAX);
            self.rows.push((row.address(), index, line));
        }
    }

    /// The file and line of the code at `addr` (an address as in the file).
    pub(crate) fn find(&self, addr: u64) -> Option<(&str, u32)> {
        let i = self.rows.partition_point(|&(a, _, _)| a <= addr);
        let &(_, file, line) = self.rows[..i].last()?;
        (line != 0).then(|| (self.files[file as usize].as_str(), line))
    }
}

/// A file entry's path: its name, under its directory, under the unit's
/// compilation directory, as far as each is relative.
fn file_path(
    dwarf: &gimli::Dwarf<Slice<'_>>,
    unit: &gimli::Unit<Slice<'_>>,
    header: &gimli::LineProgramHeader<Slice<'_>>,
    file: &gimli::FileEntry<Slice<'_>>,
) -> String {
    let text = |v| {
        dwarf
            .attr_string(unit, v)
            .map(|s| s.to_string_lossy().into_owned())
            .ok()
    };
    let name = text(file.path_name()).unwrap_or_default();
    let mut path = String::new();
    for part in [
        file.directory(header).and_then(text),
        unit.comp_dir.map(|d| d.to_string_lossy().into_owned()),
    ]
    .into_iter()
    .flatten()
    {
        if path.starts_with('/') || name.starts_with('/') {
            break;
        }
        path = join(&part, &path);
    }
    if name.starts_with('/') {
        name
    } else {
        join(&path, &name)
    }
}

fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => dir.to_owned(),
        _ if dir.ends_with('/') => format!("{dir}{name}"),
        _ => format!("{dir}/{name}"),
    }
}
