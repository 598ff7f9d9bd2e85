//! A loopback stand-in for CodeStar Connections' JSON 1.0 API, GetConnection and GetHost only: moto has no such
//! service, and the git source builds in AWS ask it what a connection connects to. Answers the documented
//! shapes (`Connection` with `ConnectionArn`, `ConnectionStatus`, `ProviderType`, `HostArn`; a host's
//! `ProviderEndpoint`) and `ResourceNotFoundException` for anything else; every request's target is recorded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

/// One connection the stand-in knows.
#[derive(Debug, Clone)]
pub struct KnownConnection {
    /// `GitHub`, `GitLab`, `Bitbucket`, `GitHubEnterpriseServer`, `GitLabSelfManaged`.
    pub provider_type: String,
    /// `AVAILABLE`, `PENDING` or `ERROR`.
    pub status: String,
    /// The host of a self-managed provider, and its endpoint.
    pub host: Option<(String, String)>,
}

/// The running stand-in.
pub struct ConnectionsStandIn {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl ConnectionsStandIn {
    /// Serves `connections` by ARN until the process ends.
    pub fn start(connections: HashMap<String, KnownConnection>) -> ConnectionsStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let _ = answer(stream, &connections, &record);
            }
        });
        ConnectionsStandIn { url, seen }
    }

    /// `http://127.0.0.1:<port>`: the endpoint URL a CodeStar Connections client is given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The operations asked so far, as `GetConnection <arn>` / `GetHost <arn>`.
    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }
}

fn answer(
    stream: std::net::TcpStream,
    connections: &HashMap<String, KnownConnection>,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let (mut length, mut target) = (0usize, String::new());
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "x-amz-target" => target = value.trim().to_owned(),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let input: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let not_found = |what: &str| {
        (
            "400 Bad Request",
            json!({"__type": "ResourceNotFoundException", "Message": format!("{what} not found")}),
        )
    };
    let (status, out) = match operation.as_str() {
        "GetConnection" => {
            let arn = input["ConnectionArn"].as_str().unwrap_or_default();
            seen.lock()
                .expect("lock")
                .push(format!("GetConnection {arn}"));
            match connections.get(arn) {
                Some(c) => {
                    let mut connection = json!({
                        "ConnectionArn": arn,
                        "ConnectionName": arn.rsplit('/').next(),
                        "ConnectionStatus": c.status,
                        "ProviderType": c.provider_type,
                        "OwnerAccountId": "123456789012"
                    });
                    if let Some((host, _)) = &c.host {
                        connection["HostArn"] = json!(host);
                    }
                    ("200 OK", json!({ "Connection": connection }))
                }
                None => not_found(&format!("connection {arn}")),
            }
        }
        "GetHost" => {
            let arn = input["HostArn"].as_str().unwrap_or_default();
            seen.lock().expect("lock").push(format!("GetHost {arn}"));
            let host = connections.values().find_map(|c| {
                c.host
                    .as_ref()
                    .filter(|(h, _)| h == arn)
                    .map(|(_, endpoint)| (c, endpoint))
            });
            match host {
                Some((c, endpoint)) => (
                    "200 OK",
                    json!({"Name": "self-managed", "Status": "AVAILABLE", "ProviderType": c.provider_type,
                           "ProviderEndpoint": endpoint}),
                ),
                None => not_found(&format!("host {arn}")),
            }
        }
        other => (
            "400 Bad Request",
            json!({"__type": "UnknownOperationException", "Message": format!("{other} is not served here")}),
        ),
    };
    let out = out.to_string();
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{out}",
        out.len()
    )?;
    stream.flush()
}
