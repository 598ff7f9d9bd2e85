//! People and permissions in the AWS stack, on moto: principals kept in DynamoDB and each key pair's secret in
//! Secrets Manager, made through the api function's access operations (`SluiceAccess_20261206.*`), each
//! request answered as the principal whose key signed it, a removed key refused (at once by the instance that
//! removed it, within the cache's time by others), and the console on the approval function: signing in with a
//! stack key pair, the pipelines listed, a viewer's start refused, an artifact download redirected to a
//! presigned S3 GET that S3 answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use serde_json::{json, Value};
use sluice_functions::access::{AccessCache, StackPeople};
use sluice_functions::api::{self, Api};
use sluice_functions::approval::{self, ConsoleHost};
use sluice_functions::executor::AwsExecutor;
use sluice_runtime::jobs::JobListener;
use sluice_runtime::Runtime;
use sluice_tests::lambda;
use sluice_tests::moto::unique;
use sluice_tests::moto_stack::MotoStack;

struct Stack {
    parts: MotoStack,
    runtime: Arc<Runtime>,
    admin: (String, String),
    admin_arn: String,
    prefix: String,
    _jobs: tempfile::TempDir,
}

async fn stack(name: &str) -> Stack {
    let parts = MotoStack::open(name).await;
    let jobs = tempfile::tempdir().expect("temp");
    let executor = Arc::new(AwsExecutor::new(
        parts.sdk.clone(),
        parts.store.clone(),
        jobs.path(),
        None,
        None,
    ));
    let runtime = parts.runtime(executor.clone());
    let listener: std::sync::Weak<dyn JobListener> = Arc::downgrade(&runtime) as _;
    executor.set_listener(listener);
    // The template's ApiKeysSecret: one generated admin pair, as JSON.
    let admin = (unique("sluice-admin"), unique("admin-secret"));
    let secrets = aws_sdk_secretsmanager::Client::new(&parts.sdk);
    let admin_arn = secrets
        .create_secret()
        .name(unique("api-keys"))
        .secret_string(json!({"accessKeyId": admin.0, "secretAccessKey": admin.1}).to_string())
        .send()
        .await
        .expect("admin secret")
        .arn()
        .expect("arn")
        .to_owned();
    Stack {
        prefix: format!("sluice/{}/access-keys/", unique("stack")),
        parts,
        runtime,
        admin,
        admin_arn,
        _jobs: jobs,
    }
}

impl Stack {
    fn people(&self) -> StackPeople {
        StackPeople::new(self.parts.store.clone(), &self.parts.sdk, &self.prefix)
    }

    /// An api function instance whose reading of people and keys lasts `ttl`.
    fn api(&self, ttl: Duration) -> Api {
        api::with_access(self.runtime.clone(), self.people(), &self.admin_arn, ttl)
    }

    fn secrets(&self) -> aws_sdk_secretsmanager::Client {
        aws_sdk_secretsmanager::Client::new(&self.parts.sdk)
    }
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// A signed call to the api function: the status and the JSON answer.
async fn call(api: &Api, key: &(String, String), target: &str, body: Value) -> (u16, Value) {
    let event = lambda::signed_api_call(target, &body.to_string(), (&key.0, &key.1), now_s());
    let req: LambdaFunctionUrlRequest = serde_json::from_value(event).expect("request");
    let reply = api.answer(&req, now_s()).await;
    (
        reply.status,
        serde_json::from_str(&reply.body).expect("JSON answer"),
    )
}

const CP: &str = "CodePipeline_20150709.";
const ACCESS: &str = "SluiceAccess_20261206.";

/// A pipeline created by the admin, and a viewer `vera` with a key pair; answers the viewer's pair.
async fn pipeline_and_viewer(s: &Stack, api: &Api) -> (String, String) {
    let src = tempfile::tempdir().expect("src");
    let (status, created) = call(
        api,
        &s.admin,
        &format!("{CP}CreatePipeline"),
        json!({"pipeline": sluice_tests::gate_pipeline(src.path(), "Ship it?")}),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let (status, put) = call(
        api,
        &s.admin,
        &format!("{ACCESS}PutPrincipal"),
        json!({"name": "vera", "roles": [{"pattern": "*", "role": "viewer"}], "groups": ["qa"]}),
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["created"], true, "{put}");
    let (status, made) = call(
        api,
        &s.admin,
        &format!("{ACCESS}CreateAccessKey"),
        json!({"principalName": "vera"}),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let key = &made["accessKey"];
    (
        key["accessKeyId"].as_str().expect("id").to_owned(),
        key["secretAccessKey"].as_str().expect("secret").to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_made_through_the_api_function_are_held_to_their_roles_and_removed_keys_refused()
{
    let s = stack("access").await;
    let api = s.api(Duration::from_secs(3600));
    let vera = pipeline_and_viewer(&s, &api).await;

    // The key pair's secret is a secret of its own under the stack's prefix; the principal is in the table.
    let stored = s
        .secrets()
        .get_secret_value()
        .secret_id(format!("{}{}", s.prefix, vera.0))
        .send()
        .await
        .expect("the key pair's secret");
    let stored: Value =
        serde_json::from_str(stored.secret_string().expect("string")).expect("JSON");
    assert_eq!(stored["secretAccessKey"], vera.1.as_str());
    assert_eq!(stored["principal"], "vera");
    let (status, listed) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}ListPrincipals"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(
        listed["principals"],
        json!([{"name": "vera", "roles": [{"pattern": "*", "role": "viewer"}], "groups": ["qa"], "accessKeyIds": [vera.0]}])
    );

    // Another warm instance, whose reading lasts one second.
    let other = s.api(Duration::from_secs(1));

    // A viewer reads, and changes nothing; people are the admin's.
    for api in [&api, &other] {
        let (status, state) = call(
            api,
            &vera,
            &format!("{CP}GetPipelineState"),
            json!({"name": "gate"}),
        )
        .await;
        assert_eq!(status, 200, "{state}");
        assert_eq!(state["pipelineName"], "gate");
    }
    let (status, refused) = call(
        &api,
        &vera,
        &format!("{CP}StartPipelineExecution"),
        json!({"name": "gate"}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["__type"], "AccessDeniedException", "{refused}");
    let message = refused["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("vera") && message.contains("needs operator"),
        "{message}"
    );
    let (status, refused) = call(&api, &vera, &format!("{ACCESS}ListPrincipals"), json!({})).await;
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("AccessDeniedException")),
        "{refused}"
    );
    let (status, refused) = call(
        &api,
        &vera,
        &format!("{ACCESS}CreateAccessKey"),
        json!({"principalName": "vera"}),
    )
    .await;
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("AccessDeniedException")),
        "{refused}"
    );

    // Promoted to operator: the same key starts executions (this instance read again after the change).
    let (status, put) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}PutPrincipal"),
        json!({"name": "vera", "roles": [{"pattern": "g*", "role": "operator"}]}),
    )
    .await;
    assert_eq!(
        (status, put["created"].clone()),
        (200, json!(false)),
        "{put}"
    );
    let (status, started) = call(
        &api,
        &vera,
        &format!("{CP}StartPipelineExecution"),
        json!({"name": "gate"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");

    // The admin pair of the template's secret cannot be removed through the operations.
    let (status, refused) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}DeleteAccessKey"),
        json!({"accessKeyId": s.admin.0}),
    )
    .await;
    assert_eq!(
        (status, refused["__type"].clone()),
        (400, json!("ResourceNotFoundException")),
        "{refused}"
    );

    // A removed key: refused at once here, within the cache's time by the other instance; its secret is gone.
    let (status, gone) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}DeleteAccessKey"),
        json!({"accessKeyId": vera.0}),
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    let (status, refused) = call(
        &api,
        &vera,
        &format!("{CP}GetPipelineState"),
        json!({"name": "gate"}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["__type"], "UnrecognizedClientException",
        "{refused}"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, refused) = call(
        &other,
        &vera,
        &format!("{CP}GetPipelineState"),
        json!({"name": "gate"}),
    )
    .await;
    assert_eq!(
        (status, refused["__type"].clone()),
        (403, json!("UnrecognizedClientException")),
        "{refused}"
    );
    assert!(
        s.secrets()
            .get_secret_value()
            .secret_id(format!("{}{}", s.prefix, vera.0))
            .send()
            .await
            .is_err(),
        "the removed key's secret is deleted"
    );

    // A principal removed takes its keys with it.
    let second = {
        let (status, made) = call(
            &api,
            &s.admin,
            &format!("{ACCESS}CreateAccessKey"),
            json!({"principalName": "vera"}),
        )
        .await;
        assert_eq!(status, 200, "{made}");
        made["accessKey"]["accessKeyId"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    let (status, gone) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}DeletePrincipal"),
        json!({"name": "vera"}),
    )
    .await;
    assert_eq!(status, 200, "{gone}");
    assert_eq!(gone["principal"]["accessKeyIds"], json!([second]), "{gone}");
    let (status, listed) = call(
        &api,
        &s.admin,
        &format!("{ACCESS}ListPrincipals"),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, listed["principals"].clone()),
        (200, json!([])),
        "{listed}"
    );
}

/// A console request through the approval function, as a function URL event (cookies apart from headers).
async fn console(
    s: &Stack,
    host: &ConsoleHost,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    form: &[(&str, &str)],
) -> LambdaFunctionUrlResponse {
    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let origin = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws";
    let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
    if method == "POST" {
        headers.push(("origin", origin));
    }
    let mut event = lambda::url_request(method, path, "", &headers, body.as_bytes(), true);
    if let Some(c) = cookie {
        event["cookies"] = json!([c]);
    }
    let req: LambdaFunctionUrlRequest = serde_json::from_value(event).expect("request");
    let access = host.access.get().await.expect("access");
    approval::console_answer(&s.runtime, &access, host, &req, now_s()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_on_the_approval_function_signs_in_with_a_stack_key_and_holds_a_viewer_to_reading(
) {
    let s = stack("console").await;
    let api = s.api(Duration::from_secs(3600));
    let vera = pipeline_and_viewer(&s, &api).await;
    let host = ConsoleHost {
        access: AccessCache::new(s.people(), &s.admin_arn, Duration::from_secs(30)),
        s3: aws_sdk_s3::Client::new(&s.parts.sdk),
        session_lifetime_s: 3600,
        logs: None,
    };

    // Without a session: to the sign-in page; a wrong secret is refused.
    let page = console(&s, &host, "GET", "/", None, &[]).await;
    assert_eq!(page.status_code, 303);
    let wrong = console(
        &s,
        &host,
        "POST",
        "/sign-in",
        None,
        &[("keyId", &vera.0), ("secret", "guess")],
    )
    .await;
    assert_eq!(wrong.status_code, 403, "{:?}", wrong.body);

    // Signed in with the principal's pair: a session cookie (Secure, behind the function URL's TLS).
    let signed = console(
        &s,
        &host,
        "POST",
        "/sign-in",
        None,
        &[("keyId", &vera.0), ("secret", &vera.1)],
    )
    .await;
    assert_eq!(signed.status_code, 303, "{:?}", signed.body);
    let set = signed.cookies.first().expect("a session cookie").clone();
    assert!(
        set.starts_with("sluice_session=") && set.contains("Secure") && set.contains("HttpOnly"),
        "{set}"
    );
    let cookie = set.split(';').next().expect("pair").to_owned();

    let listed = console(&s, &host, "GET", "/", Some(&cookie), &[]).await;
    assert_eq!(listed.status_code, 200);
    let html = listed.body.clone().unwrap_or_default();
    assert!(html.contains("/pipelines/gate"), "{html}");
    assert!(html.contains("vera"), "signed in as the principal: {html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the session's CSRF token")
        .to_owned();

    // A viewer's start form is refused, and nothing starts.
    let refused = console(
        &s,
        &host,
        "POST",
        "/pipelines/gate/actions",
        Some(&cookie),
        &[("op", "start"), ("csrf", &csrf)],
    )
    .await;
    assert_eq!(refused.status_code, 403, "{:?}", refused.body);
    assert!(refused
        .body
        .unwrap_or_default()
        .contains("AccessDeniedException"));
    let (status, executions) = call(
        &api,
        &s.admin,
        &format!("{CP}ListPipelineExecutions"),
        json!({"pipelineName": "gate"}),
    )
    .await;
    assert_eq!(status, 200, "{executions}");
    assert_eq!(
        executions["pipelineExecutionSummaries"],
        json!([]),
        "{executions}"
    );

    // An artifact download is a redirect to a presigned GET, which S3 answers with the object.
    s.parts
        .s3
        .put_object()
        .bucket(&s.parts.bucket)
        .key("gate/Src/abc.zip")
        .body(b"zip bytes".to_vec().into())
        .send()
        .await
        .expect("object");
    let download = approval::download_response(
        &host.s3,
        &sluice_web::console::Download {
            bucket: s.parts.bucket.clone(),
            key: "gate/Src/abc.zip".into(),
            file_name: "Src.zip".into(),
        },
    )
    .await;
    assert_eq!(download.status_code, 303);
    let location = download
        .headers
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location")
        .to_owned();
    assert!(location.contains("X-Amz-Signature="), "{location}");
    assert_eq!(http_get(&location), b"zip bytes");
}

/// The body of a plain HTTP GET (the emulator's presigned URL).
fn http_get(url: &str) -> Vec<u8> {
    let rest = url
        .strip_prefix("http://")
        .expect("the emulator is plain HTTP");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&response[..at]).into_owned();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    response[at + 4..].to_vec()
}
