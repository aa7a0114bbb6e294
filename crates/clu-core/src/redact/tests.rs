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
fn long_names_are_judged_by_how_they_end() {
    // More letters than the normalised tail keeps: only the ending decides.
    let long = "the_orders_service_primary_database_connection_pool_";
    assert!(Normalized::new(long.as_bytes()).length < long.len());
    assert!(is_sensitive_name(format!("{long}password").as_bytes()));
    assert!(is_sensitive_name(format!("{long}db_pass").as_bytes()));
    assert!(is_sensitive_name(format!("{long}Auth").as_bytes()));
    assert!(!is_sensitive_name(format!("{long}password_policy").as_bytes()));
    assert!(!is_sensitive_name(format!("{long}bypass").as_bytes()));
    assert!(!is_sensitive_name(format!("{long}NextToken").as_bytes()));
    check(
        &format!("{long}password=hunter2"),
        &format!("{long}password=[redacted:sensitive-value]"),
    );
    // A word at the start of a short name starts a word; `pass` is a whole word here.
    assert!(is_sensitive_name(b"pass"));
    assert!(is_sensitive_name(b"PASS"));
    assert!(!is_sensitive_name(b"compass"));
}

#[test]
fn every_ending_fits_the_letters_a_name_keeps() {
    for ending in SENSITIVE_ENDINGS.iter().chain(SENSITIVE_WORDS).chain(NON_CREDENTIAL_TOKENS) {
        assert!(ending.len() < NAME_TAIL, "{:?}", String::from_utf8_lossy(ending));
    }
}

#[test]
fn the_kept_tail_answers_as_the_whole_normalised_name_would() {
    // The whole name normalised, with where each letter came from, as the tail must agree with.
    fn whole(name: &[u8]) -> (Vec<u8>, Vec<usize>) {
        name.iter()
            .take(MAX_NAME)
            .enumerate()
            .filter(|(_, byte)| byte.is_ascii_alphanumeric())
            .map(|(index, byte)| (byte.to_ascii_lowercase(), index))
            .unzip()
    }
    fn starts_word(name: &[u8], suffix_length: usize) -> bool {
        let (_, origins) = whole(name);
        let Some(first) = origins.len().checked_sub(suffix_length) else { return false };
        first == 0 || {
            let (origin, previous) = (origins[first], origins[first - 1]);
            origin != previous + 1
                || (name[origin].is_ascii_uppercase() && !name[previous].is_ascii_uppercase())
        }
    }
    const WORDS: &[&str] = &[
        "db",
        "Pass",
        "pass",
        "PASS",
        "word",
        "Auth",
        "auth",
        "token",
        "Token",
        "secret",
        "key",
        "Key",
        "next",
        "api",
        "_",
        "-",
        ".",
        "x",
        "9",
        "connection",
        "pool",
        "by",
    ];
    let mut random = Xorshift(0x7a11);
    let endings = SENSITIVE_ENDINGS.iter().chain(SENSITIVE_WORDS).chain(NON_CREDENTIAL_TOKENS);
    let endings: Vec<&[u8]> = endings.copied().collect();
    for _ in 0..20_000 {
        let name: String =
            (0..random.below(40)).map(|_| WORDS[random.below(WORDS.len())]).collect();
        let name = name.as_bytes();
        let normalized = Normalized::new(name);
        let (letters, _) = whole(name);
        for ending in &endings {
            assert_eq!(normalized.ends_with(ending), letters.ends_with(ending), "{name:?}");
        }
        for length in 1..8 {
            assert_eq!(
                normalized.starts_word(name, length),
                starts_word(name, length),
                "{:?} {length}",
                String::from_utf8_lossy(name)
            );
        }
    }
}

#[test]
fn a_value_cut_by_the_length_limit_is_still_redacted() {
    // The limit falls inside a two-byte character: the value is redacted up to the character
    // before it, and what lies past the limit is left as text.
    let input = format!("password=x{}", "é".repeat(40_000));
    let redacted = Redactor::new().redact_text(&input);
    assert!(redacted.starts_with("password=[redacted:sensitive-value]é"), "{}", &redacted[..64]);
    // The value is `x` and as many whole characters as fit in the limit: one byte short of it.
    let marker = Kind::SensitiveValue.marker();
    assert_eq!(redacted.len(), input.len() - (MAX_VALUE - 1) + marker.len());
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

/// Fragments of triggers and their surroundings, mixed with multibyte characters so that
/// every matcher sees truncated and misaligned input.
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
    "[redacted:",
    "[redacted:aws-",
    "key",
    "KEY",
    "Bearer",
    "\r\n",
    "AKIAIOSFODNN7EXAMPLE",
    "dGVzdDp0ZXN0",
];

/// Up to 24 random pieces.
fn soup(random: &mut Xorshift) -> String {
    let mut input = String::new();
    for _ in 0..random.below(24) {
        input.push_str(PIECES[random.below(PIECES.len())]);
    }
    input
}

#[test]
fn arbitrary_input_never_panics_and_settles() {
    let redactor = Redactor::new();
    // Several seeds: the rare soups where two rules disagree on a token's end need many tries.
    for seed in [0x5eed_cafe_f00d_d00d_u64, 1, 0xdead_beef, 0x1234_5678_9abc, 42] {
        let mut random = Xorshift(seed);
        for _ in 0..20_000 {
            let input = soup(&mut random);
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

/// Redaction as it is defined: after each splice the whole text is searched for triggers and
/// scanned again, until a scan finds nothing. Returns the text, what was replaced, and how
/// many scans found something.
fn redact_by_whole_rescans(redactor: &Redactor, text: &str) -> (String, Redactions, usize) {
    let mut redactions = Redactions::default();
    let mut text = text.to_owned();
    let mut finding_scans = 0;
    loop {
        let mut found = Vec::new();
        redactor.scan(text.as_bytes(), Hits::Search, &mut Met::new(usize::MAX), &mut found);
        if found.is_empty() || finding_scans > MAX_PASSES {
            return (text, redactions, finding_scans);
        }
        finding_scans += 1;
        text = splice(&text, &mut found, &mut redactions).0;
    }
}

/// Soups of pieces, and lines of the shapes that real logs and manifests have.
fn differential_inputs() -> impl Iterator<Item = String> {
    let mut random = Xorshift(0x0dd_ba11_5eed);
    let lines = [
        "{\"env\":[{\"name\":\"DB_PASSWORD\",\"value\":\"correct-horse-battery\"}]}",
        "Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l sk-proj1234567890abcdefghij",
        "url=postgres://orders:hunter2@db.internal:5432/orders token=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
        "- name: API_TOKEN\n  value: s3cr3t-value\n",
        "password=\"abc\ndef\" -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "Cookie: session=abc123; theme=dark\r\nX-Amz-Security-Token: FwoGZXIvYXdzEJr",
        // The base64 run after `Basic` swallows the slash before an access key ID; once the ID
        // is a marker the run decodes to printable credentials, which a second scan redacts.
        "Basic YWxhZGRpbjpvcGVuc2VzYW1l/",
    ];
    // Soups that random search found to need a second scan that finds something.
    let known = [
        "AIzaToken:\\\"glpat-Token-----ghp_$Basic eyJhbGciOiJIUzI1NiJ9/AKIAIOSFODNN7EXAMPLE[redacted:\\nsk-ant-.",
        "bearer \0\r\n[redacted:日本[redacted:aws-passwordglpat-KEY-----END \0{Basic eyJhbGciOiJIUzI1NiJ9/AKIAIOSFODNN7EXAMPLE",
        "passwordIOSFODNN7EXAMPLE;user:Basic dGVzdDp0ZXN0KEY/AKIAIOSFODNN7EXAMPLE-----BEGIN sk_live_/Bearer].user:valuenameécookie]",
    ];
    // A value cut by the length limit inside a character, which the splice leaves out.
    let cut = format!(
        "password=x{} Basic YWxhZGRpbjpvcGVuc2VzYW1l/AKIAIOSFODNN7EXAMPLE",
        "é".repeat(40_000)
    );
    known.into_iter().map(str::to_owned).chain([cut]).chain((0..60_000).map(move |_| {
        if random.below(4) == 0 {
            let mut text = String::new();
            for _ in 0..1 + random.below(6) {
                text.push_str(lines[random.below(lines.len())]);
                text.push_str(PIECES[random.below(PIECES.len())]);
            }
            text
        } else {
            soup(&mut random)
        }
    }))
}

#[test]
fn a_later_pass_meets_the_triggers_a_fresh_search_of_the_spliced_text_meets() {
    fn places(hits: &[Hit]) -> Vec<(usize, usize)> {
        hits.iter().map(|hit| (hit.start, hit.trigger)).collect()
    }
    let redactor = Redactor::new();
    let (mut spliced_texts, mut settled) = (0, 0);
    for input in differential_inputs() {
        let (mut met, mut found) = (Met::new(usize::MAX), Vec::new());
        redactor.scan(input.as_bytes(), Hits::Search, &mut met, &mut found);
        if found.is_empty() {
            continue;
        }
        spliced_texts += 1;
        let (spliced, spliced_all) = splice(&input, &mut found, &mut Redactions::default());
        assert!(met.complete());
        let recorded = spliced_hits(&met.hits, &found, spliced_all);
        settled += recorded.iter().filter(|hit| hit.outcome == Outcome::Settled).count();

        let (mut searched_met, mut searched_found) = (Met::new(usize::MAX), Vec::new());
        redactor.scan(spliced.as_bytes(), Hits::Search, &mut searched_met, &mut searched_found);
        assert_eq!(
            places(&recorded),
            places(&searched_met.hits),
            "triggers of {spliced:?}, spliced from {input:?}"
        );

        for pass_settled in [false, true] {
            let (mut recorded_met, mut recorded_found) = (Met::new(usize::MAX), Vec::new());
            let source = Hits::Recorded { hits: &recorded, pass_settled };
            redactor.scan(spliced.as_bytes(), source, &mut recorded_met, &mut recorded_found);
            if pass_settled && !recorded_found.is_empty() {
                // Passing over settled triggers is trusted only by a scan that finds nothing.
                continue;
            }
            assert_eq!(recorded_found, searched_found, "secrets of {spliced:?}");
            if !pass_settled {
                assert_eq!(recorded_met.hits, searched_met.hits, "triggers met in {spliced:?}");
            }
        }
    }
    assert!(spliced_texts > 10_000, "only {spliced_texts} inputs held a secret");
    assert!(settled > 10_000, "only {settled} triggers were settled");
}

#[test]
fn redaction_equals_rescanning_the_whole_text_to_a_fixed_point() {
    let redactor = Redactor::new();
    let mut needing_more_scans = 0;
    for input in differential_inputs() {
        let mut redactions = Redactions::default();
        let redacted = redactor.redact_text_counting(&input, &mut redactions);
        let (expected, expected_redactions, finding_scans) =
            redact_by_whole_rescans(&redactor, &input);
        assert_eq!(redacted, expected, "redaction of {input:?}");
        assert_eq!(redactions, expected_redactions, "counts for {input:?}");
        // With room for fewer triggers than the text holds, later passes search again.
        for limit in [0, 2] {
            let mut redactions = Redactions::default();
            let redacted = redactor.redact_to_fixed_point(&input, &mut redactions, limit);
            assert_eq!(redacted, expected, "redaction of {input:?} keeping {limit} triggers");
            assert_eq!(redactions, expected_redactions, "counts for {input:?}");
        }
        if finding_scans > 1 {
            needing_more_scans += 1;
        }
    }
    // The inputs must reach the later passes, or this compares only first passes.
    assert!(needing_more_scans > 20, "{needing_more_scans} inputs needed a second finding scan");
}

#[test]
fn triggers_are_kept_for_later_passes_up_to_a_quarter_of_the_text() {
    assert_eq!(recording_limit(0), 1024);
    assert_eq!(recording_limit(8 << 20), (8 << 20) / 4 / std::mem::size_of::<Hit>());
    assert!(recording_limit(1 << 30) * std::mem::size_of::<Hit>() <= (1 << 30) / 4);

    let mut met = Met::new(2);
    for start in 0..3 {
        met.record(Hit { start, trigger: MARKER_TRIGGER, outcome: Outcome::Unknown });
    }
    assert_eq!(met.hits.len(), 2);
    assert!(!met.complete());
    met.clear();
    assert!(met.complete() && met.hits.is_empty());

    // Text denser in triggers than can be kept is still redacted to the same fixed point.
    let dense =
        format!("{}Basic YWxhZGRpbjpvcGVuc2VzYW1l/AKIAIOSFODNN7EXAMPLE", "key ".repeat(3000));
    let (expected, _, finding_scans) = redact_by_whole_rescans(&Redactor::new(), &dense);
    assert_eq!(finding_scans, 2);
    let mut met = Met::new(recording_limit(dense.len()));
    Redactor::new().scan(dense.as_bytes(), Hits::Search, &mut met, &mut Vec::new());
    assert!(!met.complete(), "the first scan kept all {} triggers", met.hits.len());
    assert_eq!(Redactor::new().redact_text(&dense), expected);
}

#[test]
fn the_marker_trigger_is_the_one_later_passes_name() {
    assert_eq!(TRIGGERS[MARKER_TRIGGER].pattern, b"[redacted:");
    assert!(matches!(TRIGGERS[MARKER_TRIGGER].rule, Rule::Marker));
}

#[test]
fn no_trigger_is_a_prefix_of_another() {
    // At any position at most one trigger can start, so the list of triggers met in a text
    // does not depend on which of two overlapping ones a search prefers.
    for (index, trigger) in TRIGGERS.iter().enumerate() {
        for (other_index, other) in TRIGGERS.iter().enumerate() {
            if index != other_index {
                assert!(
                    !other.pattern.starts_with(trigger.pattern),
                    "{:?} starts {:?}",
                    String::from_utf8_lossy(trigger.pattern),
                    String::from_utf8_lossy(other.pattern)
                );
            }
        }
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
