//! `pinauth import FILE`: accounts brought from elsewhere, streamed from JSON lines or CSV in
//! batches, each line read as the body of `POST /manage/account` is (see README, "Migrating
//! users"). A rerun skips what exists; a line that cannot be imported is reported with its number
//! and reason to the rejects file, and never with a hash or a password.

use crate::config::Config;
use crate::{Format, Progress};
use anyhow::Context;
use pinauth_command::app::{AccountImport, Imported, RequestContext};
use pinauth_command::http::account_import_of;
use pinauth_wire::ApiError;
use pinauth_wire::request::Body;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

/// Batches in flight at once.
const IN_FLIGHT: usize = 2;

/// The log writer's page cache during an import, in MiB.
const IMPORT_WRITER_CACHE_MIB: u32 = 256;

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Accounts created.
    pub created: u64,
    /// Lines whose account existed already.
    pub skipped: u64,
    /// Lines refused, each in the rejects file.
    pub rejected: u64,
}

/// The format of `file`: `format` if given, else its extension's.
pub fn format_of(file: &Path, format: Option<Format>) -> anyhow::Result<Format> {
    if let Some(format) = format {
        return Ok(format);
    }
    match file
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jsonl" | "ndjson" | "json") => Ok(Format::Jsonl),
        Some("csv") => Ok(Format::Csv),
        _ => anyhow::bail!(
            "cannot tell the format of {} from its extension: say --format jsonl or --format csv",
            file.display()
        ),
    }
}

/// The rejects file's default place: beside the input.
pub fn default_rejects(file: &Path) -> PathBuf {
    let mut name = file.file_name().unwrap_or_default().to_os_string();
    name.push(".rejects.jsonl");
    file.with_file_name(name)
}

/// One line of the input: its number and its body, or why it is not a body.
type Line = (u64, Result<Body, String>);

/// One batch as read: its accounts and its rejected lines, with their numbers.
type Batch = (Vec<(u64, AccountImport)>, Vec<(u64, String)>);

/// Reads up to `batch` lines.
fn read_batch(
    lines: &mut Lines,
    batch: usize,
    api: &pinauth_command::http::ApiState,
) -> anyhow::Result<Batch> {
    let (mut imports, mut rejected) = (Vec::with_capacity(batch), Vec::new());
    while imports.len() < batch {
        let Some((number, body)) = lines.next()? else {
            break;
        };
        let read = body.and_then(|body| {
            account_import_of(api.settings(), &body, api.service.now()).map_err(|e| e.reason())
        });
        match read {
            Ok(import) => imports.push((number, import)),
            Err(why) => rejected.push((number, why)),
        }
    }
    Ok((imports, rejected))
}

/// Imports `file` into the install `config` names.
pub async fn run(
    mut config: Config,
    file: &Path,
    format: Format,
    rejects: &Path,
    batch: usize,
) -> anyhow::Result<Summary> {
    let batch = batch.clamp(1, 10_000);
    // Every line of the batches in flight may need a hash at once (a clear password, a weak digest
    // to wrap, an answer): the pool's queue holds them all, rather than refusing the rest.
    let answers = 8;
    config.hashing.queue = config.hashing.queue.max(IN_FLIGHT * batch * answers);
    // New streams land all over the streams index: a writer cache that holds it saves a read
    // per stream (BENCHMARKS.md, "import").
    let store = crate::open_store_with(&config, IMPORT_WRITER_CACHE_MIB)?;
    let (credentials, _) = crate::credentials(&config)?;
    let api = crate::command_state(&config, store, &credentials)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut lines = Lines::new(input, format)?;
    let mut report = Rejects::new(rejects);
    // No client: the events say `imported` themselves, and nothing is sealed for a client.
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4(),
        ..RequestContext::default()
    };
    let progress = Progress::new("import", "accounts");
    let mut summary = Summary::default();
    // Two batches in flight: while the store commits one, the next is read, checked against the
    // log, keyed and sealed. A line that shares a `Uid` or identifier with the batch in flight
    // (or with a line held back before it) is held back to a later batch, so that the first in
    // the file still wins.
    let mut in_flight: std::collections::VecDeque<InFlight> = std::collections::VecDeque::new();
    let mut held: Vec<(u64, AccountImport)> = Vec::new();
    loop {
        let room = batch.saturating_sub(held.len());
        let (fresh, rejected) = read_batch(&mut lines, room, &api)?;
        let mut candidates = std::mem::take(&mut held);
        candidates.extend(fresh);
        if candidates.is_empty() && rejected.is_empty() && lines.done && in_flight.is_empty() {
            break;
        }
        let mut busy: HashSet<String> = in_flight
            .iter()
            .flat_map(|f| f.keys.iter().cloned())
            .collect();
        let (mut go, mut keys) = (Vec::new(), HashSet::new());
        for (number, import) in candidates {
            let its = import.keys();
            if its.iter().any(|k| busy.contains(k)) {
                busy.extend(its);
                held.push((number, import));
            } else {
                keys.extend(its);
                go.push((number, import));
            }
        }
        let (numbers, imports): (Vec<u64>, Vec<AccountImport>) = go.into_iter().unzip();
        let (service, ctx) = (api.service.clone(), ctx.clone());
        in_flight.push_back(InFlight {
            numbers,
            rejected,
            keys,
            done: actix_web::rt::spawn(async move { service.import_accounts(imports, &ctx).await }),
        });
        let drain = lines.done && held.is_empty();
        while in_flight.len() >= IN_FLIGHT || (drain && !in_flight.is_empty()) {
            let Some(landed) = in_flight.pop_front() else {
                break;
            };
            let InFlight {
                numbers,
                mut rejected,
                done,
                ..
            } = landed;
            let done = done
                .await
                .map_err(|e| anyhow::anyhow!("an import batch failed: {e}"))?;
            for (number, done) in numbers.into_iter().zip(done) {
                match done.map(|d| d.value) {
                    Ok(Imported::Created(_)) => summary.created += 1,
                    Ok(Imported::Existed(_)) => summary.skipped += 1,
                    Err(error) => rejected.push((number, ApiError::from(error).reason())),
                }
            }
            rejected.sort_unstable_by_key(|(number, _)| *number);
            for (number, why) in &rejected {
                summary.rejected += 1;
                report.add(*number, why)?;
            }
            let total = summary.created + summary.skipped + summary.rejected;
            progress.update(lines.bytes(), size, total);
        }
    }
    progress.finish(summary.created + summary.skipped + summary.rejected);
    report.finish()?;
    Ok(summary)
}

/// A batch being imported: its lines' numbers, its lines rejected before it was imported, the
/// `Uid`s and identifiers it holds, and its outcome to come.
struct InFlight {
    numbers: Vec<u64>,
    rejected: Vec<(u64, String)>,
    keys: HashSet<String>,
    done: actix_web::rt::task::JoinHandle<
        Vec<Result<pinauth_command::app::Done<Imported>, pinauth_command::error::AppError>>,
    >,
}

/// The rejects file, made at the first rejected line (and emptied of an earlier run's).
struct Rejects {
    path: PathBuf,
    out: Option<BufWriter<std::fs::File>>,
}

impl Rejects {
    fn new(path: &Path) -> Self {
        let _ = std::fs::remove_file(path);
        Self {
            path: path.to_path_buf(),
            out: None,
        }
    }

    fn add(&mut self, line: u64, reason: &str) -> anyhow::Result<()> {
        let out = match &mut self.out {
            Some(out) => out,
            None => {
                let file = std::fs::File::create(&self.path)
                    .with_context(|| format!("cannot write {}", self.path.display()))?;
                self.out.insert(BufWriter::new(file))
            }
        };
        writeln!(
            out,
            "{}",
            serde_json::json!({ "line": line, "reason": reason })
        )?;
        Ok(())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(out) = &mut self.out {
            out.flush()?;
        }
        Ok(())
    }
}

/// The input's lines as bodies, streamed.
struct Lines {
    reader: Reader,
    number: u64,
    done: bool,
}

enum Reader {
    Jsonl {
        input: std::io::BufReader<std::fs::File>,
        bytes: u64,
        buffer: Vec<u8>,
    },
    Csv {
        input: csv::Reader<std::fs::File>,
        headers: Vec<String>,
        record: csv::StringRecord,
    },
}

impl Lines {
    fn new(input: std::fs::File, format: Format) -> anyhow::Result<Self> {
        let reader = match format {
            Format::Jsonl => Reader::Jsonl {
                input: std::io::BufReader::new(input),
                bytes: 0,
                buffer: Vec::new(),
            },
            Format::Csv => {
                let mut input = csv::ReaderBuilder::new().flexible(true).from_reader(input);
                let headers = input
                    .headers()
                    .context("cannot read the CSV header")?
                    .iter()
                    .map(|h| h.trim().to_owned())
                    .collect();
                Reader::Csv {
                    input,
                    headers,
                    record: csv::StringRecord::new(),
                }
            }
        };
        Ok(Self {
            reader,
            number: match format {
                Format::Jsonl => 0,
                Format::Csv => 1,
            },
            done: false,
        })
    }

    /// Bytes of the input read so far.
    fn bytes(&self) -> u64 {
        match &self.reader {
            Reader::Jsonl { bytes, .. } => *bytes,
            Reader::Csv { input, .. } => input.position().byte(),
        }
    }

    /// The next line that is not blank, with its number.
    fn next(&mut self) -> anyhow::Result<Option<Line>> {
        loop {
            if self.done {
                return Ok(None);
            }
            match &mut self.reader {
                Reader::Jsonl {
                    input,
                    bytes,
                    buffer,
                } => {
                    buffer.clear();
                    let read = input.read_until(b'\n', buffer)?;
                    if read == 0 {
                        self.done = true;
                        return Ok(None);
                    }
                    *bytes += read as u64;
                    self.number += 1;
                    if buffer.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let body = match std::str::from_utf8(buffer) {
                        Ok(_) => Body::parse(buffer, false)
                            .map_err(|_| "the line is not a JSON object".to_owned()),
                        Err(_) => Err("the line is not UTF-8".to_owned()),
                    };
                    return Ok(Some((self.number, body)));
                }
                Reader::Csv {
                    input,
                    headers,
                    record,
                } => {
                    match input.read_record(record) {
                        Ok(false) => {
                            self.done = true;
                            return Ok(None);
                        }
                        Ok(true) => {}
                        Err(_) => {
                            self.number += 1;
                            return Ok(Some((self.number, Err("the CSV row is malformed".into()))));
                        }
                    }
                    self.number = record.position().map_or(self.number + 1, |p| p.line());
                    if record.iter().all(|cell| cell.trim().is_empty()) {
                        continue;
                    }
                    // A row of another length would shift its cells into other columns.
                    if record.len() != headers.len() {
                        let why = format!(
                            "the row has {} cells and the header {}",
                            record.len(),
                            headers.len()
                        );
                        return Ok(Some((self.number, Err(why))));
                    }
                    let body = Body::from_object(csv_body(headers, record));
                    return Ok(Some((self.number, Ok(body))));
                }
            }
        }
    }
}

/// Fields of a hash given by parts that are numbers.
const NUMERIC: [&str; 3] = ["Iterations", "BlockSize", "Parallelism"];

/// A CSV row as a body: a column per field, `A.B` for a field of an object (`PasswordHash.Salt`,
/// `CustomFields.tier`, `SecurityQuestionAnswer.q1`, `Country.Code`); `Email` a plain address.
/// Empty cells are left out.
fn csv_body(headers: &[String], record: &csv::StringRecord) -> Map<String, Value> {
    let mut body = Map::new();
    for (name, cell) in headers.iter().zip(record.iter()) {
        if cell.is_empty() || name.is_empty() {
            continue;
        }
        let value = Value::String(cell.to_owned());
        match name.split_once('.') {
            Some((object, field)) => {
                let entry = body
                    .entry(object.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
                let value = match (
                    object.eq_ignore_ascii_case("PasswordHash"),
                    cell.parse::<u64>(),
                ) {
                    (true, Ok(n)) if NUMERIC.iter().any(|f| f.eq_ignore_ascii_case(field)) => {
                        Value::from(n)
                    }
                    _ => value,
                };
                if let Value::Object(map) = entry {
                    map.insert(field.to_owned(), value);
                }
            }
            None if name.eq_ignore_ascii_case("Email") => {
                body.insert(
                    "Email".into(),
                    serde_json::json!([{ "Type": "Primary", "Value": cell }]),
                );
            }
            None => {
                body.insert(name.clone(), value);
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_row_nests_dotted_columns_and_numbers_hash_parts() {
        let headers: Vec<String> = [
            "Uid",
            "Email",
            "FirstName",
            "PasswordHash.Algorithm",
            "PasswordHash.Iterations",
            "CustomFields.tier",
            "LastName",
        ]
        .map(str::to_owned)
        .to_vec();
        let record = csv::StringRecord::from(vec![
            "6b4b23de42e54bba90247b0ea99db371",
            "ada@example.com",
            "Ada",
            "PBKDF2",
            "1000",
            "7",
            "",
        ]);
        let body = csv_body(&headers, &record);
        assert_eq!(body["Email"][0]["Value"], "ada@example.com");
        assert_eq!(body["PasswordHash"]["Iterations"], 1000);
        assert_eq!(body["CustomFields"]["tier"], "7");
        assert!(body.get("LastName").is_none());
    }
}
