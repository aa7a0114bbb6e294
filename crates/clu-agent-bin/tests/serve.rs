//! `clu-agent serve` as a process: it becomes ready, answers authenticated requests, logs JSON,
//! and exits 0 on SIGTERM; without an explicit metering setting it refuses to start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

const TOKEN: &str = "process-test-token";

/// One HTTP/1.1 request on a fresh connection: the status and the body as JSON. A plain
/// socket keeps this test's build free of an HTTP client.
fn request(
    address: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Option<(u16, Value)> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)?
    } else {
        body.to_owned()
    };
    Some((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

/// The payload of a chunked HTTP/1.1 body.
fn dechunk(mut body: &str) -> Option<String> {
    let mut payload = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n")?;
        let size = usize::from_str_radix(size.trim(), 16).ok()?;
        if size == 0 {
            return Some(payload);
        }
        payload.push_str(rest.get(..size)?);
        body = rest.get(size + 2..)?;
    }
}

/// `clu-agent serve` with a clean environment, no cluster and no reachable AWS endpoint.
fn serve(config: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clu-agent"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "eu-west-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("KUBECONFIG", "/nonexistent")
        .env("POD_NAME", "clu-ops-agent-test-0")
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config);
    command
}

fn write_config(dir: &tempfile::TempDir, metering: &str) -> std::path::PathBuf {
    let token = dir.path().join("token");
    std::fs::write(&token, TOKEN).unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        format!(
            "{metering}serve:\n  auth:\n    mode: bearerToken\n    tokenFile: {}\n  shutdownGrace: 5\n",
            token.display()
        ),
    )
    .unwrap();
    path
}

/// Reads the JSON log lines of `child` on a thread, sending each parsed line.
fn log_lines(child: &mut Child) -> mpsc::Receiver<Value> {
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("a log line is not JSON ({e}): {line}"));
            if sender.send(value).is_err() {
                return;
            }
        }
    });
    receiver
}

#[test]
fn serve_becomes_ready_answers_and_exits_0_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "metering:\n  mode: off\n");
    let started = Instant::now();
    let mut child = serve(&config).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let logs = log_lines(&mut child);

    let address = loop {
        let line =
            logs.recv_timeout(Duration::from_secs(30)).expect("the service logs its address");
        if line["fields"]["message"] == "serving" {
            break line["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = request(&address, "GET", "/readyz", None, None);
        if ready.is_some_and(|(status, _)| status == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "never ready");
        std::thread::sleep(Duration::from_millis(25));
    }
    eprintln!("ready after {:?}", started.elapsed());

    let (status, refused) = request(&address, "GET", "/v1/tools", None, None).unwrap();
    assert_eq!(status, 401);
    assert_eq!(refused["error"]["code"], "unauthenticated");
    let (status, tools) = request(&address, "GET", "/v1/tools", Some(TOKEN), None).unwrap();
    assert_eq!(status, 200);
    assert!(tools["tools"].as_array().unwrap().iter().any(|t| t["name"] == "k8s_get"));
    // Without a cluster, preflight holds the Kubernetes tools back and the refusal says why.
    let k8s_get = tools["tools"].as_array().unwrap().iter().find(|t| t["name"] == "k8s_get");
    assert_eq!(k8s_get.unwrap()["preflight"]["status"], "failed");
    let input = serde_json::json!({"input": {"kind": "Pod", "namespace": "a", "name": "b"}});
    let (status, call) =
        request(&address, "POST", "/v1/tools/k8s_get/call", Some(TOKEN), Some(&input)).unwrap();
    assert_eq!(status, 403, "{call}");
    assert_eq!(call["error"]["code"], "tool-not-offered");
    let message = call["error"]["message"].as_str().unwrap();
    assert!(message.contains("no Kubernetes client is configured"), "{message}");
    // Preflight's own requests are audited like any tool call.
    let audit = loop {
        let line = logs.recv_timeout(Duration::from_secs(10)).expect("an audit line");
        if line["target"] == "clu::audit" && line["fields"]["tool"] == "sts_get_caller_identity" {
            break line;
        }
    };
    assert_ne!(audit["fields"]["outcome"], "ok", "no AWS endpoint answers: {audit}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "serve did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0));
    let messages: Vec<Value> =
        logs.try_iter().map(|line| line["fields"]["message"].clone()).collect();
    assert!(messages.iter().any(|m| m == "SIGTERM: shutting down"), "{messages:?}");
    assert!(messages.iter().any(|m| m == "stopped"), "{messages:?}");
}

#[test]
fn serve_refuses_to_start_without_an_explicit_metering_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&dir, "");
    let output = serve(&config).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("explicit `metering` setting") && stderr.contains("mode: off"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_an_unreadable_token_file_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "metering:\n  mode: off\nserve:\n  auth:\n    mode: bearerToken\n    tokenFile: /nonexistent/token\n",
    )
    .unwrap();
    let output = serve(&config).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("invalid-serve-settings") && stderr.contains("serve.auth.tokenFile"),
        "{stderr}"
    );
}
