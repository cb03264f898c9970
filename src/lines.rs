//! File and line numbers for goroutine dumps, from an object's DWARF line
//! tables (`.debug_line`), read with gimli in place from the mapped file.
//!
//! The line programs are run once, when a dump first needs the object,
//! into one table sorted by address: a row says that code from its address
//! up to the next row's comes from `file:line`; a row with line 0 ends a
//! sequence (the addresses after it, up to the next row, have no line). A
//! lookup is a binary search.
//!
//! The programs are found by walking `.debug_line` itself, header after
//! header (each says its length), not through the compilation units of
//! `.debug_info`: that would parse every unit's abbreviations and first
//! entry to learn two things the table does not need beyond DWARF 5's line
//! header, which names the compilation directory as directory 0. DWARF 4
//! line headers do not, so a DWARF 4 object's relative file names stay
//! relative to the directory it was compiled in.
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
//!   address is the one that covers it. Within a sequence only the last
//!   row at an address is kept (it is the one the program meant: the
//!   earlier ones cover no bytes), so no two rows of one sequence share an
//!   address and the order is the same whatever the sort's stability.
//! - Every row's file index is an index into `files`.

use object::{Object, ObjectSection};

type Slice<'a> = gimli::EndianSlice<'a, gimli::NativeEndian>;

/// An object's line table (addresses as in the file, before relocation).
pub(crate) struct LineTable {
    /// (address, index into `files`, line; 0 ends a sequence).
    rows: Vec<(u64, u32, u32)>,
    files: Vec<String>,
}

/// The sections a line program's strings may live in.
struct Strings<'a> {
    str: gimli::DebugStr<Slice<'a>>,
    line_str: gimli::DebugLineStr<Slice<'a>>,
}

impl Strings<'_> {
    /// An attribute's string, wherever the program keeps it.
    fn text(&self, v: gimli::AttributeValue<Slice<'_>>) -> Option<String> {
        let s = match v {
            gimli::AttributeValue::String(s) => s,
            gimli::AttributeValue::DebugStrRef(o) => self.str.get_str(o).ok()?,
            gimli::AttributeValue::DebugLineStrRef(o) => self.line_str.get_str(o).ok()?,
            _ => return None,
        };
        Some(s.to_string_lossy().into_owned())
    }
}

impl LineTable {
    /// Reads the line tables of a parsed object; None if it has none that
    /// can be read in place (compressed debug sections are not).
    pub(crate) fn load(file: &object::File<'_>) -> Option<LineTable> {
        let section = |name: &str| -> Option<Slice<'_>> {
            let data = match file.section_by_name(name) {
                Some(section) => {
                    let c = section.compressed_data().ok()?;
                    if c.format != object::CompressionFormat::None {
                        return None;
                    }
                    c.data
                }
                None => &[],
            };
            Some(gimli::EndianSlice::new(data, gimli::NativeEndian))
        };
        let line = section(".debug_line")?;
        let strings = Strings {
            str: gimli::DebugStr::from(section(".debug_str")?),
            line_str: gimli::DebugLineStr::from(section(".debug_line_str")?),
        };
        let debug_line = gimli::DebugLine::from(line);
        let address_size = std::mem::size_of::<usize>() as u8;
        let mut table = LineTable {
            rows: Vec::new(),
            files: Vec::new(),
        };
        let mut offset = 0usize;
        while offset < line.len() {
            let Ok(program) =
                debug_line.program(gimli::DebugLineOffset(offset), address_size, None, None)
            else {
                break;
            };
            let header = program.header();
            offset += header.unit_length() + usize::from(header.format().initial_length_size());
            table.add_program(&strings, program);
        }
        if table.rows.is_empty() {
            return None;
        }
        // Ties are identical rows (see the invariants), so the order is
        // fixed without a stable sort.
        table
            .rows
            .sort_unstable_by_key(|&(addr, file, line)| (addr, line != 0, file, line));
        Some(table)
    }

    /// Runs one line program into the table.
    fn add_program(
        &mut self,
        strings: &Strings<'_>,
        program: gimli::IncompleteLineProgram<Slice<'_>>,
    ) {
        // The program's file indexes, mapped to the table's as they are met.
        let mut map: Vec<Option<u32>> = Vec::new();
        // Where the current sequence's rows begin in `rows`.
        let mut sequence = self.rows.len();
        let mut rows = program.rows();
        while let Ok(Some((header, row))) = rows.next_row() {
            if row.end_sequence() {
                self.rows.push((row.address(), 0, 0));
                sequence = self.rows.len();
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
                        .map_or_else(|| "?".to_owned(), |f| file_path(strings, header, f));
                    self.files.push(path);
                    let i = (self.files.len() - 1) as u32;
                    map[fi] = Some(i);
                    i
                }
            };
            let line = u32::try_from(line.get()).unwrap_or(u32::MAX);
            let entry = (row.address(), index, line);
            let in_sequence = self.rows.len() > sequence;
            match self.rows.last_mut() {
                Some(last) if in_sequence && last.0 == entry.0 => *last = entry,
                _ => self.rows.push(entry),
            }
        }
    }

    /// The file and line of the code at `addr` (an address as in the file).
    pub(crate) fn find(&self, addr: u64) -> Option<(&str, u32)> {
        let i = self.rows.partition_point(|&(a, _, _)| a <= addr);
        let &(_, file, line) = self.rows[..i].last()?;
        (line != 0).then(|| (self.files[file as usize].as_str(), line))
    }
}

/// A file entry's path: its name under its directory, as far as the name
/// is relative (in DWARF 5 the directory itself is under directory 0, the
/// compilation directory).
fn file_path(
    strings: &Strings<'_>,
    header: &gimli::LineProgramHeader<Slice<'_>>,
    file: &gimli::FileEntry<Slice<'_>>,
) -> String {
    let name = strings.text(file.path_name()).unwrap_or_default();
    if name.starts_with('/') {
        return name;
    }
    let mut dir = file
        .directory(header)
        .and_then(|d| strings.text(d))
        .unwrap_or_default();
    if !dir.starts_with('/') && file.directory_index() != 0 && header.version() >= 5 {
        if let Some(comp) = header.directory(0).and_then(|d| strings.text(d)) {
            dir = join(&comp, &dir);
        }
    }
    join(&dir, &name)
}

fn join(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (true, _) => name.to_owned(),
        (_, true) => dir.to_owned(),
        _ if dir.ends_with('/') => format!("{dir}{name}"),
        _ => format!("{dir}/{name}"),
    }
}
