//! The access log: one JSON line per request (request id, operation,
//! region, access key id, principal, status, error code, latency). Never a
//! body, a header value other than these, or a secret.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Mutex;

use serde::Serialize;

/// Where access log lines go.
pub enum AccessLog {
    Off,
    Stderr,
    File(Mutex<std::fs::File>),
}

impl std::fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AccessLog::Off => "Off",
            AccessLog::Stderr => "Stderr",
            AccessLog::File(_) => "File",
        })
    }
}

impl AccessLog {
    /// `-` is stderr, `off` is none, anything else a file (appended to).
    pub fn open(spec: &str) -> std::io::Result<AccessLog> {
        Ok(match spec {
            "-" | "stderr" => AccessLog::Stderr,
            "off" => AccessLog::Off,
            path => AccessLog::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(Path::new(path))?,
            )),
        })
    }

    pub fn write(&self, line: &LogLine<'_>) {
        self.write_value(line);
    }

    /// Any other structured event (start, shutdown, errors), same sink.
    pub fn event(&self, event: &str, detail: serde_json::Value) {
        #[derive(Serialize)]
        struct Event<'a> {
            time: String,
            event: &'a str,
            #[serde(flatten)]
            detail: serde_json::Value,
        }
        self.write_value(&Event {
            time: now(),
            event,
            detail,
        });
    }

    fn write_value(&self, v: &impl Serialize) {
        if matches!(self, AccessLog::Off) {
            return;
        }
        let Ok(mut bytes) = serde_json::to_vec(v) else {
            return;
        };
        bytes.push(b'\n');
        // One write per line: lines of concurrent requests never interleave.
        let _ = match self {
            AccessLog::Off => Ok(()),
            AccessLog::Stderr => std::io::stderr().lock().write_all(&bytes),
            AccessLog::File(f) => match f.lock() {
                Ok(mut f) => f.write_all(&bytes),
                Err(_) => Ok(()),
            },
        };
    }
}

fn now() -> String {
    humantime_like(std::time::SystemTime::now())
}

fn humantime_like(t: std::time::SystemTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(t)
        .format(&fmt)
        .unwrap_or_default()
}

/// One request's line.
#[derive(Debug)]
pub struct LogLine<'a> {
    pub request_id: &'a str,
    pub peer: SocketAddr,
    pub op: Option<&'a str>,
    pub region: Option<&'a str>,
    pub access_key_id: Option<&'a str>,
    pub principal: Option<&'a str>,
    pub status: u16,
    pub error: Option<&'a str>,
    pub latency_us: u64,
}

impl Serialize for LogLine<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("time", &now())?;
        m.serialize_entry("request_id", self.request_id)?;
        m.serialize_entry("peer", &self.peer.to_string())?;
        m.serialize_entry("op", &self.op)?;
        m.serialize_entry("region", &self.region)?;
        m.serialize_entry("access_key_id", &self.access_key_id)?;
        m.serialize_entry("principal", &self.principal)?;
        m.serialize_entry("status", &self.status)?;
        m.serialize_entry("error", &self.error)?;
        m.serialize_entry("latency_us", &self.latency_us)?;
        m.end()
    }
}
