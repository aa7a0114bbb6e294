use std::borrow::Cow;

use pretty_assertions::assert_eq;
use serde_json::json;

use super::*;

/// Asserts that `input` redacts to `expect`, and that redacting the result finds nothing more.
#[track_caller]
fn check(input: &str, expect: &str) {
    let redactor = Redactor::new();
    let once = redactor.redact_text(input);
    assert_eq!(once, expect, "input: {input}");
    let twice = redactor.redact_text(&once);
    assert!(matches!(twice, Cow::Borrowed(_)), "a second pass changed {once:?} into {twice:?}");
}

/// Asserts that `input` comes back borrowed and byte-identical.
#[track_caller]
fn clean(input: &str) {
    let redacted = Redactor::new().redact_text(input);
    assert!(matches!(redacted, Cow::Borrowed(_)), "{input:?} became {redacted:?}");
}

fn kinds(redactions: &Redactions) -> Vec<(&'static str, usize)> {
    redactions.iter().map(|(kind, count)| (kind.as_str(), count)).collect()
}

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const JWT: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLEaCXVzLWVhc3QtMSJHMEUCIQDexampleFAKEtokenBODYonlyForTests0123456789abcdefghij/klmnop+qrstuv==";

#[test]
fn aws_access_key_ids() {
    check("AKIAIOSFODNN7EXAMPLE", "[redacted:aws-access-key-id]");
    check("key id ASIAY34FZKBOKMUTVV7A expires", "key id [redacted:aws-access-key-id] expires");
    for prefix in ["AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"] {
        check(&format!("({prefix}J2ZKYRXM5EXAMPLE)"), "([redacted:aws-access-key-id])");
    }
    check(
        r#"{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}"#,
        r#"{"AccessKeyId": "[redacted:aws-access-key-id]"}"#,
    );
}

#[test]
fn aws_secret_keys_and_session_tokens_in_context() {
    check(
        &format!("aws_secret_access_key = {AWS_SECRET}"),
        "aws_secret_access_key = [redacted:aws-secret-key]",
    );
    check(
        &format!(r#""SecretAccessKey": "{AWS_SECRET}","#),
        r#""SecretAccessKey": "[redacted:aws-secret-key]","#,
    );
    check(&format!("secret_key: {AWS_SECRET}"), "secret_key: [redacted:aws-secret-key]");
    check(
        &format!("AWS_SESSION_TOKEN={SESSION_TOKEN}"),
        "AWS_SESSION_TOKEN=[redacted:aws-session-token]",
    );
    check(
        &format!(r#"{{"SessionToken":"{SESSION_TOKEN}"}}"#),
        r#"{"SessionToken":"[redacted:aws-session-token]"}"#,
    );
    check(
        "GET /b/o?X-Amz-Security-Token=IQoJb3JpZ2lu%2FexampleFAKE%3D&X-Amz-Date=20240101T000000Z",
        "GET /b/o?X-Amz-Security-Token=[redacted:aws-session-token]&X-Amz-Date=20240101T000000Z",
    );
    check(
        "x-amz-security-token: IQoJb3JpZ2luFAKEexample0123",
        "x-amz-security-token: [redacted:aws-session-token]",
    );
}

#[test]
fn jwts() {
    check(&format!("token {JWT} accepted"), "token [redacted:jwt] accepted");
    check(&format!("id_token={JWT}&state=1"), "id_token=[redacted:jwt]&state=1");
    // An unsigned JWT has an empty third segment.
    check("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9. is unsigned", "[redacted:jwt] is unsigned");
}

#[test]
fn pem_private_keys() {
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7FAKEkeyMaterial0123\nq9VbEXAMPLE==\n-----END RSA PRIVATE KEY-----";
    check(&format!("key:\n{key}\nnext line"), "key:\n[redacted:private-key]\nnext line");
    check(
        r#"{"tls.key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0FAKE\n-----END PRIVATE KEY-----\n"}"#,
        r#"{"tls.key": "[redacted:private-key]\n"}"#,
    );
    check(
        "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAFAKE\\n-----END OPENSSH PRIVATE KEY-----\\n",
        "[redacted:private-key]\\n",
    );
    check("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIFAKE\nMHcCAQEEIFAKE", "[redacted:private-key]");
    check(
        "private_key: -----BEGIN ENCRYPTED PRIVATE KEY----- MIIFHDBOBgkqFAKE -----END ENCRYPTED PRIVATE KEY-----",
        "private_key: [redacted:private-key]",
    );
    check(
        "ssh-privatekey: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBZmFrZWZha2VmYWtlCi0tLS0tRU5EIFJTQSBQUklWQVRFIEtFWS0tLS0tCg==",
        "ssh-privatekey: [redacted:private-key]",
    );
}

#[test]
fn url_credentials_keep_scheme_user_and_host() {
    check(
        "fetching https://deploy:s3cr3t-Pa55@registry.example.com/v2/",
        "fetching https://deploy:[redacted:url-credentials]@registry.example.com/v2/",
    );
    check(
        "ftp://anonymous:guest@ftp.example.com",
        "ftp://anonymous:[redacted:url-credentials]@ftp.example.com",
    );
    check(
        "a password with @ in it: https://bob:p@ss@example.com",
        "a password with @ in it: https://bob:[redacted:url-credentials]@example.com",
    );
}

#[test]
fn connection_strings() {
    check(
        "DATABASE_URL=postgres://app:hunter2@db.internal:5432/orders",
        "DATABASE_URL=postgres://app:[redacted:connection-string]@db.internal:5432/orders",
    );
    check(
        "mongodb+srv://admin:Zm9vYmFy@cluster0.example.mongodb.net/?retryWrites=true",
        "mongodb+srv://admin:[redacted:connection-string]@cluster0.example.mongodb.net/?retryWrites=true",
    );
    check("redis://:r3dis-pass@cache:6379/0", "redis://:[redacted:connection-string]@cache:6379/0");
    check(
        "Server=tcp:db.example.com,1433;Database=app;User ID=app;Password=p@ss w0rd;Encrypt=True;",
        "Server=tcp:db.example.com,1433;Database=app;User ID=app;Password=[redacted:connection-string];Encrypt=True;",
    );
    check(
        "Driver={ODBC Driver 18};Server=db;Uid=app;Pwd=Secr3t!;",
        "Driver={ODBC Driver 18};Server=db;Uid=app;Pwd=[redacted:connection-string];",
    );
    check(
        "jdbc:sqlserver://db:1433;user=app;password=Secr3t!",
        "jdbc:sqlserver://db:1433;user=app;password=[redacted:connection-string]",
    );
    check(
        "jdbc:postgresql://db:5432/app?user=app&password=Secr3t",
        "jdbc:postgresql://db:5432/app?user=app&password=[redacted:sensitive-value]",
    );
}

#[test]
fn bearer_and_basic_authorizations() {
    check(
        "Authorization: Bearer abc123def456ghi789",
        "Authorization: Bearer [redacted:bearer-token]",
    );
    check(&format!("authorization: bearer {JWT}"), "authorization: bearer [redacted:jwt]");
    check(
        r#"-H "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l""#,
        r#"-H "Authorization: Basic [redacted:basic-auth]""#,
    );
    check(
        r#"{"headers": {"authorization": "Bearer xyz"}}"#,
        r#"{"headers": {"authorization": "Bearer [redacted:bearer-token]"}}"#,
    );
    check(
        "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
        "Authorization: Token [redacted:sensitive-value]",
    );
    check(
        "retrying with Bearer k8s-aws-v1.aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbQ",
        "retrying with Bearer [redacted:bearer-token]",
    );
    check("proxy sent basic YWxhZGRpbjpvcGVuc2VzYW1l", "proxy sent basic [redacted:basic-auth]");
    check("Cookie: session=abc; theme=dark", "Cookie: [redacted:sensitive-value]");
}

#[test]
fn vendor_tokens() {
    let cases = [
        ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
        ("gho_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
        ("ghu_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
        ("ghs_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
        ("ghr_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
        (
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123",
            "github-token",
        ),
        ("glpat-Ab3dEf6hIj9kLm2nOp5q", "gitlab-token"),
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "slack-token"),
        ("xoxp-123456789012-123456789012-123456789012-0123456789abcdef", "slack-token"),
        ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"),
        ("rk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"),
        ("sk_test_4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"),
        ("AIzaSyA-EXAMPLE0123456789abcdefghijklmn", "google-api-key"),
        ("npm_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "npm-token"),
        ("sk-proj-Ab12Cd34Ef56Gh78Ij90Kl12Mn34", "openai-api-key"),
        ("sk-Ab12Cd34Ef56Gh78Ij90Kl12Mn34Op56Qr78St90", "openai-api-key"),
        ("sk-ant-api03-AbCdEf0123456789AbCdEf0123456789-ExAmPlE", "anthropic-api-key"),
        (
            "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",
            "sendgrid-api-key",
        ),
    ];
    for (token, kind) in cases {
        check(&format!("using {token} now"), &format!("using [redacted:{kind}] now"));
        check(&format!("\"{token}\""), &format!("\"[redacted:{kind}]\""));
    }
    // Under a sensitive name the vendor's kind wins over the name's.
    check(
        "GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "GITHUB_TOKEN=[redacted:github-token]",
    );
}

#[test]
fn sensitive_names_in_text() {
    check("password=hunter2", "password=[redacted:sensitive-value]");
    check("DB_PASSWORD: hunter2", "DB_PASSWORD: [redacted:sensitive-value]");
    check(
        r#"level=info user=bob passwd="correct horse" ok=1"#,
        r#"level=info user=bob passwd="[redacted:sensitive-value]" ok=1"#,
    );
    check(
        r#"{"client_secret":"s3cr3t-value","scope":"read"}"#,
        r#"{"client_secret":"[redacted:sensitive-value]","scope":"read"}"#,
    );
    check("clientSecret: abcDEF123", "clientSecret: [redacted:sensitive-value]");
    check("api_key=0123456789abcdef", "api_key=[redacted:sensitive-value]");
    check("x-api-key: 0123456789abcdef", "x-api-key: [redacted:sensitive-value]");
    check("DD_API_KEY=0123456789abcdef0123456789abcdef", "DD_API_KEY=[redacted:sensitive-value]");
    check("apikey: abcdef0123", "apikey: [redacted:sensitive-value]");
    check(
        "spring.datasource.password=Pr0d!",
        "spring.datasource.password=[redacted:sensitive-value]",
    );
    check("refresh_token: 1//0gFAKEtoken", "refresh_token: [redacted:sensitive-value]");
    check(
        "--db-password=hunter2 --port 5432",
        "--db-password=[redacted:sensitive-value] --port 5432",
    );
    check("{'password': 'hunter2'}", "{'password': '[redacted:sensitive-value]'}");
    check(r#""passphrase" => "open sesame""#, r#""passphrase" => "[redacted:sensitive-value]""#);
    check("DB_PASS=hunter2", "DB_PASS=[redacted:sensitive-value]");
    check("basic_auth: admin:admin", "basic_auth: [redacted:sensitive-value]");
    check("SESSION_ID=8f14e45fceea167a", "SESSION_ID=[redacted:sensitive-value]");
    check("aws_credentials: foo", "aws_credentials: [redacted:sensitive-value]");
    // A string containing JSON, as a log line carries it.
    check(
        r#"{"msg":"{\"user\":\"bob\",\"password\":\"hunter2\"}"}"#,
        r#"{"msg":"{\"user\":\"bob\",\"password\":\"[redacted:sensitive-value]\"}"}"#,
    );
    check(
        r#"{"msg":"login failed: password=hunter2"}"#,
        r#"{"msg":"login failed: password=[redacted:sensitive-value]"}"#,
    );
}

#[test]
fn env_pairs_in_text() {
    check(
        r#"[{"name":"DB_HOST","value":"db"},{"name":"DB_PASSWORD","value":"hunter2"}]"#,
        r#"[{"name":"DB_HOST","value":"db"},{"name":"DB_PASSWORD","value":"[redacted:sensitive-value]"}]"#,
    );
    check(
        "env:\n- name: API_TOKEN\n  value: abc123\n- name: LOG_LEVEL\n  value: debug\n",
        "env:\n- name: API_TOKEN\n  value: [redacted:sensitive-value]\n- name: LOG_LEVEL\n  value: debug\n",
    );
    check(
        r#"{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2\"}"#,
        r#"{\"name\":\"DB_PASSWORD\",\"value\":\"[redacted:sensitive-value]\"}"#,
    );
    // A reference names where the secret lives; it is not the secret.
    clean(r#"{"name":"DB_PASSWORD","valueFrom":{"secretKeyRef":{"name":"db","key":"password"}}}"#);
}

#[test]
fn near_misses_stay_identical() {
    let near_misses = [
        "the AKIA prefix marks long-term keys",
        "AKIAIOSFODNN7EXAMPL is one character short",
        "AKIAIOSFODNN7EXAMPLEX is one character long",
        "XAKIAIOSFODNN7EXAMPLE",
        "token_count: 5",
        r#"{"tokens": 1234, "max_tokens": 4096, "input_tokens": 12}"#,
        "max_tokens=4096",
        "password_policy: strict",
        "passwordless login is enabled",
        "secretName: db-creds",
        r#"{"secretName": "db-creds", "secretKeyRef": {"name": "db", "key": "password"}}"#,
        "see https://example.com/docs?page=2 and http://localhost:8080/healthz",
        "ssh://git@github.com/org/repo.git",
        "the Bearer token was rejected",
        "WWW-Authenticate: Bearer realm=\"kubernetes\", error=\"invalid_token\"",
        "Basic auth is disabled",
        "basic configuration applied",
        "data: eyJhcGlWZXJzaW9uIjoidjEiLCJraW5kIjoiQ29uZmlnIn0=",
        "uid: 4f6c2a2e-9b1d-4c3e-8f7a-0d2b5e6c7a81",
        "resourceVersion: \"123456789\"",
        "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
        "image: 602401143452.dkr.ecr.us-west-2.amazonaws.com/eks/coredns@sha256:8c0f5a1b8f6a4c7e3e9d2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
        "-----BEGIN CERTIFICATE-----\nMIIC5zCCAc+gAwIBAgIBADANBgkqhkiG9w0BAQsFADAV\n-----END CERTIFICATE-----",
        "certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM1ekNDQWMrZ0F3SUJBZ0lCQURBTkJna3Foa2lHOXcwQkFRc0ZBREFWTVJNd0VRWURWUVFERXdwcmRXSmwKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo=",
        "NextToken: eyJ2IjoxLCJjIjoiZXhhbXBsZSJ9",
        r#"{"nextForwardToken": "f/38123456789012345678901234567890", "ClientRequestToken": "a1b2c3"}"#,
        "sessionAffinity: ClientIP",
        "New session 42 of user root.",
        "Accepted password for root from 10.0.0.1 port 22 ssh2",
        "pam_unix(sshd:auth): authentication failure",
        "auth: required",
        "password: ${DB_PASSWORD}",
        "token: $(cat /var/run/secrets/token)",
        "password: \"{{ .Values.db.password }}\"",
        "password: ********",
        "PWD=/home/app",
        "automountServiceAccountToken: true",
        "type: kubernetes.io/service-account-token",
        r#"{"key": "app.kubernetes.io/name", "operator": "In"}"#,
        "monkey: banana",
        "disk-pressure task-runner ask-me",
        "sk-learn is a library",
        "the ghp_ prefix marks classic tokens",
        "xoxb-short",
        "keyboard=us",
        "author: jane",
        "cookie consent banner shown",
        "std::token::Token",
        "if token == expected",
        "https://user@example.com/path",
        "postgres://db.internal:5432/orders",
        "Asia/Tokyo and AIDAN and ASIAN",
        "eyJ is how base64 of a JSON object starts",
    ];
    for input in near_misses {
        clean(input);
    }
}

#[test]
fn clean_text_is_borrowed() {
    let text =
        r#"{"level":"info","ts":"2024-05-01T12:00:00Z","msg":"reconciled","pod":"web-7d9f"}"#;
    assert!(matches!(Redactor::new().redact_text(text), Cow::Borrowed(_)));
    assert!(matches!(Redactor::new().redact_text(""), Cow::Borrowed(_)));
}

#[test]
fn pod_spec_env_is_redacted_by_name() {
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "uid": "4f6c2a2e-9b1d-4c3e-8f7a-0d2b5e6c7a81", "resourceVersion": "123456"},
        "spec": {
            "containers": [{
                "name": "app",
                "image": "nginx@sha256:8c0f5a1b8f6a4c7e3e9d2b1a0f9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e",
                "args": ["--db-password", "hunter2", "--port", "8080", "--api-token=abc123"],
                "env": [
                    {"name": "DB_HOST", "value": "db.internal"},
                    {"name": "DB_PASSWORD", "value": "hunter2"},
                    {"name": "STRIPE_KEY", "value": "sk_live_4eC39HqLyjWDarjtT1zdp7dc"},
                    {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
                    {"name": "MAX_TOKENS", "value": "4096"},
                ],
            }],
        },
    });
    let redactions = Redactor::new().redact_value(&mut pod);
    assert_eq!(
        pod["spec"]["containers"][0]["env"],
        json!([
            {"name": "DB_HOST", "value": "db.internal"},
            {"name": "DB_PASSWORD", "value": "[redacted:sensitive-value]"},
            {"name": "STRIPE_KEY", "value": "[redacted:stripe-key]"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
            {"name": "MAX_TOKENS", "value": "4096"},
        ])
    );
    assert_eq!(
        pod["spec"]["containers"][0]["args"],
        json!([
            "--db-password",
            "[redacted:sensitive-value]",
            "--port",
            "8080",
            "--api-token=[redacted:sensitive-value]"
        ])
    );
    assert_eq!(pod["metadata"]["uid"], "4f6c2a2e-9b1d-4c3e-8f7a-0d2b5e6c7a81");
    assert_eq!(kinds(&redactions), [("stripe-key", 1), ("sensitive-value", 3)]);
    assert_eq!(redactions.total(), 4);
}

#[test]
fn config_map_data_and_binary_data() {
    let mut config_map = json!({
        "kind": "ConfigMap",
        "data": {
            "DB_PASSWORD": "hunter2",
            "LOG_LEVEL": "debug",
            "password_policy": "strict",
            "application.properties": "db.url=jdbc:postgresql://db/app\ndb.password=hunter2\ndb.pool=5\n",
            "config.json": "{\"auth\": {\"token\": \"abc123xyz\"}, \"tokens\": 10}",
        },
        "binaryData": {
            "id_rsa": "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVBZmFrZWZha2VmYWtlCi0tLS0tRU5EIFJTQSBQUklWQVRFIEtFWS0tLS0tCg==",
            "logo.png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        },
    });
    let redactions = Redactor::new().redact_value(&mut config_map);
    assert_eq!(
        config_map,
        json!({
            "kind": "ConfigMap",
            "data": {
                "DB_PASSWORD": "[redacted:sensitive-value]",
                "LOG_LEVEL": "debug",
                "password_policy": "strict",
                "application.properties": "db.url=jdbc:postgresql://db/app\ndb.password=[redacted:sensitive-value]\ndb.pool=5\n",
                "config.json": "{\"auth\": {\"token\": \"[redacted:sensitive-value]\"}, \"tokens\": 10}",
            },
            "binaryData": {
                "id_rsa": "[redacted:private-key]",
                "logo.png": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            },
        })
    );
    assert_eq!(redactions.total(), 4);
}

#[test]
fn nested_objects_arrays_and_types() {
    let mut value = json!({
        "Credentials": {
            "AccessKeyId": "ASIAY34FZKBOKMUTVV7A",
            "SecretAccessKey": AWS_SECRET,
            "SessionToken": SESSION_TOKEN,
            "Expiration": "2024-05-01T12:00:00Z",
        },
        "items": [[{"password": "a"}, {"token": 42, "secret": true, "auth": null}]],
        "NextToken": "eyJ2IjoxfQ==",
        "users": [{"name": "bob", "api_key": "k-123"}],
        "kubeconfig": {"token": "k8s-aws-v1.aHR0cHM6Ly9zdHM", "secretName": "db-creds"},
        "message": format!("token {JWT}"),
    });
    let redactions = Redactor::new().redact_value(&mut value);
    assert_eq!(
        value,
        json!({
            "Credentials": {
                "AccessKeyId": "[redacted:aws-access-key-id]",
                "SecretAccessKey": "[redacted:aws-secret-key]",
                "SessionToken": "[redacted:aws-session-token]",
                "Expiration": "2024-05-01T12:00:00Z",
            },
            "items": [[{"password": "[redacted:sensitive-value]"}, {"token": 42, "secret": true, "auth": null}]],
            "NextToken": "eyJ2IjoxfQ==",
            "users": [{"name": "bob", "api_key": "[redacted:sensitive-value]"}],
            "kubeconfig": {"token": "[redacted:sensitive-value]", "secretName": "db-creds"},
            "message": "token [redacted:jwt]",
        })
    );
    assert_eq!(
        kinds(&redactions),
        [
            ("aws-access-key-id", 1),
            ("aws-secret-key", 1),
            ("aws-session-token", 1),
            ("jwt", 1),
            ("sensitive-value", 3)
        ]
    );
    let again = Redactor::new().redact_value(&mut value);
    assert!(again.is_empty(), "a second pass found {again:?}");
}

#[test]
fn strings_holding_json_and_headers() {
    let mut value = json!({
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration":
                "{\"spec\":{\"containers\":[{\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"hunter2\"}]}]}}\n",
        },
        "headers": {"Authorization": "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Cookie": "sid=abc; theme=dark"},
        "url": "https://deploy:s3cr3t@registry.example.com/v2/",
    });
    Redactor::new().redact_value(&mut value);
    assert_eq!(
        value,
        json!({
            "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    "{\"spec\":{\"containers\":[{\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"[redacted:sensitive-value]\"}]}]}}\n",
            },
            "headers": {"Authorization": "Basic [redacted:basic-auth]", "Cookie": "[redacted:sensitive-value]"},
            "url": "https://deploy:[redacted:url-credentials]@registry.example.com/v2/",
        })
    );
}

#[test]
fn redactions_serialise_by_kind() {
    let mut value = json!({"password": "a", "token": "b", "note": "AKIAIOSFODNN7EXAMPLE"});
    let redactions = Redactor::new().redact_value(&mut value);
    assert_eq!(
        serde_json::to_value(&redactions).ok(),
        Some(json!({"aws-access-key-id": 1, "sensitive-value": 2}))
    );
    assert_eq!(redactions.count(Kind::SensitiveValue), 2);
    assert_eq!(redactions.count(Kind::Jwt), 0);
}

#[test]
fn kinds_are_unique_kebab_case() {
    let mut names: Vec<&str> = Kind::ALL.iter().map(|kind| kind.as_str()).collect();
    for name in &names {
        assert!(
            name.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'-'),
            "`{name}` is not kebab-case"
        );
    }
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), Kind::ALL.len());
    for kind in Kind::ALL {
        assert_eq!(kind.marker(), format!("[redacted:{kind}]"));
        clean(kind.marker());
    }
}

#[test]
fn every_secret_is_found_at_any_offset() {
    // The same secrets embedded after prefixes of every length, so matchers see hits at every
    // alignment and next to multibyte characters.
    let secrets = [
        ("AKIAIOSFODNN7EXAMPLE", "[redacted:aws-access-key-id]"),
        ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "[redacted:github-token]"),
        (JWT, "[redacted:jwt]"),
    ];
    for (secret, marker) in secrets {
        for prefix in ["", " ", "é ", "日本 ", "\u{1F600}\t", "\"", "=", "(", "é=", "\n"] {
            let input = format!("{prefix}{secret} ü");
            check(&input, &format!("{prefix}{marker} ü"));
        }
    }
}

/// A fixed-seed xorshift generator, enough to vary fuzz input without a crate.
struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

#[test]
fn arbitrary_input_never_panics_and_settles() {
    // Fragments of triggers and their surroundings, mixed with multibyte characters so that
    // every matcher sees truncated and misaligned input.
    const PIECES: &[&str] = &[
        "AKIA",
        "ASIAY34F",
        "IOSFODNN7EXAMPLE",
        "eyJ",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "-----END ",
        "-----",
        "LS0tLS1CRUdJ",
        "://",
        "user:",
        "@",
        "/",
        "bearer ",
        "Basic ",
        "YWxhZGRpbjpvcGVuc2VzYW1l",
        "ghp_",
        "github_pat_",
        "glpat-",
        "xoxb-",
        "sk_live_",
        "AIza",
        "npm_",
        "sk-",
        "sk-ant-",
        "SG.",
        "password",
        "Token",
        "secret",
        "api_key",
        "auth",
        "session",
        "cookie",
        "creds",
        "pwd",
        "\"",
        "\\\"",
        "'",
        ":",
        "=",
        "=>",
        ";",
        ",",
        " ",
        "\n",
        "\\n",
        "name",
        "value",
        "{",
        "}",
        "[",
        "]",
        "é",
        "日本",
        "\u{1F600}",
        "\u{0}",
        "$",
        "${",
        "|",
        "0123456789",
        "abcdefghij",
        "[redacted:jwt]",
    ];
    let redactor = Redactor::new();
    // Several seeds: the rare soups where two rules disagree on a token's end need many tries.
    for seed in [0x5eed_cafe_f00d_d00d_u64, 1, 0xdead_beef, 0x1234_5678_9abc, 42] {
        let mut random = Xorshift(seed);
        for _ in 0..20_000 {
            let mut input = String::new();
            for _ in 0..random.below(24) {
                input.push_str(PIECES[random.below(PIECES.len())]);
            }
            let once = redactor.redact_text(&input).into_owned();
            let twice = redactor.redact_text(&once);
            assert_eq!(twice, once, "not idempotent on {input:?}");

            let mut value = json!({"password": input.clone(), "list": [input.clone()], "pair": {"name": "TOKEN", "value": input}});
            redactor.redact_value(&mut value);
            let settled = redactor.redact_value(&mut value);
            assert!(settled.is_empty(), "a second pass found {settled:?} in {value}");
        }
    }

    // Raw bytes, made valid UTF-8 lossily, with no structure at all.
    let mut random = Xorshift(0x5eed_cafe_f00d_d00d);
    for _ in 0..2_000 {
        let bytes: Vec<u8> = (0..random.below(256)).map(|_| random.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        let once = redactor.redact_text(&text).into_owned();
        assert_eq!(redactor.redact_text(&once), once);
    }
}

/// A tool that leaks a password in its result, to see the registry redact it.
struct Leaky(crate::tool::ToolSpec);

#[async_trait::async_trait]
impl crate::tool::Tool for Leaky {
    fn spec(&self) -> &crate::tool::ToolSpec {
        &self.0
    }

    async fn invoke(
        &self,
        _context: &crate::tool::ToolContext,
        _input: Value,
    ) -> crate::Result<Value> {
        Ok(json!({"env": [{"name": "DB_PASSWORD", "value": "hunter2"}], "note": "ok"}))
    }
}

#[derive(schemars::JsonSchema, serde::Deserialize)]
struct NoInput {}

#[tokio::test]
async fn registry_calls_return_redacted_results_and_count_them() {
    use crate::tool::{Permissions, Risk, Tier, ToolEnv, ToolSpec};

    let permissions = Permissions { iam: vec![], rbac: vec![] };
    let spec = ToolSpec::new::<NoInput>(
        "leaky",
        "A tool built by the test that returns a secret.",
        Tier::Core,
        Risk::Read,
        permissions,
    );
    let tool: Arc<dyn crate::tool::Tool> = Arc::new(Leaky(spec));
    let Ok(registry) = crate::Registry::new([tool]) else { panic!("the registry builds") };
    let outcome = registry.call(&Arc::new(ToolEnv::default()), "leaky", json!({})).await;

    assert_eq!(
        outcome.result.ok(),
        Some(
            json!({"env": [{"name": "DB_PASSWORD", "value": "[redacted:sensitive-value]"}], "note": "ok"})
        )
    );
    assert_eq!(outcome.audit.redactions, 1);
    assert_eq!(outcome.audit.outcome, "ok");
}
