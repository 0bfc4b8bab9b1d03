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
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};

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
type Line = (u64, Result<Value, String>);

/// Imports `file` into the install `config` names.
pub async fn run(
    mut config: Config,
    file: &Path,
    format: Format,
    rejects: &Path,
    batch: usize,
) -> anyhow::Result<Summary> {
    let batch = batch.clamp(1, 10_000);
    // Every line of a batch may wrap a weak hash at once: the pool's queue holds them all.
    config.hashing.queue = config.hashing.queue.max(batch);
    let store = crate::open_store(&config)?;
    let (credentials, _) = crate::credentials(&config)?;
    let api = crate::command_state(&config, store, &credentials)?;
    let size = std::fs::metadata(file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    let input =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut lines = Lines::new(input, format)?;
    let mut report = Rejects::new(rejects);
    let ctx = RequestContext {
        request_id: uuid::Uuid::new_v4(),
        user_agent: Some("pinauth import".into()),
        ..RequestContext::default()
    };
    let progress = Progress::new("import", "accounts");
    let mut summary = Summary::default();
    loop {
        let mut imports: Vec<(u64, AccountImport)> = Vec::with_capacity(batch);
        // This batch's rejected lines, written in line order once it is done.
        let mut rejected: Vec<(u64, String)> = Vec::new();
        while imports.len() < batch {
            let Some((number, body)) = lines.next()? else {
                break;
            };
            let read = body.and_then(|body| {
                let body = Body::parse(body.to_string().as_bytes(), false).map_err(reason)?;
                account_import_of(api.settings(), &body, api.service.now()).map_err(reason)
            });
            match read {
                Ok(import) => imports.push((number, import)),
                Err(why) => rejected.push((number, why)),
            }
        }
        if imports.is_empty() && rejected.is_empty() && lines.done {
            break;
        }
        let (numbers, imports): (Vec<u64>, Vec<AccountImport>) = imports.into_iter().unzip();
        let done = api.service.import_accounts(imports, &ctx).await;
        for (number, done) in numbers.into_iter().zip(done) {
            match done.map(|d| d.value) {
                Ok(Imported::Created(_)) => summary.created += 1,
                Ok(Imported::Existed(_)) => summary.skipped += 1,
                Err(error) => rejected.push((number, reason(ApiError::from(error)))),
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
    progress.finish(summary.created + summary.skipped + summary.rejected);
    report.finish()?;
    Ok(summary)
}

/// An error's reason for the rejects file: its code, message and field errors (which never
/// quote the value at fault).
fn reason(error: ApiError) -> String {
    error.reason()
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
        buffer: String,
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
                buffer: String::new(),
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
                    let read = input.read_line(buffer)?;
                    if read == 0 {
                        self.done = true;
                        return Ok(None);
                    }
                    *bytes += read as u64;
                    self.number += 1;
                    if buffer.trim().is_empty() {
                        continue;
                    }
                    let body = serde_json::from_str::<Value>(buffer)
                        .map_err(|_| "the line is not a JSON object".to_owned());
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
                    return Ok(Some((self.number, Ok(csv_body(headers, record)))));
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
fn csv_body(headers: &[String], record: &csv::StringRecord) -> Value {
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
    Value::Object(body)
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
